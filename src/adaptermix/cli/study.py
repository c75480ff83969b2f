"""Study commands: `run` (a recipe, or its plan with --dry-run), and on a store `export` (Parquet/CSV) and `plot`."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptermix.errors import ConfigError
from adaptermix.fileio import check_writable


def export(
    store: Path = typer.Argument(..., help="The study .sqlite file a sweep wrote."),
    format: str = typer.Option(None, "--format", help="parquet or csv (default: from --out's suffix, else "  # noqa: A002
                                                     "parquet)."),
    out: Path = typer.Option(None, help="File to write (default: beside the store, same stem)."),
) -> None:
    """Export every evaluation row and the per (target, k) aggregates of a study store."""
    from adaptermix.store import export as run_export

    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    if format is None:
        format = suffix if suffix in ("csv", "parquet") else "parquet"  # noqa: A001
    elif suffix in ("csv", "parquet") and suffix != format:
        raise ConfigError(f"--out {out} ends in .{suffix} but --format is {format}: make them agree")

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


def run(
    recipe: Path = typer.Argument(..., help="Recipe YAML, e.g. recipes/quickstart.yaml."),
    out: Path = typer.Option(None, help="Override the recipe's output folder."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (trainings, evaluations per stage, "
                                                          "estimated time) and run nothing."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress display."),
) -> None:
    """Run a recipe: train (or reuse) adapters, sweep, Sec. 7 stages, dataset analysis, report."""
    from adaptermix.pipeline import load_recipe, run_recipe
    from adaptermix.reporting.quickstart import format_table

    spec = load_recipe(recipe, out=out)
    if dry_run:
        from adaptermix.pipeline.plan import format_plan, plan_recipe

        stages, rate = plan_recipe(spec)
        typer.echo(format_plan(spec, stages, rate))
        return
    check_writable(spec.out, "folder")
    result = run_recipe(spec, progress=not quiet)
    for r in (result, *result.others):
        s = r.sweep
        typer.echo(f"{r.store.parent}: trained {len(r.trained)} adapter(s) ({len(spec.domains) - len(r.trained)} "
                   f"reused); sweep: {s.evaluated} mixtures evaluated, {s.reused} reused, {s.planned} of "
                   f"{s.exhaustive_count} exhaustive" + (f"; {s.tokens_per_s:.0f} tokens/s" if s.evaluated else ""))
        for name, st in r.stages.items():
            typer.echo(f"  {name}: {st.evaluated} evaluated, {st.reused} reused")
        typer.echo(format_table(r.rows))
        typer.echo(f"store: {r.store}")
        typer.echo(f"report: {r.index_html or '-'}")
    if result.overview is not None:
        typer.echo(f"overview of the {1 + len(result.others)} studies: {result.overview}")


def register(app: typer.Typer) -> None:
    """Attach `export`, `plot` and `run` to `app` (after the other commands: this `run` is the one kept)."""
    for fn in (export, plot, run):
        app.command()(fn)
