"""Sec. 5.2: does the semantic similarity of two domains predict the FSD of their adapters?

The paper argues that FSD is not explained by how similar the domains' texts are (the relation is
weak). We measure it: over every unordered pair of domains that have both a similarity (Fig. 2a)
and an adapter, correlate cos(centroid_i, centroid_j) with FSD(adapter_i, adapter_j) (Alg. 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adaptermix.analysis.correlation import correlate


@dataclass(frozen=True)
class SimilarityFsdRelation:
    """Correlation between domain similarity and adapter FSD over domain pairs (Sec. 5.2).

    Attributes:
        domains: the domains both matrices cover, in the order of the similarity matrix.
        pairs: the unordered pairs (a, b), a before b in `domains`.
        similarity: centroid cosine of each pair.
        fsd: FSD of each pair's adapters.
        pearson_r, pearson_p, spearman_rho, spearman_p: coefficients and two-sided p-values (scipy).
        n: number of pairs.
    """

    domains: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    similarity: tuple[float, ...]
    fsd: tuple[float, ...]
    pearson_r: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float
    n: int


def _check_square(name: str, labels: Sequence[str], matrix: np.ndarray) -> None:
    if matrix.ndim != 2 or matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"{name} matrix has shape {matrix.shape} but {len(labels)} names")
    if len(set(labels)) != len(labels):
        raise ValueError(f"{name} names repeat: {sorted(labels)}; give one adapter per domain")


def similarity_fsd_relation(
    sim_domains: Sequence[str],
    similarity: np.ndarray,
    fsd_domains: Sequence[str],
    fsd: np.ndarray,
) -> SimilarityFsdRelation:
    """Pearson r and Spearman ρ between domain similarity and adapter FSD over domain pairs (Sec. 5.2).

    The two matrices may cover different domains in different orders: only domains in both are
    used, matched by name, in the order of `sim_domains`.

    Args:
        sim_domains: the axes of `similarity`.
        similarity: k×k centroid cosine (Fig. 2a).
        fsd_domains: the domains of the adapters, the axes of `fsd`.
        fsd: m×m pairwise FSD (Alg. 3, e.g. `adaptermix.analysis.fsd_matrix`).

    Returns:
        The `SimilarityFsdRelation` over the C(n, 2) shared pairs.

    Raises:
        ValueError: mismatched shapes, repeated names, fewer than 3 shared pairs (3 domains), a
            constant side, or NaN/Inf (as `adaptermix.analysis.correlation.correlate`).
    """
    sim = np.asarray(similarity, dtype=np.float64)
    dist = np.asarray(fsd, dtype=np.float64)
    _check_square("similarity", sim_domains, sim)
    _check_square("FSD", fsd_domains, dist)
    fsd_index = {name: i for i, name in enumerate(fsd_domains)}
    shared = [(i, name) for i, name in enumerate(sim_domains) if name in fsd_index]
    if len(shared) < 3:
        raise ValueError(
            f"the similarity–FSD correlation needs >= 3 domains with an adapter (>= 3 pairs); "
            f"shared: {[name for _, name in shared] or 'none'}"
        )
    pairs, xs, ys = [], [], []
    for a in range(len(shared)):
        for b in range(a + 1, len(shared)):
            (i, name_i), (j, name_j) = shared[a], shared[b]
            pairs.append((name_i, name_j))
            xs.append(float(sim[i, j]))
            ys.append(float(dist[fsd_index[name_i], fsd_index[name_j]]))
    c = correlate(xs, ys)
    return SimilarityFsdRelation(
        domains=tuple(name for _, name in shared),
        pairs=tuple(pairs),
        similarity=tuple(xs),
        fsd=tuple(ys),
        pearson_r=c.pearson_r,
        pearson_p=c.pearson_p,
        spearman_rho=c.spearman_rho,
        spearman_p=c.spearman_p,
        n=c.n,
    )
