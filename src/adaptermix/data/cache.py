"""The on-disk cache: where it lives, atomic writes, and parsed domains as Parquet (never pickle).

A cached domain is one Parquet file with columns `split`, `text`, `text_pair`, `label` and the
label names + fingerprint in the schema metadata. Reading it back re-checks the fingerprint, so a
truncated or hand-edited file is detected and simply re-parsed from the source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from adaptermix.data.types import SPLIT_NAMES, DomainData, Split
from adaptermix.errors import DataError
from adaptermix.fileio import atomic_write_bytes

CACHE_ENV = "ADAPTERMIX_CACHE"
_META_KEY = b"adaptermix.domain"
_FORMAT = 1


def default_cache_dir() -> Path:
    """`$ADAPTERMIX_CACHE` if set, else `~/.cache/adaptermix`."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "adaptermix"


def resolve_cache_dir(cache_dir: Path | None) -> Path:
    """`cache_dir` or the default, created if missing."""
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create cache folder {path}: {exc}; set {CACHE_ENV} to a writable folder") from exc
    return path


def save_domain_data(path: Path, data: DomainData) -> None:
    """Write `data` to `path` as Parquet, atomically."""
    splits: list[str] = []
    texts: list[str] = []
    pairs: list[str | None] = []
    labels: list[int] = []
    for split_name in SPLIT_NAMES:
        split = data.split(split_name)
        splits += [split_name] * len(split)
        texts += split.text
        pairs += split.text_pair if split.text_pair is not None else [None] * len(split)
        labels += split.label
    meta = {
        "format": _FORMAT,
        "name": data.name,
        "label_names": list(data.label_names),
        "fingerprint": data.fingerprint,
        "is_pair": data.is_pair,
    }
    table = pa.table(
        {
            "split": pa.array(splits, pa.string()),
            "text": pa.array(texts, pa.string()),
            "text_pair": pa.array(pairs, pa.string()),
            "label": pa.array(labels, pa.int32()),
        },
        metadata={_META_KEY: json.dumps(meta).encode("utf-8")},
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def load_domain_data(path: Path) -> DomainData | None:
    """Read a domain written by `save_domain_data`; None if missing, unreadable or inconsistent."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads(table.schema.metadata[_META_KEY])
        if meta.get("format") != _FORMAT:
            return None
        columns = table.to_pydict()
        parts: dict[str, Split] = {}
        for split_name in SPLIT_NAMES:
            idx = [i for i, s in enumerate(columns["split"]) if s == split_name]
            pair = tuple(columns["text_pair"][i] for i in idx) if meta["is_pair"] else None
            parts[split_name] = Split(
                text=tuple(columns["text"][i] for i in idx),
                label=tuple(columns["label"][i] for i in idx),
                text_pair=pair,
            )
        return DomainData(
            name=meta["name"], label_names=tuple(meta["label_names"]), fingerprint=meta["fingerprint"], **parts
        )
    except (OSError, KeyError, TypeError, ValueError, pa.ArrowException):
        # A damaged cache entry is not the user's problem: the caller re-parses the source.
        return None
