"""Dataset analysis, pure parts: sampling, Table 3, centroid cosine (Fig. 2a), LDA (Tables 4–16), Sec. 5.2."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from adaptermix.analysis.corpus.documents import domain_documents, sample_documents
from adaptermix.analysis.corpus.lengths import length_stats
from adaptermix.analysis.corpus.relation import similarity_fsd_relation
from adaptermix.analysis.corpus.similarity import centroid_similarity
from adaptermix.analysis.corpus.topics import classical_mds, fit_topics, topic_map
from adaptermix.data.types import DomainData, Split


def _split(texts: list[str], pairs: list[str] | None = None) -> Split:
    return Split(text=tuple(texts), label=tuple(i % 2 for i in range(len(texts))),
                 text_pair=None if pairs is None else tuple(pairs))


def test_pair_examples_are_one_document_each() -> None:
    data = DomainData("p", ("a", "b"), train=_split(["q1", "q2"], ["s1", "s2"]),
                      validation=_split(["v", "w"], ["x", "y"]), test=_split(["t", "u"], ["x", "y"]))
    assert domain_documents(data) == ("q1\ns1", "q2\ns2")
    assert domain_documents(data, "test") == ("t\nx", "u\ny")


def test_sample_is_seeded_per_domain_and_keeps_corpus_order() -> None:
    docs = [f"doc {i}" for i in range(100)]
    a = sample_documents(docs, 10, seed=0, key="x")
    assert a == sample_documents(docs, 10, seed=0, key="x")
    assert a != sample_documents(docs, 10, seed=1, key="x") and a != sample_documents(docs, 10, seed=0, key="y")
    assert len(set(a)) == 10 and list(a) == sorted(a, key=lambda d: int(d.split()[1]))
    assert sample_documents(docs[:5], 10, seed=0) == tuple(docs[:5])
    with pytest.raises(ValueError, match="max_docs"):
        sample_documents(docs, 0, seed=0)


def test_table3_numbers_by_hand_with_pysbd() -> None:
    docs = ["The cat sat. The dog ran away!", "Hello world.", "Is it here? Yes. No."]
    # words: 7, 2, 5 → 14 words / 3 docs; sentences: 2, 1, 3 → 6 sentences; 14 words / 6 sentences
    row = length_stats("tiny", docs)
    assert (row.documents, row.words, row.sentences) == (3, 14, 6)
    assert row.avg_doc_words == pytest.approx(14 / 3)
    assert row.avg_sentences_per_doc == pytest.approx(2.0)
    assert row.avg_sentence_words == pytest.approx(14 / 6)


def test_table3_ignores_empty_segments_and_refuses_no_words() -> None:
    row = length_stats("x", ["a b", "   "], splitter=lambda t: [t, ""])
    assert (row.sentences, row.avg_doc_words, row.avg_sentences_per_doc) == (1, 1.0, 0.5)
    with pytest.raises(ValueError, match="no words"):
        length_stats("x", [" ", ""])
    with pytest.raises(ValueError, match="no documents"):
        length_stats("x", [])


def test_centroid_cosine_matches_numpy_and_is_symmetric() -> None:
    rng = np.random.default_rng(0)
    embs = [rng.normal(loc=m, size=(n, 8)) for m, n in ((0.5, 20), (0.2, 7), (-0.3, 13))]
    sim = centroid_similarity(embs)
    expected = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            ci, cj = embs[i].mean(axis=0), embs[j].mean(axis=0)
            expected[i, j] = ci @ cj / (np.linalg.norm(ci) * np.linalg.norm(cj))
    np.testing.assert_allclose(sim, expected, atol=1e-12)
    np.testing.assert_array_equal(sim, sim.T)
    np.testing.assert_array_equal(np.diag(sim), np.ones(3))
    with pytest.raises(ValueError, match="different sizes"):
        centroid_similarity([np.ones((2, 3)), np.ones((2, 4))])
    with pytest.raises(ValueError, match="zero centroid"):
        centroid_similarity([np.ones((2, 3)), np.array([[1.0, 0, 0], [-1.0, 0, 0]])])


def _topic_docs(seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    themes = [["stock", "market", "price", "trade", "bank"], ["goal", "match", "team", "player", "league"],
              ["movie", "actor", "film", "plot", "scene"]]
    return [" ".join(rng.choice(themes[i % 3], size=12)) + " and the 42" for i in range(60)]


def test_lda_is_deterministic_and_has_the_requested_shape() -> None:
    docs = _topic_docs(0)
    a = fit_topics("d", docs, n_topics=3, top_words=4, seed=7)
    b = fit_topics("d", docs, n_topics=3, top_words=4, seed=7)
    assert a.summary == b.summary
    np.testing.assert_array_equal(a.topic_word, b.topic_word)
    assert len(a.summary.topics) == 3 and all(len(t.words) == 4 for t in a.summary.topics)
    assert a.topic_word.shape == (3, a.summary.vocabulary) == (3, 15)  # stop words and digits dropped
    prevalence = [t.prevalence for t in a.summary.topics]
    assert prevalence == sorted(prevalence, reverse=True) and sum(prevalence) == pytest.approx(1.0)
    # Three clean themes: each topic's top words come from one theme.
    heads = {frozenset(t.words) for t in a.summary.topics}
    assert len(heads) == 3
    assert fit_topics("d", docs, n_topics=2, top_words=50, seed=0).summary.topics[0].words.__len__() == 15


def test_lda_refuses_documents_without_words() -> None:
    with pytest.raises(ValueError, match="no words left"):
        fit_topics("d", ["the and of", "12 34"], n_topics=2)


def test_topic_map_places_each_domain_and_classical_mds_recovers_distances() -> None:
    pts = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 4.0]])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    coords, explained = classical_mds(d)
    np.testing.assert_allclose(np.linalg.norm(coords[:, None] - coords[None], axis=-1), d, atol=1e-9)
    assert explained == pytest.approx(1.0)
    models = [fit_topics(f"d{i}", _topic_docs(i), n_topics=3, top_words=4, seed=0) for i in range(2)]
    tmap = topic_map(models)
    assert tmap.domains == ("d0", "d1") and len(tmap.topic_xy) == 6
    assert tmap.topic_domain == (0, 0, 0, 1, 1, 1) and tmap.topic_index == (0, 1, 2, 0, 1, 2)
    assert len(tmap.domain_xy) == 2 and 0 < tmap.explained <= 1


def test_similarity_fsd_relation_equals_scipy() -> None:
    names = ("a", "b", "c", "d")
    sim = np.array([[1, .9, .5, .2], [.9, 1, .4, .3], [.5, .4, 1, .7], [.2, .3, .7, 1]])
    # FSD over a different order and one extra adapter ("z"), matched by name.
    fsd_names = ("d", "z", "c", "b", "a")
    fsd = np.full((5, 5), 0.45)
    values = {("a", "b"): .30, ("a", "c"): .42, ("a", "d"): .48, ("b", "c"): .41, ("b", "d"): .44, ("c", "d"): .35}
    for (x, y), v in values.items():
        i, j = fsd_names.index(x), fsd_names.index(y)
        fsd[i, j] = fsd[j, i] = v
    np.fill_diagonal(fsd, 0)
    rel = similarity_fsd_relation(names, sim, fsd_names, fsd)
    xs = [.9, .5, .2, .4, .3, .7]
    ys = [values[p] for p in (("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d"))]
    assert rel.pairs == (("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d"))
    assert rel.similarity == tuple(xs) and rel.fsd == tuple(ys) and rel.n == 6
    assert rel.pearson_r == pytest.approx(stats.pearsonr(xs, ys).statistic)
    assert rel.pearson_p == pytest.approx(stats.pearsonr(xs, ys).pvalue)
    assert rel.spearman_rho == pytest.approx(stats.spearmanr(xs, ys).statistic)
    assert rel.spearman_p == pytest.approx(stats.spearmanr(xs, ys).pvalue)
    with pytest.raises(ValueError, match=">= 3 domains"):
        similarity_fsd_relation(names, sim, ("a", "b"), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="repeat"):
        similarity_fsd_relation(names, sim, ("a", "a", "b"), np.zeros((3, 3)))


def test_lda_preprocessing_drops_urls_entities_and_retweet_marker() -> None:
    from adaptermix.analysis.corpus.topics import preprocess

    assert preprocess("RT @x: Great &amp; fun https://t.co/ab www.x.com &lt;3 art").split() == [
        "@x:", "great", "fun", "3", "art"]
