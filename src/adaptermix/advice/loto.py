"""The surrogate's "Predict" goal, measured honestly: leave one target out (issue 17).

For each held-out target t, a predictor may use the other targets' evaluated rows (their test
accuracies in the exhaustive store, with their validation signals) and t's own budgeted validation
evaluations (alone, pairs, the all-mixture), never t's test rows. Every one of t's 2^(n−1) mixtures
is then predicted and compared with the store. Three predictors, side by side:

- `law`: the `surrogate` strategy itself (`strategies.surrogate_prediction`): t's validation only,
  nothing fitted; its 90 % interval is the strategy's own (model share error + sampling).
- `law` with **conformal** intervals: the same prediction; the half-width is the 90 % quantile of the
  other targets' standardised residuals |y − p|/s (split conformal with targets as the calibration
  units' source; s is the strategy's own standard deviation), times t's own s.
- `fitted`: a meta-regression in the spirit of "What the Weight?!" (Holtermann et al. 2024): per k, least
  squares of the drop beyond the mean pair drop on (D_t − m̄_t) and (m_S − m̄_t), fitted on the other
  targets' rows; k = 1 gets their mean validation-to-test offset.

`noise_floor` is the MAE a perfect predictor of each mixture's expected accuracy would still show
against a test split of n_test examples: E|N(0, p(1 − p)/n_test)| = √(2/π)·√(p(1 − p)/n_test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from adaptermix.advice.signals import Signals
from adaptermix.advice.strategies import surrogate_prediction
from adaptermix.advice.tables import members_of

LEVEL = 0.9
TIE = 1e-12  # float noise: an error this small is inside any interval


@dataclass(frozen=True)
class LotoReport:
    """Leave-one-target-out prediction quality over every mixture of every target (points = ×100).

    Attributes:
        mae: the law's mean absolute error, points.
        mae_by_target: per held-out target, points.
        mae_by_k: per mixture size k = 1..n, points.
        coverage: share of mixtures inside the strategy's own 90 % interval.
        conformal_coverage: share inside the conformal 90 % interval (other targets' residuals).
        coverage_by_target, conformal_coverage_by_target: per held-out target.
        half_width, conformal_half_width: mean half-widths of the two intervals, points.
        fitted_mae: the per-k meta-regression's MAE, points.
        noise_floor: the MAE of a perfect predictor against the test split's sampling noise, points.
        mixtures: how many predictions (n·2^(n−1)).
    """

    mae: float
    mae_by_target: tuple[float, ...]
    mae_by_k: tuple[float, ...]
    coverage: float
    conformal_coverage: float
    coverage_by_target: tuple[float, ...]
    conformal_coverage_by_target: tuple[float, ...]
    half_width: float
    conformal_half_width: float
    fitted_mae: float
    noise_floor: float
    mixtures: int


def _rows(n: int) -> list[tuple[int, int]]:
    return [(t, mask) for t in range(n) for mask in range(1, 1 << n) if mask >> t & 1]


def law_predictions(signals: Signals) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, standard deviation) of every (t, mask) in `_rows` order, from t's validation only.

    The deviation is the surrogate's: model share error, validation and (if set) test sampling.
    """
    preds, sds = [], []
    for t, mask in _rows(signals.n):
        p, model_sd = surrogate_prediction(signals, t, members_of(mask))
        p = min(max(p, 0.0), 1.0)
        nval = signals.n_validation.get(signals.domains[t], 0) or 1
        q = min(max(p, 0.5 / nval), 1 - 0.5 / nval)
        n_test = signals.n_test(t)
        var = model_sd**2 + q * (1 - q) / nval + (q * (1 - q) / n_test if n_test else 0.0)
        preds.append(p)
        sds.append(math.sqrt(var))
    return np.array(preds), np.array(sds)


def conformal_quantile(scores: np.ndarray, level: float = LEVEL) -> float:
    """The finite-sample split-conformal quantile: the ⌈(m + 1)·level⌉-th smallest of m scores."""
    m = len(scores)
    rank = min(m, math.ceil((m + 1) * level))
    return float(np.sort(scores)[rank - 1])


def _fitted(signals: Signals, truth: np.ndarray, rows: list[tuple[int, int]], held_out: int) -> np.ndarray:
    """The per-k meta-regression fitted on every target but `held_out`, predicting `held_out`'s rows."""
    a, P, full, n = signals.single, signals.pair, signals.full, signals.n
    assert a is not None and P is not None and full is not None  # noqa: S101 - checked by loto_report
    d = a[:, None] - P
    mean_drop = np.array([np.mean(np.delete(d[t], t)) for t in range(n)])
    gap = (a - full) - mean_drop
    tgt = np.array([t for t, _ in rows])
    size = np.array([len(members_of(m)) for _, m in rows])
    excess = np.array([np.mean([d[t, j] for j in members_of(m) if j != t]) - mean_drop[t] if size[i] > 1 else 0.0
                       for i, (t, m) in enumerate(rows)])
    drop = np.array([a[t] - truth[t, m] for t, m in rows])
    train, test = tgt != held_out, tgt == held_out
    out = np.zeros(len(rows))
    for k in range(1, n + 1):
        tr, te = train & (size == k), test & (size == k)
        if k == 1:  # the validation-to-test offset of the adapters alone
            out[te] = a[tgt[te]] - float(np.mean(drop[tr]))
            continue
        X = np.c_[gap[tgt[tr]], excess[tr]]
        coef = np.linalg.lstsq(X, drop[tr] - mean_drop[tgt[tr]], rcond=None)[0]
        out[te] = a[tgt[te]] - (np.c_[gap[tgt[te]], excess[te]] @ coef + mean_drop[tgt[te]])
    return np.clip(out[test], 0.0, 1.0)


def loto_report(truth: np.ndarray, signals: Signals, level: float = LEVEL) -> LotoReport:
    """Leave-one-target-out MAE and interval coverage of the surrogate over every stored mixture.

    Args:
        truth: the exhaustive store's (n, 2^n) test accuracy table.
        signals: validation signals of every target (singles, pairs, all-mixture); `test_examples`
            set to the store's test size so that intervals are for the stored accuracies.
        level: the intervals' nominal coverage (0.9).

    Raises:
        ValueError: validation signals or the all-mixture missing (n < 3).
    """
    n = signals.n
    if signals.single is None or signals.pair is None or signals.full is None or n < 3:
        raise ValueError("leave-one-target-out needs the validation signals with the all-mixture (n ≥ 3)")
    rows = _rows(n)
    tgt = np.array([t for t, _ in rows])
    size = np.array([len(members_of(m)) for _, m in rows])
    y = np.array([truth[t, m] for t, m in rows])
    pred, sd = law_predictions(signals)
    err = np.abs(pred - y)
    inside = err <= _z(level) * sd + TIE  # the strategy's own interval
    conformal = np.zeros(len(rows), dtype=bool)
    widths = np.zeros(len(rows))
    fitted = np.zeros(len(rows))
    for t in range(n):
        own = tgt == t
        q = conformal_quantile(err[~own] / sd[~own], level)  # the other targets' standardised residuals
        widths[own] = q * sd[own]
        conformal[own] = err[own] <= widths[own] + TIE
        fitted[own] = _fitted(signals, truth, rows, t)
    n_test = np.array([signals.n_test(t) or np.inf for t in tgt], dtype=float)
    floor = float(np.mean(np.sqrt(2 / np.pi) * np.sqrt(y * (1 - y) / n_test)))
    return LotoReport(
        mae=100 * float(err.mean()), mae_by_target=_means(100 * err, tgt, range(n)),
        mae_by_k=_means(100 * err, size, range(1, n + 1)),
        coverage=float(inside.mean()), conformal_coverage=float(conformal.mean()),
        coverage_by_target=_means(inside, tgt, range(n)), conformal_coverage_by_target=_means(conformal, tgt, range(n)),
        half_width=100 * float((_z(level) * sd).mean()), conformal_half_width=100 * float(widths.mean()),
        fitted_mae=100 * float(np.abs(fitted - y).mean()), noise_floor=100 * floor, mixtures=len(rows),
    )


def _means(values: np.ndarray, groups: np.ndarray, keys: range) -> tuple[float, ...]:
    return tuple(float(np.mean(values[groups == g])) for g in keys)


def _z(level: float) -> float:
    """The two-sided normal quantile of `level` (1.645 at 0.9)."""
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


__all__ = ["LEVEL", "LotoReport", "conformal_quantile", "law_predictions", "loto_report"]
