"""Verdicts and the evidence behind them: thresholds, the `Finding` record, and the interval rules.

A verdict is never stronger than its evidence (issue 18): `holds` / `does not hold` only where the
interval lies on one side of the threshold (`side`); where it spans it, `undecided`, with how much more
evidence would decide it (`evidence_factor`). The findings themselves are in `reporting.findings`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from adaptermix.reporting.study import correctness
from adaptermix.reporting.sweep_tables import Table
from adaptermix.reporting.uncertainty import CI, PAIRED, bootstrap_mean, paired_example_bootstrap
from adaptermix.store import EvalRow

HOLDS, FAILS, MIXED, UNDECIDED, NOT_MEASURED = "holds", "does not hold", "mixed", "undecided", "not measured"
VERDICTS = (HOLDS, FAILS, MIXED, UNDECIDED, NOT_MEASURED)


@dataclass(frozen=True)
class Thresholds:
    """Every number a verdict depends on, in one place (docs/report.md explains each).

    Attributes:
        slope_pts: a target's accuracy "falls with k" when the least-squares slope of its mean
            accuracy on k is below this (points per added adapter).
        share_holds: a finding over targets or cells holds when at least this share agrees.
        share_fails: ... and does not hold when at most this share agrees; between the two: mixed.
        within_pts: the paper's "within 3 points" for mixtures of ≤ 3 adapters (Finding 3).
        many_share: "in many domains": at least this share of the targets.
        similar_pts: adversarial and clean average drops are "similar" when they differ by at most this.
        alpha: significance level of correlations and sign tests.
        keep_pts: pruning "keeps accuracy" on a target that loses at most this many points.
        prune_sparsity: the sparsity the pruning finding is judged at (the paper: 90 %).
        near_upper_pts: Alg. 1's pick is "near the empirical upper bound" within this many points on average.
    """

    slope_pts: float = -0.1
    share_holds: float = 0.75
    share_fails: float = 0.25
    within_pts: float = 3.0
    many_share: float = 0.5
    similar_pts: float = 3.0
    alpha: float = 0.05
    keep_pts: float = 1.0
    prune_sparsity: float = 0.9
    near_upper_pts: float = 3.0


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Finding:
    """One finding of the paper, measured.

    Attributes:
        id: a stable short name (`accuracy-falls-with-k`).
        claim: the paper's statement, with its section.
        statistic: our measurement in one or two sentences.
        verdict: one of `VERDICTS`.
        uncertainty: the headline difference with its 95 % interval and how it was resampled, or "".
        table: the per-target (or per-cell) numbers behind the statistic, or None.
        to_decide: for an undecided finding, how much more evidence would decide it (from the
            measured spread), else "".
    """

    id: str
    claim: str
    statistic: str
    verdict: str
    uncertainty: str = ""
    table: Table | None = None
    to_decide: str = ""


def by_share(agree: int, total: int, th: Thresholds, low: float | None = None) -> str:
    if total == 0:
        return NOT_MEASURED
    share = agree / total
    if share >= (th.share_holds if low is None else low):
        return HOLDS
    return FAILS if share <= th.share_fails else MIXED


def ci_text(ci: CI) -> str:
    return f"{ci.text()} (95 % CI, {ci.method}, n = {ci.n})"


def side(ci: CI, threshold: float) -> int:
    """+1 when the whole interval lies above `threshold`, −1 when it lies at or below it, 0 when it spans it.

    "At or below" so that a degenerate interval (one unit, or identical rows) at the threshold is decided.
    """
    if ci.lo > threshold:
        return 1
    return -1 if ci.hi <= threshold else 0


def evidence_factor(ci: CI, threshold: float) -> float:
    """How many times the present evidence (examples or units) would narrow `ci` enough to clear `threshold`.

    A percentile interval narrows as 1/√n, so clearing a margin m = |estimate − threshold| with a half-width h
    takes (h / m)² times the data, assuming the estimate stays where it is. Infinite when it sits on the threshold.
    """
    half, margin = (ci.hi - ci.lo) / 2, abs(ci.estimate - threshold)
    if margin == 0:
        return math.inf
    return max(1.0, (half / margin) ** 2)


def to_decide(ci: CI, threshold: float, examples: int | None, unit: str = "targets") -> str:
    """One sentence: how much more evidence would decide a finding whose interval spans `threshold`."""
    f = evidence_factor(ci, threshold)
    if math.isinf(f):
        return "the estimate sits on the threshold: no amount of evidence at this estimate decides it"
    if ci.method == PAIRED and examples:
        return (f"about {f:.1f}× the evidence would decide it: ≈ {math.ceil(f * examples):,} test examples per "
                f"target (now {examples:,})")
    return f"about {f:.1f}× the evidence would decide it: ≈ {math.ceil(f * ci.n):,} {unit} (now {ci.n})"


def examples_behind(pairs: dict[str, list[tuple[EvalRow, EvalRow]]]) -> int | None:
    """Test examples per target behind paired rows (the largest), or None without per-example results."""
    sizes = [v.size for ps in pairs.values() for a, b in ps for v in (correctness(a), correctness(b))
             if v is not None]
    return max(sizes) if sizes else None


def share_of(agree: int, *, total: int, th: Thresholds) -> str:
    return by_share(agree, total, th)


def robust(verdict_of: Callable[[int], str], agree: int, undecided: int) -> str:
    """The verdict a share rule gives whichever way the undecided units fall, else `undecided`."""
    low, high = verdict_of(agree), verdict_of(agree + undecided)
    return low if low == high else UNDECIDED


def difference(pairs: dict[str, list[tuple[EvalRow, EvalRow]]], unit: str) -> CI:
    """Mean accuracy difference a − b over row pairs: paired over examples when every row has them.

    Args:
        pairs: target → (row_a, row_b) pairs evaluated on that target's test split.
        unit: what one pair is, for the fallback bootstrap over pairs ("targets", "member sets").
    """
    vecs = {t: [(correctness(a), correctness(b)) for a, b in ps] for t, ps in pairs.items()}
    flat = [v for ps in vecs.values() for pair in ps for v in pair]
    if flat and all(v is not None for v in flat):
        ok = {t: [(a, b) for a, b in ps if a is not None and b is not None] for t, ps in vecs.items()}
        if all(a.size == b.size for ps in ok.values() for a, b in ps):
            return paired_example_bootstrap(ok)
    return bootstrap_mean([a.accuracy - b.accuracy for ps in pairs.values() for a, b in ps], unit)
