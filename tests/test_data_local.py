"""Local files and folders as domains: formats, split policy, and errors naming file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptermix.data import get_domain, load_domain
from adaptermix.data.local import LocalDomain
from adaptermix.errors import ConfigError, DataError

TEXTS = [f"example number {i}" for i in range(30)]
LABELS = ["pos" if i % 3 else "neg" for i in range(30)]


def _csv(path: Path, sep: str = ",") -> Path:
    path.write_text(f"text{sep}label\n" + "".join(f"{t}{sep}{lab}\n" for t, lab in zip(TEXTS, LABELS, strict=True)))
    return path


def _jsonl(path: Path, records: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_gives_the_same_domain(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mydata{suffix}"
    if suffix in (".csv", ".tsv"):
        _csv(path, "," if suffix == ".csv" else "\t")
    elif suffix == ".jsonl":
        _jsonl(path, [{"text": t, "label": lab} for t, lab in zip(TEXTS, LABELS, strict=True)])
    else:
        pq.write_table(pa.table({"text": TEXTS, "label": LABELS}), path)
    spec = get_domain(str(path))
    assert isinstance(spec, LocalDomain) and spec.kind == "local" and spec.name == "mydata"
    assert spec.label_names == ("neg", "pos") and not spec.is_pair and spec.available()[0]
    data = spec.load()
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 3, 3)
    assert sorted(data.train.text + data.validation.text + data.test.text) == sorted(TEXTS)
    reference = load_domain(str(_csv(tmp_path / "mydata.csv")))
    assert data.fingerprint == reference.fingerprint  # same content, same name -> same data


def test_pair_task_and_integer_labels(tmp_path: Path) -> None:
    records = [{"text": t, "text_pair": t[::-1], "label": i % 11} for i, t in enumerate(TEXTS)]
    data = load_domain(str(_jsonl(tmp_path / "pairs.jsonl", records)))
    assert data.is_pair and data.label_names == tuple(str(i) for i in range(11))  # numeric order
    assert all(b == a[::-1] for a, b in zip(data.test.text, data.test.text_pair or (), strict=True))


def test_folder_with_and_without_validation(tmp_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    _csv(folder / "train.csv")
    _jsonl(folder / "test.jsonl", [{"text": "held out", "label": "neg"}, {"text": "also", "label": "pos"}])
    data = load_domain(str(folder))
    assert data.name == "corpus" and len(data.test) == 2 and len(data.train) + len(data.validation) == 30
    pq.write_table(pa.table({"text": ["dev one"], "label": ["pos"]}), folder / "dev.parquet")
    data = load_domain(str(folder))
    assert data.validation.text == ("dev one",) and len(data.train) == 30


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\na,pos\n,neg\n", r"bad.csv line 3: empty text"),
        ("text,label\na,pos\nb,\n", r"bad.csv line 3: missing or invalid label"),
        ("sentence,label\na,pos\n", r"bad.csv line 1: missing column 'text'"),
        ("text,label\na,pos,extra\n", r"bad.csv line 2: more fields"),
    ],
)
def test_malformed_csv_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DataError, match=message):
        get_domain(str(tmp_path / "bad.csv"))


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    lines = [json.dumps({"text": t, "label": "x"}) for t in TEXTS[:6]] + ["{not json"]
    (tmp_path / "bad.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl line 7: bad JSON"):
        get_domain(str(tmp_path / "bad.jsonl"))


def test_other_path_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        get_domain(str(tmp_path / "missing.csv"))
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        get_domain(str(tmp_path / "data.xlsx"))
    (tmp_path / "tiny.csv").write_text("text,label\na,pos\nb,neg\n")
    with pytest.raises(DataError, match="empty split"):
        get_domain(str(tmp_path / "tiny.csv"))
    (tmp_path / "onelabel.csv").write_text("text,label\n" + "".join(f"t{i},pos\n" for i in range(9)))
    with pytest.raises(DataError, match="needs >= 2"):
        get_domain(str(tmp_path / "onelabel.csv"))
    folder = tmp_path / "nofolder"
    folder.mkdir()
    _csv(folder / "train.csv")
    with pytest.raises(DataError, match="no test"):
        get_domain(str(folder))
    with pytest.raises(ConfigError, match="unknown domain"):
        get_domain("no_such_domain")
