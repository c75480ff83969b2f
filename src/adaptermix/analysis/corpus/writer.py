"""Write a `CorpusAnalysis` into a folder: JSON, CSV and Markdown tables, PNG figures (atomically).

Files written by `write_corpus_analysis(result, out)`:
    corpus_analysis.json   the whole result (`CorpusAnalysis.from_json` reads it back)
    dataset_analysis.md    every table, in the paper's order
    table3_lengths.csv     Table 3
    similarity.csv         Fig. 2a's matrix
    topics.csv             Tables 4–16, long form
    topic_map.csv          Fig. 2b's coordinates
    fig2a_similarity.png   Fig. 2a heatmap
    fig2b_topic_map.png    Fig. 2b map
and with a similarity–FSD relation (Sec. 5.2) also
    similarity_fsd.csv     the domain pairs
    similarity_fsd.png     FSD against similarity, r and ρ in the title
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import adaptermix.analysis.corpus.figures as figures
import adaptermix.analysis.corpus.tables as tables
from adaptermix.analysis.corpus.result import CorpusAnalysis
from adaptermix.errors import ConfigError
from adaptermix.fileio import atomic_write_bytes

JSON_NAME = "corpus_analysis.json"
BASE_FILES = (JSON_NAME, "dataset_analysis.md", "table3_lengths.csv", "similarity.csv", "topics.csv",
              "topic_map.csv", "fig2a_similarity.png", "fig2b_topic_map.png")
RELATION_FILES = ("similarity_fsd.csv", "similarity_fsd.png")


def output_files(with_relation: bool) -> tuple[str, ...]:
    """The file names `write_corpus_analysis` writes."""
    return BASE_FILES + (RELATION_FILES if with_relation else ())


def refuse_existing(out: Path, with_relation: bool, overwrite: bool = False) -> None:
    """Fail before any work if `out` holds a file this analysis would write.

    Raises:
        ConfigError: naming the first such file, unless `overwrite`.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: give a folder")
    if overwrite:
        return
    for name in output_files(with_relation):
        if (out / name).exists():
            raise ConfigError(f"{out / name} already exists: choose another --out or pass --overwrite")


def write_corpus_analysis(result: CorpusAnalysis, out: Path, overwrite: bool = False) -> list[Path]:
    """Write every file of the analysis into `out` (created if missing); each write is atomic.

    Args:
        result: the analysis.
        out: the output folder.
        overwrite: replace files a previous run wrote.

    Returns:
        The paths written, in the order of the module docstring.

    Raises:
        ConfigError: if a file exists and `overwrite` is False.
    """
    out = Path(out)
    with_relation = result.relation is not None
    refuse_existing(out, with_relation, overwrite)
    rel = result.relation
    makers: dict[str, Callable[[], bytes]] = {
        JSON_NAME: lambda: result.to_json().encode("utf-8"),
        "dataset_analysis.md": lambda: tables.report_markdown(result).encode("utf-8"),
        "table3_lengths.csv": lambda: tables.lengths_csv(result).encode("utf-8"),
        "similarity.csv": lambda: tables.similarity_csv(result).encode("utf-8"),
        "topics.csv": lambda: tables.topics_csv(result).encode("utf-8"),
        "topic_map.csv": lambda: tables.topic_map_csv(result).encode("utf-8"),
        "fig2a_similarity.png": lambda: figures.similarity_heatmap(result.domains, result.similarity_matrix),
        "fig2b_topic_map.png": lambda: figures.topic_map_figure(result.topic_map),
    }
    if rel is not None:
        makers["similarity_fsd.csv"] = lambda: tables.relation_csv(result).encode("utf-8")
        makers["similarity_fsd.png"] = lambda: figures.relation_figure(rel)
    written = []
    for name in output_files(with_relation):
        path = out / name
        atomic_write_bytes(path, makers[name]())
        written.append(path)
    return written
