"""`adaptermix report STORE [--out DIR]`: the study's self-contained HTML report (issue 9)."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptermix.fileio import check_writable


def report(
    store: Path = typer.Argument(..., help="The study .sqlite file a sweep or `adaptermix run` wrote."),
    out: Path = typer.Option(None, help="Report folder (default: report/ beside the store)."),
) -> None:
    """Write index.html (figures embedded, no network) with every section the store has rows for."""
    from adaptermix.reporting.report import write_html_report
    from adaptermix.store import Store, StoreError

    if not store.is_file():
        raise StoreError(f"no study store at {store}: pass the study .sqlite file that `adaptermix run` or a sweep "
                         "wrote")
    Store.read(store).close()  # a file that is not a store fails here, in one line, before anything is written
    dest = out if out is not None else store.parent / "report"
    check_writable(dest, "folder")
    typer.echo(str(write_html_report(store, dest)))


def register(app: typer.Typer) -> None:
    """Attach `report` to `app`."""
    app.command()(report)
