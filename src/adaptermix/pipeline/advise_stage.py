"""The `advise:` stage of a recipe: which adapters to mix, after the sweep (issue 17).

For every target and size k the advisor's partners (`adaptermix.advice.recommend_partners`), and for
every G its serving partition (`recommend_partition`), from one gathering of the advisor's signals
(weights, train text, validation evaluations: never the test split). Then, for each recommendation,
the output ensemble of the same members on the sweep's own test examples (`pipeline.ensemble`), so the
report can set weight mixing against ensembling. Everything is stored as one artifact
(`reporting.advice.ADVICE_KIND`) keyed by the settings, the adapters and the eval config; a re-run with
the same key computes nothing. The report compares the advice with the stored sweep rows.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adaptermix.advice import Advice, Cost, Signals, get_strategy, recommend_partition, recommend_partners
from adaptermix.advice.clustering import PARTITIONERS, get_partitioner
from adaptermix.advice.racing import RaceSpec
from adaptermix.advice.signals import FORWARD, TEXT, WEIGHTS
from adaptermix.advice.spec import DEFAULTS, AdviceSpec
from adaptermix.checkpoints import Checkpoint
from adaptermix.errors import ConfigError
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.mixing.spec import MixSpec
from adaptermix.reporting.advice import ADVICE_VERSION
from adaptermix.reporting.study import ADVICE_KIND
from adaptermix.store import Store, StudyMeta
from adaptermix.store.schema import canonical_json

#: Signals the stage gathers for the report's every-strategy table whatever its strategy reads: they
#: cost no forward pass (weights) or one embedding pass of a train-text sample (text).
BASELINE_NEEDS = frozenset({WEIGHTS, TEXT})


class AdviseSection(BaseModel):
    """The `advise:` section: what the advisor is asked after the sweep (each knob declared here once).

    Attributes:
        strategy: a registered advisor strategy (`adaptermix.advice.STRATEGIES`); `combined` by default.
        budget: the advisor's cost as a fraction of the exhaustive sweep's, in (0, 1] (sets how many
            validation examples each of the surrogate's evaluations may use).
        sizes: partners mode: the member-set sizes k (target included) advised for every target.
        groups: partition mode: each G the N adapters are split into (none: no partition advice).
        mixer: the label of one of the recipe's `eval.mixers` (raw weights, factor space) the advice is for.
        runners_up: candidates listed after each pick.
        ensemble: also score the output ensemble of each recommended set on the sweep's test examples.
        partition_strategy: the strategy of the partitions: a score strategy (DP on its scores) or a
            partitioner (`kmeans_text`, `fsd_clustering`: its own clusters); None: `strategy`.
        race: race the strategy's top sets of each size and its best partitions on validation examples
            (`adaptermix.advice.racing`, `advice.partition_race`; the races spend what `budget` leaves
            after the signals). Not with a partitioner as `partition_strategy`. Unset: the strategy's
            own default (`combined` races both; a partitioner's clustering is not raced).
        race_candidates: sets raced per (target, k).
        race_examples: validation examples per candidate set at most.
        partition_candidates: partitions raced per G.
        partition_examples: validation examples per domain in a partition race at most (the budget bounds it).
        grow: the partners by greedy growth on validation accuracy (greedy soup, `advise --grow`) instead of
            `strategy`'s ranking; the growth spends what `budget` leaves after the partitions' signals.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    # The advisor's own knobs take AdviceSpec's defaults (declared once there); the stage adds its own.
    strategy: str = DEFAULTS.strategy
    budget: float = DEFAULTS.budget
    sizes: tuple[int, ...] = Field(default=(2, 3), min_length=1)
    groups: tuple[int, ...] = (2, 3)
    mixer: str = DEFAULTS.mixer
    runners_up: int = Field(default=DEFAULTS.runners_up, ge=0)
    ensemble: bool = True
    partition_strategy: str | None = None
    race: bool | None = DEFAULTS.race
    race_candidates: int = DEFAULTS.race_spec.candidates
    race_examples: int = DEFAULTS.race_spec.examples
    partition_candidates: int = DEFAULTS.race_spec.partitions
    partition_examples: int = DEFAULTS.race_spec.partition_examples
    grow: bool = DEFAULTS.grow

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        return get_strategy(value).name  # ValueError with "did you mean"

    @field_validator("partition_strategy")
    @classmethod
    def _known_partitioner(cls, value: str | None) -> str | None:
        if value is None or value in PARTITIONERS:
            return value
        try:
            return get_strategy(value).name
        except ValueError as exc:
            raise ValueError(f"{exc}; partitions also take {', '.join(PARTITIONERS.names())}") from None

    @model_validator(mode="after")
    def _race(self) -> AdviseSection:
        try:
            self.race_spec.check()
        except ValueError as exc:  # RaceSpec names the CLI flags; a recipe says race_candidates / race_examples
            raise ValueError(str(exc).replace("--race-candidates", "race_candidates")
                             .replace("--race-examples", "race_examples")
                             .replace("--partition-candidates", "partition_candidates")
                             .replace("--partition-examples", "partition_examples")) from None
        if self.grow and self.race:
            raise ValueError("grow: true gives one set per size, so there is nothing to race: drop race or grow")
        if self.race and self.partitions_by in PARTITIONERS and self.groups:
            raise ValueError(f"race: true races a score strategy's best partitions; partition_strategy "
                             f"{self.partitions_by!r} gives one clustering (use a score strategy, or race: false)")
        return self

    @property
    def partitions_by(self) -> str:
        """The strategy (or partitioner) the partitions come from."""
        return self.partition_strategy or self.strategy

    @property
    def races_partners(self) -> bool:
        """Whether the partners are raced (`AdviceSpec.races`: `race`, else the strategy's default)."""
        return not self.grow and AdviceSpec(strategy=self.strategy, race=self.race).races()

    @property
    def races_partitions(self) -> bool:
        """Whether the partitions are raced (`race`, else the default of the strategy they come from)."""
        return bool(self.groups) and AdviceSpec(strategy=self.partitions_by, race=self.race).races()

    @property
    def race_spec(self) -> RaceSpec:
        return RaceSpec(candidates=self.race_candidates, examples=self.race_examples,
                        partitions=self.partition_candidates, partition_examples=self.partition_examples)

    @field_validator("budget")
    @classmethod
    def _budget(cls, value: float) -> float:
        from adaptermix.advice.collect import check_budget

        return check_budget(value)

    @field_validator("sizes", "groups")
    @classmethod
    def _distinct(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"{list(value)} lists a value twice")
        return tuple(sorted(value))

    def check(self, n: int, spec: EvalSpec) -> MixSpec:
        """Check the section against a study of n adapters scored by `spec`; returns the advised mixer.

        Raises:
            ValueError: a k or G out of range, a mixer the sweep does not score, or a budget too small.
        """
        for k in self.sizes:
            if not 1 <= k <= n:
                raise ValueError(f"size k={k} is out of range: with {n} adapters choose 1 ≤ k ≤ {n}")
        for g in self.groups:
            if not 1 <= g <= n:
                raise ValueError(f"groups G={g} is out of range: {n} adapters can be split into 1 to {n} groups")
        labels = {m.label: m for m in spec.mixers}
        mix = labels.get(self.mixer)
        if mix is None:
            raise ValueError(f"mixer {self.mixer!r} is not scored by the sweep: choose one of eval.mixers "
                             f"({', '.join(labels)})")
        if mix.reference != "raw" or mix.space != "factors":
            raise ValueError(f"mixer {self.mixer!r} mixes task vectors or ΔW: the advisor advises raw-weight mixers")
        reads = {"validation" if self.grow else get_strategy(self.strategy).needs}
        if self.groups:
            by = self.partitions_by
            reads.add(get_partitioner(by).needs if by in PARTITIONERS else get_strategy(by).needs)
        if reads & {"validation", "unlabeled"} and spec.max_examples is not None:
            from adaptermix.advice.collect import validation_examples

            validation_examples(n, self.budget, spec.max_examples)  # ConfigError naming the fix
        if self.grow and spec.max_examples is not None:
            self.growth_examples(n, spec.max_examples)  # ConfigError naming the fix
        return mix

    def partitions_read_validation(self) -> bool:
        """Whether the partitions' strategy runs validation passes (the signals every growth budget starts after)."""
        return bool(self.groups) and self.partitions_by not in PARTITIONERS \
            and get_strategy(self.partitions_by).needs in FORWARD

    def growth_examples(self, n: int, sweep_examples: int) -> int:
        """Validation examples per evaluation of the greedy growth: what `budget` leaves after the partitions'
        signals, shared by every target grown to max(sizes) (`collect.soup_validation_examples`).

        Raises:
            ConfigError: the signals leave too little of the budget.
        """
        from adaptermix.advice.collect import (
            exhaustive_evaluations,
            soup_validation_examples,
            validation_evaluations,
            validation_examples,
        )

        left = self.budget
        if self.partitions_read_validation():
            signals = validation_evaluations(n) * validation_examples(n, self.budget, sweep_examples)
            left -= signals / (exhaustive_evaluations(n) * sweep_examples)
        if left <= 0:
            raise ConfigError(f"advise.budget {self.budget:g} is spent by the partitions' validation signals: "
                              "raise it, or drop grow or groups")
        return soup_validation_examples(n, max(self.sizes), left, sweep_examples)

    @property
    def partners_by(self) -> str:
        """The strategy the partners come from (`greedy_soup` when grown)."""
        from adaptermix.advice.api import GROW_STRATEGY

        return GROW_STRATEGY if self.grow else self.strategy


def key_settings(section: AdviseSection) -> dict[str, object]:
    """The settings that key the artifact; knobs added later drop out at their defaults (stored advice stays valid)."""
    settings = section.model_dump(mode="json")
    for name in LATER_KNOBS:
        if settings[name] == AdviseSection.model_fields[name].default:
            del settings[name]
    # `race: false` was the default before the strategy's own became it: where the strategy does not race
    # by default, false asks for what unset gives, so both find the same stored advice.
    if settings.get("race") is False and not get_strategy(section.strategy).races:
        del settings["race"]
    # Advice whose partitions are raced is keyed apart from what was stored before 2026-12-07, when unset
    # `race` raced only the partners and a partition race got an equal share of the ledger, not what the
    # partner races left: such stored advice is not read as today's.
    if section.races_partitions:
        settings["race_partitions"] = True
    return settings


LATER_KNOBS = ("partition_strategy", "race", "race_candidates", "race_examples", "grow", "partition_candidates",
               "partition_examples")


def advice_key(section: AdviseSection, mix: MixSpec, meta: StudyMeta) -> str:
    """The artifact key: the section's settings, the advised mixer, the adapters' sha256s and the eval config."""
    payload = {"version": ADVICE_VERSION, "settings": key_settings(section), "mixer": mix.as_json(),
               "adapters": meta.fingerprints(), "eval": meta.eval_config_hash}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def advice_stored(section: AdviseSection, store_path: Path, n: int, spec: EvalSpec) -> bool:
    """Whether the store at `store_path` already holds this advice (False without a readable store)."""
    if not store_path.is_file():
        return False
    from adaptermix.store import StoreError

    try:
        with Store.read(store_path) as store:
            return store.get_artifact(ADVICE_KIND, advice_key(section, section.check(n, spec), store.meta)) is not None
    except StoreError:
        return False


def _sweep_facts(store: Store, mixer: str) -> tuple[int, int | None, str | None]:
    """(test examples per evaluation, the exhaustive sweep's tokens when it is complete, the rows' precision)."""
    rows = store.records(["n_examples", "tokens", "precision"], condition="clean", mixer=mixer)
    n = len(store.meta.adapters)
    if not rows:
        raise ConfigError(f"the store has no clean rows of mixer {mixer!r}: run the sweep stage before `advise:`")
    examples = round(sum(int(r["n_examples"]) for r in rows) / len(rows))  # type: ignore[call-overload]
    complete = len(rows) == n * 2 ** (n - 1) and all(r["tokens"] is not None for r in rows)
    tokens = sum(int(r["tokens"]) for r in rows) if complete else None  # type: ignore[call-overload]
    precisions = sorted({str(r["precision"]) for r in rows if r["precision"]})
    return max(examples, 1), tokens, precisions[0] if len(precisions) == 1 else None


def advise_study(section: AdviseSection, checkpoints: Sequence[Checkpoint], names: Sequence[str], mix: MixSpec,
                 sweep_examples: int, exhaustive_tokens: int | None, cache_dir: Path | None,
                 max_length: int, progress: Callable[[str], None] | None = None
                 ) -> tuple[list[Advice], list[Advice], Cost, Signals]:
    """The advisor's answers for every target (partners) and every G (partitions), from one gathering.

    Reads the adapters' weights and the train/validation splits only (the leak rule: never the test split).
    Besides what the strategy reads, the weights and train-text signals are gathered for the report's
    every-strategy table (zero forward passes, and one embedding pass of 200 train documents per
    domain); they are not part of the advice's cost.

    Returns:
        (partner advice per target, partition advice per G, the cost of the signals, every signal gathered).
    """
    from adaptermix.advice.api import needs_of, race_partition, race_partners

    needs = (set() if section.grow else needs_of(section.strategy)) \
        | (needs_of(section.partitions_by) if section.groups else set())
    signals, cost = _gather(section, checkpoints, names, mix, needs, sweep_examples, exhaustive_tokens, cache_dir,
                            max_length, progress)
    if section.grow:
        partners, cost = _grow(section, checkpoints, names, mix, cost, sweep_examples, max_length, cache_dir, progress)
    else:
        partners = [recommend_partners(signals, section.strategy, t, section.sizes, cost, mix.label,
                                       section.runners_up) for t in names]
    partitions = [recommend_partition(signals, section.partitions_by, g, cost, mix.label) for g in section.groups]
    # One ledger for the stage: every partner race (each target at each size) gets an equal share of what
    # the budget leaves after the signals, as if each G raced took one share too; the partition races then
    # split what the partner races left (their unspent shares included: a partner race stops at its
    # examples, a partition race needs every domain's), so signals + all races stay within `budget`.
    spec, params = section.race_spec, dict(mix.params)
    races = len(names) * len(section.sizes) * section.races_partners + len(section.groups) * section.races_partitions
    if section.races_partners:
        partners = [race_partners(a, signals, section.strategy, checkpoints, names, spec, max_length, mix.mixer,
                                  params, cache_dir, budget=section.budget, races=races) for a in partners]
    if section.races_partitions:
        spent = sum(a.cost.forward_tokens - cost.forward_tokens for a in partners) if section.races_partners else 0
        partitions = [race_partition(a, signals, section.partitions_by, checkpoints, names, spec, section.budget,
                                     max_length, mix.mixer, params, cache_dir, races=len(section.groups), spent=spent)
                      for a in partitions]
    return partners, partitions, cost, signals


def _gather(section: AdviseSection, checkpoints: Sequence[Checkpoint], names: Sequence[str], mix: MixSpec,
            needs: set[str], sweep_examples: int, exhaustive_tokens: int | None, cache_dir: Path | None,
            max_length: int, progress: Callable[[str], None] | None) -> tuple[Signals, Cost]:
    """Every signal the stage reads (its strategies' and the report's baselines'), and what the strategies' cost."""
    from adaptermix.advice.collect import gather

    signals, exhaustive = gather(checkpoints, names, needs | BASELINE_NEEDS, budget=section.budget,
                                 sweep_examples=sweep_examples, max_length=max_length, mixer=mix.mixer,
                                 mixer_params=dict(mix.params), cache_dir=cache_dir,
                                 exhaustive_tokens=exhaustive_tokens, progress=progress)
    # The intervals are read against the stored sweep rows: widen them by that evaluation's sampling error.
    signals = replace(signals, test_examples=sweep_examples)
    # The advice costs what its strategies read; the baselines' extra signals are the report's, not the advice's.
    return signals, Cost(signals.spent(needs), exhaustive, signals.evaluations if needs & set(FORWARD) else 0)


def _grow(section: AdviseSection, checkpoints: Sequence[Checkpoint], names: Sequence[str], mix: MixSpec,
          spent: Cost, sweep_examples: int, max_length: int, cache_dir: Path | None,
          progress: Callable[[str], None] | None) -> tuple[list[Advice], Cost]:
    """Every target's partners grown greedily (`advice.api.grow_partners`), and the stage's cost with them.

    The stage's one ledger: the growth of all targets spends what `budget` leaves after `spent` (the
    partitions' signals), so signals + growth stay within the budget.
    """
    from adaptermix.advice.api import grow_partners
    from adaptermix.evaluation.evaluator import Evaluator

    left = section.budget - spent.fraction
    if left <= 0:
        raise ConfigError(f"advise.budget {section.budget:g} is spent by the partitions' validation signals: "
                          "raise it, or drop grow or groups")
    spec = AdviceSpec(budget=min(left, 1.0), mixer=mix.mixer, mixer_params=dict(mix.params) or None,
                      sweep_examples=sweep_examples, max_length=max_length, grow=True)
    evaluator = Evaluator.for_checkpoint(checkpoints[0], max_length, cache_dir)  # one encoder for every target
    for c in checkpoints:
        evaluator.check(c)
    partners = [grow_partners(t, section.sizes, checkpoints, names, spec, cache_dir, progress, evaluator=evaluator,
                              exhaustive=spent.exhaustive_forward_tokens or None) for t in names]
    tokens = spent.forward_tokens + sum(a.cost.forward_tokens for a in partners)
    evaluations = spent.evaluations + sum(a.cost.evaluations for a in partners)
    cost = Cost(tokens, partners[0].cost.exhaustive_forward_tokens, evaluations)
    return [replace(a, cost=cost) for a in partners], cost


def ensemble_requests(partners: Sequence[Advice], partitions: Sequence[Advice]) -> list[tuple[str, tuple[str, ...]]]:
    """Every (target, member set) whose output ensemble the report shows, each once, in a stable order."""
    want: dict[tuple[str, tuple[str, ...]], None] = {}
    for advice in partners:
        for rec in advice.recommendations:
            assert advice.target is not None  # noqa: S101 - partners advice always names its target
            want[(advice.target, rec.members)] = None
    for advice in partitions:
        for rec in advice.recommendations:
            for t in rec.members:
                want[(t, rec.members)] = None
    return list(want)


def run_advise_stage(section: AdviseSection, store_path: Path, adapters: Sequence[Path], spec: EvalSpec,
                     cache_dir: Path | None, progress: Callable[[str], None] | None = None) -> bool:
    """Advise, score the ensembles, store the artifact, unless the store holds it already; returns whether it ran.

    `progress` (optional) is called with a line after each step (a target's validation passes, an ensemble).

    Raises:
        ConfigError: the store has no sweep rows of the advised mixer, or bad advice settings.
    """
    from adaptermix.checkpoints import read_mixable
    from adaptermix.methods.precision import resolve_precision
    from adaptermix.pipeline.adapters import study_names
    from adaptermix.pipeline.ensemble import EnsembleScorer

    with Store.read(store_path) as store:
        meta = store.meta
        mix = section.check(len(meta.adapters), spec)
        key = advice_key(section, mix, meta)
        if store.get_artifact(ADVICE_KIND, key) is not None:
            return False
        examples, exhaustive, precision = _sweep_facts(store, mix.label)
    ckpts = read_mixable([str(p) for p in adapters])
    names = study_names(ckpts)
    start = time.perf_counter()
    partners, partitions, cost, signals = advise_study(section, ckpts, names, mix, examples, exhaustive, cache_dir,
                                                       spec.max_length, progress)
    advised = time.perf_counter() - start
    ensembles = []
    precision = precision or resolve_precision(spec.precision)
    if section.ensemble:
        scorer = EnsembleScorer(dict(zip(names, ckpts, strict=True)), spec, precision, cache_dir)
        for t, members in ensemble_requests(partners, partitions):
            ensembles.append(scorer.score(t, members).to_json())
            if progress is not None:
                progress(f"ensemble: {t} with {'+'.join(members)}")
    value = {
        "version": ADVICE_VERSION, "settings": section.model_dump(mode="json"), "mixer": mix.label,
        "strategy": section.partners_by, "cost": cost.to_json(), "sweep_examples": examples,
        "partners": [a.to_json() for a in partners],
        "partitions": [{"groups": g, **a.to_json()} for g, a in zip(section.groups, partitions, strict=True)],
        "ensembles": ensembles, "ensemble_precision": precision if section.ensemble else None,
        "signals": signals.to_json(),
        "seconds": {"advice": advised, "ensembles": time.perf_counter() - start - advised},
    }
    with Store.open(store_path, meta) as store:
        store.put_artifact(ADVICE_KIND, key, canonical_json(value))
    return True
