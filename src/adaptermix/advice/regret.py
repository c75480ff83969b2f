"""How good is advice? Regret and ranking metrics of a strategy against an exhaustive store's truth.

Ground truth is the exhaustive store's test accuracy table (`tables.table_from_rows`). Cells are
(target, k) with 2 ≤ k ≤ n − 1 (k = 1 and k = n hold one set each: nothing to choose). A strategy's
ties are resolved as a uniformly random tie-break, in expectation (exactly), so `random` — every set
tied — scores its exact expectation, never one draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from adaptermix.advice.partition import best_partition, partition_value, random_partition_mean
from adaptermix.advice.signals import Signals
from adaptermix.advice.strategies import Scores
from adaptermix.advice.tables import cell, sets_with

TOP_SHARE = 0.10  # "hit": the pick is in the top 10 % of its cell
TIE = 1e-12


@dataclass(frozen=True)
class CellResult:
    """One (target, k) cell: the oracle and what the strategy's pick reaches (expected over ties)."""

    target: int
    k: int
    oracle: float
    picked: float
    best_of_3: float
    hit: float
    spearman: float | None


@dataclass(frozen=True)
class PartnerMetrics:
    """A strategy's partners-mode metrics over every cell, in accuracy points (×100) where noted.

    Attributes:
        regret: mean over cells of oracle − picked, points.
        regret_ci: 90 % bootstrap interval of `regret` over targets (cells resampled by target).
        regret_at_3: mean of oracle − best of the top three, points.
        hit_rate: share of cells whose pick is in the top 10 % of the cell.
        spearman: mean within-cell Spearman ρ of score vs accuracy (cells where it is defined), or None.
        coverage: share of the stored sets (every k) inside the 90 % interval, or None (no intervals).
        mae: mean absolute error of predicted accuracy, points, or None.
        cells: the per-cell results.
    """

    regret: float
    regret_ci: tuple[float, float]
    regret_at_3: float
    hit_rate: float
    spearman: float | None
    coverage: float | None
    mae: float | None
    cells: tuple[CellResult, ...]


def _top(scores: np.ndarray) -> np.ndarray:
    return scores >= scores.max() - TIE


def expected_best_of(values: np.ndarray, scores: np.ndarray, m: int) -> float:
    """E[max value among the m top-scored items] when ties in score are broken uniformly at random (exact).

    Whole score levels are taken from the top while they fit; r < (level size) slots left go to a
    uniformly random r-subset of the boundary level, whose maximum is the i-th smallest of its
    values with probability C(i−1, r−1)/C(size, r).
    """
    order = np.unique(np.round(scores, 12))[::-1]
    taken = -np.inf
    left = min(m, len(values))
    for level in order:
        here = np.sort(values[np.abs(np.round(scores, 12) - level) <= TIE])
        if len(here) <= left:
            taken = max(taken, float(here.max()))
            left -= len(here)
            if left == 0:
                return taken
            continue
        size, r = len(here), left
        total = math.comb(size, r)
        return float(sum(math.comb(i, r - 1) / total * max(taken, float(v)) for i, v in enumerate(here)))
    return taken


def _spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.ptp(x) <= TIE or np.ptp(y) <= TIE:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(x, y).statistic)


def cell_result(truth: np.ndarray, score: np.ndarray, target: int, k: int) -> CellResult:
    """Oracle, expected pick, expected best of three, hit probability and ρ in one (target, k) cell."""
    masks, acc = cell(truth, target, k)
    s = score[target, masks]
    top = _top(s)
    q = math.ceil(TOP_SHARE * len(acc))
    threshold = np.sort(acc)[::-1][q - 1]
    return CellResult(target, k, float(acc.max()), float(acc[top].mean()), expected_best_of(acc, s, 3),
                      float((acc[top] >= threshold - TIE).mean()), _spearman(s, acc))


def bootstrap_ci(per_target: Sequence[float], seed: int = 0, draws: int = 2000) -> tuple[float, float]:
    """90 % percentile bootstrap interval of the mean over targets."""
    x = np.asarray(per_target, dtype=float)
    if len(x) < 2:
        return (float(x.mean()), float(x.mean())) if len(x) else (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(draws, len(x)))].mean(axis=1)
    return float(np.quantile(means, 0.05)), float(np.quantile(means, 0.95))


