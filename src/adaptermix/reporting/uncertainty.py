"""Bootstrap confidence intervals for the accuracy differences the findings report (issue 9).

Two kinds, chosen by what the store holds:

- **paired over examples**: when both rows of a difference carry their per-example correctness
  (same target, same test examples, same order), one resample of example indices is applied to
  both rows, so the interval reflects test-set noise and nothing else. Rows of one target share
  the resample, so a pooled mean over many (target, pair) differences stays paired.
- **over units**: otherwise the units themselves (targets, member sets, greedy cells) are resampled.
  This reflects how much the finding depends on which units happened to be measured, not test noise.

Each interval says which was used (`CI.method`), and the report prints it next to the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Bootstrap replicates and the seed: fixed, so a report is reproducible byte for byte.
N_BOOT = 2000
SEED = 0
#: Two-sided level of every interval.
LEVEL = 0.95

PAIRED = "paired bootstrap over test examples"
UNITS = "bootstrap over {unit}"


@dataclass(frozen=True)
class CI:
    """A point estimate with a percentile bootstrap interval.

    Attributes:
        estimate: the statistic on the data as measured.
        lo: lower end of the LEVEL interval.
        hi: upper end.
        method: how it was resampled, e.g. "paired bootstrap over test examples".
        n: number of units (differences or examples) behind the estimate.
    """

    estimate: float
    lo: float
    hi: float
    method: str
    n: int

    def excludes_zero(self) -> bool:
        """True when the interval lies entirely above or below zero."""
        return self.lo > 0 or self.hi < 0

    def text(self, scale: float = 100.0, unit: str = " pts") -> str:
        """`-3.10 pts [-4.02, -2.21]`: estimate and interval, scaled (fractions → points by default)."""
        return f"{scale * self.estimate:+.2f}{unit} [{scale * self.lo:+.2f}, {scale * self.hi:+.2f}]"


def _interval(samples: np.ndarray) -> tuple[float, float]:
    tail = 100 * (1 - LEVEL) / 2
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_mean(values: Sequence[float], unit: str, n_boot: int = N_BOOT, seed: int = SEED) -> CI:
    """Mean of `values` with a bootstrap interval over the values (the units).

    Args:
        values: one number per unit (e.g. a drop per target).
        unit: what a value is, for `CI.method` ("targets", "member sets").
        n_boot: replicates.
        seed: RNG seed.

    Returns:
        The `CI`; with one value the interval is that value (no spread can be estimated).

    Raises:
        ValueError: `values` is empty.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values to bootstrap: measure at least one unit")
    est = float(v.mean())
    if v.size == 1:
        return CI(est, est, est, UNITS.format(unit=unit), 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    lo, hi = _interval(v[idx].mean(axis=1))
    return CI(est, lo, hi, UNITS.format(unit=unit), int(v.size))


Pair = tuple[np.ndarray, np.ndarray]


def paired_example_bootstrap(pairs: Mapping[str, Sequence[Pair]], n_boot: int = N_BOOT, seed: int = SEED) -> CI:
    """Mean over all pairs of mean(a) − mean(b), resampling each target's test examples (paired).

    Args:
        pairs: target → list of (a, b) per-example correctness vectors (0/1), both of the target's
            length; a is the row the finding expects to be better (e.g. the single adapter).
        n_boot: replicates.
        seed: RNG seed.

    Returns:
        The `CI` of the mean difference over all pairs, in accuracy fractions.

    Raises:
        ValueError: no pairs, or two vectors of one target of different lengths.
    """
    groups = [(t, [(np.asarray(a, np.float64), np.asarray(b, np.float64)) for a, b in ps])
              for t, ps in sorted(pairs.items()) if ps]
    total = sum(len(ps) for _, ps in groups)
    if total == 0:
        raise ValueError("no paired rows to bootstrap: rows need per-example correctness")
    rng = np.random.default_rng(seed)
    sums = np.zeros(n_boot)
    est = 0.0
    for target, ps in groups:
        n = ps[0][0].size
        if any(a.size != n or b.size != n for a, b in ps):
            raise ValueError(f"{target}: per-example vectors of different lengths; rows must share the test split")
        d = np.zeros(n)  # the per-example differences summed over the target's pairs
        for a, b in ps:
            d += a - b
        est += float(d.mean())
        # One resample per target, applied to all its pairs. A replicate's sum over pairs of mean differences
        # is Σ_v v · (how often an example with summed difference v was drawn) / n, and those counts are
        # multinomial over the distinct values of d: exact, and a handful of categories instead of n.
        values, freq = np.unique(d, return_counts=True)
        counts = rng.multinomial(n, freq / n, size=n_boot)
        sums += counts @ values / n
    lo, hi = _interval(sums / total)
    return CI(est / total, lo, hi, PAIRED, total)
