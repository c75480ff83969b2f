"""Store schema v3: artifacts, per-example correctness as packed bits, and the in-place v2 → v3 migration."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptermix.store import (
    SCHEMA_VERSION,
    AdapterRef,
    EvalRow,
    Store,
    StoreError,
    StudyMeta,
    pack_correct,
    unpack_correct,
)
from adaptermix.store.schema import canonical_json

# The DDL of schema version 2, verbatim from the v2 code (commit 6148903).
V2_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS evaluations (
        id INTEGER PRIMARY KEY, target TEXT NOT NULL, members TEXT NOT NULL, k INTEGER NOT NULL,
        mixer TEXT NOT NULL DEFAULT 'average', condition TEXT NOT NULL, eval_config_hash TEXT NOT NULL,
        mixer_params TEXT NOT NULL DEFAULT '{}', condition_params TEXT NOT NULL DEFAULT '{}', precision TEXT,
        mixture_fsd REAL, metrics TEXT, accuracy REAL NOT NULL, macro_f1 REAL NOT NULL, n_examples INTEGER NOT NULL,
        pair_fsd REAL, flip_fraction REAL, mean_pairwise_fsd REAL, adapter_fingerprints TEXT NOT NULL,
        code_version TEXT NOT NULL, seconds REAL, tokens INTEGER, created TEXT NOT NULL,
        UNIQUE(target, members, mixer, condition, eval_config_hash))""",
    "CREATE INDEX IF NOT EXISTS evaluations_by_target_k ON evaluations(mixer, condition, target, k)",
    "CREATE TABLE IF NOT EXISTS fsd (a TEXT, b TEXT, value REAL, PRIMARY KEY(a, b))",
)
DOMAINS = ("a", "b")


def _meta() -> StudyMeta:
    return StudyMeta(adapters=tuple(AdapterRef(d, f"sha-{d}", f"/ckpt/{d}") for d in DOMAINS),
                     eval_config={"split": "test", "max_examples": 5, "max_length": 64, "precision": "auto"},
                     base_fingerprint="fp", method="pfeiffer")


def _row(target: str, members: tuple[str, ...], correct: np.ndarray | None = None) -> EvalRow:
    n = 5 if correct is None else len(correct)
    acc = 0.6 if correct is None else float(np.mean(correct))
    return EvalRow(target=target, members=members, condition="clean", accuracy=acc, macro_f1=acc, n_examples=n,
                   pair_fsd=None, flip_fraction=0.0, mean_pairwise_fsd=None, seconds=0.1, tokens=50,
                   correct=None if correct is None else pack_correct(correct))


def write_v2_store(path: Path) -> None:
    """A store exactly as the v2 code wrote it: meta, two rows, an FSD matrix."""
    meta = _meta()
    con = sqlite3.connect(path)
    for stmt in V2_DDL:
        con.execute(stmt)
    con.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "2"), ("study", meta.to_json()),
                                                       ("created", "2026-11-23T00:00:00+00:00")])
    for t in DOMAINS:
        con.execute(
            """INSERT INTO evaluations(target, members, k, mixer, condition, eval_config_hash, mixer_params,
               condition_params, precision, accuracy, macro_f1, n_examples, flip_fraction, adapter_fingerprints,
               code_version, seconds, tokens, created)
               VALUES (?, ?, 1, 'average', 'clean', ?, '{}', '{}', 'fp32', 0.8, 0.7, 5, 0.0, ?, '0.2.0', 1.0, 50,
               '2026-11-23T00:00:00+00:00')""",
            (t, t, meta.eval_config_hash, canonical_json({t: f"sha-{t}"})))
    con.executemany("INSERT INTO fsd VALUES (?, ?, ?)", [(a, b, 0.0 if a == b else 0.3) for a in DOMAINS
                                                         for b in DOMAINS])
    con.commit()
    con.close()


@pytest.mark.parametrize("opener", ["open", "read"])
def test_v2_store_migrates_in_place(tmp_path, opener):
    path = tmp_path / "v2.sqlite"
    write_v2_store(path)
    store = Store.open(path, _meta()) if opener == "open" else Store.read(path)
    with store:
        rows = store.rows()
        assert [(r.target, r.accuracy, r.correct, r.correctness) for r in rows] == [("a", 0.8, None, None),
                                                                                     ("b", 0.8, None, None)]
        assert store.artifacts() == []
        assert store.fsd_matrix() is not None
    con = sqlite3.connect(path)
    meta = dict(con.execute("SELECT key, value FROM meta"))
    assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["migrated_from"] == "2"
    assert {"artifacts", "leases"} <= {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    con.close()
    with Store.open(path, _meta()) as store:  # and the migrated store takes new rows with correctness
        store.upsert([_row("a", ("a", "b"), np.array([True, False, True, True, False]))])
        (pair,) = [r for r in store.rows() if r.k == 2]
        assert pair.correctness.tolist() == [True, False, True, True, False]


def test_artifacts_round_trip_and_replace(tmp_path):
    path = tmp_path / "s.sqlite"
    with Store.open(path, _meta()) as store:
        store.put_artifact("corpus_analysis", "k1", '{"x": 1}')
        store.put_artifact("corpus_analysis", "k2", '{"x": 2}')
        store.put_artifact("alg1_sets", "min_fsd", '{"sets": {}}')
        store.put_artifact("corpus_analysis", "k1", '{"x": 3}')  # same key: replaced, not duplicated
        with pytest.raises(StoreError, match="not JSON"):
            store.put_artifact("corpus_analysis", "bad", "{not json")
    with Store.read(path) as store:
        assert store.get_artifact("corpus_analysis", "k1").json() == {"x": 3}
        assert store.get_artifact("corpus_analysis", "missing") is None
        assert sorted(a.key for a in store.artifacts("corpus_analysis")) == ["k1", "k2"]
        assert len(store.artifacts()) == 3


@given(st.lists(st.booleans(), min_size=1, max_size=300))
def test_correctness_bits_round_trip(bits):
    packed = pack_correct(bits)
    assert len(packed) == (len(bits) + 7) // 8
    assert unpack_correct(packed, len(bits)).tolist() == bits


def test_correctness_of_the_wrong_length_is_refused():
    with pytest.raises(StoreError, match="pack_correct"):
        EvalRow(target="a", members=("a",), condition="clean", accuracy=1.0, macro_f1=1.0, n_examples=20,
                pair_fsd=None, flip_fraction=0.0, mean_pairwise_fsd=None, seconds=0.0, tokens=0,
                correct=pack_correct([True] * 8))
