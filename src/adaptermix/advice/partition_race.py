"""Racing whole partitions on a few labelled validation examples (issue 17: partitions within 0.5 points).

The surrogate's exact DP finds the partition with the best *predicted* mean accuracy, but its pair
drops are measured on a few hundred validation examples, so its second or third partition is often
as good in truth. `top_partitions` lists its best few distinct partitions; `race_partitions`
evaluates the group mixtures they need on the same validation examples of each domain (paired) and
keeps the partition with the best measured mean, dropping candidates as their paired intervals
separate. The same successive elimination as `adaptermix.advice.racing` (doubling windows, a 95 %
normal interval of the paired difference to the leader), on the partition objective:

    D(P, Q) = (1/N) Σ_t mean_i [c(t, P(t))_i − c(t, Q(t))_i],   Var = (1/N²) Σ_t s_t² / m_t,

the sum over the domains t whose group differs (elsewhere the difference is 0 by construction, so
those domains are never evaluated). Each (domain, group) mixture is evaluated once per window even
when several candidates share it, and a round runs only if its exact token cost fits `max_tokens`
(shrunk to the largest window that fits, else the race stops). The first round is never shrunk below
the first batch (`RaceSpec.first` examples): a race the budget cannot give that is not run, and the
seed's first partition stands (as for the partners' race in `trials.race_member_sets`).

`race_partitions` is pure: `evaluate(t, mask, start, stop)` returns domain t's correctness on its
validation examples [start, stop) under the mixture of `mask` and the tokens run;
`adaptermix.advice.trials.race_partition_groups` supplies the model-backed one.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from adaptermix.advice.partition import best_partition, group_values, partitions
from adaptermix.advice.racing import ELIMINATE, EVIDENCE, RaceSpec

#: (domain, group bitmask, first example, end example) → (per-example correctness, forward tokens run).
GroupEvaluate = Callable[[int, int, int, int], tuple[np.ndarray, int]]
#: (domain, first example, end example) → the forward tokens that window costs (exact, for the budget).
WindowTokens = Callable[[int, int, int], int]
#: The evidence rule's one-sided 95 % normal quantile: a candidate replaces the seed's first partition only
#: when its paired gain over it is above 0 at this level.
Z_ONE_SIDED = 1.645
ENUMERATE_UP_TO = 10  # Bell(10) = 115,975 partitions: enumerate; above, local search around the DP's optimum


def _canonical(groups: Sequence[int]) -> tuple[int, ...]:
    return tuple(sorted((g for g in groups if g), key=lambda m: m & -m))


def top_partitions(table: np.ndarray, groups: int, count: int) -> list[tuple[tuple[int, ...], float]]:
    """The `count` best distinct partitions into `groups` groups by mean table value, best first.

    Exact for n ≤ 10 (every partition enumerated; S(8, 4) = 1,701); above, the DP's optimum first and
    then the best of its neighbours (one domain moved to another group, or two domains swapped) and
    theirs, a local search that need not find the exact runners-up.

    Returns:
        [(group bitmasks ordered by lowest member, mean value)], the first the DP's optimum (ties: by masks).
    """
    n = table.shape[0]
    value = group_values(table)
    best = best_partition(table, groups)
    if n <= ENUMERATE_UP_TO:
        scored = ((float(sum(value[g] for g in p)) / n, _canonical(p)) for p in partitions(n, groups))
        top = heapq.nlargest(max(count, 1), scored, key=lambda x: (x[0], tuple(-g for g in x[1])))
        out = [(best.groups, best.value)] + [(p, v) for v, p in top if p != best.groups]
        return out[:count]
    seen = {best.groups: best.value}
    frontier = [best.groups]
    while frontier and len(seen) < 50 * count:
        nxt = []
        for p in frontier:
            for q in _neighbours(p, n):
                if q not in seen:
                    seen[q] = float(sum(value[g] for g in q)) / n
                    nxt.append(q)
        frontier = sorted(nxt, key=lambda q: -seen[q])[:count]
    rest = sorted((q for q in seen if q != best.groups), key=lambda q: (-seen[q], q))
    return [(best.groups, best.value)] + [(q, seen[q]) for q in rest[: count - 1]]


def _neighbours(p: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    """Partitions one move (a domain to another group, keeping every group non-empty) or one swap away."""
    out = []
    where = {t: i for i, g in enumerate(p) for t in range(n) if g >> t & 1}
    for t in range(n):
        i = where[t]
        for j in range(len(p)):
            if j == i:
                continue
            g = list(p)
            if g[i] != 1 << t:  # moving t out must not empty its group
                g[i] ^= 1 << t
                g[j] |= 1 << t
                out.append(_canonical(g))
            for u in range(t + 1, n):
                if where[u] == j:
                    g = list(p)
                    g[i] = g[i] ^ (1 << t) | (1 << u)
                    g[j] = g[j] ^ (1 << u) | (1 << t)
                    out.append(_canonical(g))
    return out


@dataclass(frozen=True)
class PartitionRaceResult:
    """What a partition race found and cost.

    Attributes:
        winner: index of the winning candidate (the best survivor; ties: the earlier, i.e. the surrogate's order).
        gain: each candidate's measured mean accuracy minus candidate 0's, over all N domains (0 for
            candidate 0; NaN where it was never compared on any domain).
        dropped: the round (1-based) in which each candidate was dropped, or None for survivors.
        seen: validation examples evaluated per domain (0: its group was the same in every candidate alive).
        rounds: windows run.
        evaluations: (domain, group, window) evaluations run; a group shared by candidates counts once.
        tokens: forward tokens run.
    """

    winner: int
    gain: tuple[float, ...]
    dropped: tuple[int | None, ...]
    seen: tuple[int, ...]
    rounds: int
    evaluations: int
    tokens: int


def _group_of(p: tuple[int, ...], t: int) -> int:
    return next(g for g in p if g >> t & 1)


def _diff(a: tuple[int, ...], b: tuple[int, ...], n: int,
          bits: dict[tuple[int, int], np.ndarray]) -> tuple[float, float]:
    """(mean, variance) of D(a, b): the paired mean-accuracy difference over domains, and its sampling variance."""
    mean = var = 0.0
    for t in range(n):
        ga, gb = _group_of(a, t), _group_of(b, t)
        if ga == gb:
            continue
        x, y = bits.get((t, ga)), bits.get((t, gb))
        if x is None or y is None or min(len(x), len(y)) == 0:
            continue
        m = min(len(x), len(y))
        d = x[:m].astype(np.float64) - y[:m].astype(np.float64)
        mean += float(d.mean()) / n
        var += (float(d.var(ddof=1)) / m if m > 1 else math.inf) / n**2
    return mean, var


def race_partitions(candidates: Sequence[tuple[int, ...]], n: int, evaluate: GroupEvaluate,
                    available: Sequence[int], spec: RaceSpec | None = None, max_tokens: int | None = None,
                    window_tokens: WindowTokens | None = None) -> PartitionRaceResult:
    """Race candidate partitions on the same validation examples of each domain (paired), by `spec`'s rule.

    `eliminate`: successive elimination; after each window a candidate whose 95 % interval of D to the
    leader lies below 0 is dropped, and the best survivor by measured mean wins. `best_mean`: nobody is
    dropped, every candidate is measured to the end, the best measured mean wins. `evidence`: nobody is
    dropped; every candidate is measured on the same windows to the end of the budget (or of
    `spec.examples`), and candidate 0 (the seed's optimum) stands unless another's gain D over it is above
    0 at one-sided 95 % (`Z_ONE_SIDED`); of those, the largest gain wins.

    Args:
        candidates: partitions as group bitmasks, best prior first (the surrogate's order breaks ties).
        n: domains.
        evaluate: (t, mask, start, stop) → (t's correctness on its validation examples start..stop−1 under
            the mixture of `mask` with t's own head, tokens run).
        available: validation examples of each domain (each uses at most `spec.examples` of them).
        spec: the knobs (`spec.first`, `spec.examples`, `spec.z`, `spec.partition_rule`; `spec.candidates`
            is the caller's count).
        max_tokens: the race's token budget (None: unlimited); needs `window_tokens` to plan each round.
        window_tokens: (t, start, stop) → the exact tokens of that window (per mixture evaluated).

    Returns:
        The `PartitionRaceResult`. One candidate, or a budget short of the first batch: candidate 0 wins, nothing run.

    Raises:
        ValueError: no candidates, a budget without `window_tokens`, a bad spec (an unknown rule), or an
            evaluator returning the wrong count.
    """
    spec = (spec or RaceSpec()).check()
    rule = spec.partition_rule
    if not candidates:
        raise ValueError("a partition race needs at least one candidate")
    if max_tokens is not None and window_tokens is None:
        raise ValueError("a token budget needs window_tokens to plan each round")
    count = len(candidates)
    limits = [min(spec.examples, max(0, int(a))) for a in available]
    bits: dict[tuple[int, int], np.ndarray] = {}
    dropped: list[int | None] = [None] * count
    alive = list(range(count))
    stop = rounds = evaluations = tokens = 0
    seen = [0] * n
    while len(alive) > 1 and stop < max(limits):
        # Domains whose group differs among the alive candidates; only their (domain, group) pairs are run.
        needs = sorted({(t, _group_of(candidates[i], t)) for t in range(n)
                        for i in alive if len({_group_of(candidates[j], t) for j in alive}) > 1})
        start = stop
        planned = min(max(limits), max(spec.first, 2 * stop))
        # The first round must give every domain it runs its first batch (or its whole split when smaller):
        # a race decided on a few examples picks by noise, so where the budget cannot, candidate 0 stands.
        floor = min(spec.first, max(limits)) if start == 0 else start + 1
        new_stop = _affordable(needs, start, planned, floor, limits, seen, max_tokens, tokens, window_tokens)
        if new_stop is None:
            break
        stop = new_stop
        rounds += 1
        for t, mask in needs:
            lo, hi = seen[t], min(stop, limits[t])
            if hi <= lo:
                continue
            got, used = evaluate(t, mask, lo, hi)
            if len(got) != hi - lo:
                raise ValueError(f"the evaluator returned {len(got)} results for examples {lo}..{hi - 1}")
            bits[(t, mask)] = np.concatenate([bits.get((t, mask), np.zeros(0, dtype=bool)), np.asarray(got, bool)])
            tokens += int(used)
            evaluations += 1
        for t in {t for t, _ in needs}:
            seen[t] = min(stop, limits[t])
        if rule != ELIMINATE:
            continue
        leader = max(alive, key=lambda i: (_diff(candidates[i], candidates[alive[0]], n, bits)[0], -i))
        for i in list(alive):
            if i == leader:
                continue
            mean, var = _diff(candidates[i], candidates[leader], n, bits)
            if mean + spec.z * math.sqrt(var) < 0:
                alive.remove(i)
                dropped[i] = rounds
    diffs = [_diff(candidates[i], candidates[0], n, bits) for i in range(count)]
    gain = tuple(mean for mean, _ in diffs)
    if rule == EVIDENCE:
        shown = [i for i in range(1, count) if diffs[i][0] - Z_ONE_SIDED * math.sqrt(diffs[i][1]) > 0]
        winner = max(shown, key=lambda i: (gain[i], -i)) if shown else 0
    else:
        winner = max(alive, key=lambda i: (_diff(candidates[i], candidates[alive[0]], n, bits)[0], -i))
    return PartitionRaceResult(winner, gain, tuple(dropped), tuple(seen), rounds, evaluations, tokens)


def _affordable(needs: Sequence[tuple[int, int]], start: int, planned: int, floor: int, limits: Sequence[int],
                seen: Sequence[int], max_tokens: int | None, spent: int,
                window_tokens: WindowTokens | None) -> int | None:
    """The largest window end in [`floor`, `planned`] whose round fits the budget (halving the step), or None."""
    if max_tokens is None or window_tokens is None:
        return planned
    stop = planned
    while stop >= floor:
        cost = sum(window_tokens(t, seen[t], min(stop, limits[t])) for t, _ in needs
                   if min(stop, limits[t]) > seen[t])
        if spent + cost <= max_tokens:
            return stop
        if stop - start < 2 or stop == floor:
            return None
        stop = max(floor, start + (stop - start) // 2)
    return None


__all__ = ["Z_ONE_SIDED", "GroupEvaluate", "PartitionRaceResult", "WindowTokens",
           "race_partitions", "top_partitions"]
