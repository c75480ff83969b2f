"""`adaptermix report STORE... [--out DIR]`: the study's self-contained HTML report (issue 9).

With several stores (the studies of one recipe, e.g. three adapter methods) each study's report is
written beside its store and an overview page compares them.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from adaptermix.fileio import check_writable


def report(
    stores: list[Path] = typer.Argument(..., help="The study .sqlite file a sweep or `adaptermix run` wrote; "
                                                 "several: also an overview page comparing the studies."),
    out: Path = typer.Option(None, help="Report folder (default: report/ beside the store); with several stores, "
                                        "the overview's folder (default: the stores' common parent folder)."),
) -> None:
    """Write index.html (figures embedded, no network) with every section the store has rows for."""
    from adaptermix.reporting.report import write_html_report
    from adaptermix.store import Store, StoreError

    for store in stores:
        if not store.is_file():
            raise StoreError(f"no study store at {store}: pass the study .sqlite file that `adaptermix run` or a "
                             "sweep wrote")
        Store.read(store).close()  # a file that is not a store fails here, in one line, before anything is written
    if len(set(map(Path.resolve, stores))) != len(stores):
        raise StoreError("a store is named twice: pass each study's .sqlite file once")
    if len(stores) == 1:
        dest = out if out is not None else stores[0].parent / "report"
        check_writable(dest, "folder")
        typer.echo(str(write_html_report(stores[0], dest)))
        return
    from adaptermix.reporting.overview import write_overview

    dest = out if out is not None else Path(os.path.commonpath([s.resolve().parent for s in stores]))
    for folder in [dest, *(s.parent / "report" for s in stores)]:
        check_writable(folder, "folder")
    for store in stores:
        typer.echo(str(write_html_report(store, store.parent / "report")))
    labels = [s.parent.name if s.parent.name else s.stem for s in stores]
    if len(set(labels)) != len(labels):  # studies in folders of one name: fall back to the paths
        labels = [str(s) for s in stores]
    typer.echo(str(write_overview(list(zip(labels, stores, strict=True)), dest)))


def register(app: typer.Typer) -> None:
    """Attach `report` to `app`."""
    app.command()(report)
