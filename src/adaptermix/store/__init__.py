"""The results store of a study: SQLite, one file per study, WAL mode (PAPER §4, Sec. 3.4).

Schema (version `SCHEMA_VERSION` = 1; full description in docs/store.md)::

    meta(key TEXT PRIMARY KEY, value TEXT)
        -- schema_version, study (StudyMeta as canonical JSON), created, fsd_domains
    evaluations(id INTEGER PRIMARY KEY, target TEXT NOT NULL, members TEXT NOT NULL,
        k INTEGER NOT NULL, condition TEXT NOT NULL, eval_config_hash TEXT NOT NULL,
        accuracy REAL NOT NULL, macro_f1 REAL NOT NULL, n_examples INTEGER NOT NULL,
        pair_fsd REAL, flip_fraction REAL, mean_pairwise_fsd REAL,
        adapter_fingerprints TEXT NOT NULL, code_version TEXT NOT NULL,
        seconds REAL, tokens INTEGER, created TEXT NOT NULL,
        UNIQUE(target, members, condition, eval_config_hash))
    fsd(a TEXT, b TEXT, value REAL, PRIMARY KEY(a, b))   -- both (a, b) and (b, a) stored

`members` is the sorted member domain names joined by "+", the target included. Writers use
`Store.open(path, meta)` (creates, or refuses a store of another study); reporting and export use
`Store.read(path)`.
"""

from __future__ import annotations

from adaptermix.store.aggregate import Aggregate, aggregates
from adaptermix.store.export import export
from adaptermix.store.schema import SCHEMA_VERSION, AdapterRef, EvalRow, StoreError, StudyMeta
from adaptermix.store.sqlite import Store

__all__ = ["SCHEMA_VERSION", "AdapterRef", "Aggregate", "EvalRow", "Store", "StoreError", "StudyMeta", "aggregates",
           "export"]
