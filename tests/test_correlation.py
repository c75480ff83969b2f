"""correlate: agrees with scipy, rejects degenerate input."""

from __future__ import annotations

import pytest
from scipy import stats

from adaptermix.analysis import Correlation, correlate


def test_matches_scipy() -> None:
    x = [0.1, 0.2, 0.3, 0.4, 0.5]
    y = [0.9, 0.85, 0.7, 0.72, 0.5]
    c = correlate(x, y)
    assert isinstance(c, Correlation) and c.n == 5
    assert c.pearson_r == pytest.approx(stats.pearsonr(x, y).statistic)
    assert c.pearson_p == pytest.approx(stats.pearsonr(x, y).pvalue)
    assert c.spearman_rho == pytest.approx(-0.9)
    assert c.pearson_r < 0


def test_perfect_monotone() -> None:
    c = correlate([1, 2, 3, 4], [10, 20, 30, 40])
    assert c.pearson_r == pytest.approx(1.0) and c.spearman_rho == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("x", "y"),
    [
        ([1, 2], [3, 4]),
        ([1, 2, 3], [1, 2]),
        ([1, 1, 1], [1, 2, 3]),
        ([1, 2, 3], [5, 5, 5]),
        ([1, float("nan"), 3], [1, 2, 3]),
    ],
)
def test_errors(x: list[float], y: list[float]) -> None:
    with pytest.raises(ValueError):
        correlate(x, y)