def partner_metrics(truth: np.ndarray, scores: Scores, sizes: Sequence[int] | None = None) -> PartnerMetrics:
    """Partners-mode metrics of one strategy against the truth table (every target, k in `sizes`).

    Args:
        truth: (n, 2^n) test accuracies of the exhaustive store.
        scores: the strategy's `Scores`.
        sizes: the k to score (default 2..n−1).
    """
    n = truth.shape[0]
    ks = list(sizes) if sizes is not None else list(range(2, n))
    cells = tuple(cell_result(truth, scores.score, t, k) for t in range(n) for k in ks)
    regrets = [100 * (c.oracle - c.picked) for c in cells]
    per_target = [float(np.mean([100 * (c.oracle - c.picked) for c in cells if c.target == t])) for t in range(n)]
    rhos = [c.spearman for c in cells if c.spearman is not None]
    coverage = mae = None
    defined = ~np.isnan(truth)
    if scores.predicted is not None:
        mae = float(100 * np.mean(np.abs(scores.predicted[defined] - truth[defined])))
    if scores.low is not None and scores.high is not None:
        inside = (scores.low[defined] - TIE <= truth[defined]) & (truth[defined] <= scores.high[defined] + TIE)
        coverage = float(inside.mean())
    return PartnerMetrics(
        regret=float(np.mean(regrets)), regret_ci=bootstrap_ci(per_target),
        regret_at_3=float(np.mean([100 * (c.oracle - c.best_of_3) for c in cells])),
        hit_rate=float(np.mean([c.hit for c in cells])), spearman=float(np.mean(rhos)) if rhos else None,
        coverage=coverage, mae=mae, cells=cells,
    )


