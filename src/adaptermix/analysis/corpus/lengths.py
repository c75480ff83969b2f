"""Table 3 (App. A.1): average document length, sentence length and sentences per document.

Words are whitespace-separated tokens (`str.split()`), the simplest count a reader can redo by hand;
the paper does not say how it counted words. Sentences come from `pysbd`, a rule-based splitter in
pure Python (no model download, unlike NLTK's punkt), with `clean=False` so the text is not rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

Splitter = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class LengthStats:
    """One row of Table 3.

    Attributes:
        domain: the domain's name.
        documents: how many documents were measured (the sample size).
        sentences: how many (non-empty) sentences they hold in total.
        words: how many words they hold in total.
        avg_doc_words: mean words per document.
        avg_sentence_words: mean words per sentence, pooled over all sentences (= words / sentences).
        avg_sentences_per_doc: mean sentences per document.
    """

    domain: str
    documents: int
    sentences: int
    words: int
    avg_doc_words: float
    avg_sentence_words: float
    avg_sentences_per_doc: float


@lru_cache(maxsize=1)
def _pysbd_segmenter() -> Splitter:
    import pysbd

    segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter.segment  # type: ignore[no-any-return]


def pysbd_splitter() -> Splitter:
    """The default sentence splitter: pysbd, English rules, text left as is."""
    return _pysbd_segmenter()


def length_stats(domain: str, documents: Sequence[str], splitter: Splitter | None = None) -> LengthStats:
    """Table 3 for one domain (App. A.1).

    A document's words are counted on the whole text; its sentences are the splitter's segments
    that contain at least one word. Sentence length is pooled (total sentence words / sentences),
    so a long document weighs by its number of sentences, as a per-sentence average should.

    Args:
        domain: the domain's name (the row label).
        documents: the documents to measure (normally the seeded sample).
        splitter: text → sentences; pysbd when None.

    Returns:
        The Table 3 row.

    Raises:
        ValueError: if there are no documents or no words at all.
    """
    if not documents:
        raise ValueError(f"domain {domain!r}: no documents to measure")
    split = splitter or pysbd_splitter()
    n_words = n_sentences = n_sentence_words = 0
    for doc in documents:
        n_words += len(doc.split())
        for sentence in split(doc):
            words = len(sentence.split())
            if words:
                n_sentences += 1
                n_sentence_words += words
    if n_sentences == 0:
        raise ValueError(f"domain {domain!r}: the documents contain no words")
    n_docs = len(documents)
    return LengthStats(
        domain=domain,
        documents=n_docs,
        sentences=n_sentences,
        words=n_words,
        avg_doc_words=n_words / n_docs,
        avg_sentence_words=n_sentence_words / n_sentences,
        avg_sentences_per_doc=n_sentences / n_docs,
    )
