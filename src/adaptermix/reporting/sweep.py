"""The sweep report: Figs. 3, 5, 6, 7 and Table 1 (clean), aggregates and correlations (PAPER §4–7).

Figures 3–7 and Table 1 are drawn for the paper's mixer (`average`, Eq. 1); when the store holds other
mixers too, Fig. 3 per mixer and the per-mixer tables compare them (`reporting.mixers`).

Reads only the study store (`adaptermix.store`), never a model. Every table is written as CSV and
Markdown; `report.md` puts the study summary, the figures and all tables on one page. Missing data
(a sampled or unfinished sweep, no FSD matrix) leaves a note in the panel or table, never a crash.
"""

from __future__ import annotations

from pathlib import Path

from adaptermix.fileio import atomic_write_bytes
from adaptermix.reporting.heatmap import fsd_heatmap
from adaptermix.reporting.mixers import fig3_by_mixer, load_mixers, mixer_drop_table, mixer_k_table
from adaptermix.reporting.sweep_figures import fig3_accuracy_vs_k, fig5_pair_fsd, fig6_flip_fraction, fig7_greedy
from adaptermix.reporting.sweep_tables import (
    SweepData,
    Table,
    aggregates_table,
    correlation_table,
    greedy_table,
    load,
    table1,
)

#: File names of the figures, in report order (stable, so scripts and docs can refer to them).
FIG4 = "fig4_fsd_heatmap.png"
FIGURES = ("fig3_accuracy_vs_k.png", "fig5_pair_fsd_k2.png", "fig6_flip_fraction.png", "fig7_greedy.png")
TABLE1_MD = "table1_clean.md"
FIG3_MIXERS = "fig3_by_mixer.png"


def _summary(data: SweepData, store_path: Path) -> str:
    m = data.meta
    total = data.n * 2 ** (data.n - 1)
    ks = sorted({r.k for r in data.rows})
    lines = [
        f"# Sweep report: {store_path.name}", "",
        f"- adapters (n = {data.n}): {', '.join(m.domains)}",
        f"- method: {m.method}; base: {m.base_fingerprint}",
        f"- eval config: {m.eval_config} (hash {m.eval_config_hash})",
        f"- clean evaluations stored: {len(data.rows)} of {total} in an exhaustive sweep (n·2^(n−1))",
        f"- targets with rows: {len(data.targets)}; k present: {', '.join(map(str, ks)) or 'none'}",
        f"- FSD matrix stored: {'yes' if data.fsd is not None else 'no'}",
        "",
    ]
    return "\n".join(lines)


def write_sweep_report(store_path: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the figures and tables of a study store into `out_dir`.

    Args:
        store_path: the study .sqlite file (opened read-only).
        out_dir: output folder (created).

    Returns:
        The written paths: four PNGs, a CSV and a Markdown file per table, and report.md.

    Raises:
        StoreError: `store_path` is missing, not a store, or of another schema version.
    """
    store_path, out = Path(store_path), Path(out_dir)
    data = load(store_path)
    out.mkdir(parents=True, exist_ok=True)
    greedy = greedy_table(data)
    tables: list[Table] = [table1(data), aggregates_table(data), correlation_table(data), greedy]
    pngs = (fig3_accuracy_vs_k(data), fig5_pair_fsd(data), fig6_flip_fraction(data), fig7_greedy(data, greedy))
    written: list[Path] = []
    for name, png in zip(FIGURES, pngs, strict=True):
        atomic_write_bytes(out / name, png)
        written.append(out / name)
    figures = list(FIGURES)
    if data.fsd is not None:  # Fig. 4: the pairwise FSD matrix the sweep stored
        names, matrix = data.fsd
        atomic_write_bytes(out / FIG4, fsd_heatmap(names, matrix, title="FSD between adapters (%), Fig. 4"))
        written.append(out / FIG4)
        figures.insert(0, FIG4)
    mixers = load_mixers(store_path)
    if len(mixers) > 1 or (mixers and "average" not in mixers):
        atomic_write_bytes(out / FIG3_MIXERS, fig3_by_mixer(mixers))
        written.append(out / FIG3_MIXERS)
        figures.append(FIG3_MIXERS)
        tables += [mixer_drop_table(mixers), mixer_k_table(mixers)]
    for t in tables:
        for suffix, text in ((".csv", t.to_csv()), (".md", t.to_markdown())):
            atomic_write_bytes(out / f"{t.name}{suffix}", text.encode())
            written.append(out / f"{t.name}{suffix}")
    report = [_summary(data, store_path), "## Figures", ""]
    report += [f"![{name}]({name})" for name in figures]
    report += ["", "## Tables", ""] + [t.to_markdown() for t in tables]
    atomic_write_bytes(out / "report.md", "\n".join(report).encode())
    written.append(out / "report.md")
    return written
