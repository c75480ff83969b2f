"""Store schema v1 → v2: a store written by the v1 code opens, migrates in place and keeps every row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from adaptermix.evaluation.spec import ConditionSpec, EvalSpec
from adaptermix.mixing.spec import MixSpec
from adaptermix.store import SCHEMA_VERSION, AdapterRef, EvalRow, Store, StudyMeta
from adaptermix.store.migrate import AVERAGE_JSON, CLEAN_JSON
from adaptermix.store.schema import canonical_json

# The DDL of schema version 1, verbatim from the v1 code (adaptermix 0.1.0, commit 3bffd15).
V1_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS evaluations (
        id INTEGER PRIMARY KEY, target TEXT NOT NULL, members TEXT NOT NULL, k INTEGER NOT NULL,
        condition TEXT NOT NULL, eval_config_hash TEXT NOT NULL, accuracy REAL NOT NULL, macro_f1 REAL NOT NULL,
        n_examples INTEGER NOT NULL, pair_fsd REAL, flip_fraction REAL, mean_pairwise_fsd REAL,
        adapter_fingerprints TEXT NOT NULL, code_version TEXT NOT NULL, seconds REAL, tokens INTEGER,
        created TEXT NOT NULL, UNIQUE(target, members, condition, eval_config_hash))""",
    "CREATE INDEX IF NOT EXISTS evaluations_by_target_k ON evaluations(condition, target, k)",
    "CREATE TABLE IF NOT EXISTS fsd (a TEXT, b TEXT, value REAL, PRIMARY KEY(a, b))",
)
DOMAINS = ("a", "b", "c")
V1_CONFIG = {"split": "test", "max_examples": 300, "max_length": 64, "precision": "fp32"}


def _v1_hash(config: dict) -> str:
    import hashlib

    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def write_v1_store(path: Path) -> list[tuple]:
    """A store exactly as v1 wrote it: meta rows, 12 evaluations (every in-domain mixture of 3), the FSD matrix."""
    con = sqlite3.connect(path)
    for stmt in V1_DDL:
        con.execute(stmt)
    study = {"adapters": [{"domain": d, "adapter_sha256": f"sha-{d}", "path": f"/ckpt/{d}"} for d in DOMAINS],
             "eval_config": V1_CONFIG, "eval_config_hash": _v1_hash(V1_CONFIG), "base_fingerprint": "fp",
             "method": "pfeiffer"}
    con.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("study", canonical_json(study)),
                                                       ("created", "2026-11-22T00:00:00+00:00")])
    rows = []
    for t in DOMAINS:
        others = [d for d in DOMAINS if d != t]
        for members in ([t], [t, others[0]], [t, others[1]], [t, *others]):
            key = "+".join(sorted(members))
            rows.append((t, key, len(members), "clean", _v1_hash(V1_CONFIG), 0.9 - 0.1 * len(members), 0.5, 300,
                         None, 0.01, None, json.dumps({m: f"sha-{m}" for m in sorted(members)}), "0.1.0", 1.5, 900,
                         "2026-11-22T00:00:00+00:00"))
    con.executemany("""INSERT INTO evaluations(target, members, k, condition, eval_config_hash, accuracy, macro_f1,
                       n_examples, pair_fsd, flip_fraction, mean_pairwise_fsd, adapter_fingerprints, code_version,
                       seconds, tokens, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
    con.executemany("INSERT INTO fsd VALUES (?, ?, ?)", [(a, b, 0.0 if a == b else 0.2) for a in DOMAINS
                                                         for b in DOMAINS])
    con.commit()
    con.close()
    return rows


def test_json_constants_match_the_specs():
    assert MixSpec().as_json() == AVERAGE_JSON
    assert ConditionSpec().as_json() == CLEAN_JSON


@pytest.mark.parametrize("opener", ["read", "open"])
def test_v1_store_migrates_in_place_and_keeps_every_row(tmp_path, opener):
    path = tmp_path / "v1.sqlite"
    old = write_v1_store(path)
    if opener == "read":
        store = Store.read(path)
    else:
        spec = EvalSpec(max_examples=300, max_length=64)  # precision auto: what v1 did
        meta = StudyMeta(adapters=tuple(AdapterRef(d, f"sha-{d}", f"/x/{d}") for d in DOMAINS),
                         eval_config=spec.study_config(), base_fingerprint="fp", method="pfeiffer")
        store = Store.open(path, meta)
    with store:
        rows = store.rows()
        assert len(rows) == len(old) == store.count(condition=None)
        assert {(r.target, r.members_key, r.accuracy) for r in rows} == {(o[0], o[1], o[5]) for o in old}
        assert all(r.mixer == "average" and r.condition == "clean" and r.precision == "fp32" for r in rows)
        assert store.labels() == [("average", "clean")]
        assert store.meta.eval_config["precision"] == "auto"
        names, S = store.fsd_matrix()
        assert sorted(names) == list(DOMAINS) and S[0, 1] == 0.2
        if opener == "open":  # and the migrated study accepts new rows of another mixer beside the old ones
            store.upsert([EvalRow("a", ("a", "b"), "clean", 0.4, 0.4, 300, None, None, None, 1.0, 10,
                                  mixer="ties(density=0.2,majority_sign=total,scope=tensor)")])
            assert store.count(condition=None) == len(old) + 1
    con = sqlite3.connect(path)
    assert dict(con.execute("SELECT key, value FROM meta"))["schema_version"] == str(SCHEMA_VERSION)
    assert con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'evaluations_v1'").fetchone()[0] == 0
    con.close()
    with Store.read(path) as again:  # a second open is a plain v2 open
        assert again.count(condition=None) >= len(old)
