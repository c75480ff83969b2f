"""Figures of the combinatorial sweep (PAPER Figs. 3, 5, 6, 7), drawn from the store only.

Each figure is a grid with one small panel per target domain. A panel whose data is missing (for
example a sampled sweep, or a store with only k ≤ 2 rows) shows a short note instead of a plot, so
a partial study still gives a complete report. Functions return PNG bytes.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from adaptermix.reporting.sweep_tables import SweepData, Table

_PANEL_W, _PANEL_H, _MAX_COLS = 3.4, 2.6, 4
Axes = Any  # matplotlib.axes.Axes; kept loose so importing this module does not import matplotlib


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # headless: reports are written on servers without a display
    import matplotlib.pyplot as plt

    return plt


def _note(ax: Axes, text: str) -> None:
    # Wrapped by hand: matplotlib's wrap=True confuses tight_layout and squeezes the panel.
    ax.text(0.5, 0.5, textwrap.fill(text, 30), ha="center", va="center", transform=ax.transAxes, fontsize=8,
            color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _grid(title: str, targets: Sequence[str], draw: Callable[[Axes, str], Any]) -> bytes:
    """Lay out one panel per target, call `draw(ax, target)`, add one shared legend, return PNG bytes."""
    plt = _plt()
    n = max(1, len(targets))
    cols = min(_MAX_COLS, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(_PANEL_W * cols, _PANEL_H * rows + 0.9), squeeze=False)
    flat = list(axes.flat)
    handles: dict[str, Any] = {}
    if not targets:
        _note(flat[0], "no rows in the store for this condition")
    for ax, target in zip(flat, targets, strict=False):
        ax.set_title(target, fontsize=10)
        draw(ax, target)
        # Gather legend entries from every axis of the panel (twin axes share the panel's position).
        for other in fig.axes:
            if other is ax or other.get_position().bounds == ax.get_position().bounds:
                for h, lab in zip(*other.get_legend_handles_labels(), strict=True):
                    handles.setdefault(lab, h)
    for ax in flat[len(targets) or 1:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=11)
    bottom = 0.0
    if handles:
        ncol = min(5, len(handles))
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=8, frameon=False)
        # Reserve ~0.3 inch per legend row so the legend never covers the bottom panels' x labels.
        bottom = 0.3 * math.ceil(len(handles) / ncol) / fig.get_figheight()
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.35 / fig.get_figheight()))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _int_xticks(ax: Axes, ks: Sequence[int]) -> None:
    if ks:
        step = max(1, math.ceil(len(ks) / 7))
        ax.set_xticks(list(ks)[::step])


def k_axes(ax: Axes, ks: Sequence[int], ylabel: str = "accuracy (%)") -> None:
    """The axes of an accuracy-vs-k panel (Fig. 3 and its per-mixer and adversarial variants)."""
    ax.set_xlabel("k (adapters in mixture)", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    _int_xticks(ax, ks)
    ax.grid(alpha=0.3)


def fig3_accuracy_vs_k(data: SweepData) -> bytes:
    """Fig. 3: accuracy vs mixture size k per target: mean line and min–max band (Sec. 3.4, finding 1)."""

    def draw(ax: Axes, target: str) -> None:
        aggs = sorted((a for a in data.aggs if a.target == target), key=lambda a: a.k)
        if not aggs:
            return _note(ax, "no rows")
        ks = [a.k for a in aggs]
        ax.fill_between(ks, [100 * a.min for a in aggs], [100 * a.max for a in aggs], color="C0", alpha=0.2,
                        label="min–max over member sets")
        ax.plot(ks, [100 * a.mean for a in aggs], "o-", color="C0", ms=3, label="mean accuracy")
        k_axes(ax, ks)

    return _grid("Fig. 3: in-domain accuracy vs number of mixed adapters", data.targets, draw)


def fig5_pair_fsd(data: SweepData) -> bytes:
    """Fig. 5 (k = 2): FSD of (target, partner) as bars, mixture accuracy on a twin axis (Sec. 5).

    Partners are sorted by FSD, so a negative FSD–accuracy relation shows as a falling line. The
    dashed line is the target's single-adapter accuracy (its k = 1 row).
    """

    def draw(ax: Axes, target: str) -> None:
        pairs = [r for r in data.target_rows(target, k=2)]
        if not pairs:
            return _note(ax, "no k = 2 rows stored")
        pairs.sort(key=lambda r: (r.pair_fsd is None, r.pair_fsd or 0.0, r.members_key))
        partners = [next(m for m in r.members if m != target) for r in pairs]
        x = np.arange(len(pairs))
        ax.bar(x, [r.pair_fsd if r.pair_fsd is not None else 0.0 for r in pairs], color="C1", alpha=0.7,
               label="FSD(target, partner)")
        ax.set_ylabel("FSD", fontsize=8)
        ax.set_xticks(x, partners, rotation=60, ha="right", fontsize=7)
        ax.tick_params(axis="y", labelsize=7)
        tw = ax.twinx()
        tw.plot(x, [100 * r.accuracy for r in pairs], "o-", color="C0", ms=3, label="accuracy of the pair mixture")
        single = data.lookup(target, [target])
        if single is not None:
            tw.axhline(100 * single.accuracy, color="C0", ls="--", lw=1, label="single adapter (k = 1)")
        tw.set_ylabel("accuracy (%)", fontsize=8)
        tw.tick_params(labelsize=7)
        if all(r.pair_fsd is None for r in pairs):
            ax.text(0.5, 0.95, "pair FSD not stored", transform=ax.transAxes, ha="center", va="top", fontsize=7)

    return _grid("Fig. 5: k = 2 mixtures: FSD to each partner vs accuracy", data.targets, draw)


def fig6_flip_fraction(data: SweepData) -> bytes:
    """Fig. 6 (k > 2): mean share of the target's weights whose sign flips in the mixture vs k, with mean accuracy."""

    def draw(ax: Axes, target: str) -> None:
        by_k: dict[int, list[Any]] = {}
        for r in data.target_rows(target):
            if r.k > 2:
                by_k.setdefault(r.k, []).append(r)
        if not by_k:
            return _note(ax, "no k > 2 rows stored")
        ks = sorted(by_k)
        flips = [[r.flip_fraction for r in by_k[k] if r.flip_fraction is not None] for k in ks]
        fk = [k for k, f in zip(ks, flips, strict=True) if f]
        if fk:
            # Bars, not a second line: with few k values two lines on twin axes can coincide exactly.
            ax.bar(fk, [float(np.mean(f)) for f in flips if f], width=0.6, color="C3", alpha=0.6,
                   label="mean flip fraction of the target")
        else:
            ax.text(0.5, 0.95, "flip fraction not stored", transform=ax.transAxes, ha="center", va="top", fontsize=7)
        ax.set_xlabel("k (adapters in mixture)", fontsize=8)
        ax.set_ylabel("flip fraction", fontsize=8, color="C3")
        ax.tick_params(labelsize=7)
        _int_xticks(ax, ks)
        tw = ax.twinx()
        tw.plot(ks, [100 * float(np.mean([r.accuracy for r in by_k[k]])) for k in ks], "o-", color="C0", ms=3,
                label="mean accuracy")
        tw.set_ylabel("accuracy (%)", fontsize=8, color="C0")
        tw.tick_params(labelsize=7)

    return _grid("Fig. 6: k > 2 mixtures: sign flips of the target adapter vs accuracy", data.targets, draw)


