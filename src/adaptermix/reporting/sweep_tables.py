"""Tables of the combinatorial sweep, computed from the study store only (PAPER §4–7).

Table 1 (clean column), the per (target, k) aggregates (Sec. 3.4), the FSD–accuracy correlations
(Sec. 5) and the greedy-selection comparison behind Fig. 7 (Alg. 1, Sec. 6). Accuracies are stored
as fractions and shown here in percent; drops are in accuracy points.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.analysis.correlation import correlate
from adaptermix.analysis.greedy import in_domain_members
from adaptermix.store import Aggregate, EvalRow, Store, StudyMeta, aggregates


@dataclass(frozen=True)
class SweepData:
    """Everything the sweep report needs, read once from a store (one condition)."""

    meta: StudyMeta
    rows: list[EvalRow]
    aggs: list[Aggregate]
    fsd: tuple[list[str], np.ndarray] | None
    by_key: dict[str, EvalRow] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of adapters in the study: the k of the all-adapter mixture."""
        return len(self.meta.adapters)

    @property
    def targets(self) -> list[str]:
        """Targets with at least one stored row, in the study's adapter order."""
        have = {r.target for r in self.rows}
        return [d for d in self.meta.domains if d in have]

    def target_rows(self, target: str, k: int | None = None) -> list[EvalRow]:
        """Rows of one target (and size k, unless None)."""
        return [r for r in self.rows if r.target == target and (k is None or r.k == k)]

    def agg(self, target: str, k: int) -> Aggregate | None:
        """The aggregate of (target, k), or None if no row of that size is stored."""
        return next((a for a in self.aggs if a.target == target and a.k == k), None)

    def lookup(self, target: str, members: Sequence[str]) -> EvalRow | None:
        """The stored row of exactly this member set on `target`, or None."""
        return self.by_key.get(f"{target}|{'+'.join(sorted(members))}")

    def ends(self, target: str) -> tuple[EvalRow | None, EvalRow | None]:
        """The target's adapter alone (k = 1) and the mixture of all n adapters: Table 1's two ends."""
        return self.lookup(target, [target]), self.lookup(target, self.meta.domains)

    def possible(self, k: int) -> int:
        """How many member sets of size k contain a given target: C(n − 1, k − 1)."""
        return math.comb(self.n - 1, k - 1)


def load(store_path: str | Path, condition: str = "clean", mixer: str = "average") -> SweepData:
    """Read rows, aggregates and the FSD matrix of one mixer and condition from a store (read-only)."""
    with Store.read(store_path) as store:
        rows = store.rows(condition=condition, mixer=mixer)
        fsd = store.fsd_matrix()
        meta = store.meta
    return SweepData(meta=meta, rows=rows, aggs=aggregates(rows), fsd=fsd, by_key={r.key: r for r in rows})


