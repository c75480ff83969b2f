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
from collections.abc import Mapping
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


def _read_text(path: Path, encoding: str) -> str:
    """The file as text; undecodable bytes are reported with their line, as one `DataError`."""
    data = path.read_bytes()
    try:
        # Universal newlines, as `Path.read_text` gives: \r\n and \r become \n (inside quoted fields too).
        return data.decode(encoding).replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path} line {line}: byte {data[exc.start:exc.start + 1]!r} is not UTF-8 ({exc.reason}); "
            "save the file as UTF-8"
        ) from None


def _open_quote_line(lines: list[str], start: int, delimiter: str) -> int | None:
    """The line of a quote left open at the end of the file, scanning the record that begins at `start`.

    Python's csv module reports an unclosed quote where it gave up, i.e. at the end of the file (or
    wherever the swallowed text outgrew the field limit); the user needs the line where the quote
    opened. Scanning stops at the record's end: None means every quote in it was closed.
    """
    in_quotes, field_start, opened = False, True, start
    for lineno in range(start, len(lines) + 1):
        line = lines[lineno - 1]
        i = 0
        while i < len(line):
            ch = line[i]
            if in_quotes:
                if ch == '"' and line[i + 1 : i + 2] == '"':
                    i += 1  # "" is an escaped quote inside a quoted field
                elif ch == '"':
                    in_quotes = False
                field_start = False
            elif ch == '"' and field_start:
                in_quotes, opened, field_start = True, lineno, False
            elif ch in "\r\n":
                return None
            else:
                field_start = ch == delimiter
            i += 1
    return opened if in_quotes else None


def _delimited_rows(path: Path, delimiter: str) -> list[Row]:
    text = _read_text(path, "utf-8-sig")
    # Lines as csv.reader counts them (split at \r, \n, \r\n only), for exact line numbers.
    lines = list(io.StringIO(text, newline=""))
    # strict: an unclosed quote at the end of the file is an error, not a silently swallowed tail.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    rows: list[Row] = []
    start = 1  # the line the next record begins on (reader.line_num is where it ended)
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            if not record:  # a blank line
                continue
            if header is None:
                header = record
                continue
            if len(record) > len(header):
                raise DataError(f"{path} line {line}: more fields than header columns")
            rows.append((f"{path} line {line}", dict(zip(header, record, strict=False))))
    except csv.Error as exc:
        opened = _open_quote_line(lines, start, delimiter)
        if opened is not None:
            raise DataError(
                f"{path} line {opened}: a quoted field opened on this line is never closed; "
                'close the quote, or double a quote inside a field ("")'
            ) from None
        raise DataError(f"{path} line {start}: {exc}; fix the quoting") from None
    _require_columns(path, header or [])
    return rows


def _jsonl_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    # Split at \n only: str.splitlines would also split at U+2028 and friends, which JSON strings may hold.
    for lineno, line in enumerate(_read_text(path, "utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {lineno}: bad JSON ({exc.msg}); one object per line") from None
        except (ValueError, RecursionError) as exc:  # e.g. an integer of >4300 digits, nesting too deep
            reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise DataError(f"{path} line {lineno}: bad JSON ({reason}); one flat object per line") from None
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
    if isinstance(value, bool) or value is None:
        raise DataError(f"{where}: missing or invalid label {value!r}; give a string or integer label")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int | str):
        raise DataError(f"{where}: label {value!r} must be a string or an integer")
    label = _clean(str(value), "label", where).strip()
    if not label:
        raise DataError(f"{where}: missing or invalid label {value!r}; give a string or integer label")
    return label


def _clean(text: str, what: str, where: str) -> str:
    """`text`, refused when it cannot be written as UTF-8 (a lone surrogate, e.g. from a JSON "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DataError(
            f"{where}: {what} has an unpaired surrogate {text[exc.start]!r} at character {exc.start}; "
            "fix the escape in the file"
        ) from None
    return text


def _text(value: Any, what: str, where: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: empty {what}; remove the row or fill it in")
    if not isinstance(value, str):
        raise DataError(f"{where}: {what} must be a string, got {type(value).__name__}; store it as text")
    return _clean(value, what, where).strip()


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
    """Validate records and split them into a `DomainData` (labels: sorted distinct values).

    Raises:
        DataError: naming file and line for a malformed row; an empty split; or a label that occurs
            in validation or test but never in train (its head class could never be learned).
    """
    is_pair = any("text_pair" in rec for rows in records.values() for _, rec in rows)
    first_seen: dict[str, str] = {}  # label -> where it first occurs, for messages
    for rows in records.values():
        for where, rec in rows:
            first_seen.setdefault(_label_string(rec.get("label"), where), where)
    label_names = _sorted_labels(set(first_seen))
    index = {lab: i for i, lab in enumerate(label_names)}
    pools: dict[str, Pool] = {}
    for split, rows in records.items():
        pool = pools[split] = Pool(text_pair=[] if is_pair else None)
        for where, rec in rows:
            text = _text(rec.get("text"), "text", where)
            if is_pair:
                second: str | None = _text(rec.get("text_pair"), "text_pair", where)
            else:
                second = None
            pool.add(text, index[_label_string(rec.get("label"), where)], second)
    data = assemble(name, label_names, pools, seed)
    check_labels_trained(data, first_seen)
    return data


def check_labels_trained(data: DomainData, where: Mapping[str, str] | None = None) -> None:
    """Refuse a label that occurs in validation or test but never in train.

    A head for n labels trained on examples of fewer would silently keep a class it never learned
    (its logit stays at its random initialisation), and every test example of that class would
    count as an error that no adapter or mixture could fix.

    Args:
        data: the split domain.
        where: label -> the location of its first row (file and line), for the message.

    Raises:
        DataError: naming the label, the domain and the split (and where the label occurs).
    """
    trained = set(data.train.label)
    for split in ("test", "validation"):
        missing = sorted(set(data.split(split).label) - trained)
        if missing:
            label = data.label_names[missing[0]]
            at = f" (first at {where[label]})" if where and label in where else ""
            raise DataError(
                f"domain {data.name!r}: label {label!r} occurs in the {split} split{at} but never in the "
                f"train split; add training examples of {label!r} or remove its rows"
            )


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