def fig7_greedy(data: SweepData, greedy: Table) -> bytes:
    """Fig. 7: accuracy of greedy min-FSD / max-FSD mixtures vs the empirical upper/lower bounds, l = 2..n (Sec. 6)."""
    col = {c: i for i, c in enumerate(greedy.columns)}
    by_target: dict[str, list[tuple[Any, ...]]] = {}
    for row in greedy.rows:
        by_target.setdefault(row[col["target"]], []).append(row)

    def series(rows: list[tuple[Any, ...]], name: str) -> tuple[list[int], list[float]]:
        pts = [(r[col["l"]], r[col[name]]) for r in rows if r[col[name]] is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    def draw(ax: Axes, target: str) -> None:
        rows = by_target.get(target)
        if not rows:
            return _note(ax, "no FSD matrix stored" if data.fsd is None else "no greedy rows")
        lu, up = series(rows, "upper_pct")
        ll, lo = series(rows, "lower_pct")
        if lu and lu == ll:
            ax.fill_between(lu, lo, up, color="0.85", label="between empirical bounds")
        ax.plot(lu, up, "^--", color="0.35", ms=3, lw=1, label="empirical upper bound (max)")
        ax.plot(ll, lo, "v--", color="0.6", ms=3, lw=1, label="empirical lower bound (min)")
        for name, style, color, label in (("min_fsd_acc_pct", "o-", "C2", "greedy min-FSD (Alg. 1)"),
                                          ("max_fsd_acc_pct", "s-", "C3", "greedy max-FSD")):
            ls, vals = series(rows, name)
            if ls:
                ax.plot(ls, vals, style, color=color, ms=3, label=label)
        if not (lu or series(rows, "min_fsd_acc_pct")[0]):
            return _note(ax, "no stored rows for these member sets")
        ax.set_xlabel("l (adapters selected)", fontsize=8)
        ax.set_ylabel("accuracy (%)", fontsize=8)
        ax.tick_params(labelsize=7)
        _int_xticks(ax, sorted({r[col["l"]] for r in rows}))
        ax.grid(alpha=0.3)

    return _grid("Fig. 7: greedy FSD selection vs empirical bounds", data.targets, draw)
