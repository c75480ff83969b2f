"""Correlation of FSD with accuracy (Sec. 5, Figs. 5–6: strong negative correlation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Correlation:
    """Pearson and Spearman correlation of two paired samples, with two-sided p-values."""

    pearson_r: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float
    n: int


def correlate(x: Sequence[float], y: Sequence[float]) -> Correlation:
    """Pearson r and Spearman ρ between paired values, e.g. FSD and mixture accuracy (Sec. 5).

    Args:
        x: first sample (e.g. FSD of each pair or flip fraction of each mixture).
        y: second sample, paired with x (e.g. accuracy on the target domain).

    Returns:
        A `Correlation` with both coefficients, their two-sided p-values (scipy.stats) and n.

    Raises:
        ValueError: different lengths, fewer than 3 points, NaN/Inf, or a constant sample.
    """
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or a.size != b.size:
        raise ValueError(f"x and y must be 1-D and paired, got shapes {a.shape} and {b.shape}")
    if a.size < 3:
        raise ValueError(f"need at least 3 paired points for a correlation, got {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("x or y contains NaN or Inf: drop those points first")
    for name, v in (("x", a), ("y", b)):
        if np.all(v == v[0]):
            raise ValueError(f"{name} is constant: a correlation is undefined")
    pearson = stats.pearsonr(a, b)
    spearman = stats.spearmanr(a, b)
    return Correlation(
        pearson_r=float(pearson.statistic),
        pearson_p=float(pearson.pvalue),
        spearman_rho=float(spearman.statistic),
        spearman_p=float(spearman.pvalue),
        n=int(a.size),
    )
