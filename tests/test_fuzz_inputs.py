"""Fuzzing what users hand us: local data files (CSV/TSV/JSONL/Parquet) and recipe YAML.

The contract is the CLI's: whatever the bytes, reading either succeeds or raises an
`AdapterMixError` whose message is one line (the CLI prints it and exits 2). Any other exception,
or a message that spans lines, is a bug. Examples are few and small so the file runs in seconds;
the explicit cases below pin what the fuzz found.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adaptermix.data.local import local_domain
from adaptermix.errors import AdapterMixError
from adaptermix.pipeline.recipe import load_recipe

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")


def _only_clear_errors(path: Path) -> None:
    """Load `path` as a local domain: success, or one `AdapterMixError` with a one-line message."""
    try:
        local_domain(path)
    except AdapterMixError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and "\r" not in message, repr(message)


def _recipe_only_clear_errors(path: Path) -> None:
    try:
        load_recipe(path)
    except AdapterMixError as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and "\r" not in message, repr(message)


def _write(tmp_path: Path, suffix: str, data: bytes) -> Path:
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    return path


# Cells that stress the readers: delimiters, quotes, newlines, BOMs, NULs, surrogate-ish escapes.
_ALPHABET = st.sampled_from(list("ab ,\t\"'\n\r\\{}[]:0\x00\ufeff\u2028é€😀"))
_CELL = st.text(_ALPHABET, max_size=12)
_ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=300))
@example(suffix=".csv", data=b"text,label\n\xff\xfe,a\n")
@example(suffix=".parquet", data=b"PAR1\x00\x00PAR1")
def test_random_bytes(tmp_path: Path, suffix: str, data: bytes) -> None:
    _only_clear_errors(_write(tmp_path, suffix, data))


@FUZZ
@given(delimiter=st.sampled_from([",", "\t"]), header=st.lists(_CELL, max_size=4),
       rows=st.lists(st.lists(_CELL, max_size=4), max_size=8), encoding=_ENCODINGS,
       raw_tail=st.sampled_from(["", "\n", '"', 'x,"open\n', "\r\n"]))
def test_delimited_text(tmp_path: Path, delimiter: str, header: list[str], rows: list[list[str]], encoding: str,
                        raw_tail: str) -> None:
    """Well- and badly-quoted CSV/TSV with a `text,label` header or a random one, in several encodings."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header or ["text", "label"])
    writer.writerows(rows)
    text = buf.getvalue() + raw_tail
    suffix = ".csv" if delimiter == "," else ".tsv"
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    _only_clear_errors(_write(tmp_path, suffix, data))


_JSON_SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | _CELL
_JSON = st.recursive(_JSON_SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_CELL, inner, max_size=3), max_leaves=8)


@FUZZ
@given(records=st.lists(st.fixed_dictionaries({"text": _JSON, "label": _JSON},
                                              optional={"text_pair": _JSON, "other": _JSON}), max_size=10),
       junk=st.lists(st.sampled_from(["", "{", "[]", "1", '{"text": "\\ud800", "label": "a"}', "9" * 5000,
                                      "[" * 3000, '{"text": "a", "label": NaN}', "\u2028"]), max_size=2))
def test_jsonl(tmp_path: Path, records: list[dict[str, object]], junk: list[str]) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records] + junk
    _only_clear_errors(_write(tmp_path, ".jsonl", "\n".join(lines).encode("utf-8", "surrogatepass")))


_COLUMN = st.sampled_from([
    pa.array(["a", "b", None, "c"]), pa.array([1, 2, 3, 4]), pa.array([0.5, 1.0, float("nan"), 2.0]),
    pa.array([b"x", b"y", b"z", b"w"]), pa.array([[1], [2], [], None]), pa.array([True, False, True, None]),
    pa.array(["x" * 10, " ", "", "\ud7ff"]), pa.array([{"a": 1}, {"a": 2}, None, {"a": 3}]),
])


@FUZZ
@given(text=_COLUMN, label=_COLUMN, truncate=st.integers(0, 64))
def test_parquet(tmp_path: Path, text: pa.Array, label: pa.Array, truncate: int) -> None:
    """Columns of every type a user might store; also the same file truncated."""
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"text": text, "label": label}), sink)
    data = sink.getvalue().to_pybytes()
    _only_clear_errors(_write(tmp_path, ".parquet", data[: len(data) - truncate]))


