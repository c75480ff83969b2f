"""The FSD heatmap of Fig. 4 (Sec. 5) and its per-layer small multiples; writer of the `adaptermix fsd` report.

Files written by `write_fsd_report(report, out)`:
    fsd.csv          k×k matrix: header `adapter,<name>,...`, one row per adapter, FSD as a fraction
    fsd.json         {space, reference, names, checkpoints, matrix, mean_fsd}
    fsd.png          heatmap: adapters on both axes, FSD in % in every cell, a colorbar
and with per-layer matrices also
    fsd_layers.csv   long form: layer,a,b,fsd (every ordered pair, diagonal included)
    fsd_layers.json  {space, names, layers: {group: matrix}}
    fsd_layers.png   one small heatmap per layer group, on a shared colour scale
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.analysis.checkpoints import FsdReport

FSD_CSV, FSD_JSON, FSD_PNG = "fsd.csv", "fsd.json", "fsd.png"
LAYERS_CSV, LAYERS_JSON, LAYERS_PNG = "fsd_layers.csv", "fsd_layers.json", "fsd_layers.png"
_CMAP = "Blues"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: reports are written on servers without a display
    import matplotlib.pyplot as plt

    return plt


def _draw(ax: Any, names: Sequence[str], matrix: np.ndarray, scale: tuple[float, float], fontsize: float) -> Any:
    """One heatmap on `ax`: % in every cell, the diagonal greyed out. Returns the image (for a colorbar)."""
    plt = _plt()
    lo, hi = scale
    k = len(names)
    cmap = plt.get_cmap(_CMAP).with_extremes(bad="0.92")
    shown = np.ma.masked_where(np.eye(k, dtype=bool), 100 * matrix)
    image = ax.imshow(shown, cmap=cmap, vmin=100 * lo, vmax=100 * hi)
    ax.set_xticks(range(k), names, rotation=45, ha="right", rotation_mode="anchor", fontsize=fontsize)
    ax.set_yticks(range(k), names, fontsize=fontsize)
    for i in range(k):
        for j in range(k):
            value = matrix[i, j]
            dark = i != j and (value - lo) / (hi - lo) > 0.6
            ax.text(j, i, f"{100 * value:.1f}", ha="center", va="center", fontsize=fontsize,
                    color="white" if dark else "0.35" if i == j else "black")
    return image


def _scale(matrices: Sequence[np.ndarray]) -> tuple[float, float]:
    """Colour range over the off-diagonal cells of all matrices.

    FSD of trained adapters sits in a narrow band (often 35–50 %); a 0–100 % scale, or one pulled
    down to 0 by the diagonal, would paint every pair the same colour. The (zero) diagonal is
    greyed out instead, and its cells still show 0.0.
    """
    values = [m[~np.eye(len(m), dtype=bool)] for m in matrices if len(m) > 1]
    flat = np.concatenate(values) if values else np.zeros(0)
    if flat.size == 0:
        return 0.0, 1.0
    lo, hi = float(flat.min()), float(flat.max())
    if hi - lo < 1e-3:  # all pairs (nearly) equal: centre them in a 1-point-wide band
        lo, hi = max(0.0, lo - 0.005), hi + 0.005
    return lo, hi


def fsd_heatmap(names: Sequence[str], matrix: np.ndarray, title: str = "FSD (%)") -> bytes:
    """PNG bytes of the Fig. 4 heatmap: adapters on both axes, FSD in % in the cells, a colorbar."""
    plt = _plt()
    k = len(names)
    side = min(12.0, 2.2 + 0.62 * k)
    fontsize = 9 if k <= 8 else 8 if k <= 14 else 6
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    image = _draw(ax, names, matrix, _scale([matrix]), fontsize)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("FSD (%)")
    ax.set_title(title)
    fig.tight_layout()
    return _png(fig)


def layer_heatmaps(names: Sequence[str], layers: Mapping[str, np.ndarray], title: str = "FSD per layer (%)") -> bytes:
    """PNG bytes of one small heatmap per layer group (layer order), sharing one colour scale."""
    plt = _plt()
    groups = list(layers)
    n = max(1, len(groups))
    cols = min(4, n)
    rows = math.ceil(n / cols)
    k = len(names)
    panel = min(4.0, 1.6 + 0.35 * k)
    fontsize = 7 if k <= 8 else 5
    fig, axes = plt.subplots(rows, cols, figsize=(panel * cols + 1.2, panel * rows + 0.6), squeeze=False)
    scale = _scale(list(layers.values()))
    image = None
    for ax, group in zip(axes.flat, groups, strict=False):
        image = _draw(ax, names, layers[group], scale, fontsize)
        ax.set_title(group, fontsize=9)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), fraction=0.02, pad=0.02).set_label("FSD (%)")
    return _png(fig)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def write_fsd_report(report: FsdReport, out: str | Path) -> list[Path]:
    """Write the files of the module docstring into folder `out` (created if needed). Returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = list(report.names)
    with (out / FSD_CSV).open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["adapter", *names])
        for name, row in zip(names, report.matrix, strict=True):
            writer.writerow([name, *(repr(float(v)) for v in row)])
    summary = {"space": report.space, "reference": report.reference, "names": names, "checkpoints": list(report.paths),
               "matrix": report.matrix.tolist(), "mean_fsd": report.mean_fsd}
    (out / FSD_JSON).write_text(json.dumps(summary, indent=2) + "\n")
    title = f"FSD (%), {report.space} space" if report.space != "factors" else "FSD (%)"
    if report.reference == "init":
        title += ", task vectors (minus the shared init)"
    (out / FSD_PNG).write_bytes(fsd_heatmap(names, report.matrix, title))
    paths = [out / FSD_CSV, out / FSD_JSON, out / FSD_PNG]
    if report.per_layer is not None:
        with (out / LAYERS_CSV).open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["layer", "a", "b", "fsd"])
            for group, matrix in report.per_layer.items():
                for i, a in enumerate(names):
                    for j, b in enumerate(names):
                        writer.writerow([group, a, b, repr(float(matrix[i, j]))])
        layers = {"space": report.space, "names": names,
                  "layers": {g: m.tolist() for g, m in report.per_layer.items()}}
        (out / LAYERS_JSON).write_text(json.dumps(layers, indent=2) + "\n")
        (out / LAYERS_PNG).write_bytes(layer_heatmaps(names, report.per_layer))
        paths += [out / LAYERS_CSV, out / LAYERS_JSON, out / LAYERS_PNG]
    return paths