@dataclass
class Table:
    """A named table with typed cells, written as CSV (raw values) and Markdown (formatted)."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)  # column → format spec for Markdown floats
    row_links: list[str] = field(default_factory=list)  # HTML: each row's verdict links here (empty: no links)

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow(["" if v is None else (f"{v:.10g}" if isinstance(v, float) else v) for v in row])
        return buf.getvalue()

    def to_markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" if c in _TEXT_COLUMNS or c.startswith("verdict: ") else "---:"
                                for c in self.columns) + "|"]
        for row in self.rows:
            cells = [self.cell(c, v) for c, v in zip(self.columns, row, strict=True)]
            lines.append("| " + " | ".join(cells) + " |")
        if not self.rows:
            lines.append("| " + " | ".join(["–"] * len(self.columns)) + " |")
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines).rstrip() + "\n"

    def cell(self, column: str, v: Any) -> str:
        """One value as shown in Markdown and HTML: `–` for missing, floats by `formats` (default .2f)."""
        if v is None:
            return "–"
        if isinstance(v, float):
            return format(v, self.formats.get(column, ".2f"))
        return str(v)


_TEXT_COLUMNS = {"target", "scope", "x", "ks", "note", "argmax_members", "argmin_members", "min_fsd_members",
                 "max_fsd_members", "members", "mixer", "condition", "partner", "adapter", "item", "value", "measure",
                 "finding", "our statistic", "verdict", "uncertainty", "claim", "worst_ci", "within", "falls",
                 "negative_significant", "clean_reference", "precision", "study", "method", "advisor_members",
                 "oracle_members", "alg1_members", "advisor_groups", "optimal_groups", "strategy", "reads",
                 "partition_by"}
_P_FORMATS = {"pearson_p": ".2g", "spearman_p": ".2g", "pearson_r": ".3f", "spearman_rho": ".3f"}


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _acc_pct(r: EvalRow | None) -> float | None:
    return None if r is None else 100.0 * r.accuracy


def table1(data: SweepData) -> Table:
    """Table 1, clean column: accuracy of the single adapter (k = 1), of all n adapters, and the drop (Sec. 4.1).

    The paper's average (11.91 points) is over its 13 domains; this is the average over our targets
    that have both rows.
    """
    n = data.n
    t = Table("table1_clean", f"Table 1 (clean): single adapter vs mixture of all {n} adapters",
              ("target", "n_examples", "acc_k1_pct", f"acc_k{n}_pct", "drop_pts"))
    drops, singles, alls = [], [], []
    for target in data.targets:
        single = data.lookup(target, [target])
        full = data.lookup(target, data.meta.domains)
        either = single or full
        t.rows.append((target, either.n_examples if either else None, _acc_pct(single), _acc_pct(full),
                       None if single is None or full is None else 100.0 * (single.accuracy - full.accuracy)))
        if single is None or full is None:
            t.notes.append(f"{target}: no {'k=1' if single is None else f'k={n}'} row stored, left out of the average")
        else:
            singles.append(100.0 * single.accuracy)
            alls.append(100.0 * full.accuracy)
            drops.append(singles[-1] - alls[-1])
    if drops:
        t.rows.append(("average", None, float(np.mean(singles)), float(np.mean(alls)), float(np.mean(drops))))
    t.notes.append("accuracy in %, drop in points (single − all); the paper reports 11.91 on average over its "
                   "13 domains")
    return t


def aggregates_table(data: SweepData) -> Table:
    """Per (target, k): count (of C(n−1, k−1) possible), mean, population variance, min, max, arg-max/min (Sec. 3.4)."""
    t = Table("aggregates", "Accuracy per target and mixture size k (empirical bounds = min/max)",
              ("target", "k", "count", "possible", "mean_pct", "variance_pts2", "min_pct", "max_pct",
               "argmax_members", "argmin_members"), formats={"variance_pts2": ".3f"})
    order = {d: i for i, d in enumerate(data.meta.domains)}
    for a in sorted(data.aggs, key=lambda a: (order.get(a.target, len(order)), a.k)):
        t.rows.append((a.target, a.k, a.count, data.possible(a.k), 100 * a.mean, 1e4 * a.variance, 100 * a.min,
                       100 * a.max, "+".join(a.argmax_members), "+".join(a.argmin_members)))
    t.notes.append("variance is the population variance (ddof = 0) over the stored member sets, in points²")
    if any(a.count < data.possible(a.k) for a in data.aggs):
        t.notes.append("count < possible: a sampled or unfinished sweep; min/max bound only the stored sets")
    return t


def _xy(rows: Sequence[EvalRow], attr: str) -> tuple[list[float], list[float]]:
    pts = [(getattr(r, attr), r.accuracy) for r in rows if getattr(r, attr) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def correlation_table(data: SweepData) -> Table:
    """FSD–accuracy correlations (Sec. 5): per target and pooled, Pearson r and Spearman ρ with p-values.

    Three pairings: pair FSD vs accuracy over k = 2 mixtures (Fig. 5); the target's flip fraction vs
    accuracy, and the mean pairwise FSD of the members vs accuracy, over all k ≥ 2 mixtures (Fig. 6).
    "pooled" puts every target's points together; accuracy levels differ between targets, so the
    per-target rows are the cleaner test.
    """
    t = Table("fsd_correlation", "FSD–accuracy correlation (Sec. 5)",
              ("scope", "x", "ks", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "note"),
              formats=_P_FORMATS)
    specs = (("pair_fsd", "k=2", lambda r: r.k == 2), ("flip_fraction", "k>=2", lambda r: r.k >= 2),
             ("mean_pairwise_fsd", "k>=2", lambda r: r.k >= 2))
    pooled: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for scope in [*data.targets, "pooled"]:
        for attr, ks, keep in specs:
            if scope == "pooled":
                x, y = pooled[attr]
            else:
                x, y = _xy([r for r in data.target_rows(scope) if keep(r)], attr)
                pooled[attr][0].extend(x)
                pooled[attr][1].extend(y)
            if len(x) < 3:
                t.rows.append((scope, attr, ks, len(x), None, None, None, None, "skipped: fewer than 3 points"))
                continue
            try:
                c = correlate(x, y)
            except ValueError as exc:  # e.g. a constant sample: report why instead of a number
                t.rows.append((scope, attr, ks, len(x), None, None, None, None, f"skipped: {exc}"))
                continue
            t.rows.append((scope, attr, ks, c.n, c.pearson_r, c.pearson_p, c.spearman_rho, c.spearman_p, ""))
    t.notes.append("two-sided p-values from scipy.stats; the paper finds a strong negative correlation")
    return t


def greedy_members(target: str, domains: Sequence[str], S: np.ndarray, l: int, maximize: bool) -> tuple[str, ...]:  # noqa: E741
    """The greedy mixture of size l for an in-domain evaluation on `target` (Alg. 1, Sec. 6).

    Interpretation: Alg. 1 ranks all adapters by their row mean of S, but an in-domain evaluation
    needs the target in the mixture (its head is used, PAPER §1). So the set is {target} plus the
    l − 1 adapters `greedy_selection` picks from S restricted to the other adapters.

    Args:
        target: the evaluated domain; must be in `domains`.
        domains: names of the rows/columns of S.
        S: pairwise FSD matrix.
        l: mixture size, 2 ≤ l ≤ len(domains).
        maximize: pick the largest mean FSD (the paper's max-FSD contrast) instead of the smallest.

    Returns:
        The sorted member names.
    """
    return in_domain_members(domains, S, target, l, maximize)  # the one place an in-domain Alg. 1 set is built


def greedy_table(data: SweepData) -> Table:
    """Fig. 7 data: for l = 2..n, greedy min-FSD and max-FSD mixtures vs the empirical bounds (Sec. 6)."""
    t = Table("fig7_greedy", "Greedy selection (Alg. 1) vs empirical bounds (Fig. 7)",
              ("target", "l", "min_fsd_members", "min_fsd_acc_pct", "max_fsd_members", "max_fsd_acc_pct",
               "upper_pct", "lower_pct", "count", "possible"))
    if data.fsd is None:
        t.notes.append("no FSD matrix in the store: Fig. 7 needs one (the sweep stores it with set_fsd_matrix)")
        return t
    domains, S = data.fsd
    if not np.isfinite(S).all():
        t.notes.append("the stored FSD matrix has missing entries: Fig. 7 skipped")
        return t
    for target in data.targets:
        if target not in domains:
            t.notes.append(f"{target}: not in the stored FSD matrix, skipped")
            continue
        for l in range(2, len(domains) + 1):  # noqa: E741
            lo, hi = (greedy_members(target, domains, S, l, maximize=m) for m in (False, True))
            r_lo, r_hi, a = data.lookup(target, lo), data.lookup(target, hi), data.agg(target, l)
            t.rows.append((target, l, "+".join(lo), _acc_pct(r_lo), "+".join(hi), _acc_pct(r_hi),
                           _pct(a.max) if a else None, _pct(a.min) if a else None, a.count if a else 0,
                           data.possible(l)))
    if any(r[3] is None or r[5] is None for r in t.rows):
        t.notes.append("– : that greedy member set is not in the store (e.g. a sampled sweep)")
    t.notes.append("greedy set of size l = {target} ∪ the l−1 others chosen by Alg. 1 on S restricted to the others")
    return t
