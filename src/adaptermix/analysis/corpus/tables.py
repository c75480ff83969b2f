"""Tables of the dataset analysis as CSV and Markdown text (Table 3, Fig. 2a's matrix, Tables 4–16, Sec. 5.2).

Every function reads a `CorpusAnalysis` and returns a string; the writer saves them and the HTML
report can render the same rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from adaptermix.analysis.corpus.result import CorpusAnalysis


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _md(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


_LENGTH_HEADER = ("domain", "documents", "avg document length (words)", "avg sentence length (words)",
                  "sentences per document")


def lengths_csv(result: CorpusAnalysis) -> str:
    """Table 3 as CSV (full precision)."""
    rows = [(r.domain, r.documents, r.avg_doc_words, r.avg_sentence_words, r.avg_sentences_per_doc)
            for r in result.lengths]
    return _csv(_LENGTH_HEADER, rows)


def lengths_markdown(result: CorpusAnalysis) -> str:
    """Table 3 as Markdown (two decimals)."""
    rows = [(r.domain, r.documents, f"{r.avg_doc_words:.2f}", f"{r.avg_sentence_words:.2f}",
             f"{r.avg_sentences_per_doc:.2f}") for r in result.lengths]
    return _md(_LENGTH_HEADER, rows)


def similarity_csv(result: CorpusAnalysis) -> str:
    """Fig. 2a's matrix as CSV: header `domain,<name>,...`, one row per domain."""
    return _csv(("domain", *result.domains), [(d, *row) for d, row in zip(result.domains, result.similarity,
                                                                               strict=True)])


def similarity_markdown(result: CorpusAnalysis) -> str:
    """Fig. 2a's matrix as Markdown (three decimals)."""
    rows = [(d, *(f"{v:.3f}" for v in row)) for d, row in zip(result.domains, result.similarity, strict=True)]
    return _md(("", *result.domains), rows)


def topics_csv(result: CorpusAnalysis) -> str:
    """Tables 4–16 in long form: domain, topic, prevalence, rank, word, weight."""
    rows = [(t.domain, i, topic.prevalence, r, word, weight)
            for t in result.topics for i, topic in enumerate(t.topics)
            for r, (word, weight) in enumerate(zip(topic.words, topic.weights, strict=True))]
    return _csv(("domain", "topic", "prevalence", "rank", "word", "weight"), rows)


def topics_markdown(result: CorpusAnalysis) -> str:
    """Tables 4–16: one table per domain, a row per topic (prevalence, top words)."""
    parts = []
    for t in result.topics:
        rows = [(i + 1, f"{100 * topic.prevalence:.1f}", " ".join(topic.words)) for i, topic in enumerate(t.topics)]
        parts.append(f"#### {t.domain} ({t.documents} documents, vocabulary {t.vocabulary})\n\n"
                     + _md(("topic", "share %", f"top {result.config.top_words} words"), rows, "rrl"))
    return "\n".join(parts)


def topic_map_csv(result: CorpusAnalysis) -> str:
    """Fig. 2b's points: one row per topic, then one per domain centre (topic = `centre`)."""
    m = result.topic_map
    rows: list[tuple[object, ...]] = [
        (m.domains[d], t, x, y, p)
        for d, t, (x, y), p in zip(m.topic_domain, m.topic_index, m.topic_xy, m.prevalence, strict=True)
    ]
    rows += [(name, "centre", x, y, "") for name, (x, y) in zip(m.domains, m.domain_xy, strict=True)]
    return _csv(("domain", "topic", "x", "y", "prevalence"), rows)


def relation_csv(result: CorpusAnalysis) -> str:
    """Sec. 5.2's pairs: domain_a, domain_b, similarity, fsd (empty table without a relation)."""
    rel = result.relation
    rows = [] if rel is None else [(a, b, s, f) for (a, b), s, f in zip(rel.pairs, rel.similarity, rel.fsd,
                                                                         strict=True)]
    return _csv(("domain_a", "domain_b", "similarity", "fsd"), rows)


def relation_markdown(result: CorpusAnalysis) -> str:
    """Sec. 5.2's correlation as one Markdown table row (or a sentence saying it was not computed)."""
    rel = result.relation
    if rel is None:
        return "Not computed: no adapters were given (`--adapters`).\n"
    row = (rel.n, f"{rel.pearson_r:.3f}", f"{rel.pearson_p:.3g}", f"{rel.spearman_rho:.3f}", f"{rel.spearman_p:.3g}")
    return _md(("pairs", "Pearson r", "p", "Spearman ρ", "p"), [row], "rrrrr")


def report_markdown(result: CorpusAnalysis) -> str:
    """All tables in the paper's order, as one Markdown document."""
    c = result.config
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds)
    head = (
        "# Dataset analysis (Sec. 3.1, App. A.1–A.2)\n\n"
        f"Documents: a seeded sample (seed {c.seed}) of at most {c.max_docs} examples of the `{c.split}` split per "
        f"domain. Encoder `{result.encoder}` (max {c.max_tokens} word pieces, mean pooling, L2 norm). "
        f"LDA: {c.n_topics} topics, top {c.top_words} words. Key `{result.key}`."
        + (f" Time: {timing}." if timing else "") + "\n\n"
    )
    return (
        head
        + "## Table 3: lengths (pysbd sentences, whitespace words)\n\n" + lengths_markdown(result)
        + "\n## Fig. 2a: cosine similarity of embedding centroids\n\n" + similarity_markdown(result)
        + f"\n## Tables 4–16: LDA topics\n\n{topics_markdown(result)}"
        + "\n## Sec. 5.2: semantic similarity vs FSD of the adapters\n\n" + relation_markdown(result)
    )
