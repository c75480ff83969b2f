"""Partition baselines: k-means on the text centroids and average-linkage clustering on FSD (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from adaptermix.advice import Cost, Signals, recommend_partition, recommend_partners
from adaptermix.advice.clustering import PARTITIONERS, gram_points, groups_from_labels
from adaptermix.advice.partition import partition_value, random_partition_mean
from adaptermix.advice.regret import clustering_results, evaluate_partitioners
from adaptermix.advice.signals import cosine_matrix
from adaptermix.advice.tables import empty_table, mask_of, members_of
from adaptermix.errors import ConfigError

DOMAINS = ("a", "b", "c", "d", "e", "f", "g")
LEFT, RIGHT = (0, 2, 5), (1, 3, 4, 6)  # two well separated groups, interleaved so order cannot help


def two_groups(seed: int = 0) -> Signals:
    """Centroids around two far-apart directions; FSD small within a group, large across."""
    rng = np.random.default_rng(seed)
    dim = 16
    poles = np.eye(dim)[:2] * 10
    side = np.array([0 if i in LEFT else 1 for i in range(len(DOMAINS))])
    centroids = poles[side] + rng.normal(scale=0.5, size=(len(DOMAINS), dim))
    fsd = np.where(side[:, None] == side[None, :], 0.05, 0.45) + rng.uniform(0, 0.03, (len(DOMAINS),) * 2)
    fsd = (fsd + fsd.T) / 2
    np.fill_diagonal(fsd, 0.0)
    return Signals(DOMAINS, fsd=fsd, cosine=1 - fsd, text=cosine_matrix(centroids))


@pytest.mark.parametrize("name", ["kmeans_text", "fsd_clustering"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_well_separated_groups_are_recovered(name: str, seed: int) -> None:
    signals = two_groups(seed)
    groups = PARTITIONERS.get(name).partition(signals, 2, seed)
    assert groups == (mask_of(LEFT), mask_of(RIGHT))


@pytest.mark.parametrize("name", ["kmeans_text", "fsd_clustering"])
def test_every_g_is_a_partition_into_g_non_empty_groups(name: str) -> None:
    signals = two_groups()
    n = len(DOMAINS)
    for g in range(1, n + 1):
        groups = PARTITIONERS.get(name).partition(signals, g, 0)
        assert len(groups) == g and all(groups)
        assert sorted(i for m in groups for i in members_of(m)) == list(range(n))


def test_gram_points_reproduce_the_cosine_matrix() -> None:
    sim = two_groups().text
    assert sim is not None
    x = gram_points(sim)
    assert np.allclose(x @ x.T, sim, atol=1e-10)


def test_groups_from_labels_always_gives_g_groups() -> None:
    assert groups_from_labels([1, 1, 0, 0], 2) == (0b0011, 0b1100)
    assert groups_from_labels([0, 0, 0, 0], 3) == (0b0011, 0b0100, 0b1000)  # the largest gives up members
    with pytest.raises(ValueError, match="between 1 and"):
        groups_from_labels([0, 1], 3)


def test_partition_mode_advises_clusters_and_partners_mode_refuses_them() -> None:
    signals = two_groups()
    advice = recommend_partition(signals, "fsd_clustering", 2, Cost(0, 100))
    assert advice.strategy == "fsd_clustering" and advice.predicted_objective is None
    assert [r.members for r in advice.recommendations] == [("a", "c", "f"), ("b", "d", "e", "g")]
    assert all(r.predicted_accuracy is None for r in advice.recommendations)
    with pytest.raises(ConfigError, match="--groups"):
        recommend_partners(signals, "kmeans_text", "a", [2], Cost(0, 100))


def test_clustering_scored_on_a_truth_where_the_clusters_are_optimal() -> None:
    """A world where mixing across the two groups costs 20 points: the clusters are the optimum at G = 2."""
    signals = two_groups()
    n = len(DOMAINS)
    truth = empty_table(n)
    for mask in range(1, 1 << n):
        members = members_of(mask)
        for t in members:
            foreign = sum((j in LEFT) != (t in LEFT) for j in members)
            truth[t, mask] = 0.9 - 0.2 * foreign / len(members) - 0.01 * len(members)
    for name in PARTITIONERS:
        results = clustering_results(truth, signals, name)
        g2 = results[0]
        assert g2.groups == 2 and g2.reached == pytest.approx(g2.optimum)
        assert g2.random_mean == pytest.approx(random_partition_mean(truth, 2)) and g2.random_mean < g2.optimum
        assert g2.reached == pytest.approx(partition_value(truth, (mask_of(LEFT), mask_of(RIGHT))))
    reports = {r.strategy: r for r in evaluate_partitioners(truth, signals, PARTITIONERS.names(),
                                                            {"text": 10, "weights": 0}, 1000)}
    assert reports["kmeans_text"].seeds == 5 and reports["fsd_clustering"].seeds == 1
    assert reports["kmeans_text"].cost_fraction == pytest.approx(0.01) and reports["fsd_clustering"].forward_tokens == 0


def test_a_partitioner_without_its_signal_says_which() -> None:
    with pytest.raises(ValueError, match="text signals"):
        PARTITIONERS.get("kmeans_text").partition(Signals(DOMAINS), 2, 0)
