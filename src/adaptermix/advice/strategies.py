"""The advisor's strategies, registered by name (`STRATEGIES`), each a pure function of `Signals`.

A strategy turns the signals into a score for every in-domain mixture (target t, member set S ∋ t):
higher is better. Partners mode ranks the sets of one size by it; partition mode maximises its sum
over domains (`adaptermix.advice.partition`). Strategies that predict accuracy (the surrogate) also
give a 90 % interval. What each may look at (issue 17):

| strategy | reads | cost |
|---|---|---|
| `alg1_min_fsd`, `max_fsd`, `fsd_nearest`, `task_cosine`, `uniform_all` | adapter weights | 0 forward tokens |
| `text_similarity` | a sample of each domain's unlabeled train text | one embedding pass |
| `surrogate` | labelled validation examples: every adapter alone, every pair, the mixture of all | n(n+1) evaluations |
| `agreement`, `entropy` | the same validation passes, labels unread | n(n+1) evaluations (shared with the surrogate) |
| `combined` (default) | the surrogate's passes; agreement breaks ties; sets and partitions raced | + races ≤ budget |
| `random` | nothing | 0: scored as its exact expectation over ties |

Ties are part of a strategy's answer: the benchmark scores a tie as the expectation over the tied
sets (a uniformly random tie-break), which makes `random` (every set tied) its exact expectation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from adaptermix.advice.signals import TEXT, UNLABELED, VALIDATION, WEIGHTS, Signals
from adaptermix.advice.tables import empty_table, members_of
from adaptermix.analysis.greedy import in_domain_mean_fsd
from adaptermix.registry import Registry

Z90 = 1.6448536269514722  # two-sided 90 % normal quantile
NONE = "none"


@dataclass(frozen=True)
class Scores:
    """One strategy's view of every in-domain mixture, as (n, 2^n) tables (NaN where t ∉ S).

    Attributes:
        score: the ranking score (higher is better).
        predicted: predicted accuracy (fractions), or None for strategies that only rank.
        low, high: the 90 % prediction interval, or None.
    """

    score: np.ndarray
    predicted: np.ndarray | None = None
    low: np.ndarray | None = None
    high: np.ndarray | None = None


@dataclass(frozen=True)
class Strategy:
    """A registered advisor strategy.

    Attributes:
        name: registry name.
        needs: the signal it reads: `weights`, `text`, `validation` or `none`.
        scores: Signals → `Scores`.
        summary: one line for `--help` and docs/advisor.md.
        races: races its top sets (partners) and best partitions (groups) on validation unless told not to
            (`AdviceSpec.race`).
    """

    name: str
    needs: str
    scores: Callable[[Signals], Scores]
    summary: str
    races: bool = False


STRATEGIES: Registry[Strategy] = Registry("advisor strategy")


ScoreFn = Callable[[Signals], Scores]


def register(name: str, needs: str, summary: str, races: bool = False) -> Callable[[ScoreFn], ScoreFn]:
    """Decorator: register a Signals → Scores function as a strategy (register where you define)."""
    def wrap(fn: ScoreFn) -> ScoreFn:
        STRATEGIES.register(name, Strategy(name, needs, fn, summary, races))
        return fn
    return wrap


def get_strategy(name: str) -> Strategy:
    """The strategy registered as `name`. Raises ConfigError listing the known ones."""
    return STRATEGIES.get(name)


def _tabulate(n: int, fn: Callable[[int, tuple[int, ...]], float]) -> np.ndarray:
    table = empty_table(n)
    for mask in range(1, 1 << n):
        members = members_of(mask)
        for t in members:
            table[t, mask] = fn(t, members)
    return table


def _require(signals: Signals, need: str, name: str) -> None:
    if not signals.has(need):
        raise ValueError(f"strategy {name!r} needs the {need} signals, which were not gathered")


def _similarity(signals: Signals, sim: np.ndarray) -> Scores:
    """score(t, S) = mean over j ∈ S of sim(t, j), t itself included (similarity 1, or FSD 0)."""
    return Scores(_tabulate(signals.n, lambda t, members: float(np.mean(sim[t, list(members)]))))


@register("alg1_min_fsd", WEIGHTS, "Alg. 1: the partners with the smallest mean FSD to the other adapters")
def alg1_min_fsd(signals: Signals) -> Scores:
    """Alg. 1 (Sec. 6) for an in-domain target: {t} ∪ the adapters of smallest avg_S on S without t.

    score(t, S) = −Σ_{j ∈ S∖t} avg_S(j), avg_S over the matrix without t (zero diagonal included, as
    `adaptermix.analysis.greedy_selection`), so the best set of size l is exactly Alg. 1's pick
    (`tests/test_advice_core.py` checks it against `greedy_selection`).
    """
    means = _alg1_means(signals)
    return Scores(_tabulate(signals.n, lambda t, members: -math.fsum(means[t, j] for j in members if j != t)))


@register("max_fsd", WEIGHTS, "the paper's contrast: the partners with the largest mean FSD (Fig. 7)")
def max_fsd(signals: Signals) -> Scores:
    """The negation of `alg1_min_fsd`: Alg. 1 with `maximize=True`."""
    means = _alg1_means(signals)
    return Scores(_tabulate(signals.n, lambda t, members: math.fsum(means[t, j] for j in members if j != t)))


def _alg1_means(signals: Signals) -> np.ndarray:
    """means[t, j] = avg_S(j) of Alg. 1 on S without t (`analysis.greedy.in_domain_mean_fsd`; NaN at j = t)."""
    _require(signals, WEIGHTS, "alg1_min_fsd")
    S = signals.fsd
    assert S is not None  # noqa: S101 - checked by _require
    return np.array([in_domain_mean_fsd(S, t) for t in range(signals.n)])


@register("fsd_nearest", WEIGHTS, "the partners with the smallest FSD to the target itself")
def fsd_nearest(signals: Signals) -> Scores:
    """score(t, S) = −mean_{j ∈ S} FSD(t, j): sign agreement with the target, not with the crowd."""
    _require(signals, WEIGHTS, "fsd_nearest")
    assert signals.fsd is not None  # noqa: S101
    return _similarity(signals, -signals.fsd)


@register("task_cosine", WEIGHTS, "the partners whose task vectors point most like the target's (kinship)")
def task_cosine(signals: Signals) -> Scores:
    """score(t, S) = mean_{j ∈ S} cos(τ_t, τ_j), τ = θ − θ_0 (model kinship: similar updates merge well)."""
    _require(signals, WEIGHTS, "task_cosine")
    assert signals.cosine is not None  # noqa: S101
    return _similarity(signals, signals.cosine)


@register("text_similarity", TEXT, "AdapterSoup: the partners whose train text embeds nearest the target's")
def text_similarity(signals: Signals) -> Scores:
    """score(t, S) = mean_{j ∈ S} cos(c_t, c_j) of MiniLM centroids of train text (AdapterSoup, Fig. 2a)."""
    _require(signals, TEXT, "text_similarity")
    assert signals.text is not None  # noqa: S101
    return _similarity(signals, signals.text)


@register("uniform_all", NONE, "mix as many as allowed: prefers larger sets; within one size, random")
def uniform_all(signals: Signals) -> Scores:
    """score = |S|: the uniform mixture of all adapters when the size is free; no signal within a size."""
    return Scores(_tabulate(signals.n, lambda t, members: float(len(members))))


@register("random", NONE, "a uniformly random member set: every set tied, scored as its exact expectation")
def random_choice(signals: Signals) -> Scores:
    """score = 0 everywhere; the benchmark's tie rule turns it into the exact expectation over sets."""
    return Scores(_tabulate(signals.n, lambda t, members: 0.0))


