"""`adaptermix analyze-data`: the dataset analysis of Sec. 3.1 / App. A.1–A.2 (Fig. 2, Tables 3–16), Sec. 5.2."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer


def analyze_data(
    domains: list[str] = typer.Argument(..., help="Two or more domains (registered names or local data files)."),
    out: Path = typer.Option(..., help="Folder for JSON, CSV and Markdown tables and the PNG figures."),
    max_docs: int = typer.Option(1000, help="Seeded sample of train documents per domain (the paper: 1,000)."),
    topics: int = typer.Option(10, help="LDA topics per domain (the paper: 10)."),
    top_words: int = typer.Option(14, help="Words listed per topic (the paper: 14)."),
    seed: int = typer.Option(0, help="Seed of the document sample and the LDA."),
    adapters: list[Path] = typer.Option(
        [], help="A checkpoint, or a folder of them; repeat the flag for more. Adds the similarity–FSD "
                 "correlation (Sec. 5.2) over the domains that have an adapter (>= 3 needed).",
    ),
    cache_dir: Path | None = typer.Option(None, help="Corpus and embedding cache (default $ADAPTERMIX_CACHE "
                                                     "or ~/.cache/adaptermix)."),
    overwrite: bool = typer.Option(False, help="Replace files of a previous run in --out."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Dataset analysis: lengths (Table 3), similarity (Fig. 2a), LDA topics (Tables 4-16, Fig. 2b), vs FSD."""
    from adaptermix.analysis.corpus.result import CorpusConfig
    from adaptermix.analysis.corpus.run import analyze_data as run
    from adaptermix.analysis.corpus.writer import refuse_existing, write_corpus_analysis
    from adaptermix.errors import ConfigError

    if len(domains) < 2:
        raise ConfigError(f"analyze-data needs at least 2 domains to compare, got {len(domains)}: {' '.join(domains)}")
    if topics < 1:  # the config calls it n_topics; name the flag the user typed
        raise ConfigError(f"--topics must be >= 1, got {topics}")
    config = CorpusConfig(domains=tuple(domains), max_docs=max_docs, n_topics=topics, top_words=top_words, seed=seed)
    refuse_existing(out, bool(adapters), overwrite)  # before minutes of work, not after
    start = time.perf_counter()
    result = run(config, cache_dir, adapters, progress=not quiet and sys.stderr.isatty())
    for path in write_corpus_analysis(result, out, overwrite):
        typer.echo(str(path))
    if result.relation is not None:
        r = result.relation
        typer.echo(f"similarity vs FSD over {r.n} pairs: Pearson r = {r.pearson_r:.3f} (p = {r.pearson_p:.3g}), "
                   f"Spearman rho = {r.spearman_rho:.3f} (p = {r.spearman_p:.3g})")
    typer.echo(f"done in {time.perf_counter() - start:.1f} s")


def register(app: typer.Typer) -> None:
    """Attach `analyze-data` to `app`."""
    app.command("analyze-data")(analyze_data)
