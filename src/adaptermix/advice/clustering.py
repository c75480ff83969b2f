"""Partition strategies that cluster the domains instead of scoring mixtures: issue 17's partition baselines.

A score strategy (`adaptermix.advice.strategies`) gives every in-domain mixture a score and the exact
DP (`adaptermix.advice.partition.best_partition`) picks the G groups that maximise their sum. These
instead split the N domains into G clusters of alike domains directly, without ever scoring a
mixture, so they work in partition mode only (`adaptermix advise --groups G --strategy kmeans_text`):

| partitioner | reads | cost | clusters |
|---|---|---|---|
| `kmeans_text` | train text | one embedding pass | k-means (G clusters, seeded) on the MiniLM centroids |
| `fsd_clustering` | weights | 0 forward tokens | average-linkage clustering on FSD as a distance |

Both are pure functions of `Signals`; scikit-learn is imported when one runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from adaptermix.advice.signals import TEXT, WEIGHTS, Signals
from adaptermix.registry import Registry

KMEANS_RESTARTS = 10  # scikit-learn's n_init: the best of 10 k-means++ starts per seed


@dataclass(frozen=True)
class Partitioner:
    """A registered clustering of the domains into G groups.

    Attributes:
        name: registry name (shared namespace with the score strategies).
        needs: the signal it reads: `weights` or `text`.
        partition: (signals, G, seed) → the groups as bitmasks, ordered by their lowest member.
        seeded: whether the result depends on the seed (the benchmark averages such over seeds).
        summary: one line for `--help` and docs/advisor.md.
    """

    name: str
    needs: str
    partition: Callable[[Signals, int, int], tuple[int, ...]]
    seeded: bool
    summary: str


PARTITIONERS: Registry[Partitioner] = Registry("partition strategy")

PartitionFn = Callable[[Signals, int, int], tuple[int, ...]]


def register(name: str, needs: str, summary: str, seeded: bool = False) -> Callable[[PartitionFn], PartitionFn]:
    """Decorator: register a (signals, G, seed) → groups function as a partitioner."""
    def wrap(fn: PartitionFn) -> PartitionFn:
        PARTITIONERS.register(name, Partitioner(name, needs, fn, seeded, summary))
        return fn
    return wrap


def groups_from_labels(labels: Sequence[int], groups: int) -> tuple[int, ...]:
    """Cluster labels → exactly `groups` non-empty bitmasks, ordered by their lowest member.

    A clustering may return fewer distinct labels than asked (identical points); then the largest
    group gives up its highest-index member until there are `groups` (a partition into G mixtures
    must have G of them).

    Raises:
        ValueError: `groups` outside 1..len(labels).
    """
    n = len(labels)
    if not 1 <= groups <= n:
        raise ValueError(f"groups must be between 1 and the number of adapters ({n}), got {groups}")
    by_label: dict[int, int] = {}
    for i, label in enumerate(labels):
        by_label[int(label)] = by_label.get(int(label), 0) | 1 << i
    masks = list(by_label.values())
    while len(masks) < groups:
        largest = max(masks, key=lambda m: (m.bit_count(), m))
        top = 1 << (largest.bit_length() - 1)
        masks[masks.index(largest)] = largest ^ top
        masks.append(top)
    return tuple(sorted(masks, key=lambda m: m & -m))


def gram_points(similarity: np.ndarray) -> np.ndarray:
    """Points whose dot products are `similarity` (a cosine matrix): X = V·√Λ of its eigendecomposition.

    The cosine matrix of the domains' centroids fixes the L2-normalised centroids up to a rotation,
    and k-means (Euclidean, squared distance 2 − 2·cos) is blind to rotations: clustering these
    points is clustering the normalised centroids themselves, without storing 384-dim vectors.
    """
    sim = (np.asarray(similarity, dtype=np.float64) + np.asarray(similarity, dtype=np.float64).T) / 2
    values, vectors = np.linalg.eigh(sim)
    return np.asarray(vectors * np.sqrt(np.clip(values, 0.0, None)))


def _require(signals: Signals, need: str, name: str) -> None:
    if not signals.has(need):
        raise ValueError(f"strategy {name!r} needs the {need} signals, which were not gathered")


@register("kmeans_text", TEXT, "k-means on the domains' train-text MiniLM centroids (partitions only)", seeded=True)
def kmeans_text(signals: Signals, groups: int, seed: int = 0) -> tuple[int, ...]:
    """k-means with G clusters on the L2-normalised MiniLM centroids of each domain's train text.

    The AdapterSoup-style partition baseline of issue 17: domains whose text embeds alike share a
    mixture. scikit-learn's `KMeans(n_clusters=G, n_init=10, random_state=seed)` on `gram_points`
    of the text similarity (the normalised centroids, up to a rotation).
    """
    from sklearn.cluster import KMeans

    _require(signals, TEXT, "kmeans_text")
    assert signals.text is not None  # noqa: S101 - checked by _require
    points = gram_points(signals.text)
    if groups in (1, signals.n):
        return groups_from_labels(range(signals.n) if groups == signals.n else [0] * signals.n, groups)
    labels = KMeans(n_clusters=groups, n_init=KMEANS_RESTARTS, random_state=seed).fit_predict(points)
    return groups_from_labels(labels, groups)


@register("fsd_clustering", WEIGHTS, "average-linkage clustering on the FSD matrix (partitions only)")
def fsd_clustering(signals: Signals, groups: int, seed: int = 0) -> tuple[int, ...]:
    """Agglomerative clustering (average linkage, G clusters) with the FSD matrix as precomputed distance.

    Alg. 3's flip fraction as a distance between adapters: adapters that agree in sign share a
    mixture. Deterministic (`seed` is ignored). The FSD matrix is symmetric with a zero diagonal.
    """
    from sklearn.cluster import AgglomerativeClustering

    _require(signals, WEIGHTS, "fsd_clustering")
    assert signals.fsd is not None  # noqa: S101
    distance = np.asarray(signals.fsd, dtype=np.float64)
    distance = (distance + distance.T) / 2
    np.fill_diagonal(distance, 0.0)
    if groups in (1, signals.n):
        return groups_from_labels(range(signals.n) if groups == signals.n else [0] * signals.n, groups)
    labels = AgglomerativeClustering(n_clusters=groups, metric="precomputed", linkage="average").fit_predict(distance)
    return groups_from_labels(labels, groups)


def get_partitioner(name: str) -> Partitioner:
    """The partitioner registered as `name`. Raises ConfigError listing the known ones."""
    return PARTITIONERS.get(name)


__all__ = ["PARTITIONERS", "Partitioner", "fsd_clustering", "get_partitioner", "gram_points", "groups_from_labels",
           "kmeans_text"]
