"""The study store (PAPER §4): schema, idempotent upserts, study checks, aggregates and export."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from adaptermix.store import SCHEMA_VERSION, AdapterRef, EvalRow, Store, StoreError, StudyMeta, aggregates, export
from adaptermix.store.synthetic import DEFAULT_DOMAINS, synthetic_study, write_synthetic_store

REQUIRED = ["target", "members", "k", "condition", "accuracy", "macro_f1", "n_examples", "pair_fsd", "flip_fraction",
            "mean_pairwise_fsd", "eval_config_hash", "code_version", "created"]


@pytest.fixture
def study() -> tuple[StudyMeta, list[EvalRow], np.ndarray]:
    return synthetic_study(seed=1)


def _row(target: str, members: tuple[str, ...], acc: float = 0.5) -> EvalRow:
    return EvalRow(target=target, members=members, condition="clean", accuracy=acc, macro_f1=acc, n_examples=10,
                   pair_fsd=None, flip_fraction=0.0, mean_pairwise_fsd=None, seconds=0.1, tokens=100)


def test_create_reopen_and_round_trip(tmp_path: Path, study) -> None:
    meta, rows, _ = study
    path = tmp_path / "runs" / "study.sqlite"
    with Store.open(path, meta) as store:
        assert store.count() == 0
        store.upsert(rows)
        assert store.count() == len(rows) == 4 * 2**3
    moved = dataclasses.replace(meta, adapters=tuple(dataclasses.replace(a, path="elsewhere/" + a.domain)
                                                     for a in meta.adapters))
    with Store.open(path, moved) as store:  # adapters moved on disk: still the same study
        assert store.count() == len(rows)
        assert store.rows() == sorted(rows, key=lambda r: (r.target, r.k, r.members_key))
    with Store.read(path) as store:
        assert store.meta == meta
        assert store.count(condition=None) == len(rows)
        assert store.rows(condition="fgsm") == []
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert dict(con.execute("SELECT key, value FROM meta"))["schema_version"] == str(SCHEMA_VERSION)
    fps = con.execute("SELECT adapter_fingerprints FROM evaluations WHERE k = 4 LIMIT 1").fetchone()[0]
    assert set(json.loads(fps)) == set(DEFAULT_DOMAINS)
    con.close()


def test_upsert_is_idempotent_and_updates(tmp_path: Path, study) -> None:
    meta, rows, _ = study
    with Store.open(tmp_path / "s.sqlite", meta) as store:
        store.upsert(rows)
        store.upsert(rows)
        assert store.count() == len(rows)
        changed = [dataclasses.replace(r, accuracy=0.123) for r in rows[:5]]
        store.upsert(changed)
        assert store.count() == len(rows)
        got = {r.key: r.accuracy for r in store.rows()}
        assert all(got[r.key] == 0.123 for r in changed)
        assert got[rows[5].key] == rows[5].accuracy
        store.upsert([dataclasses.replace(rows[0], condition="fgsm")])  # a new condition is a new row
        assert store.count() == len(rows) and store.count("fgsm") == 1 and store.count(None) == len(rows) + 1


def test_done_keys(tmp_path: Path, study) -> None:
    meta, rows, _ = study
    with Store.open(tmp_path / "s.sqlite", meta) as store:
        assert store.done_keys() == set()
        store.upsert(rows[:7])
        assert store.done_keys() == {f"{r.target}|{'+'.join(sorted(r.members))}" for r in rows[:7]}
        assert store.done_keys("textfooler") == set()


def test_members_are_sorted_and_validated(tmp_path: Path, study) -> None:
    meta, _, _ = study
    r = _row("sst2", ("sst2", "ag", "imdb"))
    assert r.members == ("ag", "imdb", "sst2") and r.members_key == "ag+imdb+sst2" and r.k == 3
    with pytest.raises(StoreError, match="include the target"):
        _row("sst2", ("ag", "imdb"))
    with Store.open(tmp_path / "s.sqlite", meta) as store:
        with pytest.raises(StoreError, match="not an adapter of this study"):
            store.upsert([_row("sst2", ("sst2",)), _row("sst2", ("sst2", "wiki"))])
        assert store.count() == 0  # the batch is all or nothing
    with pytest.raises(StoreError, match="rename"):
        AdapterRef("a+b", "0" * 64, "x")


@pytest.mark.parametrize(
    ("change", "what"),
    [
        (lambda m: dataclasses.replace(m, adapters=m.adapters[:3]), "adapter set"),
        (lambda m: dataclasses.replace(m, adapters=(*m.adapters, AdapterRef("wiki", "f" * 64, "w"))), "adapter set"),
        (lambda m: dataclasses.replace(m, adapters=(dataclasses.replace(m.adapters[0], adapter_sha256="0" * 64),
                                                    *m.adapters[1:])), "adapter set"),
        (lambda m: dataclasses.replace(m, eval_config={**m.eval_config, "max_examples": 50}), "eval config"),
        (lambda m: dataclasses.replace(m, base_fingerprint="bert-base-uncased@abc"), "base model"),
        (lambda m: dataclasses.replace(m, method="lora"), "adapter method"),
    ],
)
def test_refuses_a_different_study(tmp_path: Path, study, change, what: str) -> None:
    meta, rows, _ = study
    path = tmp_path / "study.sqlite"
    with Store.open(path, meta) as store:
        store.upsert(rows[:3])
    with pytest.raises(StoreError, match=rf"study\.sqlite was made for a different {what} \(.+\): use a new --store"):
        Store.open(path, change(meta))
    with Store.read(path) as store:  # nothing was mixed in
        assert store.count() == 3


def test_eval_config_hash_is_canonical(study) -> None:
    meta, _, _ = study
    reordered = dataclasses.replace(meta, eval_config=dict(reversed(list(meta.eval_config.items()))))
    assert reordered.eval_config_hash == meta.eval_config_hash and len(meta.eval_config_hash) == 16


def test_read_refuses_non_stores(tmp_path: Path, study) -> None:
    with pytest.raises(StoreError, match="no study store"):
        Store.read(tmp_path / "missing.sqlite")
    text = tmp_path / "notes.sqlite"
    text.write_text("this is not a database, just some text long enough to fill a header " * 20)
    with pytest.raises(StoreError, match="not an adaptermix study store"):
        Store.read(text)
    with pytest.raises(StoreError, match="not an adaptermix study store"):
        Store.open(text, study[0])
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not an adaptermix study store"):
        Store.read(other)
    with pytest.raises(StoreError, match="not an adaptermix study store"):
        Store.open(other, study[0])
    assert {r[0] for r in sqlite3.connect(other).execute("SELECT name FROM sqlite_master")} == {"t"}


def test_read_refuses_another_schema_version(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "s.sqlite")
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 999"):
        Store.read(path)


def test_fsd_matrix_round_trip(tmp_path: Path, study) -> None:
    meta, _, S = study
    with Store.open(tmp_path / "s.sqlite", meta) as store:
        assert store.fsd_matrix() is None
        store.set_fsd_matrix(list(meta.domains), S)
        names, got = store.fsd_matrix()  # type: ignore[misc]
        assert names == list(meta.domains)
        np.testing.assert_array_equal(got, S)
        with pytest.raises(StoreError, match="does not match"):
            store.set_fsd_matrix(list(meta.domains), S[:2, :2])
    con = sqlite3.connect(tmp_path / "s.sqlite")
    assert con.execute("SELECT COUNT(*) FROM fsd").fetchone()[0] == 16
    a, b = meta.domains[0], meta.domains[2]
    ab = con.execute("SELECT value FROM fsd WHERE a = ? AND b = ?", (a, b)).fetchone()[0]
    ba = con.execute("SELECT value FROM fsd WHERE a = ? AND b = ?", (b, a)).fetchone()[0]
    assert ab == ba == S[0, 2]


def test_aggregates_match_numpy(study) -> None:
    _, rows, _ = study
    aggs = aggregates(list(reversed(rows)))
    assert len(aggs) == 4 * 4
    for a in aggs:
        group = [r for r in rows if r.target == a.target and r.k == a.k]
        acc = np.array([r.accuracy for r in group])
        assert a.count == len(group) == math.comb(3, a.k - 1)
        assert a.mean == pytest.approx(acc.mean()) and a.variance == pytest.approx(np.var(acc))
        assert (a.min, a.max) == (acc.min(), acc.max())
        assert a.argmax_members == group[int(np.argmax(acc))].members
        assert a.argmin_members == group[int(np.argmin(acc))].members
    one = next(a for a in aggs if a.k == 1)
    assert one.variance == 0.0 and one.argmax_members == (one.target,)


def test_aggregates_by_hand() -> None:
    rows = [_row("a", ("a",), 0.9), _row("a", ("a", "b"), 0.7), _row("a", ("a", "c"), 0.5), _row("a", ("a", "d"), 0.6)]
    (one, two) = aggregates(rows)
    assert (one.k, one.mean, one.count) == (1, 0.9, 1)
    assert two.mean == pytest.approx(0.6) and two.variance == pytest.approx(((0.1**2) + 0 + (0.1**2)) / 3)
    assert (two.min, two.max, two.argmax_members, two.argmin_members) == (0.5, 0.7, ("a", "b"), ("a", "c"))


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_round_trip(tmp_path: Path, fmt: str) -> None:
    path = write_synthetic_store(tmp_path / "study.sqlite")
    main, agg = export(path, None, fmt)
    assert main == tmp_path / f"study.{fmt}" and agg == tmp_path / f"study_aggregates.{fmt}"
    if fmt == "parquet":
        table, aggs = pq.read_table(main).to_pylist(), pq.read_table(agg).to_pylist()
        cols = pq.read_table(main).column_names
    else:
        with main.open() as fh:
            reader = csv.DictReader(fh)
            cols, table = list(reader.fieldnames or []), list(reader)
        with agg.open() as fh:
            aggs = list(csv.DictReader(fh))
    assert set(REQUIRED) <= set(cols)
    assert len(table) == 32 and len(aggs) == 16
    for rec in table:
        members = rec["members"].split("+")
        assert members == sorted(members) and rec["target"] in members and int(rec["k"]) == len(members)
        assert (rec["pair_fsd"] in (None, "")) == (int(rec["k"]) != 2)
    assert {r["members"] for r in table if r["target"] == "sst2" and int(r["k"]) == 1} == {"sst2"}
    assert not list(tmp_path.glob("*.tmp"))


def test_export_custom_out_and_bad_format(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "study.sqlite")
    main, agg = export(path, tmp_path / "out" / "all.csv", "csv")
    assert main.is_file() and agg == tmp_path / "out" / "all_aggregates.csv"
    with pytest.raises(StoreError, match="unknown export format"):
        export(path, None, "xlsx")


def test_study_meta_names_itself_and_reads_stores_that_did_not() -> None:
    import dataclasses

    from adaptermix.store.schema import AdapterRef, StudyMeta

    meta = StudyMeta(adapters=(AdapterRef("a", "0" * 64, "adapters/a"),), eval_config={"split": "test"},
                     base_fingerprint="f", method="lora", encoder="sentence-transformers/all-MiniLM-L6-v2")
    assert meta.name == "all-MiniLM-L6-v2/lora"
    labelled = dataclasses.replace(meta, label="width=w64 minilm/lora")
    assert StudyMeta.from_json(labelled.to_json()).name == "width=w64 minilm/lora"
    assert labelled.first_difference(meta) is None  # a name is not part of what makes the study
    old = json.loads(meta.to_json())
    del old["encoder"]
    assert StudyMeta.from_json(json.dumps(old)).name == ""  # a store from before studies named themselves