def half_split_floor(correct: Mapping[tuple[int, int], np.ndarray], n: int, sizes: Sequence[int] | None = None,
                     splits: int = 20, seed: int = 0) -> float:
    """The oracle's own noise: choose the best set on half the test examples, score it on the other half.

    For each (target, k) cell and each of `splits` seeded random halvings (both directions), the
    regret on half B of the set that is best on half A (ties in expectation) against the best on B.

    Args:
        correct: (target, mask) → per-example correctness (the store's `correct` bits).
        n: number of domains.
        sizes: the k to score (default 2..n−1).

    Returns:
        The mean regret in points.
    """
    ks = list(sizes) if sizes is not None else list(range(2, n))
    rng = np.random.default_rng(seed)
    regrets = []
    for t in range(n):
        for k in ks:
            masks = list(sets_with(t, k, n))
            bits = np.stack([correct[(t, m)] for m in masks]).astype(float)
            for _ in range(splits):
                perm = rng.permutation(bits.shape[1])
                halves = (perm[: len(perm) // 2], perm[len(perm) // 2 :])
                for a, b in (halves, halves[::-1]):
                    acc_a, acc_b = bits[:, a].mean(axis=1), bits[:, b].mean(axis=1)
                    regrets.append(100 * (acc_b.max() - acc_b[_top(acc_a)].mean()))
    return float(np.mean(regrets))


def partition_half_split_floor(correct: Mapping[tuple[int, int], np.ndarray], n: int, splits: int = 10,
                               seed: int = 0) -> dict[int, float]:
    """The partition oracle's own noise: the optimum on half of every target's test examples, scored on the other.

    For each of `splits` seeded halvings (each target's test examples split at random, both directions), the
    exact optimal partition (DP) on half A, scored on half B against half B's own optimum. No strategy
    can be expected to come closer to the optimum than this at these test sizes.

    Args:
        correct: (target, mask) → per-example correctness of every in-domain mixture.
        n: number of domains.

    Returns:
        G → mean regret in points, for G = 2..n−1.
    """
    rng = np.random.default_rng(seed)
    keys = sorted(correct)
    regrets: dict[int, list[float]] = {g: [] for g in range(2, n)}
    for _ in range(splits):
        halves = {}
        for t in range(n):
            size = next(len(correct[k]) for k in keys if k[0] == t)
            perm = rng.permutation(size)
            halves[t] = (perm[: size // 2], perm[size // 2 :])
        tables = []
        for side in (0, 1):
            table = np.full((n, 1 << n), np.nan)
            for t, mask in keys:
                table[t, mask] = float(np.asarray(correct[(t, mask)], dtype=np.float64)[halves[t][side]].mean())
            tables.append(table)
        for a, b in ((0, 1), (1, 0)):
            for g in regrets:
                chosen = best_partition(tables[a], g).groups
                regrets[g].append(100 * (best_partition(tables[b], g).value - partition_value(tables[b], chosen)))
    return {g: float(np.mean(v)) for g, v in regrets.items()}


@dataclass(frozen=True)
class PartitionResult:
    """One G: the optimum, the strategy's partition scored on the truth, and a random partition's mean."""

    groups: int
    optimum: float
    reached: float
    random_mean: float


def partition_results(truth: np.ndarray, scores: Scores | None) -> list[PartitionResult]:
    """For every G in 2..n−1: the exact optimum, what the strategy's partition reaches, the random mean.

    `scores=None` is the random partition (its exact expectation).
    """
    n = truth.shape[0]
    out = []
    for g in range(2, n):
        optimum = best_partition(truth, g).value
        rnd = random_partition_mean(truth, g)
        reached = rnd if scores is None else partition_value(truth, best_partition(scores.score, g).groups)
        out.append(PartitionResult(g, optimum, reached, rnd))
    return out


@dataclass(frozen=True)
class StrategyReport:
    """One strategy's row of the benchmark: partners metrics, partition regrets per G, cost."""

    strategy: str
    needs: str
    partners: PartnerMetrics
    partitions: tuple[PartitionResult, ...]
    forward_tokens: int
    cost_fraction: float
    seconds: float


def evaluate_strategies(truth: np.ndarray, signals: Signals, names: Sequence[str], tokens: Mapping[str, int],
                        exhaustive_tokens: int) -> list[StrategyReport]:
    """Every strategy in `names` scored against `truth` (partners for k = 2..n−1, partitions for G = 2..n−1).

    Args:
        truth: the exhaustive store's (n, 2^n) test accuracy table.
        signals: what the strategies may read (gathered from weights, train text, validation).
        names: registered strategy names.
        tokens: forward tokens spent per need (`weights`, `text`, `validation`; 0 when absent).
        exhaustive_tokens: the exhaustive sweep's tokens (the store's sum).

    Returns:
        One `StrategyReport` per strategy; `random`'s partitions are the exact random expectation.
    """
    import time

    from adaptermix.advice.strategies import get_strategy

    out = []
    for name in names:
        strategy = get_strategy(name)
        start = time.perf_counter()
        scores = strategy.scores(signals)
        seconds = time.perf_counter() - start
        spent = int(tokens.get(strategy.needs, 0))
        out.append(StrategyReport(
            strategy.name, strategy.needs, partner_metrics(truth, scores),
            tuple(partition_results(truth, None if strategy.name == "random" else scores)),
            spent, spent / exhaustive_tokens if exhaustive_tokens else 0.0, seconds,
        ))
    return out


#: Seeds the benchmark averages a seeded partitioner (k-means) over: its mean, not one draw.
CLUSTER_SEEDS = (0, 1, 2, 3, 4)


def clustering_results(truth: np.ndarray, signals: Signals, name: str,
                       seeds: Sequence[int] = CLUSTER_SEEDS) -> list[PartitionResult]:
    """A partitioner's partitions (`adaptermix.advice.clustering`) scored on the truth, every G in 2..n−1.

    `reached` is the mean over `seeds` of the partition's true mean accuracy for a seeded
    partitioner (k-means), the one deterministic partition's otherwise.
    """
    from adaptermix.advice.clustering import get_partitioner

    partitioner = get_partitioner(name)
    used = list(seeds) if partitioner.seeded else [0]
    n = truth.shape[0]
    out = []
    for g in range(2, n):
        reached = float(np.mean([partition_value(truth, partitioner.partition(signals, g, s)) for s in used]))
        out.append(PartitionResult(g, best_partition(truth, g).value, reached, random_partition_mean(truth, g)))
    return out


@dataclass(frozen=True)
class ClusterReport:
    """One partitioner's row of the benchmark's partitions table, and its cost."""

    strategy: str
    needs: str
    partitions: tuple[PartitionResult, ...]
    seeds: int
    forward_tokens: int
    cost_fraction: float


def evaluate_partitioners(truth: np.ndarray, signals: Signals, names: Sequence[str], tokens: Mapping[str, int],
                          exhaustive_tokens: int, seeds: Sequence[int] = CLUSTER_SEEDS) -> list[ClusterReport]:
    """Every partitioner in `names` scored against `truth` for G = 2..n−1 (see `clustering_results`)."""
    from adaptermix.advice.clustering import get_partitioner

    out = []
    for name in names:
        p = get_partitioner(name)
        spent = int(tokens.get(p.needs, 0))
        out.append(ClusterReport(p.name, p.needs, tuple(clustering_results(truth, signals, name, seeds)),
                                 len(seeds) if p.seeded else 1, spent,
                                 spent / exhaustive_tokens if exhaustive_tokens else 0.0))
    return out
