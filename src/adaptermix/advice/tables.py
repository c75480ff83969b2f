"""Member sets as bitmasks and accuracy tables acc(t, S) over every in-domain mixture.

A table is an (n, 2^n) float64 array: `table[t, mask]` is the accuracy (measured or predicted) of
target t evaluated with the mixture of the domains in `mask` and t's own head; entries whose mask
does not contain t are NaN. n·2^(n−1) entries are defined: exactly the exhaustive sweep's rows
(53,248 for 13 domains, 0.85 MB), so one array serves the oracle, the surrogate and the partition DP.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np


def mask_of(indices: Iterable[int]) -> int:
    """The bitmask of a set of domain indices."""
    out = 0
    for i in indices:
        out |= 1 << int(i)
    return out


def members_of(mask: int) -> tuple[int, ...]:
    """The sorted domain indices of a bitmask."""
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


def sets_with(target: int, k: int, n: int) -> Iterator[int]:
    """Every bitmask of size k that contains `target`, in lexicographic order of the others."""
    others = [j for j in range(n) if j != target]
    for extra in itertools.combinations(others, k - 1):
        yield mask_of((target, *extra))


def empty_table(n: int) -> np.ndarray:
    """An (n, 2^n) table of NaN."""
    if not 1 <= n <= 20:
        raise ValueError(f"an accuracy table needs 1 ≤ n ≤ 20 domains, got {n}")
    return np.full((n, 1 << n), np.nan)


def table_from_rows(domains: Sequence[str], rows: Iterable[tuple[str, Sequence[str], float]]) -> np.ndarray:
    """An accuracy table from (target, members, accuracy) triples (store rows, for instance).

    Raises:
        ValueError: a target or member outside `domains`, or a target missing from its members.
    """
    index = {d: i for i, d in enumerate(domains)}
    table = empty_table(len(domains))
    for target, members, acc in rows:
        unknown = [m for m in (target, *members) if m not in index]
        if unknown:
            raise ValueError(f"domain {unknown[0]!r} is not one of {', '.join(domains)}")
        if target not in members:
            raise ValueError(f"members {'+'.join(members)} do not contain the target {target!r}")
        table[index[target], mask_of(index[m] for m in members)] = float(acc)
    return table


def table_from_function(n: int, acc: Callable[[int, int], float]) -> np.ndarray:
    """An accuracy table with `acc(t, mask)` at every defined entry."""
    table = empty_table(n)
    for t in range(n):
        for k in range(1, n + 1):
            for mask in sets_with(t, k, n):
                table[t, mask] = acc(t, mask)
    return table


def missing_entries(table: np.ndarray) -> int:
    """How many of the n·2^(n−1) defined entries are NaN (0 for a complete exhaustive table)."""
    n = table.shape[0]
    return sum(int(np.isnan(table[t, [m for m in range(1 << n) if m >> t & 1]]).sum()) for t in range(n))


def cell(table: np.ndarray, target: int, k: int) -> tuple[list[int], np.ndarray]:
    """(masks, accuracies) of the (target, k) cell: every member set of size k with the target."""
    masks = list(sets_with(target, k, table.shape[0]))
    return masks, table[target, masks]


def names_of(mask: int, domains: Sequence[str]) -> tuple[str, ...]:
    """The sorted domain names of a bitmask."""
    return tuple(sorted(domains[i] for i in members_of(mask)))


def stirling2(n: int, g: int) -> int:
    """Stirling number of the second kind: partitions of n labelled items into g non-empty blocks."""
    if n == g:
        return 1
    if g == 0 or g > n:
        return 0
    return sum((-1) ** j * math.comb(g, j) * (g - j) ** n for j in range(g + 1)) // math.factorial(g)


def by_name(table: np.ndarray, domains: Sequence[str]) -> Mapping[tuple[str, tuple[str, ...]], float]:
    """The defined entries keyed by (target, sorted members) (for messages and tests)."""
    n = len(domains)
    return {(domains[t], names_of(m, domains)): float(table[t, m])
            for t in range(n) for m in range(1 << n) if m >> t & 1 and not np.isnan(table[t, m])}
