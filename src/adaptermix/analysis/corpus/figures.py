"""PNG figures of the dataset analysis: Fig. 2a (similarity heatmap), Fig. 2b (topic map), Sec. 5.2 scatter.

Each function takes plain data from a `CorpusAnalysis` and returns PNG bytes (matplotlib, Agg), so
the report can embed them without touching files or recomputing anything.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from adaptermix.analysis.corpus.relation import SimilarityFsdRelation
from adaptermix.analysis.corpus.topics import TopicMap


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: figures are written on servers without a display
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def similarity_heatmap(domains: Sequence[str], matrix: np.ndarray, title: str = "") -> bytes:
    """Fig. 2a: cosine similarity of the domains' embedding centroids, value in every cell.

    The colour range spans the off-diagonal values: centroids of one encoder are all fairly similar
    (often 0.3–0.9), and a 0–1 scale anchored by the unit diagonal would paint every pair alike.
    """
    plt = _plt()
    k = len(domains)
    off = matrix[~np.eye(k, dtype=bool)]
    lo, hi = (float(off.min()), float(off.max())) if off.size else (0.0, 1.0)
    if hi - lo < 1e-3:
        lo, hi = lo - 0.005, hi + 0.005
    size = max(4.0, 0.65 * k + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    shown = np.ma.masked_where(np.eye(k, dtype=bool), matrix)
    image = ax.imshow(shown, cmap=plt.get_cmap("viridis").with_extremes(bad="0.92"), vmin=lo, vmax=hi)
    ax.set_xticks(range(k), domains, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(k), domains)
    for i in range(k):
        for j in range(k):
            dark = i != j and (matrix[i, j] - lo) / (hi - lo) < 0.5
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "0.35" if i == j else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="cosine")
    ax.set_title(title or "Semantic similarity of domains (cosine of embedding centroids)")
    return _png(fig)


def topic_map_figure(tmap: TopicMap, title: str = "") -> bytes:
    """Fig. 2b: every LDA topic as a disc (area ∝ prevalence), coloured by domain; domains labelled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 6.0))
    cmap = plt.get_cmap("tab20" if len(tmap.domains) > 10 else "tab10")
    xy = np.asarray(tmap.topic_xy)
    owner = np.asarray(tmap.topic_domain)
    size = 2000 * np.asarray(tmap.prevalence) + 15
    for d, name in enumerate(tmap.domains):
        sel = owner == d
        colour = cmap(d % cmap.N)
        ax.scatter(xy[sel, 0], xy[sel, 1], s=size[sel], color=colour, alpha=0.45, edgecolors="white", label=name)
        cx, cy = tmap.domain_xy[d]
        ax.scatter([cx], [cy], marker="X", s=120, color=colour, edgecolors="black", linewidths=0.8)
        ax.annotate(name, (cx, cy), textcoords="offset points", xytext=(6, 6), fontsize=9, weight="bold")
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.legend(fontsize=8, markerscale=0.5, loc="best", frameon=False)
    ax.set_title(title or f"Topics of all domains: PCoA of Jensen–Shannon distances ({100 * tmap.explained:.0f} %)")
    return _png(fig)


def relation_figure(relation: SimilarityFsdRelation, title: str = "") -> bytes:
    """Sec. 5.2: FSD of each pair's adapters against the pair's semantic similarity, with r and ρ."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.5))
    x, y = np.asarray(relation.similarity), 100 * np.asarray(relation.fsd)
    ax.scatter(x, y, color="tab:blue")
    for (a, b), xi, yi in zip(relation.pairs, x, y, strict=True):
        ax.annotate(f"{a}–{b}", (xi, yi), textcoords="offset points", xytext=(3, 3), fontsize=6, color="0.3")
    if x.std() > 0:
        slope, intercept = np.polyfit(x, y, 1)
        grid = np.linspace(x.min(), x.max(), 2)
        ax.plot(grid, slope * grid + intercept, color="tab:red", lw=1)
    ax.set_xlabel("semantic similarity (centroid cosine)")
    ax.set_ylabel("FSD of the adapters (%)")
    ax.set_title(title or (f"r = {relation.pearson_r:.2f} (p = {relation.pearson_p:.2g}), "
                           f"ρ = {relation.spearman_rho:.2f} (p = {relation.spearman_p:.2g}), n = {relation.n}"))
    return _png(fig)
