"""WordNet parsing, counter-fitting, word2vec files, and (slow) the real GloVe/WordNet resources."""

from __future__ import annotations

import numpy as np
import pytest

from adaptermix.attacks.counterfit import counter_fit, neighbour_quality, pair_indices, unit
from adaptermix.attacks.vectors import read_word2vec_text
from adaptermix.attacks.wordnet import parse_wordnet
from adaptermix.errors import DataError
from attack_fixtures import toy_vectors

ADJ = """  1 licence header line
00001 00 a 02 good 0 full(a) 0 001 ! 00002 a 0101 | having desirable qualities
00002 00 a 01 bad 0 001 ! 00001 a 0101 | having undesirable qualities
00003 00 s 02 superb 0 first-rate 0 001 & 00001 a 0000 | of the highest quality
"""
NOUN = "00010 05 n 03 movie 0 film 0 motion_picture 0 000 | a form of entertainment\n"
VERB = "00020 29 v 01 love 0 000 | have a great affection\n"


def test_wordnet_parser():
    wn = parse_wordnet({"a": ADJ, "n": NOUN, "v": VERB, "r": ""})
    assert ("film", "movie") in wn.synonyms and ("full", "good") in wn.synonyms
    assert ("bad", "good") in wn.antonyms
    assert ("bad", "superb") in wn.antonyms  # indirect: superb is similar to good
    assert "motion_picture" not in wn.pos  # multi-word lemmas are skipped
    assert wn.pos_of("movies") == {"n"} and wn.pos_of("loved") == {"v"} and wn.pos_of("the") == frozenset()


def test_wordnet_parser_refuses_garbage():
    with pytest.raises(DataError, match="data.adj"):
        parse_wordnet({"a": "00001 00 a zz good\n", "n": "", "v": "", "r": ""})


def test_counter_fitting_attracts_synonyms_and_repels_antonyms():
    v = toy_vectors()
    vec = v.matrix.numpy()
    syn = pair_indices([("movie", "story"), ("bad", "poor")], v.index)
    ant = pair_indices([("good", "great")], v.index)
    out = counter_fit(vec, syn, ant)
    cos = lambda m, a, b: float(unit(m)[v.index[a]] @ unit(m)[v.index[b]])  # noqa: E731
    assert cos(out, "movie", "story") > cos(vec, "movie", "story") + 0.05
    assert cos(out, "good", "great") < cos(vec, "good", "great") - 0.3  # VSP (good ~ fine ~ great) resists
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    # an unconstrained pair far from every constrained word keeps its geometry
    assert cos(out, "the", "a") == pytest.approx(cos(vec, "the", "a"), abs=0.05)


def test_neighbour_quality_counts_antonyms():
    v = toy_vectors()
    q = neighbour_quality(v.words, v.matrix.numpy(), [("good", "great")], [("good", "fine")], probes=("good",))
    assert q.n_pairs > 0 and 0 < q.antonym_share < 1 and 0 < q.synonym_share < 1
    assert q.antonyms_close == 1.0 and q.probes["good"][0][0] == "great"


def test_word2vec_reader(tmp_path):
    good = tmp_path / "v.txt"
    good.write_text("2 3\ngood 1 0 0\ngreat 0.9 0.1 0\n")
    v = read_word2vec_text(good)
    assert v.words == ["good", "great"] and v.neighbours("good", 5)[0][0] == "great"
    bad = tmp_path / "bad.txt"
    bad.write_text("good 1 0 0\ngreat 0.9 x\n")
    with pytest.raises(DataError, match="bad.txt:2"):
        read_word2vec_text(bad)
    with pytest.raises(DataError, match="does not exist"):
        read_word2vec_text(tmp_path / "missing.txt")


@pytest.mark.slow
def test_real_glove_and_wordnet(tmp_path):
    from adaptermix.attacks.resources import load_wordnet
    from adaptermix.attacks.vectors import counterfitted_glove, plain_glove

    wn = load_wordnet(tmp_path)
    assert ("bad", "good") in wn.antonyms and ("film", "movie") in wn.synonyms
    plain = plain_glove(tmp_path, vocab=20000)
    fitted = counterfitted_glove(tmp_path, vocab=20000)
    assert fitted.cos("good", "bad") < 0.7 < plain.cos("good", "bad")  # no longer a TextFooler candidate
    before = neighbour_quality(plain.words, plain.matrix.numpy(), wn.synonyms, wn.antonyms, n_words=5000)
    after = neighbour_quality(fitted.words, fitted.matrix.numpy(), wn.synonyms, wn.antonyms, n_words=5000)
    assert after.antonym_share < before.antonym_share and after.synonym_share > before.synonym_share
    again = counterfitted_glove(tmp_path, vocab=20000)  # from the cache
    assert np.array_equal(again.matrix.numpy(), fitted.matrix.numpy())
