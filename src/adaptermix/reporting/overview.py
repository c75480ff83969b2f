"""A recipe's overview page: its studies (encoder × adapter method) side by side (issue 9).

A recipe with several encoders or methods writes one study, and one report, per pair. The paper
compares them (Houlsby, Pfeiffer and LoRA on two encoders), so `write_overview(studies, out)` reads
every study's store and writes `out/index.html`: per study the headline numbers, the mean accuracy
per mixture size (one figure), Table 1's averages under each condition, and each finding's verdict,
with a link to the study's own report. Like the study reports it reads only the stores.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adaptermix.fileio import atomic_write_bytes
from adaptermix.reporting.document import Figure, Section
from adaptermix.reporting.findings import Finding, compute_findings
from adaptermix.reporting.html import render_document
from adaptermix.reporting.report import INDEX, end_means, side_files
from adaptermix.reporting.robustness import condition_name, describe_label, label_params, table1_robustness
from adaptermix.reporting.study import Study, load_study
from adaptermix.reporting.sweep_tables import Table

#: Section ids of the overview, in order.
OVERVIEW_IDS = ("studies", "accuracy-by-k", "robustness", "verdicts")


def studies_table(labels: Sequence[str], studies: Sequence[Study]) -> Table:
    t = Table("overview_studies", "The studies of this recipe (clean, average mixer)",
              ("study", "method", "domains", "clean rows", "single_pct", "all_mixed_pct", "drop_pts"))
    for label, s in zip(labels, studies, strict=True):
        ends = end_means(s)
        single, mixed = (None, None) if ends is None else ends[:2]
        t.rows.append((label, s.meta.method, s.n, len(s.sweep().rows), single, mixed,
                       None if ends is None else single - mixed))  # type: ignore[operator]
    t.notes.append("single_pct: mean accuracy of each target's adapter alone (k = 1); all_mixed_pct: of the mixture "
                   "of all adapters; drop_pts: their difference (paper: 11.91 points over 13 domains)")
    return t


def by_k_table(labels: Sequence[str], studies: Sequence[Study]) -> Table:
    """Mean over targets of the mean accuracy of the stored mixtures of each size k (clean, average)."""
    n = max(s.n for s in studies)
    t = Table("overview_by_k", "Mean accuracy (%) per mixture size k, clean, average mixer", ("k", *labels))
    for k in range(1, n + 1):
        cells: list[float | None] = []
        for s in studies:
            means = [a.mean for a in s.sweep().aggs if a.k == k]
            cells.append(100 * float(np.mean(means)) if means else None)
        t.rows.append((k, *cells))
    t.notes.append("per target the mean over the stored member sets of size k (every set in an exhaustive sweep, a "
                   "sample in a sampled one), then the mean over targets")
    return t


def _by_k_figure(table: Table) -> bytes:
    from adaptermix.reporting.heatmap import _plt, _png
    from adaptermix.reporting.sweep_figures import k_axes

    fig, ax = _plt().subplots(figsize=(6.4, 3.6))
    ks = [int(r[0]) for r in table.rows]
    for i, label in enumerate(table.columns[1:], start=1):
        pts = [(k, r[i]) for k, r in zip(ks, table.rows, strict=True) if r[i] is not None]
        if pts:
            ax.plot(*zip(*pts, strict=True), marker="o", label=label)
    k_axes(ax, ks, "mean in-domain accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return bytes(_png(fig))


def table1_table(labels: Sequence[str], studies: Sequence[Study]) -> Table:
    """Table 1's average row (drop from k = 1 to k = n, points) of each study, one column per condition."""
    from adaptermix.reporting.robustness import load_conditions

    per_study: list[dict[str, float | None]] = []
    names: list[str] = []  # condition labels, in first-seen order
    for s in studies:
        datas = load_conditions(s.path)
        found: dict[str, float | None] = {}
        if datas:
            table = table1_robustness(datas)
            average = next((r for r in table.rows if r[0] == "average"), None)
            for i, c in enumerate(datas):
                found[c] = None if average is None else average[i + 1]
                if c not in names:
                    names.append(c)
        per_study.append(found)
    short = {c: _short(c) for c in names}
    if len(set(short.values())) < len(short):  # two settings of one attack: the full descriptions
        short = {c: describe_label(c) for c in names}
    t = Table("overview_table1", "Table 1 averages: accuracy drop from k = 1 to k = n (points)",
              ("study", *(short[c] for c in names)))
    for label, found in zip(labels, per_study, strict=True):
        t.rows.append((label, *(found.get(c) for c in names)))
    t.notes += [f"{short[c]}: {describe_label(c)}" for c in names if short[c] != describe_label(c)]
    t.notes.append("each study's Table 1 average over the targets with both ends stored under every condition; "
                   "paper (13 domains): clean 11.91, TextFooler 12.03, FGSM 10.30")
    return t


