"""TextFooler on a tiny model that keys on one word, with synthetic vectors and WordNet."""

from __future__ import annotations

import math

import pytest
from transformers import AutoTokenizer

from adaptermix.attacks import AttackSpec, Example, ModelWrapper, attack_examples, score_perturbed, summarize
from adaptermix.attacks.api import sample_examples
from adaptermix.attacks.textfooler import STOPWORDS, TextFoolerConfig, pos_compatible, textfooler_attack
from adaptermix.attacks.tokens import Words
from adaptermix.data.types import Split
from adaptermix.errors import ConfigError, DataError
from attack_fixtures import KeywordModel, toy_resources

EXAMPLES = [
    Example("The movie was good.", 1),
    Example("the film is good and the plot was fine", 1),
    Example("the movie was bad", 0),
    Example("a film was awful", 1),  # misclassified by the keyword model: skipped
    Example("GOOD movie", 1),
]


@pytest.fixture(scope="module")
def wrapper(tiny_encoders) -> ModelWrapper:
    tok = AutoTokenizer.from_pretrained(tiny_encoders["bert"])
    return ModelWrapper(KeywordModel(tok), tok, max_length=32)


@pytest.fixture(scope="module")
def res():
    return toy_resources()


@pytest.fixture(scope="module")
def records(wrapper, res):
    return attack_examples(wrapper, EXAMPLES, AttackSpec(attack="textfooler"), res)


def test_swaps_the_keyword_for_an_allowed_neighbour(records, res):
    first = records[0]
    assert first.status == "successful" and first.perturbed_prediction == 0
    assert len(first.swaps) == 1 and first.swaps[0][0] == "good"
    allowed = {w for w, c in res.vectors.neighbours("good", 50, 0.8)
               if pos_compatible(res.wordnet, "good", w)}
    assert first.swaps[0][1] in allowed and first.swaps[0][1] != "lovely"  # lovely: close but a noun
    assert first.perturbed_text == f"The movie was {first.swaps[0][1]}."
    assert records[4].perturbed_text.startswith(records[4].swaps[0][1].upper())  # case kept


def test_every_accepted_swap_satisfies_every_constraint(records, res):
    cfg = TextFoolerConfig()
    for rec in records:
        current = Words.from_text(rec.text_pair or rec.text)
        original = current
        for (orig, repl), detail in zip(rec.swaps, rec.swap_details, strict=True):
            i = int(detail["index"])
            assert current.words[i] == orig
            cos = res.vectors.cos(orig.lower(), repl.lower())
            assert cos >= cfg.min_cos and math.isclose(cos, detail["cos"], abs_tol=1e-5)
            assert pos_compatible(res.wordnet, orig, repl)
            current = current.replace(i, repl)
            emb = res.encoder.encode([original.window(i, cfg.window), current.window(i, cfg.window)])
            sim = float(emb[0] @ emb[1])
            assert sim >= cfg.min_sim and math.isclose(sim, detail["similarity"], abs_tol=1e-5)
        assert current.text == (rec.perturbed_text if rec.swaps else current.text)


def test_stopwords_never_change(records):
    for rec in records:
        before = Words.from_text(rec.text).words
        after = Words.from_text(rec.perturbed_text).words
        assert len(before) == len(after)
        for a, b in zip(before, after, strict=True):
            if a.lower() in STOPWORDS:
                assert a == b


def test_statuses_summary_and_accuracy(records):
    assert [r.status for r in records] == ["successful", "successful", "failed", "skipped", "successful"]
    s = summarize("textfooler", records, {})
    assert s["n_skipped"] == 1 and s["attack_success_rate"] == pytest.approx(3 / 4)
    assert s["clean_accuracy"] == pytest.approx(4 / 5) and s["accuracy_under_attack"] == pytest.approx(1 / 5)
    assert s["accuracy_under_attack"] <= s["clean_accuracy"]
    assert s["avg_queries"] > 0 and 0 < s["avg_perturbed_words_pct"] <= 100


def test_same_seed_same_result(wrapper, res):
    split = Split(text=tuple(e.text for e in EXAMPLES), label=tuple(e.label for e in EXAMPLES))
    a = sample_examples(split, 3, seed=7)
    assert a == sample_examples(split, 3, seed=7)
    spec = AttackSpec(attack="textfooler")
    assert attack_examples(wrapper, a, spec, res) == attack_examples(wrapper, a, spec, res)


def test_pairs_attack_only_the_second_text(wrapper, res):
    ex = [Example("the plot was good", 1, "the movie was good")]
    (rec,) = textfooler_attack(wrapper, ex, res)
    assert rec.text == "the plot was good" and rec.perturbed_text != rec.text_pair
    # The keyword model counts "good" in both texts: one is left, so the attack cannot succeed by
    # swapping in the second text alone, but it must never touch the first.
    assert rec.swaps and all(s[0] == "good" for s in rec.swaps)


def test_pair_task_without_second_text_is_refused(wrapper, res):
    with pytest.raises(DataError, match="second text"):
        textfooler_attack(wrapper, [Example("a", 1, "b"), Example("c", 0, None)], res)


def test_query_budget_is_respected(wrapper, res):
    recs = attack_examples(wrapper, EXAMPLES[:2], AttackSpec(attack="textfooler", query_budget=2), res)
    assert all(r.queries <= 2 and r.status == "failed" for r in recs)


def test_transfer_scoring_reproduces_statuses(wrapper, records):
    again = score_perturbed(wrapper, records)
    assert [r.status for r in again] == [r.status for r in records]


def test_unknown_attack_and_missing_resources(wrapper):
    with pytest.raises(ValueError, match="unknown attack"):
        AttackSpec(attack="hotflip")
    with pytest.raises(ConfigError, match="textfooler needs"):
        attack_examples(wrapper, EXAMPLES, AttackSpec(attack="textfooler"))
