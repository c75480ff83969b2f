"""Tables 4–16 (App. A.2): LDA topics per domain, top words per topic; Fig. 2b: a 2-D map of them.

Per domain, a bag of words (scikit-learn `CountVectorizer`: lower case, English stop words, tokens of
two or more letters) feeds scikit-learn's `LatentDirichletAllocation` (batch variational Bayes,
seeded, so a seed gives the same topics bit for bit). Digits are not tokens: phone numbers and
prices would otherwise fill the top words of SMS and finance corpora without naming a topic. URLs,
HTML entities (`&amp;`, `&lt;`) and the retweet marker `RT` are removed first: measured on the
offline tweets and SMS, `https`, `amp`, `lt`, `gt` and `rt` were otherwise top words of most topics.

Fig. 2b: the paper shows a 2-D picture of the domains next to the similarity heatmap but does not
say how it was drawn. Because its Tables 4–16 are LDA topics, we draw the map LDAvis draws for topics
(Sievert & Shirley 2014, the "intertopic distance map"): every topic of every domain becomes a
probability distribution over the union of the domains' vocabularies, pairs are compared by
Jensen–Shannon distance, and classical multidimensional scaling (PCoA) places them in 2-D. A
domain's position is the prevalence-weighted mean of its topics' positions. Distances on this map
are lexical (shared topic words), complementary to the embedding similarity of Fig. 2a.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}\b"  # words of >= 2 letters; no digits, no underscores
_MARKUP = re.compile(r"(?:https?://|www\.)\S+|&#?\w+;|\brt\b")


def preprocess(text: str) -> str:
    """Lower-case `text` and drop URLs, HTML entities and the retweet marker (see the module docstring)."""
    return _MARKUP.sub(" ", text.lower())


@dataclass(frozen=True)
class Topic:
    """One LDA topic: its top words (most probable first) and their probabilities.

    Attributes:
        words: the top words.
        weights: p(word | topic) of each top word (the normalised topic-word row).
        prevalence: the topic's share of the domain's documents (mean document-topic weight).
    """

    words: tuple[str, ...]
    weights: tuple[float, ...]
    prevalence: float


@dataclass(frozen=True)
class DomainTopics:
    """One of Tables 4–16: the topics of one domain, most prevalent first.

    Attributes:
        domain: the domain's name.
        documents: how many documents the model was fitted on.
        vocabulary: the size of the bag-of-words vocabulary.
        topics: the topics.
    """

    domain: str
    documents: int
    vocabulary: int
    topics: tuple[Topic, ...]


@dataclass(frozen=True)
class TopicModel:
    """A fitted model, kept in memory for the map (its full topic-word rows are not stored).

    Attributes:
        summary: the storable `DomainTopics`.
        vocabulary: the words, in column order of `topic_word`.
        topic_word: (topics, words) rows summing to 1, in the order of `summary.topics`.
    """

    summary: DomainTopics
    vocabulary: tuple[str, ...]
    topic_word: np.ndarray


def fit_topics(domain: str, documents: Sequence[str], n_topics: int = 10, top_words: int = 14,
               seed: int = 0) -> TopicModel:
    """LDA with `n_topics` topics on one domain's documents (App. A.2, Tables 4–16: 10 topics, 14 words).

    Args:
        domain: the domain's name.
        documents: the documents (normally the seeded sample).
        n_topics: number of LDA topics (the paper: 10).
        top_words: words listed per topic (the paper: 14); fewer when the vocabulary is smaller.
        seed: `random_state` of the LDA.

    Returns:
        The fitted `TopicModel`; topics sorted by prevalence, most prevalent first (ties by index).

    Raises:
        ValueError: bad sizes, or documents without a single countable word.
    """
    from sklearn.decomposition import LatentDirichletAllocation
    from sklearn.feature_extraction.text import CountVectorizer

    if n_topics < 1 or top_words < 1:
        raise ValueError(f"n_topics and top_words must be >= 1, got {n_topics} and {top_words}")
    if not documents:
        raise ValueError(f"domain {domain!r}: no documents for LDA")
    # Words seen in one document only say nothing about co-occurrence; keep them for tiny corpora.
    min_df = 2 if len(documents) >= 50 else 1
    vectorizer = CountVectorizer(
        stop_words="english", token_pattern=TOKEN_PATTERN, min_df=min_df, preprocessor=preprocess
    )
    try:
        counts = vectorizer.fit_transform(documents)
    except ValueError as exc:  # "empty vocabulary"
        raise ValueError(f"domain {domain!r}: no words left for LDA after removing stop words ({exc})") from exc
    vocab = tuple(str(w) for w in vectorizer.get_feature_names_out())
    lda = LatentDirichletAllocation(n_components=n_topics, learning_method="batch", random_state=seed)
    doc_topic = lda.fit_transform(counts)
    topic_word = lda.components_ / lda.components_.sum(axis=1, keepdims=True)
    prevalence = doc_topic.mean(axis=0)
    order = sorted(range(n_topics), key=lambda t: (-prevalence[t], t))
    k = min(top_words, len(vocab))
    topics = []
    for t in order:
        top = np.argsort(-topic_word[t], kind="stable")[:k]
        topics.append(Topic(
            words=tuple(vocab[i] for i in top),
            weights=tuple(float(topic_word[t, i]) for i in top),
            prevalence=float(prevalence[t]),
        ))
    summary = DomainTopics(domain=domain, documents=len(documents), vocabulary=len(vocab), topics=tuple(topics))
    return TopicModel(summary=summary, vocabulary=vocab, topic_word=topic_word[order])


@dataclass(frozen=True)
class TopicMap:
    """Fig. 2b: every topic of every domain in 2-D, and each domain's weighted centre.

    Attributes:
        domains: the domains, in input order.
        topic_domain: for each point, the index of its domain in `domains`.
        topic_index: for each point, the topic's rank within its domain (0 = most prevalent).
        topic_xy: (x, y) of each topic.
        prevalence: each topic's prevalence in its domain (for marker sizes).
        domain_xy: (x, y) of each domain: its topics' prevalence-weighted mean.
        explained: share of the (positive) PCoA eigenvalue mass on the two axes.
    """

    domains: tuple[str, ...]
    topic_domain: tuple[int, ...]
    topic_index: tuple[int, ...]
    topic_xy: tuple[tuple[float, float], ...]
    prevalence: tuple[float, ...]
    domain_xy: tuple[tuple[float, float], ...]
    explained: float


def jensen_shannon(p: np.ndarray) -> np.ndarray:
    """Pairwise Jensen–Shannon distance (base 2, in [0, 1]) between the rows of `p` (distributions)."""
    from scipy.spatial.distance import jensenshannon

    n = p.shape[0]
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[i, j] = d[j, i] = float(jensenshannon(p[i], p[j], base=2.0))
    return np.nan_to_num(d)


def classical_mds(distances: np.ndarray, dims: int = 2) -> tuple[np.ndarray, float]:
    """Classical multidimensional scaling (PCoA, Torgerson): coordinates whose distances match best.

    Each axis is oriented so that its largest-magnitude coordinate is positive, which makes the
    result independent of the eigen-solver's arbitrary signs.

    Args:
        distances: symmetric (n, n) distance matrix.
        dims: output dimensions.

    Returns:
        (n, dims) coordinates and the share of positive eigenvalue mass they explain.
    """
    n = distances.shape[0]
    centre = np.eye(n) - np.full((n, n), 1.0 / n)
    b = -0.5 * centre @ (distances**2) @ centre
    values, vectors = np.linalg.eigh((b + b.T) / 2)
    top = np.argsort(-values, kind="stable")[:dims]
    lam = np.clip(values[top], 0.0, None)
    coords = vectors[:, top] * np.sqrt(lam)
    for a in range(coords.shape[1]):
        if coords[np.argmax(np.abs(coords[:, a])), a] < 0:
            coords[:, a] = -coords[:, a]
    positive = values[values > 0].sum()
    explained = float(lam.sum() / positive) if positive > 0 else 0.0
    if coords.shape[1] < dims:  # fewer points than dimensions
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    return coords, explained


def topic_map(models: Sequence[TopicModel]) -> TopicMap:
    """Fig. 2b: an intertopic distance map of all domains' LDA topics (see the module docstring).

    Args:
        models: one fitted model per domain (≥ 1).

    Returns:
        The `TopicMap`.

    Raises:
        ValueError: if no models are given.
    """
    if not models:
        raise ValueError("no topic models given")
    union = sorted({w for m in models for w in m.vocabulary})
    column = {w: i for i, w in enumerate(union)}
    rows, owner, rank, prevalence = [], [], [], []
    for d, model in enumerate(models):
        cols = np.fromiter((column[w] for w in model.vocabulary), dtype=np.int64, count=len(model.vocabulary))
        for t, topic in enumerate(model.summary.topics):
            row = np.zeros(len(union))
            row[cols] = model.topic_word[t]
            rows.append(row)
            owner.append(d)
            rank.append(t)
            prevalence.append(topic.prevalence)
    coords, explained = classical_mds(jensen_shannon(np.stack(rows)))
    weights = np.asarray(prevalence)
    owners = np.asarray(owner)
    centres = []
    for d in range(len(models)):
        sel = owners == d
        w = weights[sel] / weights[sel].sum()
        cx, cy = w @ coords[sel]
        centres.append((float(cx), float(cy)))
    return TopicMap(
        domains=tuple(m.summary.domain for m in models),
        topic_domain=tuple(owner),
        topic_index=tuple(rank),
        topic_xy=tuple((float(x), float(y)) for x, y in coords),
        prevalence=tuple(float(p) for p in prevalence),
        domain_xy=tuple((float(x), float(y)) for x, y in centres),
        explained=explained,
    )