def _short(label: str) -> str:
    """A narrow column name for a condition label: `clean`, `FGSM`, `TextFooler transfer`."""
    name = condition_name(label)
    if name == "fgsm":
        return "FGSM"
    if name == "textfooler":
        return f"TextFooler {label_params(label).get('mode', 'adaptive')}"
    return label


def verdicts_table(labels: Sequence[str], findings: Sequence[Sequence[Finding]]) -> Table:
    """One row per finding (claim), one verdict column per study."""
    claims: list[str] = []
    for fs in findings:
        claims += [f.claim for f in fs if f.claim not in claims]
    t = Table("overview_verdicts", "The paper's findings: verdict per study",
              ("finding", *(f"verdict: {label}" for label in labels)))
    for claim in claims:
        t.rows.append((claim, *(next((f.verdict for f in fs if f.claim == claim), "not measured")
                                for fs in findings)))
    t.notes.append("each study's report states the statistic and the 95 % interval behind its verdict")
    return t


_INTERVAL = re.compile(r"[+\-−]?\d[\d.,]* pts \[[^\]]+\]")


def evidence_table(labels: Sequence[str], findings: Sequence[Sequence[Finding]]) -> Table:
    """One row per finding, per study the headline difference and its 95 % interval (`+16.05 pts [+14.88,
    +17.29]`), so that verdicts can be compared with the evidence under them."""
    claims: list[str] = []
    for fs in findings:
        claims += [f.claim for f in fs if f.claim not in claims]
    t = Table("overview_evidence", "The interval behind each verdict, per study", ("finding", *labels))
    for claim in claims:
        cells = []
        for fs in findings:
            f = next((f for f in fs if f.claim == claim), None)
            found = _INTERVAL.search(f.uncertainty) if f is not None else None
            cells.append(found.group(0) if found else "")
        t.rows.append((claim, *cells))
    t.notes.append("the headline difference of each finding in points, 95 % paired bootstrap interval; empty where "
                   "the finding is judged by a correlation or was not measured")
    return t


def _link(path: Path, out: Path) -> str:
    return Path(os.path.relpath(path, out)).as_posix()


def overview_sections(labels: Sequence[str], studies: Sequence[Study], out: Path,
                      reports: Sequence[Path] | None = None) -> list[Section]:
    """The overview's sections (`OVERVIEW_IDS`) for studies whose reports lie in the folders `reports`
    (default `<store folder>/report`)."""
    findings = [compute_findings(s) for s in studies]
    folders = list(reports) if reports is not None else [s.path.parent / "report" for s in studies]
    links = ", ".join(f"[{label}]({_link(folder / INDEX, out)})"
                      for label, folder in zip(labels, folders, strict=True))
    by_k = by_k_table(labels, studies)
    return [
        Section("studies", "Studies", intro=f"One study per encoder and adapter method, each with its own report: "
                                            f"{links}.", tables=[studies_table(labels, studies)]),
        Section("accuracy-by-k", "Accuracy as more adapters are mixed (Fig. 3, per study)",
                figures=[Figure(_by_k_figure(by_k), "Mean in-domain accuracy against the number of adapters "
                                "mixed, one line per study (clean, average mixer).", table=by_k.name,
                                name="overview_by_k.png")],
                tables=[by_k]),
        Section("robustness", "Robustness (Table 1 averages)", tables=[table1_table(labels, studies)]),
        Section("verdicts", "Findings, per study", tables=[verdicts_table(labels, findings),
                                                           evidence_table(labels, findings)]),
    ]


def write_overview(studies: Sequence[tuple[str, str | Path]], out_dir: str | Path,
                   reports: Sequence[Path] | None = None) -> Path:
    """Write `out_dir/index.html` and its tables (CSV, Markdown) and figure (PNG) for (label, store) pairs.

    `reports`: each study's report folder, which the page links to (default `<store folder>/report`).

    Raises:
        StoreError: a store is missing, not a store, or of another schema version.
    """
    out = Path(out_dir)
    labels = [label for label, _ in studies]
    loaded = [load_study(path) for _, path in studies]
    sections = overview_sections(labels, loaded, out, reports)
    page = render_document("adaptermix recipe overview", f"{len(loaded)} studies side by side — a reproduction of "
                           "Nguyen & Le (2024)", sections,
                           footer="Written by adaptermix from " + ", ".join(str(s.path) for s in loaded) + ".")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in side_files(sections).items():
        atomic_write_bytes(out / name, data)
    atomic_write_bytes(out / INDEX, page.encode("utf-8"))
    return out / INDEX
