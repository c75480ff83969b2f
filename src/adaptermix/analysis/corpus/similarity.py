"""Fig. 2a (Sec. 3.1, App. A.2): cosine similarity between the centroids of the domains' embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def centroid(embeddings: np.ndarray) -> np.ndarray:
    """The mean of a domain's document embeddings (one row per document).

    Args:
        embeddings: (n, d) array, n ≥ 1, finite.

    Returns:
        (d,) float64 mean vector.

    Raises:
        ValueError: for a non-2-D or empty array, or NaN/Inf.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"embeddings must be a non-empty (n, d) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or Inf")
    return x.mean(axis=0)


def centroid_similarity(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """Pairwise cosine similarity of the domains' embedding centroids (the heatmap of Fig. 2a).

    Each document embedding is used as the encoder gives it (MiniLM's are unit length); the
    centroid is their mean and S[i, j] = cos(c_i, c_j). The diagonal is exactly 1.

    Args:
        embeddings: one (n_i, d) array per domain; the same d for all.

    Returns:
        k×k float64 matrix, symmetric, unit diagonal, entries in [-1, 1].

    Raises:
        ValueError: no domains, different dimensions, an empty domain, a zero centroid, NaN/Inf.
    """
    if not embeddings:
        raise ValueError("no domains given")
    means = [centroid(e) for e in embeddings]
    dims = sorted({m.shape[0] for m in means})
    if len(dims) > 1:
        raise ValueError(f"domains have embeddings of different sizes: {dims}")
    centroids = np.stack(means)
    norms = np.linalg.norm(centroids, axis=1)
    if (norms == 0).any():
        raise ValueError(f"domain #{int(np.argmin(norms))} has a zero centroid: cosine is undefined")
    unit = centroids / norms[:, None]
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    sim = (sim + sim.T) / 2  # exact symmetry despite float round-off in the product
    np.fill_diagonal(sim, 1.0)
    return sim
