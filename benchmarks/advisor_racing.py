"""Racing against ground truth: the part of `advisor_regret.py --race` that runs models (issue 17, item 3).

For each seed strategy, target and k, the seed's top `--race-candidates` member sets are raced on the
target's first validation examples (`adaptermix.advice.trials.race_member_sets`, exactly what
`adaptermix advise --race` runs: paired, doubling batches, a set dropped once its 95 % interval to
the leader lies below 0, at most `--race-examples` examples per set). The winner is scored on the
store's test accuracy (no test forward pass: the store holds every set), beside the seed's own pick
on the same cells. Cost: the seed's signals plus the race's validation tokens, against the sweep's.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.advice.api import ranked
from adaptermix.advice.racing import BEST_MEAN, ELIMINATE, EVIDENCE, RaceSpec
from adaptermix.advice.regret import bootstrap_ci
from adaptermix.advice.signals import Signals
from adaptermix.advice.strategies import get_strategy
from adaptermix.advice.tables import cell, mask_of


@dataclass(frozen=True)
class RaceCell:
    """One (seed strategy, target, k): the seed's pick and the race's winner, scored on the store's test truth."""

    seed: str
    target: str
    k: int
    candidates: int
    seed_regret: float  # points, the seed's first-ranked set (the race's candidate 0) vs the cell's best stored set
    race_regret: float  # points, the race's winner
    winner_rank: int  # the winner's place in the seed's order (0: the seed's own pick)
    survivors: int
    rounds: int
    evaluations: int
    examples: int  # candidate-examples evaluated
    tokens: int
    seconds: float


def race_rows(adapters: Path, domains: Sequence[str], truth: np.ndarray, signals: Signals, seeds: Sequence[str],
              targets: int, sizes: Sequence[int], spec: RaceSpec, max_length: int,
              progress: Any = print, budget: float | None = None, seed_tokens: dict[str, int] | None = None,
              exhaustive: int = 0) -> list[RaceCell]:
    """Race every (seed, target, k) for the first `targets` targets; candidates shared by seeds run once.

    With `budget`, each race is capped as `advise --race` caps it (`api.race_share`: what the budget
    leaves after the seed's own tokens, split over every target × size)."""
    from adaptermix.advice.api import race_share
    from adaptermix.advice.trials import race_member_sets
    from adaptermix.advice.types import Cost
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator

    ckpts = read_mixable([adapters / d for d in domains])
    evaluator = Evaluator.for_checkpoint(ckpts[0], max_length)
    names = list(domains)
    scores = {seed: get_strategy(seed).scores(signals) for seed in seeds}
    memo: dict[tuple[Any, ...], tuple[np.ndarray, int]] = {}
    out = []
    for t in range(min(targets, len(names))):
        for k in sizes:
            for seed in seeds:
                start = time.perf_counter()
                order = ranked(signals, scores[seed], t, k)[: spec.candidates]
                sets = [[names.index(m) for m in c.members] for c in order]
                share = None if budget is None else race_share(
                    Cost((seed_tokens or {}).get(seed, 0), exhaustive), budget, len(names) * len(sizes))
                got = race_member_sets(ckpts, names, evaluator, t, sets, spec, memo=memo, max_tokens=share)
                # The seed's pick is its first-ranked set (ties by member names, as `advise` answers), so
                # "the race changed the pick" and "better / worse" compare the same two sets.
                oracle = float(np.nanmax(cell(truth, t, k)[1]))
                won, first = truth[t, mask_of(sets[got.winner])], truth[t, mask_of(sets[0])]
                out.append(RaceCell(seed, names[t], k, len(sets), 100 * (oracle - float(first)),
                                    100 * (oracle - float(won)), got.winner,
                                    sum(d is None for d in got.dropped), got.rounds, got.evaluations, got.examples,
                                    got.tokens, time.perf_counter() - start))
                progress("race: " + json.dumps(asdict(out[-1])))  # one JSON row: a cut-short run still counts
    return out


def race_table(rows: Sequence[RaceCell], seed_tokens: dict[str, int], exhaustive: int) -> list[str]:
    """Markdown: per seed strategy, the race's regret against the seed's own on the same cells, and the cost."""
    lines = ["| strategy | cells | regret (pts) | 90 % CI over targets | the seed's first set, same cells | "
             "race changed the pick | better / worse than the seed | sets left at the end | "
             "examples per set (mean) | cost (% of exhaustive: seed + race) |",
             "|---|---:|---:|---|---:|---:|---|---:|---:|---:|"]
    for seed in dict.fromkeys(r.seed for r in rows):
        here = [r for r in rows if r.seed == seed]
        targets = list(dict.fromkeys(r.target for r in here))
        per_target = [float(np.mean([r.race_regret for r in here if r.target == t])) for t in targets]
        low, high = bootstrap_ci(per_target)
        better = sum(r.race_regret < r.seed_regret - 1e-9 for r in here)
        worse = sum(r.race_regret > r.seed_regret + 1e-9 for r in here)
        tokens = sum(r.tokens for r in here)
        # The race's tokens scale with the cells raced; the seed's signals are paid once for all targets.
        frac = (seed_tokens.get(seed, 0) + tokens) / exhaustive if exhaustive else 0.0
        lines.append(f"| {seed} + race | {len(here)} | {np.mean([r.race_regret for r in here]):.2f} | "
                     f"[{low:.2f}, {high:.2f}] | {np.mean([r.seed_regret for r in here]):.2f} | "
                     f"{sum(r.winner_rank != 0 for r in here)} | {better} / {worse} | "
                     f"{np.mean([r.survivors for r in here]):.1f} of {here[0].candidates} | "
                     f"{np.mean([r.examples / r.candidates for r in here]):.0f} | {100 * frac:.2f} |")
    return lines


