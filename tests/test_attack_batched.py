"""TextFooler batched across examples gives the records of the one-example, one-query-per-forward loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from adaptermix.attacks import Example, ModelWrapper, TextFoolerConfig, textfooler_attack
from adaptermix.attacks.textfooler_reference import textfooler_reference
from attack_fixtures import KeywordModel, adapter_wrapper, toy_resources
from conftest import toy_rows

KEYWORD_EXAMPLES = [
    Example("The movie was good.", 1),
    Example("the film is good and the plot was fine", 1),
    Example("a good film and a good plot, good story", 1),  # three keywords: three rounds to flip
    Example("the movie was bad", 0),
    Example("a film was awful", 1),  # misclassified by the keyword model: skipped
    Example("GOOD movie", 1),
]


class LoggingWrapper(ModelWrapper):
    """Remembers the texts of every call, to see which example was still queried when."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[list[str]] = []

    def __call__(self, texts, pairs=None) -> np.ndarray:
        self.calls.append(list(texts))
        return super().__call__(texts, pairs)


@pytest.fixture(scope="module")
def tokenizer(tiny_encoders):
    return AutoTokenizer.from_pretrained(tiny_encoders["bert"])


def _both(make_wrapper, examples, config=None):
    """(batched records, reference records), each with fresh resources and its own wrapper."""
    batched = textfooler_attack(make_wrapper(64), examples, toy_resources(), config)
    reference = textfooler_reference(make_wrapper(1), examples, toy_resources(), config)
    return batched, reference


@pytest.mark.parametrize("budget", [None, 1, 2, 5, 9])
def test_keyword_model_same_records(tokenizer, budget):
    model = KeywordModel(tokenizer)
    batched, reference = _both(lambda b: ModelWrapper(model, tokenizer, 32, b), KEYWORD_EXAMPLES,
                               TextFoolerConfig(query_budget=budget))
    assert batched == reference
    if budget is None:
        assert [r.status for r in batched] == ["successful"] * 3 + ["failed", "skipped", "successful"]


def test_pairs_same_records(tokenizer):
    model = KeywordModel(tokenizer)
    pairs = [Example("the plot was good", 1, "the movie was good"), Example("a film", 1, "a good film was fine"),
             Example("bad", 0, "the story")]
    batched, reference = _both(lambda b: ModelWrapper(model, tokenizer, 32, b), pairs)
    assert batched == reference and any(r.swaps for r in batched)


@pytest.mark.parametrize("kind", ["bert", "roberta"])
def test_tiny_transformer_same_records(tiny_encoders, kind):
    """A real (tiny, random) transformer: texts of many lengths share forwards, yet nothing changes."""
    wrapper = adapter_wrapper(tiny_encoders[kind])
    rows = toy_rows(16, seed=5)
    clean = wrapper([r["text"] for r in rows]).argmax(1)
    # Labelled as the model predicts them, so that every example is attacked.
    examples = [Example(r["text"], int(p)) for r, p in zip(rows, clean, strict=True)]
    batched, reference = _both(lambda b: _with_batch(wrapper, b), examples)
    assert batched == reference
    assert any(r.status == "successful" for r in batched), "the test needs a successful attack"


def _with_batch(wrapper: ModelWrapper, batch_size: int) -> ModelWrapper:
    return ModelWrapper(wrapper.model, wrapper.tokenizer, wrapper.max_length, batch_size)


def test_scores_do_not_depend_on_what_shares_the_forward(tiny_encoders):
    wrapper = adapter_wrapper(tiny_encoders["bert"])
    texts = [r["text"] for r in toy_rows(20, seed=1)]
    together = wrapper(texts)
    alone = np.concatenate([wrapper([t]) for t in texts])
    # Unpadded, so only the GEMM's handling of more rows can differ: in the last bits at most.
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)
    assert (together.argmax(1) == alone.argmax(1)).all()
    assert wrapper.tokens == 2 * sum(len(wrapper.tokenizer(t)["input_ids"]) for t in texts)


def test_an_example_stops_as_soon_as_it_flips(tokenizer):
    wrapper = LoggingWrapper(KeywordModel(tokenizer), tokenizer, 32, 64)
    first, slow = KEYWORD_EXAMPLES[0], KEYWORD_EXAMPLES[2]
    records = textfooler_attack(wrapper, [first, slow], toy_resources())
    assert [r.status for r in records] == ["successful", "successful"]
    assert len(records[0].swaps) == 1 and len(records[1].swaps) == 3

    def calls_with(marker: str) -> list[int]:
        return [i for i, call in enumerate(wrapper.calls) if any(marker in t for t in call)]

    # Clean pass, deletions, then one candidate call per round: the first example flips in round 1
    # and is never queried again, while the slow one keeps going for two more rounds.
    assert calls_with("movie was") == [0, 1, 2]
    assert calls_with("plot, ") == [0, 1, 2, 3, 4]
    assert sum(len(c) for c in wrapper.calls) == wrapper.queries == sum(r.queries for r in records)


def test_only_words_the_model_sees_are_ranked_and_swapped(tokenizer):
    """A word past the truncated input cannot change it: the search neither deletes nor swaps it."""
    from adaptermix.attacks.tokens import Words

    wrapper = ModelWrapper(KeywordModel(tokenizer), tokenizer, 12, 64)
    long = "the movie was good and " + " ".join(f"plot{i} is fine" for i in range(20))
    words = Words.from_text(long)
    visible = wrapper.visible_words(words)
    assert 0 < visible < len(words)
    base = wrapper.encode([long])["input_ids"]
    for i in range(len(words)):  # the definition: deleting a word changes the model's input iff it is visible
        changed = not torch.equal(wrapper.encode([words.delete(i)])["input_ids"], base)
        assert changed == (i < visible), i
    pair_words = Words.from_text(long)
    assert wrapper.visible_words(pair_words, "a first text of several words") < visible  # the first text takes room
    examples = [Example(long, 1), Example("good " + long, 1)]
    batched, reference = _both(lambda b: ModelWrapper(KeywordModel(tokenizer), tokenizer, 12, b), examples)
    assert batched == reference
    assert any(r.swaps for r in batched), "the test needs a swap"
    for record in batched:
        assert all(detail["index"] < visible + 1 for detail in record.swap_details)
        assert record.queries <= 1 + (visible + 1) * 51  # the clean text, the deletions, the candidates
    short = ModelWrapper(KeywordModel(tokenizer), tokenizer, 512, 64)
    assert short.visible_words(words) == len(words)  # nothing truncated: every word


def test_progress_counts_finished_examples_and_changes_no_record(tokenizer):
    model = KeywordModel(tokenizer)
    seen: list[tuple[int, int]] = []
    told = textfooler_attack(ModelWrapper(model, tokenizer, 32, 64), KEYWORD_EXAMPLES, toy_resources(),
                             progress=lambda done, total: seen.append((done, total)))
    assert told == textfooler_attack(ModelWrapper(model, tokenizer, 32, 64), KEYWORD_EXAMPLES, toy_resources())
    done = [d for d, _ in seen]
    # One call per round (the three-keyword example needs three), never backwards, all finished at the end.
    assert len(seen) >= 3 and done == sorted(done) and seen[-1] == (len(KEYWORD_EXAMPLES), len(KEYWORD_EXAMPLES))
