"""`AdviceSpec`: every knob of one piece of advice, declared once (the API, the CLI and the recipe read it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from adaptermix.advice.racing import RaceSpec
from adaptermix.advice.weights import WeightSearchSpec
from adaptermix.errors import ConfigError

WEIGHTABLE_MIXERS = ("average", "weighted")  # the weight search mixes on the simplex: Eq. 1 and its weighted form


@dataclass(frozen=True)
class AdviceSpec:
    """How to advise: which strategy, what it may spend, which mixer, and the optional refinements.

    Attributes:
        strategy: a registered strategy (`adaptermix.advice.STRATEGIES`; with groups also a partitioner).
        budget: the advisor's cost as a fraction of the exhaustive sweep's forward tokens, in (0, 1].
        mixer, mixer_params: the mixer advised (a `MIXERS` name; Eq. 1's `average` by default).
        sweep_examples: test examples per evaluation of the exhaustive sweep the advice replaces (the
            cost's denominator, and what sets the surrogate's validation size from `budget`).
        max_length: truncation of validation examples.
        runners_up: partners mode: how many runners-up to list.
        weights: also search each recommended set's member weights with CMA-ES (`weight_search`).
        weight_search: the search's knobs (40 losses on 32 validation examples by default).
        race: race the strategy's top sets (partners) or best partitions (groups) on validation; None: the
            strategy's own default (`Strategy.races`: `combined` races both; a partitioner's one clustering
            has nothing to race).
        race_spec: the race's knobs (partners: 2 candidates, at most 256 examples each; partitions: 4, at
            most 4,096 examples per domain, within the budget).
        grow: partners mode: grow the target's set greedily on validation accuracy (greedy soup: from the
            target alone, add the partner whose mixture scores best, one size at a time) instead of ranking
            with `strategy`; validation examples per evaluation from `budget`.
    """

    strategy: str = "combined"
    budget: float = 0.1
    mixer: str = "average"
    mixer_params: Mapping[str, Any] | None = field(default=None, hash=False)
    sweep_examples: int = 300
    max_length: int = 64
    runners_up: int = 3
    weights: bool = False
    weight_search: WeightSearchSpec = WeightSearchSpec()
    race: bool | None = None
    race_spec: RaceSpec = RaceSpec()
    grow: bool = False

    def replace(self, knobs: Mapping[str, Any]) -> AdviceSpec:
        """A copy with `knobs` changed; ConfigError naming an unknown knob and the known ones."""
        names = [f.name for f in dataclasses.fields(self)]
        unknown = sorted(set(knobs) - set(names))
        if unknown:
            raise ConfigError(f"unknown advise setting {unknown[0]!r}: use target, sizes, groups, encoder, "
                              f"cache_dir, progress, spec or one of {', '.join(names)}")
        return dataclasses.replace(self, **knobs)

    def races(self) -> bool:
        """Whether this advice races: `race` when set, else the strategy's default (`Strategy.races`)."""
        if self.race is not None:
            return self.race
        from adaptermix.advice.clustering import PARTITIONERS
        from adaptermix.advice.strategies import get_strategy

        # A strategy that races does so in both modes; --grow and a partitioner give one answer each.
        return not self.grow and self.strategy not in PARTITIONERS and get_strategy(self.strategy).races

    def check(self, partition: bool) -> AdviceSpec:
        """Self, or ConfigError (one line) for a setting that cannot run; `partition`: advising --groups."""
        from adaptermix.advice.api import check_strategy
        from adaptermix.advice.clustering import PARTITIONERS
        from adaptermix.advice.collect import check_budget
        from adaptermix.mixing import get_mixer

        if self.race and partition and self.strategy in PARTITIONERS:
            raise ConfigError(f"--race with --groups races a score strategy's best partitions; {self.strategy!r} "
                              "gives one clustering: use --strategy surrogate (or another score strategy)")
        if self.grow and partition:
            raise ConfigError("--grow grows one target's partners: use it with --target, not --groups")
        if self.grow and self.race:
            raise ConfigError("--grow gives one set per size, so there is nothing to race: drop --race or --grow")
        if self.weights and self.mixer not in WEIGHTABLE_MIXERS:
            raise ConfigError(f"--weights searches Eq. 1's member weights: use --mixer average (got {self.mixer!r})")
        for knob in (self.weight_search, self.race_spec):
            try:
                knob.check()
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        for name in ("sweep_examples", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if not isinstance(self.runners_up, int) or self.runners_up < 0:
            raise ConfigError(f"runners_up must be a non-negative integer, got {self.runners_up!r}")
        check_budget(self.budget)
        check_strategy(self.strategy, partition=partition)
        try:
            get_mixer(self.mixer)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return self


DEFAULTS = AdviceSpec()

__all__ = ["DEFAULTS", "WEIGHTABLE_MIXERS", "AdviceSpec"]
