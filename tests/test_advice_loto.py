"""The surrogate's leave-one-target-out evaluation on synthetic stores whose truth is known."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from adaptermix.advice.loto import _rows, conformal_quantile, law_predictions, loto_report
from adaptermix.advice.tables import table_from_function
from test_advice_core import fake_signals


def test_a_world_that_follows_the_law_is_predicted_exactly_by_both_models() -> None:
    signals, truth = fake_signals(n=6, seed=3)
    report = loto_report(truth, signals)
    assert report.mae == pytest.approx(0.0, abs=1e-9) and report.fitted_mae == pytest.approx(0.0, abs=1e-9)
    assert report.coverage == report.conformal_coverage == 1.0 and report.mixtures == 6 * 32
    assert len(report.mae_by_target) == 6 and len(report.mae_by_k) == 6


@pytest.mark.parametrize("seed", [0, 1])
def test_intervals_are_calibrated_when_the_noise_is_what_they_assume(seed: int) -> None:
    """Truth = the law's prediction + Gaussian noise of the very standard deviation the intervals assume."""
    signals, _ = fake_signals(n=7, seed=seed)
    signals = replace(signals, n_validation=dict.fromkeys(signals.domains, 300), test_examples=300)
    pred, sd = law_predictions(signals)
    noise = np.random.default_rng(seed).normal(0.0, sd)
    lookup = {row: p + e for row, p, e in zip(_rows(7), pred, noise, strict=True)}
    truth = table_from_function(7, lambda t, mask: lookup[(t, mask)])
    report = loto_report(truth, signals)
    assert 0.85 <= report.coverage <= 0.95  # 448 mixtures: ±2.3 points of binomial noise around 90 %
    assert 0.85 <= report.conformal_coverage <= 0.95
    expected_mae = 100 * np.sqrt(2 / np.pi) * sd.mean()
    assert report.mae == pytest.approx(expected_mae, rel=0.15)
    assert report.noise_floor > 0


def test_conformal_quantile_is_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # m = 19: rank ⌈20·0.9⌉ = 18
    assert conformal_quantile(scores, 0.9) == 18.0
    assert conformal_quantile(np.array([3.0, 1.0]), 0.9) == 3.0  # never past the largest


def test_loto_refuses_signals_without_the_all_mixture() -> None:
    signals, truth = fake_signals(n=4)
    with pytest.raises(ValueError, match="all-mixture"):
        loto_report(truth, replace(signals, full=None))
