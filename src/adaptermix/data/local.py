"""User-supplied domains: one CSV / TSV / JSONL / Parquet file, or a folder of split files.

A file needs columns `text` and `label` (strings or integers), and optionally `text_pair` for a
sentence-pair task; it is split 8:1:1 with the shared seeded splitter. A folder holds `train.*` and
`test.*` and optionally `validation.*` (or `dev.*`); without one, validation is carved from train.
Label names are the sorted distinct label values, as strings (numerically sorted when every label
is an integer, so 0..10 does not become "0", "1", "10", "2"). Texts are used as given: no dedupe.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from adaptermix.data.splits import DEFAULT_SEED, Pool, assemble
from adaptermix.data.types import DomainData, DomainSpec
from adaptermix.errors import DataError

SUFFIXES: tuple[str, ...] = (".csv", ".tsv", ".jsonl", ".parquet")
_SPLIT_STEMS: dict[str, tuple[str, ...]] = {"train": ("train",), "validation": ("validation", "dev"), "test": ("test",)}

Row = tuple[str, dict[str, Any]]  # (where: "file line N", record)


def _delimited_rows(path: Path, delimiter: str) -> list[Row]:
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[Row] = []
    try:
        for record in reader:
            if None in record:
                raise DataError(f"{path} line {reader.line_num}: more fields than header columns")
            rows.append((f"{path} line {reader.line_num}", dict(record)))
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num}: {exc}; fix the quoting") from exc
    _require_columns(path, list(reader.fieldnames or []))
    return rows


def _jsonl_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {lineno}: bad JSON ({exc.msg}); one object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path} line {lineno}: expected a JSON object with 'text' and 'label'")
        _require_columns(path, list(record), line=lineno)
        rows.append((f"{path} line {lineno}", record))
    return rows


def _parquet_rows(path: Path) -> list[Row]:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise DataError(f"cannot read Parquet file {path}: {exc}") from exc
    _require_columns(path, table.column_names)
    return [(f"{path} row {i + 1}", record) for i, record in enumerate(table.to_pylist())]


def _require_columns(path: Path, columns: list[str], line: int = 1) -> None:
    for needed in ("text", "label"):
        if needed not in columns:
            raise DataError(f"{path} line {line}: missing column {needed!r} (have {columns}); add it")


def read_rows(path: Path) -> list[Row]:
    """The records of one local file, each with its location for error messages.

    Raises:
        DataError: for an unsupported suffix, an unreadable file, missing columns or bad JSON.
    """
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUFFIXES)}")
    try:
        if suffix == ".parquet":
            return _parquet_rows(path)
        if suffix == ".jsonl":
            return _jsonl_rows(path)
        return _delimited_rows(path, "\t" if suffix == ".tsv" else ",")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} ({exc}); it must be a UTF-8 {suffix} file") from exc


def _label_string(value: Any, where: str) -> str:
    if isinstance(value, bool) or value is None or value == "":
        raise DataError(f"{where}: missing or invalid label {value!r}; give a string or integer label")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int | str):
        raise DataError(f"{where}: label {value!r} must be a string or an integer")
    return str(value).strip()


def _sorted_labels(values: set[str]) -> tuple[str, ...]:
    try:
        return tuple(sorted(values, key=int))
    except ValueError:
        return tuple(sorted(values))


def find_split_files(folder: Path) -> dict[str, Path]:
    """`train`, `test` and optional `validation` files in `folder` (by stem, any supported suffix).

    Raises:
        DataError: if train or test is missing, or a split has two candidate files.
    """
    found: dict[str, Path] = {}
    for split, stems in _SPLIT_STEMS.items():
        files = [p for p in sorted(folder.iterdir()) if p.stem in stems and p.suffix.lower() in SUFFIXES]
        if len(files) > 1:
            raise DataError(f"{folder}: several {split} files ({', '.join(p.name for p in files)}); keep one")
        if files:
            found[split] = files[0]
    for needed in ("train", "test"):
        if needed not in found:
            raise DataError(f"{folder}: no {needed}.csv/.tsv/.jsonl/.parquet; a domain folder needs train and test")
    return found


@dataclass(frozen=True, kw_only=True)
class LocalDomain(DomainSpec):
    """A domain read from a local file or folder (see module docstring).

    Attributes:
        path: the file or folder.
        seed: split seed.
    """

    path: Path
    seed: int = DEFAULT_SEED
    kind: str = "local"

    def _records(self) -> dict[str, list[Row]]:
        if self.path.is_dir():
            return {split: read_rows(p) for split, p in find_split_files(self.path).items()}
        return {"all": read_rows(self.path)}

    def available(self) -> tuple[bool, str]:
        """True when the file or folder exists."""
        return (True, "local file") if self.path.exists() else (False, f"{self.path} not found")

    def load(self, cache_dir: Path | None = None) -> DomainData:
        """Read, validate and split the local data. `cache_dir` is unused (reading is fast).

        Raises:
            DataError: naming file and line for malformed rows, or for an empty split.
        """
        return build_local(self.name, self._records(), self.seed)


def build_local(name: str, records: dict[str, list[Row]], seed: int = DEFAULT_SEED) -> DomainData:
    """Validate records and split them into a `DomainData` (labels: sorted distinct values)."""
    is_pair = any("text_pair" in rec for rows in records.values() for _, rec in rows)
    labels = {_label_string(rec.get("label"), where) for rows in records.values() for where, rec in rows}
    label_names = _sorted_labels(labels)
    index = {lab: i for i, lab in enumerate(label_names)}
    pools: dict[str, Pool] = {}
    for split, rows in records.items():
        pool = pools[split] = Pool(text_pair=[] if is_pair else None)
        for where, rec in rows:
            text = rec.get("text")
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{where}: empty text; remove the row or fill it in")
            pair = rec.get("text_pair")
            if is_pair and (not isinstance(pair, str) or not pair.strip()):
                raise DataError(f"{where}: empty text_pair; every row of a pair task needs both texts")
            second = pair.strip() if is_pair and isinstance(pair, str) else None
            pool.add(text.strip(), index[_label_string(rec.get("label"), where)], second)
    return assemble(name, label_names, pools, seed)


def local_domain(path: Path) -> LocalDomain:
    """A `LocalDomain` for `path`, reading it once to learn its labels and whether it is a pair task.

    Raises:
        DataError: if the path does not exist or is malformed.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; give an existing path or a registered domain name")
    probe = LocalDomain(name=path.stem if path.is_file() else path.name, description="", path=path)
    data = probe.load()
    return LocalDomain(
        name=probe.name,
        path=path,
        label_names=data.label_names,
        is_pair=data.is_pair,
        description=f"local {'folder' if path.is_dir() else 'file'} {path}",
    )