@pytest.mark.parametrize(
    "content",
    [
        "text,label\n" + "x" * 200_000 + ",a\n",  # a field over csv's limit
        'text,label\n"' + "x\n" * 50_000,  # an unclosed quote that swallows a big tail
        "text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(20)) + "odd,\ud800\n",
        "text,label\n" + "".join(f"t{i},{'é' * 5000}{i % 2}\n" for i in range(20)),  # huge labels
    ],
    ids=["field-limit", "unclosed-huge", "surrogate-label", "huge-labels"],
)
def test_huge_and_odd_fields(tmp_path: Path, content: str) -> None:
    _only_clear_errors(_write(tmp_path, ".csv", content.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"text": "\\ud800 lone", "label": "a"}', r"line 21: text has an unpaired surrogate"),
        ('{"text": "ok", "label": "\\udfff"}', r"line 21: label has an unpaired surrogate"),
        ('{"text": "ok", "label": ' + "9" * 5000 + "}", r"line 21: bad JSON \(Exceeds the limit"),
        ('{"text": ' + "[" * 5000 + "]" * 5000 + ', "label": 1}', r"line 21: bad JSON \(maximum recursion"),
        ('{"text": "a\u2028b", "label": "a"}', None),  # U+2028 inside a JSON string is not a line break
    ],
    ids=["surrogate-text", "surrogate-label", "huge-int", "deep-nesting", "u2028"],
)
def test_jsonl_edge_cases(tmp_path: Path, line: str, message: str | None) -> None:
    rows = [json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) for i in range(20)]
    path = _write(tmp_path, ".jsonl", "\n".join([*rows, line]).encode())
    if message is None:
        local_domain(path)
        return
    with pytest.raises(AdapterMixError, match=message):
        local_domain(path)


def test_unclosed_quote_in_a_huge_file_names_the_opening_line(tmp_path: Path) -> None:
    path = _write(tmp_path, ".csv", ('text,label\ngood,a\n"never closed,b\n' + "x,a\n" * 50_000).encode())
    with pytest.raises(AdapterMixError, match=r"fuzz.csv line 3: a quoted field opened on this line is never closed"):
        local_domain(path)


# --- the recipe loader -------------------------------------------------------------------------

_YAML_PIECES = st.sampled_from([
    "name: x\n", "out: o\n", "domains: [trec]\n", "domains: []\n", "encoder: 3\n", "train: {max_steps: -1}\n",
    "sweep: {mode: sampled, ci: 0}\n", "eval: nope\n", "a: 2024-13-01\n", "- &a [*a]\n", "[" * 2000, "{",
    "? [a]\n: b\n", "x: !!python/name:os.system\n", "x: !!binary '='\n", "\t", "'", "%YAML 9\n---\n", "\x00",
    "name: \"\\ud800\"\n", "domains: [" + ",".join(["d"] * 500) + "]\n", "out: \"a\\nb\"\n",
])

@FUZZ
@given(pieces=st.lists(_YAML_PIECES, max_size=6), noise=st.binary(max_size=40), encoding=_ENCODINGS)
def test_recipe_yaml(tmp_path: Path, pieces: list[str], noise: bytes, encoding: str) -> None:
    text = "".join(pieces)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8", "surrogatepass")
    _recipe_only_clear_errors(_write(tmp_path, ".yaml", data + noise))


@pytest.mark.parametrize("data", [b"name: \xff\n", b"a: 2024-13-01\n", b"[" * 5000],
                         ids=["not-utf8", "bad-date", "deep-nesting"])
def test_recipe_known_crashes(tmp_path: Path, data: bytes) -> None:
    _recipe_only_clear_errors(_write(tmp_path, ".yaml", data))


@FUZZ
@given(pieces=st.lists(_YAML_PIECES.filter(lambda p: p not in ("a: 2024-13-01\n", "[" * 2000, "\x00")),
                       max_size=6))
def test_recipe_yaml_text(tmp_path: Path, pieces: list[str]) -> None:
    """Valid UTF-8 recipes of every shape; passes today (the crashes above need the recipe fix)."""
    _recipe_only_clear_errors(_write(tmp_path, ".yaml", "".join(pieces).encode("utf-8", "surrogatepass")))
