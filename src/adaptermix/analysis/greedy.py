"""Greedy adapter selection by mean FSD: Alg. 1 (Sec. 6) of Nguyen & Le (2024).

One home for Alg. 1: `mean_fsd` is its ranking (avg_S), `greedy_selection` its pick, and
`in_domain_members` the one place that builds an in-domain Alg. 1 set ({target} ∪ the l − 1 others
Alg. 1 picks on S without the target), which the Sec. 7 stage, the Fig. 7 table, the advisor's report
and its `alg1_min_fsd` strategy (through `in_domain_mean_fsd`) all use.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike


def _square(S: ArrayLike) -> np.ndarray:
    m = np.asarray(S, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"S must be a non-empty square k×k matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("S contains NaN or Inf: recompute the FSD matrix from finite adapters")
    return m


def mean_fsd(S: ArrayLike) -> np.ndarray:
    """avg_S of Alg. 1 (Sec. 6): each adapter's row mean of S, over all k entries, the zero diagonal included.

    As in the paper, the mean runs over the whole row, so it is (k − 1)/k times the mean over the other
    adapters; the ranking is the same either way. Rows are summed with `math.fsum` (exactly rounded, so
    independent of the order of the entries).

    Raises:
        ValueError: S not a finite non-empty square matrix.
    """
    m = _square(S)
    k = m.shape[0]
    return np.array([math.fsum(row) / k for row in m])


def greedy_selection(S: ArrayLike, l: int, maximize: bool = False) -> list[int]:  # noqa: E741 (paper's name)
    """Pick the l adapters with the smallest (or largest) mean FSD to the others (Alg. 1, Sec. 6).

    The ranking is `mean_fsd(S)`; ties go to the lower index. The mixture itself is the uniform average
    of the chosen adapters (`adaptermix.mixing.average`).

    Args:
        S: k×k FSD matrix, e.g. from `adaptermix.analysis.fsd_matrix`.
        l: number of adapters to choose, 1 ≤ l ≤ k.
        maximize: choose the largest mean FSD instead (the paper's "max-FSD" contrast, Fig. 7).

    Returns:
        The l chosen indices, best first (smallest mean, or largest if `maximize`).

    Raises:
        ValueError: S not a finite square matrix, or l not an integer in [1, k].
    """
    means = mean_fsd(S)
    k = len(means)
    try:
        l = operator.index(l)  # noqa: E741
    except TypeError:
        raise ValueError(f"l must be an integer, got {l!r}") from None
    if not 1 <= l <= k:
        raise ValueError(f"l={l} is out of range: choose 1 ≤ l ≤ k={k}")
    # A stable sort keeps equal means in index order; negating for `maximize` keeps that too.
    order = np.argsort(-means if maximize else means, kind="stable")
    return [int(i) for i in order[:l]]


def _others(S: ArrayLike, target: int) -> tuple[np.ndarray, list[int]]:
    m = _square(S)
    n = m.shape[0]
    if not 0 <= target < n:
        raise ValueError(f"target index {target} is out of range for a {n}×{n} FSD matrix")
    others = [i for i in range(n) if i != target]
    return m[np.ix_(others, others)], others


def in_domain_mean_fsd(S: ArrayLike, target: int) -> np.ndarray:
    """avg_S of Alg. 1 for an in-domain target: every other adapter's `mean_fsd` on S without `target`.

    A mixture scored on a target needs the target's adapter (its head is used, PAPER §1), so Alg. 1
    ranks only the others, on S restricted to them (the interpretation of Fig. 7, docs/store.md).

    Args:
        S: n×n FSD matrix.
        target: index of the target's adapter.

    Returns:
        n values in S's order; the target's own entry is NaN (it is not ranked: it is always in the set).
    """
    sub, others = _others(S, target)
    out = np.full(len(others) + 1, np.nan)
    if others:
        out[others] = mean_fsd(sub)
    return out


def in_domain_selection(S: ArrayLike, target: int, l: int, maximize: bool = False) -> list[int]:  # noqa: E741
    """The in-domain Alg. 1 set of size l as indices: the target, then the l − 1 others Alg. 1 picks on S
    without the target, best first (`in_domain_mean_fsd`'s ranking, ties to the lower index).

    Raises:
        ValueError: S not a finite square matrix, target or l out of range (1 ≤ l ≤ n).
    """
    sub, others = _others(S, target)
    try:
        l = operator.index(l)  # noqa: E741
    except TypeError:
        raise ValueError(f"l must be an integer, got {l!r}") from None
    if not 1 <= l <= len(others) + 1:
        raise ValueError(f"l={l} is out of range: choose 1 ≤ l ≤ n={len(others) + 1}")
    if l == 1:
        return [target]
    return [target, *(others[i] for i in greedy_selection(sub, l - 1, maximize))]


def in_domain_members(names: Sequence[str], S: ArrayLike, target: str, l: int,  # noqa: E741
                      maximize: bool = False) -> tuple[str, ...]:
    """The in-domain Alg. 1 set of size l for `target` as sorted adapter names (Alg. 1, Sec. 6; Fig. 7, 8b).

    The one place such a set is built: {target} ∪ the l − 1 adapters `greedy_selection` picks on S
    restricted to the other adapters (`in_domain_selection`).

    Args:
        names: adapter names in the order of S's rows.
        S: n×n FSD matrix (Alg. 3).
        target: the evaluated domain; must be in `names`.
        l: set size, 1 ≤ l ≤ n.
        maximize: the largest mean FSD instead (the paper's max-FSD contrast, Fig. 7).

    Returns:
        The member names, sorted (the store's member-set order).

    Raises:
        ValueError: `target` not in `names`, a names/S size mismatch, or as `in_domain_selection`.
    """
    names = list(names)
    if target not in names:
        raise ValueError(f"target {target!r} is not one of the adapters {names}")
    if len(names) != np.shape(S)[0]:
        raise ValueError(f"{len(names)} names for a {np.shape(S)[0]}×{np.shape(S)[0]} FSD matrix")
    return tuple(sorted(names[i] for i in in_domain_selection(S, names.index(target), l, maximize)))
