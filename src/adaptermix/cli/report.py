"""`adaptermix report STORE... [--out DIR]`: the study's self-contained HTML report (issue 9).

With several stores (the studies of one recipe, e.g. three adapter methods) each study's report is
written beside its store and an overview page compares them.
"""

from __future__ import annotations

from pathlib import Path

import typer


def report(
    stores: list[Path] = typer.Argument(..., help="The study .sqlite file a sweep or `adaptermix run` wrote; "
                                                 "several: also an overview page comparing the studies."),
    out: Path = typer.Option(None, help="Report folder (default: report/ beside the store); with several stores, "
                                        "the overview's folder (default: the stores' common parent folder)."),
) -> None:
    """Write index.html (figures embedded, no network) with every section the store has rows for."""
    from adaptermix.reporting.publish import write_reports

    for page in write_reports(stores, out):
        typer.echo(str(page))


def register(app: typer.Typer) -> None:
    """Attach `report` to `app`."""
    app.command()(report)
