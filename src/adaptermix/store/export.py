"""Export a study store to Parquet or CSV, with its per (target, k) aggregates beside it (PAPER §4).

`study.sqlite` → `study.parquet` + `study_aggregates.parquet` (or `.csv`). Files are written to a
temporary name in the same folder and renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from adaptermix.fileio import atomic_write_bytes
from adaptermix.store.aggregate import Aggregate, aggregates
from adaptermix.store.schema import StoreError
from adaptermix.store.sqlite import Store

FORMATS = ("parquet", "csv")

# (column, arrow type) of the evaluations export, in order; the SQL column of the same name feeds each.
EVAL_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("target", pa.string()), ("members", pa.string()), ("k", pa.int64()), ("mixer", pa.string()),
    ("condition", pa.string()), ("accuracy", pa.float64()), ("macro_f1", pa.float64()), ("n_examples", pa.int64()),
    ("pair_fsd", pa.float64()), ("flip_fraction", pa.float64()), ("mean_pairwise_fsd", pa.float64()),
    ("seconds", pa.float64()), ("tokens", pa.int64()), ("eval_config_hash", pa.string()),
    ("adapter_fingerprints", pa.string()), ("code_version", pa.string()), ("created", pa.string()),
    ("mixture_fsd", pa.float64()), ("precision", pa.string()), ("mixer_params", pa.string()),
    ("condition_params", pa.string()), ("metrics", pa.string()),
)
AGG_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("mixer", pa.string()), ("target", pa.string()), ("k", pa.int64()), ("condition", pa.string()),
    ("mean", pa.float64()),
    ("variance", pa.float64()), ("min", pa.float64()), ("max", pa.float64()), ("count", pa.int64()),
    ("argmax_members", pa.string()), ("argmin_members", pa.string()),
)


def _aggregate_record(a: Aggregate) -> dict[str, Any]:
    return {"mixer": a.mixer, "target": a.target, "k": a.k, "condition": a.condition, "mean": a.mean,
            "variance": a.variance,
            "min": a.min, "max": a.max, "count": a.count, "argmax_members": "+".join(a.argmax_members),
            "argmin_members": "+".join(a.argmin_members)}


def _encode(records: Sequence[dict[str, Any]], columns: Sequence[tuple[str, pa.DataType]], fmt: str) -> bytes:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c for c, _ in columns])
        for rec in records:
            # None (e.g. pair_fsd at k ≠ 2) becomes an empty cell, which readers treat as missing.
            writer.writerow(["" if rec[c] is None else rec[c] for c, _ in columns])
        return buf.getvalue().encode()
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(c, t) for c, t in columns])
    table = pa.Table.from_pylist(list(records), schema=schema)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def export(path: str | Path, out: str | Path | None = None, format: str = "parquet") -> tuple[Path, Path]:  # noqa: A002
    """Export every evaluation row of a store and its aggregates table.

    Args:
        path: the study .sqlite file.
        out: the evaluations file to write; default: beside the store, same stem, `.<format>`.
            The aggregates go to `<stem>_aggregates.<format>` in the same folder.
        format: "parquet" or "csv".

    Returns:
        (evaluations file, aggregates file).

    Raises:
        StoreError: unknown format, or `path` is not a readable store.
    """
    if format not in FORMATS:
        raise StoreError(f"unknown export format {format!r}: use one of {', '.join(FORMATS)}")
    src = Path(path)
    dest = Path(out) if out is not None else src.with_suffix(f".{format}")
    agg_dest = dest.with_name(f"{dest.stem}_aggregates{dest.suffix or '.' + format}")
    with Store.read(src) as store:
        records = store.records([c for c, _ in EVAL_COLUMNS])
        aggs = aggregates(store.rows(condition=None, mixer=None))
    atomic_write_bytes(dest, _encode(records, EVAL_COLUMNS, format))
    atomic_write_bytes(agg_dest, _encode([_aggregate_record(a) for a in aggs], AGG_COLUMNS, format))
    return dest, agg_dest
