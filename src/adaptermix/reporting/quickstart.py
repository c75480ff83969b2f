"""The quickstart report: single-adapter vs all-mixture accuracy per domain (table + figure).

Reads only the study's SQLite store (k = 1 and k = n rows).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from adaptermix.fileio import atomic_write_bytes


@dataclass(frozen=True)
class Row:
    """One domain: its adapter alone vs the uniform mixture of all adapters (its own head)."""

    domain: str
    single: float
    all_mix: float
    n: int

    @property
    def drop(self) -> float:
        return self.single - self.all_mix


def rows_from_store(store_path: Path) -> tuple[Row, ...]:
    """Per target: the adapter alone (k = 1) and the mixture of all n adapters (k = n), clean condition."""
    from adaptermix.store import Store

    with Store.read(store_path) as store:
        domains = store.meta.domains
        rows = store.rows("clean")
    n = len(domains)
    single = {r.target: r for r in rows if r.k == 1}
    full = {r.target: r for r in rows if r.k == n}
    return tuple(
        Row(d, single[d].accuracy, full[d].accuracy, single[d].n_examples)
        for d in domains if d in single and d in full
    )


def format_table(rows: tuple[Row, ...]) -> str:
    """A Markdown table: domain, n, single accuracy, all-mix accuracy, drop (points)."""
    lines = ["| domain | n | single acc | all-mix acc | drop (points) |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.domain} | {r.n} | {100 * r.single:.2f} | {100 * r.all_mix:.2f} | {100 * r.drop:.2f} |")
    if rows:
        k = len(rows)
        lines.append(
            f"| **mean** | | {100 * sum(r.single for r in rows) / k:.2f} | "
            f"{100 * sum(r.all_mix for r in rows) / k:.2f} | {100 * sum(r.drop for r in rows) / k:.2f} |"
        )
    return "\n".join(lines)


def write_report(store_path: Path, out_dir: Path) -> tuple[Path, ...]:
    """Write table.md, table.csv and single_vs_mix.png into `out_dir`; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows_from_store(store_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, csv_path, png = out_dir / "table.md", out_dir / "table.csv", out_dir / "single_vs_mix.png"
    atomic_write_bytes(md, (format_table(rows) + "\n").encode())
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["domain", "n", "single_accuracy", "all_mix_accuracy", "drop"])
    for r in rows:
        writer.writerow([r.domain, r.n, f"{r.single:.6f}", f"{r.all_mix:.6f}", f"{r.drop:.6f}"])
    atomic_write_bytes(csv_path, buf.getvalue().encode())

    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(rows)), 3.6))
    x = range(len(rows))
    ax.bar([i - 0.2 for i in x], [100 * r.single for r in rows], width=0.4, label="single adapter")
    ax.bar([i + 0.2 for i in x], [100 * r.all_mix for r in rows], width=0.4, label=f"mixture of all {len(rows)}")
    ax.set_xticks(list(x), [r.domain for r in rows], rotation=30, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("In-domain accuracy: single adapter vs uniform mixture (Eq. 1)")
    fig.tight_layout()
    buf_png = io.BytesIO()
    fig.savefig(buf_png, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(png, buf_png.getvalue())
    return md, csv_path, png
