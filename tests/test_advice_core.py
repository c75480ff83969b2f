"""The advisor's pure core: partition DP vs brute force, exact random expectations, regret on known optima."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest

from adaptermix.advice import STRATEGIES, Cost, Signals, recommend_partition, recommend_partners
from adaptermix.advice.partition import (
    best_partition,
    brute_force_partition,
    partition_value,
    partitions,
    random_partition_mean,
)
from adaptermix.advice.regret import expected_best_of, partition_results, partner_metrics
from adaptermix.advice.strategies import Scores, drop_share, surrogate
from adaptermix.advice.tables import (
    mask_of,
    members_of,
    missing_entries,
    names_of,
    sets_with,
    stirling2,
    table_from_function,
)
from adaptermix.analysis import greedy_selection


def random_table(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return table_from_function(n, lambda t, m: float(rng.random()))


@pytest.mark.parametrize("n", range(1, 8))
def test_partition_dp_matches_brute_force(n: int) -> None:
    table = random_table(n, seed=n)
    for g in range(1, n + 1):
        dp, brute = best_partition(table, g), brute_force_partition(table, g)
        assert dp.value == pytest.approx(brute.value, abs=1e-12)
        assert partition_value(table, dp.groups) == pytest.approx(dp.value, abs=1e-12)
        assert len(dp.groups) == g and sum(dp.groups) == (1 << n) - 1
        assert all(a & b == 0 for a, b in itertools.combinations(dp.groups, 2))


@pytest.mark.parametrize("n", [3, 5, 6])
def test_random_partition_mean_is_the_exact_enumerated_mean(n: int) -> None:
    table = random_table(n, seed=10 + n)
    for g in range(1, n + 1):
        values = [partition_value(table, p) for p in partitions(n, g)]
        assert len(values) == stirling2(n, g)
        assert random_partition_mean(table, g) == pytest.approx(float(np.mean(values)), abs=1e-12)


def test_expected_best_of_matches_enumerated_tie_breaks() -> None:
    rng = np.random.default_rng(3)
    values = rng.random(7)
    scores = np.array([2.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    orders = [p for p in itertools.permutations(range(7)) if all(scores[p[i]] >= scores[p[i + 1]] for i in range(6))]
    for m in (1, 2, 3, 5):
        brute = np.mean([values[list(p[:m])].max() for p in orders])
        assert expected_best_of(values, scores, m) == pytest.approx(brute, abs=1e-12)


def test_random_strategy_regret_is_the_exact_expectation() -> None:
    n = 5
    truth = random_table(n, seed=1)
    scores = STRATEGIES.get("random").scores(Signals(tuple("abcde")))
    metrics = partner_metrics(truth, scores)
    for c in metrics.cells:
        acc = truth[c.target, list(sets_with(c.target, c.k, n))]
        assert c.picked == pytest.approx(acc.mean())
        draws = [max(x) for x in itertools.combinations(acc, min(3, len(acc)))]
        assert c.best_of_3 == pytest.approx(np.mean(draws))


def test_regret_is_zero_for_the_truth_and_positive_for_its_negation() -> None:
    n = 6
    truth = random_table(n, seed=2)
    perfect = partner_metrics(truth, Scores(truth, truth, truth, truth))
    assert perfect.regret == 0 and perfect.regret_at_3 == 0 and perfect.hit_rate == 1
    assert perfect.spearman == pytest.approx(1.0) and perfect.coverage == 1 and perfect.mae == 0
    worst = partner_metrics(truth, Scores(-truth))
    assert worst.regret > 0 and worst.spearman == pytest.approx(-1.0)
    assert all(r.reached == pytest.approx(r.optimum) for r in partition_results(truth, Scores(truth)))
    assert all(r.random_mean <= r.optimum for r in partition_results(truth, None))


def fake_signals(n: int = 5, seed: int = 0) -> tuple[Signals, np.ndarray]:
    """Signals from a known world that follows the surrogate's law, measured exactly.

    acc(t, S) = a_t − [m_S + g(k)·(D_t − m̄_t)]: pair drops d, their mean m̄_t over partners, an all-mixture
    drop D_t of 1.5–3.5 times m̄_t, and the share g(k) = (1/2 − 1/k)/(1/2 − 1/n) of the way between them.
    """
    rng = np.random.default_rng(seed)
    a = 0.8 + 0.15 * rng.random(n)
    d = 0.2 * rng.random((n, n))
    np.fill_diagonal(d, 0)
    mean_drop = d.sum(axis=1) / max(n - 1, 1)
    full_drop = mean_drop * (1.5 + 2 * rng.random(n))

    def acc(t: int, mask: int) -> float:
        members = members_of(mask)
        others = [j for j in members if j != t]
        if not others:
            return float(a[t])
        return float(a[t] - (np.mean(d[t, others]) + drop_share(len(members), n) * (full_drop[t] - mean_drop[t])))

    truth = table_from_function(n, acc)
    pair = a[:, None] - d
    full = np.array([truth[t, (1 << n) - 1] for t in range(n)])
    S = rng.random((n, n))
    S = (S + S.T) / 2
    np.fill_diagonal(S, 0)
    domains = tuple(f"d{i}" for i in range(n))
    # Label-free signals of a world where every changed answer is a lost one: disagreement with the
    # target's adapter is the accuracy drop, and the entropy grows with it.
    agreement, agreement_full = 1 - (a[:, None] - pair), 1 - (a - full)
    entropy, entropy_full = 0.3 + 2 * (a[:, None] - pair), 0.3 + 2 * (a - full)
    signals = Signals(domains, fsd=S, cosine=1 - S, text=1 - S, single=a, pair=pair, full=full,
                      agreement=agreement, agreement_full=agreement_full, entropy=entropy, entropy_full=entropy_full,
                      n_validation={x: 1_000_000 for x in domains}, forward_tokens=10, evaluations=n * (n + 1))
    return signals, truth


def test_drop_share_interpolates_in_the_targets_weight() -> None:
    assert drop_share(1, 8) == drop_share(2, 8) == 0.0 and drop_share(8, 8) == 1.0
    assert drop_share(4, 8) == pytest.approx((0.5 - 0.25) / (0.5 - 0.125))
    shares = [drop_share(k, 13) for k in range(2, 14)]
    assert shares == sorted(shares)  # the drop grows with k, fastest at small k


def test_surrogate_recovers_its_world_and_has_zero_regret() -> None:
    signals, truth = fake_signals()
    scores = surrogate(signals)
    assert missing_entries(scores.score) == 0
    m = partner_metrics(truth, scores)
    assert m.regret == pytest.approx(0.0, abs=1e-9) and m.mae == pytest.approx(0.0, abs=1e-9)
    assert all(r.reached == pytest.approx(r.optimum) for r in partition_results(truth, scores))


@pytest.mark.parametrize("name", ["agreement", "entropy"])
def test_label_free_strategies_rank_like_the_truth_where_changes_are_losses(name: str) -> None:
    """Where disagreement is the drop (and entropy grows with it), the label-free law ranks as the truth does."""
    signals, truth = fake_signals(n=6, seed=3)
    scores = STRATEGIES.get(name).scores(signals)
    assert scores.predicted is None and missing_entries(scores.score) == 0
    m = partner_metrics(truth, scores)
    assert m.regret == pytest.approx(0.0, abs=1e-9)
    assert all(r.reached == pytest.approx(r.optimum) for r in partition_results(truth, scores))
    # They read no labelled signal: the same scores with the accuracies gone.
    blind = dataclasses.replace(signals, single=None, pair=None, full=None)
    assert np.array_equal(STRATEGIES.get(name).scores(blind).score, scores.score, equal_nan=True)


def test_alg1_strategy_picks_exactly_greedy_selection() -> None:
    signals, _ = fake_signals(n=6, seed=4)
    assert signals.fsd is not None
    advice = recommend_partners(signals, "alg1_min_fsd", "d2", [2, 3, 4, 6], Cost(0, 1))
    others = [i for i in range(6) if i != 2]
    for rec in advice.recommendations:
        assert rec.k is not None
        picked = greedy_selection(signals.fsd[np.ix_(others, others)], rec.k - 1) if rec.k > 1 else []
        assert set(rec.members) == {"d2", *(f"d{others[i]}" for i in picked)}
        assert rec.predicted_accuracy is None


def test_every_strategy_scores_every_mixture() -> None:
    signals, _ = fake_signals()
    for name in STRATEGIES:
        scores = STRATEGIES.get(name).scores(signals)
        assert missing_entries(scores.score) == 0, name


def test_partition_advice_names_groups_and_predicts_the_objective() -> None:
    signals, truth = fake_signals()
    advice = recommend_partition(signals, "surrogate", 2, Cost(10, 1000))
    groups = [set(r.members) for r in advice.recommendations]
    assert sorted(x for g in groups for x in g) == list(signals.domains)
    assert advice.predicted_objective == pytest.approx(best_partition(truth, 2).value)
    assert advice.cost.fraction == pytest.approx(0.01)


def test_bitmask_helpers_round_trip() -> None:
    assert members_of(mask_of([0, 3, 4])) == (0, 3, 4)
    assert names_of(mask_of([2, 0]), ["x", "y", "z"]) == ("x", "z")
    assert len(list(sets_with(1, 3, 6))) == math.comb(5, 2)