#: The surrogate's model error, as a share of the interpolated part of the drop (see `surrogate`): on the
#: converged 8-domain store the per-k least-squares fit of that share sits within 0.08 of `drop_share`
#: (docs/advisor.md), so ±0.15 at the middle of the range is a generous 1-σ.
SHARE_SD = 0.15


def drop_share(k: int, n: int) -> float:
    """How far a k-mixture's drop has gone from the pair drop (0) to the all-n drop (1): (1/2 − 1/k)/(1/2 − 1/n).

    Why 1/k: Eq. 1 gives the target's own adapter the weight 1/k, 1/2 in a pair and 1/n in the
    all-mixture; the drop is interpolated linearly in that weight. No parameter is fitted: on the
    converged 8-domain store a free per-k fit on seven targets lands within 0.08 of it at every k and
    predicts the eighth no better (docs/advisor.md, leave-one-target-out).
    """
    if k <= 2 or n <= 2:
        return 0.0
    return min(1.0, (0.5 - 1.0 / k) / (0.5 - 1.0 / n))


def interpolate(alone: float, pairs: np.ndarray, full: float | None, target: int,
                members: tuple[int, ...], n: int) -> tuple[float, float]:
    """(value, gap) of a k-mixture from its target's measurements alone, in pairs and in the all-mixture.

    value(t, S) = alone − [m_S + g(k)·(D − m̄)], with d(j) = alone − pairs[j] the pair drops, m_S their
    mean over S∖t, m̄ their mean over every partner, D = alone − full the all-mixture drop and g =
    `drop_share`(k, n); gap = D − m̄ (0 without the all-mixture). The surrogate applies it to
    accuracy, the label-free strategies to agreement with the target's adapter and to entropy.
    """
    others = [j for j in members if j != target]
    if not others:
        return float(alone), 0.0
    d = alone - np.asarray(pairs, dtype=np.float64)
    m_s = float(np.mean(d[others]))
    g, gap = 0.0, 0.0
    if full is not None and n >= 3 and math.isfinite(full):
        g = drop_share(len(members), n)
        gap = float(alone - full) - float(np.mean(np.delete(d, target)))
    return float(alone) - (m_s + g * gap), gap


