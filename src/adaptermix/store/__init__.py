"""The results store of a study: SQLite, one file per study, WAL mode (PAPER §4, Sec. 3.4).

Schema version `SCHEMA_VERSION` (3), declared in `schema.DDL` and described in docs/store.md:
`meta`, `evaluations` (one row per target, members, mixer, condition and eval config; its `correct`
column holds the per-example correctness as packed bits), `fsd` (Alg. 3 matrix), `artifacts`
(study-level JSON such as the dataset analysis) and `leases` (sweep chunks claimed by a process).

`members` is the sorted member domain names joined by "+", the target included. Writers use
`Store.open(path, meta)` (creates, or refuses a store of another study); reporting and export use
`Store.read(path)`.
"""

from __future__ import annotations

from adaptermix.store.aggregate import Aggregate, aggregates
from adaptermix.store.export import export
from adaptermix.store.schema import (
    SCHEMA_VERSION,
    AdapterRef,
    EvalRow,
    StoreError,
    StudyMeta,
    pack_correct,
    unpack_correct,
)
from adaptermix.store.sqlite import Artifact, Store

__all__ = ["SCHEMA_VERSION", "AdapterRef", "Aggregate", "Artifact", "EvalRow", "Store", "StoreError", "StudyMeta",
           "aggregates", "export", "pack_correct", "unpack_correct"]
