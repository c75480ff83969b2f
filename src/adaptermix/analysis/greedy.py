"""Greedy adapter selection by mean FSD: Alg. 1 (Sec. 6) of Nguyen & Le (2024)."""

from __future__ import annotations

import math
import operator

import numpy as np
from numpy.typing import ArrayLike


def greedy_selection(S: ArrayLike, l: int, maximize: bool = False) -> list[int]:  # noqa: E741 (paper's name)
    """Pick the l adapters with the smallest (or largest) mean FSD to the others (Alg. 1, Sec. 6).

    avg_S = mean(S, axis=1), as in the paper: the mean runs over all k entries of a row, the zero
    diagonal included, so it is (k − 1)/k times the mean over the other adapters; the ranking is
    the same either way. Rows are summed with `math.fsum` (exactly rounded, so independent of the
    order of the entries) and ties go to the lower index. The mixture itself is the uniform average
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
    m = np.asarray(S, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"S must be a non-empty square k×k matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("S contains NaN or Inf: recompute the FSD matrix from finite adapters")
    k = m.shape[0]
    try:
        l = operator.index(l)  # noqa: E741
    except TypeError:
        raise ValueError(f"l must be an integer, got {l!r}") from None
    if not 1 <= l <= k:
        raise ValueError(f"l={l} is out of range: choose 1 ≤ l ≤ k={k}")
    means = np.array([math.fsum(row) / k for row in m])
    # A stable sort keeps equal means in index order; negating for `maximize` keeps that too.
    order = np.argsort(-means if maximize else means, kind="stable")
    return [int(i) for i in order[:l]]