def surrogate_prediction(signals: Signals, target: int, members: tuple[int, ...]) -> tuple[float, float]:
    """(predicted accuracy, model standard deviation) of `target` with the mixture of `members` (Eq. 1).

    acc(t, S) ≈ a_t − [m_S + g(k)·(D_t − m̄_t)], with a_t the adapter alone, m_S = mean_{j ∈ S∖t} d(t, j)
    the measured validation pair drops d(t, j) = a_t − acc(t, {t, j}), m̄_t their mean over every j,
    D_t = a_t − acc(t, all n) the measured all-mixture drop and g = `drop_share`(k, n) (`interpolate`).
    Exact at k = 1, 2 and n (the measurements); in between the model's own error is
    SHARE_SD·4g(1 − g)·|D_t − m̄_t|.
    """
    _require(signals, VALIDATION, "surrogate")
    a, P, n = signals.single, signals.pair, signals.n
    assert a is not None and P is not None  # noqa: S101
    full = None if signals.full is None else float(signals.full[target])
    value, gap = interpolate(float(a[target]), P[target], full, target, members, n)
    g = drop_share(len(members), n) if gap else 0.0
    return value, SHARE_SD * 4 * g * (1 - g) * abs(gap)


@register("surrogate", VALIDATION,
          "validation pairs and the all-mixture, interpolated in the target's weight 1/k; 90 % intervals")
