"""Properties of the shared deterministic splitter and the core data types."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.data import DomainData, Split, get_domain, list_domains
from adaptermix.data.splits import Pool, assemble, dedupe, permutation, three_way_sizes
from adaptermix.errors import ConfigError, DataError

PAPER = ["mnli", "mrpc", "sst2", "rte", "qnli", "qqp", "rct", "ag", "authorship", "financial", "imdb", "tweets"]
PAPER += ["wiki"]
OFFLINE = ["rotten_tomatoes", "movie_snippets", "sms_spam", "trec", "bbc_news", "reuters8", "newsgroups20"]
OFFLINE += ["election_tweets", "tweet_sentiment", "amazon_snippets", "nyt_snippets", "same_author"]


def _pool(n: int, n_labels: int = 2) -> Pool:
    pool = Pool()
    for i in range(n):
        pool.add(f"text {i}", i % n_labels)
    return pool


def test_registered_names_and_kinds() -> None:
    specs = {spec.name: spec for spec in list_domains()}
    assert list(specs) == PAPER + OFFLINE
    assert {specs[n].kind for n in PAPER} == {"hub"}
    assert {specs[n].kind for n in OFFLINE} == {"offline"}
    assert specs["same_author"].is_pair and "DERIVED" in specs["same_author"].description
    assert {specs[n].is_pair for n in ("mnli", "mrpc", "rte", "qnli", "qqp")} == {True}
    assert all(len(spec.label_names) >= 2 for spec in specs.values())


def test_unknown_domain_lists_known_names() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'trec'.*Known:"):
        get_domain("trek")


@given(n=st.integers(0, 400), seed=st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_permutation_is_a_deterministic_permutation(n: int, seed: int) -> None:
    order = permutation(n, seed)
    assert sorted(order) == list(range(n))
    assert order == permutation(n, seed)


def test_permutation_depends_on_seed_and_salt() -> None:
    assert permutation(50, 1) != permutation(50, 2)
    assert permutation(50, 1, "a") != permutation(50, 1, "b")
    # Pinned values: the order must be identical on every machine and Python version.
    assert permutation(10, 2024) == [1, 4, 6, 7, 5, 9, 8, 3, 2, 0]
    assert permutation(10, 7, "all") == [6, 9, 4, 1, 3, 2, 7, 0, 8, 5]


@given(n=st.integers(3, 500), seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_three_way_split_sizes_disjoint_and_deterministic(n: int, seed: int) -> None:
    data = assemble("d", ("a", "b"), {"all": _pool(n)}, seed)
    sizes = (len(data.train), len(data.validation), len(data.test))
    assert sizes == three_way_sizes(n) and sum(sizes) == n and min(sizes) >= 1
    texts = [set(s.text) for s in (data.train, data.validation, data.test)]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert assemble("d", ("a", "b"), {"all": _pool(n)}, seed).fingerprint == data.fingerprint


@given(n_train=st.integers(2, 300), n_test=st.integers(1, 50))
@settings(max_examples=40, deadline=None)
def test_carve_validation_keeps_source_test(n_train: int, n_test: int) -> None:
    test = Pool(text=[f"t{i}" for i in range(n_test)], label=[i % 2 for i in range(n_test)])
    data = assemble("d", ("a", "b"), {"train": _pool(n_train), "test": test})
    assert len(data.train) + len(data.validation) == n_train
    assert sorted(data.test.text) == sorted(test.text)


def test_too_small_pool_is_an_empty_split_error() -> None:
    with pytest.raises(DataError, match="empty split"):
        assemble("tiny", ("a", "b"), {"all": _pool(2)})


def test_bad_pool_keys_rejected() -> None:
    with pytest.raises(DataError, match="source splits"):
        assemble("d", ("a", "b"), {"train": _pool(10)})


def test_dedupe_keeps_first_and_crosses_pools() -> None:
    pool = Pool(text=["x", "y", "x", "z"], label=[0, 1, 1, 0])
    out = dedupe(pool)
    assert out.text == ["x", "y", "z"] and out.label == [0, 1, 0]
    seen: set[tuple[str, str | None]] = set()
    dedupe(Pool(text=["x"], label=[0]), seen)
    assert dedupe(Pool(text=["x", "w"], label=[0, 1]), seen).text == ["w"]


def test_split_take_and_lookup() -> None:
    data = assemble("d", ("a", "b"), {"all": _pool(30)})
    assert len(data.train.take(5)) == 5 and data.train.take(5).text == data.train.text[:5]
    assert data.train.take(None) is data.train and len(data.train.take(10_000)) == len(data.train)
    assert data.split("test") is data.test
    with pytest.raises(DataError, match="unknown split"):
        data.split("dev")
    with pytest.raises(DataError):
        data.train.take(-1)


def test_domain_data_validates_labels_and_lengths() -> None:
    ok = Split(text=("a",), label=(0,))
    with pytest.raises(DataError, match="outside"):
        DomainData(name="d", label_names=("a", "b"), train=ok, validation=ok, test=Split(("x",), (5,)))
    with pytest.raises(DataError, match="must match"):
        Split(text=("a", "b"), label=(0,))
    with pytest.raises(DataError, match="fingerprint"):
        DomainData(name="d", label_names=("a", "b"), train=ok, validation=ok, test=ok, fingerprint="0" * 64)
