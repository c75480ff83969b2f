"""Commands that read a study store: `export` (Parquet/CSV) and `plot` (Figs. 3, 5, 6, 7, Table 1)."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptermix.fileio import check_writable


def export(
    store: Path = typer.Argument(..., help="The study .sqlite file a sweep wrote."),
    format: str = typer.Option("parquet", "--format", help="parquet or csv."),  # noqa: A002
    out: Path = typer.Option(None, help="File to write (default: beside the store, same stem)."),
) -> None:
    """Export every evaluation row and the per (target, k) aggregates of a study store."""
    from adaptermix.store import export as run_export

    # Both files are checked before the store is read, so a bad --out never leaves one of them
    # written. The names mirror `store.export.export`: <out> and <stem>_aggregates<suffix>.
    dest = out if out is not None else store.with_suffix(f".{format}")
    check_writable(dest, "file")
    check_writable(dest.with_name(f"{dest.stem}_aggregates{dest.suffix or '.' + format}"), "file")
    for path in run_export(store, out, format):
        typer.echo(str(path))


def plot(
    store: Path = typer.Argument(..., help="The study .sqlite file a sweep wrote."),
    out: Path = typer.Option(..., help="Folder for the figures and tables."),
) -> None:
    """Write Figs. 3, 5, 6, 7, Table 1 (clean) and the correlation tables from a study store."""
    from adaptermix.reporting.sweep import TABLE1_MD, write_sweep_report

    check_writable(out, "folder")
    paths = write_sweep_report(store, out)
    for path in paths:
        typer.echo(str(path))
    typer.echo("")
    typer.echo(next(p for p in paths if p.name == TABLE1_MD).read_text())


def register(app: typer.Typer) -> None:
    """Attach `export` and `plot` to `app`."""
    for fn in (export, plot):
        app.command()(fn)
