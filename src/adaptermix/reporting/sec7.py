"""Sec. 7 from the store: Fig. 8a (pruning a single adapter, Alg. 2) and Fig. 8b (sparse mixing, Alg. 4).

Rows this module reads (all `clean`):

- Fig. 8a: k = 1 rows of a pruning mixer (`PRUNING_MIXERS`) whose parameters carry `sparsity` (or
  `density` = 1 − sparsity) and `scope` (`global`: one percentile over the whole adapter; `tensor`:
  per tensor; the paper does not say which). A row whose target head was pruned too (label
  `head=pruned`) is its own series, `<scope>+head`. The dense reference is the `average` k = 1 row.
- Fig. 8b: rows of mixer `sparse` (Alg. 4, parameters `sparsity`, `m`) on Alg. 1 member sets,
  against the dense empirical upper bound (best stored `average` mixture of the same size on the
  same target) and the dense Alg. 1 pick (the `average` row on the same member set).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adaptermix.reporting.document import Figure, Section
from adaptermix.reporting.study import Study
from adaptermix.reporting.sweep_figures import Axes, _grid, _note
from adaptermix.reporting.sweep_tables import Table
from adaptermix.reporting.verdicts import difference
from adaptermix.store import EvalRow

#: Mixer names whose k = 1 rows are pruned single adapters (Alg. 2).
PRUNING_MIXERS = ("prune",)
#: Mixers that only Sec. 7's stages store; the other sections leave them out.
STAGE_MIXERS = ("prune", "sparse")
MEAN = "mean over targets"
UPPER, PICK = "dense upper bound", "dense Alg. 1 pick"


@dataclass(frozen=True)
class PrunePoint:
    """A pruned single adapter evaluated on its own domain (Fig. 8a)."""

    row: EvalRow
    scope: str
    sparsity: float


@dataclass(frozen=True)
class SparsePoint:
    """A sparse mixture (Alg. 4) evaluated on its target (Fig. 8b)."""

    row: EvalRow
    sparsity: float
    m: int


def _sparsity(params: dict[str, Any]) -> float | None:
    if "sparsity" in params:
        return round(float(params["sparsity"]), 6)
    if "density" in params:
        return round(1.0 - float(params["density"]), 6)
    return None


def prune_points(study: Study) -> list[PrunePoint]:
    """Every stored pruned single adapter (clean, k = 1, a pruning mixer with a sparsity)."""
    out = []
    for name in PRUNING_MIXERS:
        for row, params in study.rows_where(name):
            s = _sparsity(params)
            if row.k == 1 and s is not None:
                scope = str(params.get("scope", "global"))  # the prune mixer's default
                # A head pruned too (`MixSpec.head`, in the row's label) is its own series: `global+head`.
                out.append(PrunePoint(row, scope + ("+head" if "head=pruned" in row.mixer else ""), s))
    return out


def sparse_points(study: Study) -> list[SparsePoint]:
    """Every stored sparse mixture (clean, mixer `sparse`)."""
    out = []
    for row, params in study.rows_where("sparse"):
        s = _sparsity(params)
        if s is not None:
            out.append(SparsePoint(row, s, int(params.get("m", 1))))
    return out


def dense_upper_rows(study: Study) -> dict[tuple[str, int], EvalRow]:
    """(target, k) → the best stored dense (`average`, clean) row: the empirical upper bound (Sec. 3.4)."""
    data = study.sweep()
    out = {}
    for a in data.aggs:
        row = data.lookup(a.target, a.argmax_members)
        if row is not None:
            out[(a.target, a.k)] = row
    return out


def _mean_by(points: dict[tuple[str, Any], dict[float, float]]) -> dict[Any, dict[float, float]]:
    """(target, series) → {x: y}  ⇒  series → {x: mean y over the targets having x}."""
    acc: dict[Any, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for (_, series), xy in points.items():
        for x, y in xy.items():
            acc[series][x].append(y)
    return {s: {x: float(np.mean(v)) for x, v in sorted(xy.items())} for s, xy in acc.items()}


def _panel(curves: dict[tuple[str, Any], dict[float, float]], means: dict[Any, dict[float, float]],
           target: str) -> dict[Any, dict[float, float]]:
    """The series of one panel: the target's curves, or the means for the MEAN panel."""
    return means if target == MEAN else {s: xy for (t, s), xy in curves.items() if t == target}


