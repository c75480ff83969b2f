"""The dataset-analysis section (Sec. 3.1, App. A.1–A.2, Fig. 2, Tables 3–16, Sec. 5.2) from the store.

The analysis is stored in the study as an artifact of kind `corpus_analysis` (`CorpusAnalysis.to_json()`);
this module rebuilds it with `CorpusAnalysis.from_json` and reuses the corpus package's own figure and
table functions, so the report shows exactly what `adaptermix analyze-data` writes.
"""

from __future__ import annotations

import re

from adaptermix.reporting.document import Figure, Section
from adaptermix.reporting.sweep_tables import Table

TITLE = "Dataset analysis (Sec. 3.1, App. A.1–A.2: Table 3, Fig. 2, Tables 4–16)"
HOW = "add a `data_analysis:` stage to the recipe and re-run `adaptermix run RECIPE`"

_SPLIT = re.compile(r"(?<!\\)\|")


def table_from_markdown(name: str, title: str, markdown: str) -> Table:
    """A `Table` of text cells from a Markdown table (header, rule, rows), as the corpus helpers write them.

    Args:
        name: the table's file stem.
        title: its caption.
        markdown: text holding one pipe table; lines outside it are ignored.

    Returns:
        The table; cells keep the Markdown's formatting (e.g. two decimals).
    """
    lines = [ln.strip() for ln in markdown.splitlines() if ln.strip().startswith("|")]

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in _SPLIT.split(line.strip().strip("|"))]

    if len(lines) < 2:
        return Table(name, title, ("note",), [(markdown.strip(),)])
    header = tuple(c or " " for c in cells(lines[0]))
    return Table(name, title, header, [tuple(cells(ln)) for ln in lines[2:]])


def dataset_section(corpus_json: str | None) -> Section:
    """Table 3, Fig. 2a, Fig. 2b with Tables 4–16, and the similarity–FSD relation, or a not-run line."""
    if corpus_json is None:
        return Section.missing("dataset", TITLE, HOW)
    from adaptermix.analysis.corpus import CorpusAnalysis
    from adaptermix.analysis.corpus import figures as cfig
    from adaptermix.analysis.corpus import tables as ctab

    try:
        result = CorpusAnalysis.from_json(corpus_json)
    except ValueError as exc:
        return Section.missing("dataset", TITLE, f"the stored analysis cannot be read ({exc}); {HOW}")
    c = result.config
    sec = Section("dataset", TITLE, intro=(
        f"Documents: a seeded sample (seed {c.seed}) of at most {c.max_docs} examples of the {c.split} split per "
        f"domain. Sentence encoder {result.encoder}. LDA with {c.n_topics} topics per domain, top {c.top_words} "
        "words."))
    lengths = table_from_markdown("table3_lengths", "Table 3: document and sentence lengths (pysbd sentences)",
                                  ctab.lengths_markdown(result))
    sim = table_from_markdown("fig2a_similarity", "Fig. 2a: cosine similarity of embedding centroids",
                              ctab.similarity_markdown(result))
    sec.tables.append(lengths)
    similarity = Section("dataset-similarity", "Fig. 2a: semantic similarity of the domains", tables=[sim])
    similarity.figures.append(Figure(cfig.similarity_heatmap(result.domains, result.similarity_matrix),
                                     "Fig. 2a: cosine similarity between the centroids of the sentence embeddings of "
                                     "each domain's sampled documents (diagonal greyed).", sim.name,
                                     name="fig2a_similarity.png"))
    sec.children.append(similarity)
    topics = Section("dataset-topics", "Fig. 2b and Tables 4–16: LDA topics")
    topics.figures.append(Figure(cfig.topic_map_figure(result.topic_map),
                                 "Fig. 2b: every LDA topic of every domain on a 2-D map (principal coordinates of "
                                 "Jensen–Shannon distances); disc area ∝ topic prevalence, × marks a domain's "
                                 "centre.", name="fig2b_topic_map.png"))
    for i, block in enumerate(ctab.topics_markdown(result).split("#### ")[1:]):
        heading, _, body = block.partition("\n")
        topics.tables.append(table_from_markdown(f"topics_{i + 1}", f"Table {4 + i}: {heading.strip()}", body))
    sec.children.append(topics)
    rel = result.relation
    relation = Section("dataset-relation", "Semantic similarity vs FSD of the adapters (Sec. 5.2)")
    if rel is None:
        relation.not_run = "the analysis was run without adapters (`--adapters`), so there is no FSD to relate"
    else:
        table = table_from_markdown("similarity_fsd", "Correlation over domain pairs", ctab.relation_markdown(result))
        relation.figures.append(Figure(cfig.relation_figure(rel), "FSD between two domains' adapters against the "
                                       "semantic similarity of the domains, one point per pair; the paper argues "
                                       "the relation is weak.", table.name, name="similarity_fsd.png"))
        relation.tables.append(table)
    sec.children.append(relation)
    return sec