#: How each partition race rule decides, in the words a table's heading uses.
RULE_WORDS = {
    EVIDENCE: "every candidate measured to the end of the budget; the DP's kept unless another's gain is shown at "
              "one-sided 95 %",
    ELIMINATE: "dropped at a 95 % paired interval below the leader",
    BEST_MEAN: "every candidate measured to the end of the budget; the best measured mean wins",
}


@dataclass(frozen=True)
class PartitionRaceCell:
    """One G: the seed's DP partition and the race's winner among its top partitions, on the store's test truth."""

    seed: str
    groups: int
    candidates: int
    optimum: float  # mean test accuracy of the exact optimum (fraction)
    seed_regret: float  # points, the DP's partition on the seed's scores (candidate 0) vs the optimum
    race_regret: float  # points, the race's winner
    best_candidate_regret: float  # points, the best of the candidates in truth: what a perfect race would reach
    winner_rank: int
    survivors: int
    rounds: int
    evaluations: int
    tokens: int
    seconds: float
    rule: str  # `RaceSpec.partition_rule`


def partition_race_rows(adapters: Path, domains: Sequence[str], truth: np.ndarray, signals: Signals, seed: str,
                        groups: Sequence[int], spec: RaceSpec, max_length: int, max_tokens: int | None,
                        progress: Any = print,
                        memo: dict[tuple[Any, ...], tuple[np.ndarray, int]] | None = None) -> list[PartitionRaceCell]:
    """Race the seed's top `spec.candidates` partitions for every G (`advise --groups G --race`), scored on the store.

    Each (domain, group, window) evaluation is memoised across G; each race's tokens are what it would run alone.
    `spec.partition_rule` decides each race.
    """
    from adaptermix.advice.partition import best_partition, partition_value
    from adaptermix.advice.partition_race import top_partitions
    from adaptermix.advice.trials import race_partition_groups
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator

    ckpts = read_mixable([adapters / d for d in domains])
    evaluator = Evaluator.for_checkpoint(ckpts[0], max_length)
    scores = get_strategy(seed).scores(signals)
    memo = {} if memo is None else memo
    out = []
    for g in groups:
        start = time.perf_counter()
        top = top_partitions(scores.score, g, spec.candidates)
        cands = [p for p, _ in top]
        got = race_partition_groups(ckpts, list(domains), evaluator, cands, spec, max_tokens=max_tokens, memo=memo)
        optimum = best_partition(truth, g).value
        true = [partition_value(truth, p) for p in cands]
        out.append(PartitionRaceCell(seed, g, len(cands), optimum, 100 * (optimum - true[0]),
                                     100 * (optimum - true[got.winner]), 100 * (optimum - max(true)), got.winner,
                                     sum(d is None for d in got.dropped), got.rounds, got.evaluations, got.tokens,
                                     time.perf_counter() - start, spec.partition_rule))
        progress("partition race: " + json.dumps(asdict(out[-1])))
    return out


def partition_race_table(rows: Sequence[PartitionRaceCell], seed_tokens: int, exhaustive: int) -> list[str]:
    """Markdown: per G the DP's regret, the race's, the best candidate's, and the cost (seed + race)."""
    lines = ["| G | optimum (mean acc %) | DP on the seed's scores (pts) | + race (pts) | best of the candidates "
             "(pts) | winner's rank | sets left | rounds | evaluations | cost (% of exhaustive: seed + race) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        frac = (seed_tokens + r.tokens) / exhaustive if exhaustive else 0.0
        lines.append(f"| {r.groups} | {100 * r.optimum:.2f} | {r.seed_regret:.2f} | {r.race_regret:.2f} | "
                     f"{r.best_candidate_regret:.2f} | {r.winner_rank + 1} of {r.candidates} | {r.survivors} | "
                     f"{r.rounds} | {r.evaluations} | {100 * frac:.2f} |")
    if rows:
        lines.append(f"| *mean* | | {np.mean([r.seed_regret for r in rows]):.2f} | "
                     f"{np.mean([r.race_regret for r in rows]):.2f} | "
                     f"{np.mean([r.best_candidate_regret for r in rows]):.2f} | | | | | |")
    return lines
