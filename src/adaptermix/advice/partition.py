"""Serving partitions: split N adapters into G mixtures, each domain served by its group's mixture.

Objective (issue 17): the mean over the N domains of acc(t, group(t)), with t's own head. `best_partition`
is exact, a dynamic programme over subsets (O(G·3^N): 13 adapters in seconds); `brute_force_partition`
enumerates every partition and is its test oracle; `random_partition_mean` is the exact expectation of a
uniformly random partition into G non-empty groups, not one draw.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from adaptermix.advice.tables import members_of, stirling2


@dataclass(frozen=True)
class Partition:
    """A partition of the domains into groups and its objective on the table it was found on.

    Attributes:
        groups: bitmasks of the groups, ordered by their lowest member.
        value: mean over all domains of table[t, group(t)].
    """

    groups: tuple[int, ...]
    value: float


def group_values(table: np.ndarray) -> np.ndarray:
    """value[mask] = Σ_{t ∈ mask} table[t, mask]: what a group contributes to the sum over domains."""
    n = table.shape[0]
    out = np.zeros(1 << n)
    for t in range(n):
        has = (np.arange(1 << n) >> t) & 1 == 1
        out[has] += table[t, has]
    return out


def _check(table: np.ndarray, groups: int) -> int:
    n = table.shape[0]
    if not 1 <= groups <= n:
        raise ValueError(f"groups must be between 1 and the number of adapters ({n}), got {groups}")
    return n


def best_partition(table: np.ndarray, groups: int) -> Partition:
    """The partition into exactly `groups` non-empty groups with the largest mean accuracy (exact).

    f[g][mask] = max over s ⊆ mask holding mask's lowest domain of value(s) + f[g−1][mask \\ s]
    (fixing the lowest domain's group counts every partition once). All g are carried together
    as one vector per mask, so the Python loop runs over the 3^N/2 (mask, s) pairs once.

    Args:
        table: (n, 2^n) accuracy table (see `adaptermix.advice.tables`), every entry defined.
        groups: G, 1 ≤ G ≤ n.

    Returns:
        The optimal `Partition` (ties: the first found in the enumeration order, deterministic).

    Raises:
        ValueError: G out of range, or an undefined (NaN) entry.
    """
    n = _check(table, groups)
    value = group_values(table)
    if np.isnan(value[1:]).any():
        raise ValueError("the accuracy table has missing entries: a partition needs every in-domain mixture")
    full = (1 << n) - 1
    # f[mask, g-1]: best sum of mask's domains split into g groups; choice[mask, g-1]: the group of the lowest.
    f = np.full((1 << n, groups), -np.inf)
    choice = np.zeros((1 << n, groups), dtype=np.int64)
    f[0, :] = -np.inf
    for mask in range(1, full + 1):
        low = mask & -mask
        rest_bits = mask ^ low
        f[mask, 0] = value[mask]
        choice[mask, 0] = mask
        if groups == 1:
            continue
        sub = rest_bits
        while True:  # s = low | sub for every sub ⊆ rest_bits, sub ≠ rest_bits (the rest must be non-empty)
            s = low | sub
            if s != mask:
                cand = value[s] + f[mask ^ s, :-1]
                better = cand > f[mask, 1:]
                if better.any():
                    f[mask, 1:][better] = cand[better]
                    choice[mask, 1:][better] = s
            if sub == 0:
                break
            sub = (sub - 1) & rest_bits
    if not np.isfinite(f[full, groups - 1]):
        raise ValueError(f"no partition of {n} domains into {groups} groups")
    chosen = []
    mask, g = full, groups
    while mask:
        s = int(choice[mask, g - 1])
        chosen.append(s)
        mask ^= s
        g -= 1
    return Partition(tuple(sorted(chosen, key=lambda m: m & -m)), float(f[full, groups - 1]) / n)


def partitions(n: int, groups: int) -> Iterator[tuple[int, ...]]:
    """Every partition of n domains into exactly `groups` non-empty groups (restricted growth strings)."""
    def grow(i: int, labels: list[int], used: int) -> Iterator[list[int]]:
        if i == n:
            if used == groups:
                yield labels
            return
        for label in range(min(used + 1, groups)):
            yield from grow(i + 1, [*labels, label], max(used, label + 1))
    for labels in grow(0, [], 0):
        masks = [0] * groups
        for i, label in enumerate(labels):
            masks[label] |= 1 << i
        yield tuple(masks)


def partition_value(table: np.ndarray, groups: tuple[int, ...]) -> float:
    """Mean over domains of table[t, group(t)] for a given partition."""
    n = table.shape[0]
    return float(sum(table[t, g] for g in groups for t in members_of(g))) / n


def brute_force_partition(table: np.ndarray, groups: int) -> Partition:
    """`best_partition` by enumerating all S(n, G) partitions (the test oracle; n ≤ 10 or so)."""
    _check(table, groups)
    best: Partition | None = None
    for p in partitions(table.shape[0], groups):
        v = partition_value(table, p)
        if best is None or v > best.value:
            best = Partition(tuple(sorted(p, key=lambda m: m & -m)), v)
    if best is None:
        raise ValueError(f"no partition of {table.shape[0]} domains into {groups} groups")
    return best


def random_partition_mean(table: np.ndarray, groups: int) -> float:
    """Exact expected objective of a partition drawn uniformly from the S(n, G) partitions into G groups.

    The group holding t is a given s-set S ∋ t in S(n − s, G − 1) of the S(n, G) partitions (the
    other domains are split into G − 1 groups), so E = (1/n) Σ_t Σ_{S ∋ t} table[t, S]·S(n−|S|, G−1)/S(n, G).
    """
    n = _check(table, groups)
    total = stirling2(n, groups)
    weight = [stirling2(n - s, groups - 1) / total for s in range(n + 1)]
    acc = 0.0
    for t in range(n):
        for mask in range(1 << n):
            if mask >> t & 1:
                w = weight[mask.bit_count()]
                if w:
                    acc += w * table[t, mask]
    return acc / n