def surrogate(signals: Signals) -> Scores:
    """Predict acc(t, S) for every S from validation accuracies of singles, pairs and the all-mixture.

    See `surrogate_prediction` for the model. Within one size the ranking needs only the pair drops.
    The 90 % interval adds three variances: the model's (zero at k = 1, 2 and n, where the prediction
    is a measurement); the validation sampling error p(1 − p)/n_val; and, when `signals.test_examples`
    is set, the sampling error of the evaluation it will be compared with, p(1 − p)/n_test.
    """
    n = signals.n
    _require(signals, VALIDATION, "surrogate")
    pred, low, high = empty_table(n), empty_table(n), empty_table(n)
    for mask in range(1, 1 << n):
        members = members_of(mask)
        for t in members:
            p, model_sd = surrogate_prediction(signals, t, members)
            p = min(max(p, 0.0), 1.0)
            nval = signals.n_validation.get(signals.domains[t], 0) or 1
            # p(1 − p) vanishes at 0 and 1: half an example of slack keeps a perfect validation score
            # from claiming a zero-width interval.
            q = min(max(p, 0.5 / nval), 1 - 0.5 / nval)
            var = model_sd**2 + q * (1 - q) / nval
            n_test = signals.n_test(t)
            if n_test:
                var += q * (1 - q) / n_test
            half = Z90 * math.sqrt(var)
            pred[t, mask], low[t, mask], high[t, mask] = p, max(p - half, 0.0), min(p + half, 1.0)
    return Scores(pred, pred, low, high)


def _label_free(signals: Signals, name: str, table: np.ndarray | None, full: np.ndarray | None,
                sign: float) -> Scores:
    _require(signals, UNLABELED, name)
    assert table is not None  # noqa: S101 - checked by _require
    n = signals.n

    def value(t: int, members: tuple[int, ...]) -> float:
        at_full = None if full is None else float(full[t])
        return sign * interpolate(float(table[t, t]), table[t], at_full, t, members, n)[0]

    return Scores(_tabulate(n, value))


@register("agreement", UNLABELED,
          "label-free: the mixture that keeps the target's own predictions on unlabeled validation text")
def agreement(signals: Signals) -> Scores:
    """score(t, S) = predicted agreement of the mixture's predictions with t's adapter alone (no label read).

    The surrogate's law (`interpolate`) on agreement instead of accuracy: 1 alone, the measured pair
    agreements, the all-mixture's. A mixture that changes none of the target adapter's answers loses
    nothing; what it changes is a cost when the target adapter is good and could be a gain when it
    is not, which labels alone can tell.
    """
    return _label_free(signals, "agreement", signals.agreement, signals.agreement_full, 1.0)


@register("entropy", UNLABELED,
          "label-free: the most confident mixture on unlabeled validation text (AdaMerging's entropy)")
def entropy(signals: Signals) -> Scores:
    """score(t, S) = −predicted mean predictive entropy of the mixture with t's head on t's validation text.

    AdaMerging (Yang et al. 2024) tunes merging coefficients by minimising this entropy on unlabeled
    test text; here it ranks member sets, from the same pair and all-mixture passes (`interpolate`).
    """
    return _label_free(signals, "entropy", signals.entropy, signals.entropy_full, -1.0)


#: How much of the agreement score breaks the surrogate's ties: below any difference in predicted accuracy
#: that validation can show (1 / (k · n_val) ≥ 1e-5 for k ≤ 16 and n_val ≤ 6,000 examples), above rounding.
TIE_BREAK = 1e-7


@register("combined", VALIDATION,
          "the default: the surrogate, its ties broken by agreement (the same passes); top sets and partitions raced "
          "on validation",
          races=True)
def combined(signals: Signals) -> Scores:
    """The surrogate's predictions and intervals, its ranking's ties broken by the label-free agreement.

    Each signal where the benchmark found it helps (docs/advisor.md, "The default"): labelled validation
    pairs rank (the surrogate: best at partitions on every store); where they tie, which on a few hundred
    validation examples is often, the set that keeps more of the target adapter's own answers wins (the
    agreement, read from the same passes at no cost); and the top sets (partners) or the best four
    partitions (groups, the `evidence` rule) are raced on validation with what the budget leaves
    (`Strategy.races`). Weight and text signals are not mixed in: shrinking the pair drops towards a
    regression on them did not help on the three stores measured.
    """
    sur = surrogate(signals)
    if not signals.has(UNLABELED):
        return sur
    tie = agreement(signals).score
    # Rounded first, so that float noise in the surrogate's interpolation does not outrank the tie-break.
    return replace(sur, score=np.round(sur.score, 9) + TIE_BREAK * tie)
