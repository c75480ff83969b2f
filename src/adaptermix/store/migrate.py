"""In-place migration of older stores to the current schema (version 3).

Version 2 → 3 adds what a study stores beside its rows: the per-example correctness of each row
(`evaluations.correct`, NULL for rows written before), the `artifacts` table (dataset analysis,
stage plans) and the `leases` table (sweep chunks claimed by a running process). Nothing is
rewritten: old rows keep every value.

Version 1 → 2 (then 3, in the same pass):

Version 1 keyed rows by (target, members, condition, eval_config_hash) and stored the precision
the driver guessed in the eval config. Version 2 adds the mixer (and the JSON of both specs) to
the key and stores the precision each worker used per row. A v1 row was the uniform average
(Eq. 1) under `clean`, scored in the precision its config names: that is what it becomes. The
study's eval config gets `precision: auto` (what v1 did: bf16 on GPU, fp32 on CPU) so the same
sweep command resumes the migrated study. One transaction: a crash leaves the v1 store as it was.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3

from adaptermix.store.schema import DDL, SCHEMA_VERSION, V3_TABLES, canonical_json

#: `MixSpec().as_json()` and `ConditionSpec().as_json()`, spelled out so the store needs no model code.
AVERAGE_JSON = '{"mixer":"average","params":{},"reference":"raw","space":"factors"}'
CLEAN_JSON = '{"condition":"clean","params":{}}'

_COPIED = ("target", "members", "k", "condition", "accuracy", "macro_f1", "n_examples", "pair_fsd", "flip_fraction",
           "mean_pairwise_fsd", "adapter_fingerprints", "code_version", "seconds", "tokens", "created")


def migrate_v1(con: sqlite3.Connection) -> None:
    """Rewrite a v1 store as v2 inside the caller's open transaction (BEGIN IMMEDIATE)."""
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    study = json.loads(meta["study"])
    old_config = dict(study["eval_config"])
    old_hash = hashlib.sha256(canonical_json(old_config).encode()).hexdigest()[:16]
    precision = "bf16" if str(old_config.get("precision", "fp32")).startswith("bf16") else "fp32"
    new_config = {"split": old_config.get("split", "test"), "max_examples": old_config.get("max_examples"),
                  "max_length": old_config.get("max_length", 128), "precision": "auto"}
    new_hash = hashlib.sha256(canonical_json(new_config).encode()).hexdigest()[:16]
    study["eval_config"], study["eval_config_hash"] = new_config, new_hash
    con.execute("ALTER TABLE evaluations RENAME TO evaluations_v1")
    con.execute("DROP INDEX IF EXISTS evaluations_by_target_k")
    for stmt in DDL:
        con.execute(stmt)
    cols = ", ".join(_COPIED)
    con.execute(
        f"""INSERT INTO evaluations({cols}, mixer, mixer_params, condition_params, precision, eval_config_hash)
            SELECT {cols}, 'average', ?, ?, ?,
                   CASE WHEN eval_config_hash = ? THEN ? ELSE eval_config_hash END
            FROM evaluations_v1""",
        (AVERAGE_JSON, CLEAN_JSON, precision, old_hash, new_hash),
    )
    con.execute("DROP TABLE evaluations_v1")
    con.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [("study", canonical_json(study)), ("schema_version", str(SCHEMA_VERSION)),
                     ("migrated_from", "1")])


def migrate_v2(con: sqlite3.Connection) -> None:
    """Add version 3's column and tables to a v2 store inside the caller's open transaction."""
    columns = {r[1] for r in con.execute("PRAGMA table_info(evaluations)")}
    if "correct" not in columns:
        con.execute("ALTER TABLE evaluations ADD COLUMN correct BLOB")
    for stmt in V3_TABLES:
        con.execute(stmt)
    con.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("migrated_from", "2")])


def migrate(con: sqlite3.Connection) -> None:
    """Bring a store of any older version to the current one (inside the caller's transaction)."""
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        return
    if row[0] == "1":
        migrate_v1(con)  # builds the current DDL, so it lands on the current version at once
    elif row[0] == "2":
        migrate_v2(con)