def _lines(ax: Axes, series: dict[Any, dict[float, float]], xlabel: str,
           style: Callable[[Any, int], tuple[str, str, str]]) -> None:
    """One line per series, `style(name, i)` → (format, colour, legend label); a note when there is none."""
    if not series:
        return _note(ax, "no rows")
    for i, (name, xy) in enumerate(sorted(series.items())):
        fmt, color, label = style(name, i)
        ax.plot(list(xy), list(xy.values()), fmt, color=color, ms=3, label=label)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("accuracy (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def fig8a(study: Study) -> tuple[bytes, Table] | None:
    """Fig. 8a: accuracy of each pruned adapter vs sparsity, per domain and the mean; one line per scope."""
    points = prune_points(study)
    if not points:
        return None
    dense = study.sweep()
    curves: dict[tuple[str, Any], dict[float, float]] = defaultdict(dict)
    dense_acc: dict[str, float] = {}
    for p in points:
        base = dense.lookup(p.row.target, [p.row.target])
        if base is not None:
            dense_acc[p.row.target] = 100 * base.accuracy
        curves[(p.row.target, p.scope)][100 * p.sparsity] = 100 * p.row.accuracy
    means = _mean_by(curves)
    # Wide, as the figure reads: one row per (target, scope), one column per sparsity.
    xs = sorted({x for xy in curves.values() for x in xy})
    t = Table("fig8a_pruning", "Fig. 8a: accuracy (%) of single adapters pruned by Alg. 2, per sparsity",
              ("target", "scope", "dense_pct", *(f"{x:g}%" for x in xs)))
    order = {d: i for i, d in enumerate(study.meta.domains)}
    for target, scope in sorted(curves, key=lambda ts: (order.get(ts[0], len(order)), ts[1])):
        xy = curves[(target, scope)]
        t.rows.append((target, scope, dense_acc.get(target), *(xy.get(x) for x in xs)))
    mean_dense = float(np.mean(list(dense_acc.values()))) if dense_acc else None
    for scope, xy in sorted(means.items()):
        t.rows.append((MEAN, scope, mean_dense, *(xy.get(x) for x in xs)))
    targets = [d for d in study.meta.domains if any(k[0] == d for k in curves)]

    def draw(ax: Axes, target: str) -> None:
        ref = mean_dense if target == MEAN else dense_acc.get(target)
        if ref is not None:
            ax.axhline(ref, color="0.4", ls="--", lw=1, label="dense adapter")
        _lines(ax, _panel(curves, means, target), "sparsity (%)", lambda scope, i: ("o-", f"C{i}", f"{scope} scope"))

    png = _grid("Fig. 8a: pruning a single adapter (Alg. 2): accuracy vs sparsity", [*targets, MEAN], draw)
    t.notes.append("scope global: one magnitude percentile over the whole adapter; tensor: one per tensor; +head: the "
                   "target's head pruned too, at the same sparsity and scope; dense: the unpruned adapter (its average "
                   "k = 1 row)")
    return png, t


def fig8b(study: Study) -> tuple[bytes, Table] | None:
    """Fig. 8b: sparse mixing (Alg. 4) vs the dense upper bound and the dense Alg. 1 pick, for l = 2..n."""
    points = [p for p in sparse_points(study) if p.row.k >= 2]
    if not points:
        return None
    dense, upper = study.sweep(), dense_upper_rows(study)
    curves: dict[tuple[str, Any], dict[float, float]] = defaultdict(dict)
    members: dict[tuple[str, int], str] = {}
    for p in points:
        target, l = p.row.target, p.row.k  # noqa: E741 - the paper's l
        pick, up = dense.lookup(target, p.row.members), upper.get((target, l))
        curves[(target, f"sparse {round(100 * p.sparsity)} %" + (f", m = {p.m}" if p.m != 1 else ""))][l] = \
            100 * p.row.accuracy
        members[(target, l)] = p.row.members_key
        if pick is not None:
            curves[(target, PICK)][l] = 100 * pick.accuracy
        if up is not None:
            curves[(target, UPPER)][l] = 100 * up.accuracy
    means = _mean_by(curves)
    # Wide, as the figure reads: one row per (target, l), the dense references then each sparse series.
    series = [UPPER, PICK, *sorted({s for _, s in curves} - {UPPER, PICK})]
    t = Table("fig8b_sparse", "Fig. 8b: accuracy (%) of sparse mixing (Alg. 4) and dense mixing of l adapters",
              ("target", "l", *series, "members"))
    order = {d: i for i, d in enumerate(study.meta.domains)}
    for target, l in sorted(members, key=lambda tl: (order.get(tl[0], len(order)), tl[1])):  # noqa: E741
        t.rows.append((target, l, *(curves.get((target, s), {}).get(l) for s in series), members[(target, l)]))
    for size in sorted({x for xy in means.values() for x in xy}):
        t.rows.append((MEAN, int(size), *(means.get(s, {}).get(size) for s in series), ""))
    targets = [d for d in study.meta.domains if any(k[0] == d for k in curves)]
    styles = {UPPER: ("^--", "0.35"), PICK: ("s-", "C2")}

    def draw(ax: Axes, target: str) -> None:
        _lines(ax, _panel(curves, means, target), "l (adapters selected)",
               lambda label, i: (*styles.get(label, ("o-", f"C{i + 3}")), label))

    png = _grid("Fig. 8b: sparse mixing (Alg. 4) vs dense mixtures", [*targets, MEAN], draw)
    t.notes.append("dense pick: the average (Eq. 1) of the same Alg. 1 member set; upper bound: the best stored "
                   "average mixture of size l on the target")
    return png, t


HEAD = "+head"  # the series suffix of a pruned head (`prune_points`)


def head_effect(study: Study) -> Table | None:
    """Pruning the head too vs keeping it dense, per scope and sparsity: the same adapter pruned both ways,
    paired over each target's test examples (None when no pruned-head rows are stored)."""
    rows = {(p.row.target, p.scope, p.sparsity): p.row for p in prune_points(study)}
    cells = sorted({(scope.removesuffix(HEAD), s) for (_, scope, s) in rows if scope.endswith(HEAD)})
    if not cells:
        return None
    t = Table("prune_head_effect", "Pruning the head too vs keeping it dense (same adapter pruning, paired)",
              ("scope", "sparsity_pct", "targets", "diff_pts", "ci_lo", "ci_hi", "reading"))
    for scope, s in cells:
        pairs = {d: [(rows[(d, scope + HEAD, s)], rows[(d, scope, s)])] for d in study.meta.domains
                 if (d, scope + HEAD, s) in rows and (d, scope, s) in rows}
        if not pairs:
            continue
        ci = difference(pairs, "targets")
        reading = "head pruned better" if ci.lo > 0 else "head kept better" if ci.hi < 0 else "undecided"
        t.rows.append((scope, 100 * s, len(pairs), 100 * ci.estimate, 100 * ci.lo, 100 * ci.hi, reading))
    t.notes.append("diff: accuracy with the head pruned minus with it kept, mean over targets; 95 % interval by a "
                   "paired bootstrap over test examples; the adapter is pruned the same way in both")
    return t


def sec7_section(study: Study) -> Section:
    """Sec. 7 (Figs. 8a, 8b), or a one-line note on how to run it when no such rows are stored."""
    title = "Pruning and sparse mixing (Sec. 7, Alg. 2 and 4, Fig. 8)"
    parts = (
        (fig8a(study), "fig8a_pruning.png", "Fig. 8a: in-domain accuracy of each adapter pruned to a sparsity, per "
         "domain and averaged; dashed: the dense adapter.", "Fig. 8a not run: no pruned single adapters stored"),
        (fig8b(study), "fig8b_sparse.png", "Fig. 8b: sparse mixtures (Alg. 4) of l adapters against the best dense "
         "mixture of that size and the dense mixture of the same members.", "Fig. 8b not run: no sparse mixtures "
         "stored"),
    )
    if all(made is None for made, *_ in parts):
        return Section.missing("sec7", title, "add the `prune:` (Fig. 8a) and `sparse_mix:` (Fig. 8b) stages to the "
                                              "recipe and re-run `adaptermix run RECIPE`")
    sec = Section("sec7", title, intro="Alg. 2 prunes each adapter by weight magnitude; Alg. 4 mixes the Alg. 1 "
                                       "selection after pruning each member's most conflicting layers.")
    for made, name, caption, missing in parts:
        if made is None:
            sec.notes.append(missing)
            continue
        png, table = made
        sec.figures.append(Figure(png, caption, table.name, name=name))
        sec.tables.append(table)
    heads = head_effect(study)
    if heads is not None:
        sec.tables.append(heads)
    return sec
