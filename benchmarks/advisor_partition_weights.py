"""Weights for a partition's shared mixtures, against ground truth: `advisor_regret.py --partition-weights`.

In partners mode the searched weights go back to the target's own adapter (docs/advisor.md): the
objective is one domain's accuracy, and "do not mix" is its best answer. A partition's group is a
mixture that must serve every domain in it, each with its own head, so there weights can only help by
balancing the group's domains. For the surrogate's partition at each G (the exact DP on its scores, as
`adaptermix advise --groups G` recommends), each group of two or more adapters gets CMA-ES weights
searched on validation examples (the mean loss over its domains: `collect.search_shared_weights`,
what `advise --groups G --weights` runs); each of its domains is then scored on the store's test
examples (real forward passes, the store's precision), and the partition's objective (mean accuracy
over the N domains) is compared with the uniform mixtures of the same groups (the store's rows, bit
for bit) and with the best uniform partition (the store's exact optimum: chosen on test, an optimistic
bar). Intervals: 90 % bootstrap resampling test examples within each domain (paired: the same
examples under both mixtures).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from advisor_weights import ci_text  # one formatting of a paired interval for both weight tables

from adaptermix.advice.api import recommend_partition
from adaptermix.advice.partition import best_partition, partition_value
from adaptermix.advice.signals import Signals
from adaptermix.advice.tables import mask_of
from adaptermix.advice.types import Cost
from adaptermix.advice.weights import WeightSearchSpec


@dataclass(frozen=True)
class PartitionWeightRow:
    """One G: the surrogate's partition with searched weights against its uniform groups and the optimum."""

    groups: int
    members: tuple[tuple[str, ...], ...]
    weights: tuple[tuple[float, ...], ...]  # per group, in member order ((1.0,) for a group of one)
    uniform: float  # mean accuracy over the N domains, the store's uniform mixtures of these groups
    weighted: float  # the same with each group's searched weights
    optimum: float  # the best uniform partition into G groups (the store's exact optimum)
    vs_uniform: tuple[float, float, float]  # (mean difference, 5 %, 95 %) in points
    per_domain: tuple[tuple[str, float, float], ...]  # (domain, uniform %, weighted %)
    tokens: int
    seconds: float


def stratified_bootstrap(pairs: Sequence[tuple[np.ndarray, np.ndarray]], draws: int = 2000,
                         seed: int = 0) -> tuple[float, float, float]:
    """Mean over domains of mean(a − b), in points, with a 90 % bootstrap interval resampling examples per domain."""
    rng = np.random.default_rng(seed)
    diffs = [100 * (a.astype(float) - b.astype(float)) for a, b in pairs]
    point = float(np.mean([d.mean() for d in diffs]))
    boot = np.zeros(draws)
    for d in diffs:
        boot += d[rng.integers(0, len(d), size=(draws, len(d)))].mean(axis=1)
    boot /= len(diffs)
    return point, float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))


def partition_weight_rows(adapters: Path, domains: Sequence[str], truth: np.ndarray,
                          correct: dict[tuple[int, int], np.ndarray], signals: Signals, sizes: Sequence[int],
                          spec: WeightSearchSpec, max_length: int, n_test: dict[str, int], precision: str,
                          progress: Any = print) -> list[PartitionWeightRow]:
    """For each G in `sizes`: search each group's weights on validation, score on test, compare."""
    from adaptermix.advice.collect import search_shared_weights, validation_probe
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator
    from adaptermix.mixing import mix

    ckpts = read_mixable([adapters / d for d in domains])
    evaluator = Evaluator.for_checkpoint(ckpts[0], max_length)
    names = list(domains)
    tests: dict[int, Any] = {}
    out = []
    for g in sizes:
        start = time.perf_counter()
        advice = recommend_partition(signals, "surrogate", g, Cost(0, 1))
        pairs, per_domain, weights, tokens = [], [], [], 0
        masks = []
        for rec in advice.recommendations:
            members = [names.index(m) for m in rec.members]
            mask = mask_of(members)
            masks.append(mask)
            if len(members) == 1:
                bits = correct[(members[0], mask)]
                pairs.append((bits, bits))
                per_domain.append((names[members[0]], 100 * float(bits.mean()), 100 * float(bits.mean())))
                weights.append((1.0,))
                continue
            got = search_shared_weights(ckpts, names, evaluator, members, members, spec)
            tokens += got["tokens"]
            w = got["result"].weights
            weights.append(w)
            mixture = mix([ckpts[j].adapter for j in members], "weighted", w)
            for t in members:
                # Ground truth: the benchmark reads test, the advisor's search never does.
                test = tests.setdefault(t, evaluator.target(names[t], "test", n_test[names[t]]))
                _, bits, used = validation_probe(evaluator, mixture, ckpts[t], test, names[t], precision)
                tokens += used
                uniform = correct[(t, mask)]
                pairs.append((bits, uniform))
                per_domain.append((names[t], 100 * float(uniform.mean()), 100 * float(bits.mean())))
        order = {d: i for i, d in enumerate(names)}
        per_domain.sort(key=lambda x: order[x[0]])
        out.append(PartitionWeightRow(
            g, tuple(rec.members for rec in advice.recommendations), tuple(weights),
            partition_value(truth, tuple(masks)), float(np.mean([p[2] for p in per_domain])) / 100,
            best_partition(truth, g).value, stratified_bootstrap(pairs), tuple(per_domain), tokens,
            time.perf_counter() - start))
        progress(f"partition weights: G={g} done in {out[-1].seconds:.0f} s")
    return out


def partition_weights_table(rows: Sequence[PartitionWeightRow]) -> list[str]:
    """Markdown: one line per G (groups with their weights), then the per-domain accuracies."""
    lines = ["| G | groups (weights) | uniform % | weighted % | weighted − uniform (pts, 90 % CI) | "
             "best uniform partition % | weighted − best (pts) |", "|---:|---|---:|---:|---|---:|---:|"]
    for r in rows:
        groups = " \\| ".join(" + ".join(f"{m} {w:.2f}" if len(ms) > 1 else m for m, w in zip(ms, ws, strict=True))
                              for ms, ws in zip(r.members, r.weights, strict=True))
        lines.append(f"| {r.groups} | {groups} | {100 * r.uniform:.2f} | {100 * r.weighted:.2f} | "
                     f"{ci_text(r.vs_uniform)} | {100 * r.optimum:.2f} | {100 * (r.weighted - r.optimum):+.2f} |")
    if rows:
        lines.append(f"| *mean* | | {100 * np.mean([r.uniform for r in rows]):.2f} | "
                     f"{100 * np.mean([r.weighted for r in rows]):.2f} | "
                     f"{np.mean([r.vs_uniform[0] for r in rows]):+.2f} ({sum(r.vs_uniform[1] > 0 for r in rows)} "
                     f"better, {sum(r.vs_uniform[2] < 0 for r in rows)} worse) | "
                     f"{100 * np.mean([r.optimum for r in rows]):.2f} | "
                     f"{100 * np.mean([r.weighted - r.optimum for r in rows]):+.2f} |")
    return lines
