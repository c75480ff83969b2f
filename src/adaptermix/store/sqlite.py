"""`Store`: one SQLite file per study, WAL mode, idempotent upserts (PAPER §4, Sec. 3.4).

Every evaluated mixture is one row keyed by (target, members, condition, eval_config_hash), so a
re-run never duplicates a row and the sweep can skip what `done_keys` reports. Each `upsert` is one
transaction: a process killed mid-write (even SIGKILL) leaves all committed rows and no partial ones.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from adaptermix._version import __version__
from adaptermix.store.migrate import migrate
from adaptermix.store.schema import DDL, SCHEMA_VERSION, EvalRow, StoreError, StudyMeta

_ROW_COLUMNS = ("target", "members", "condition", "accuracy", "macro_f1", "n_examples", "pair_fsd",
                "flip_fraction", "mean_pairwise_fsd", "seconds", "tokens", "mixer", "mixer_params",
                "condition_params", "precision", "mixture_fsd", "metrics", "correct")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves so a transaction spans exactly one call.
    # timeout: a second writer (e.g. another worker) waits for the lock instead of failing at once.
    try:
        con = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=60.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {path} ({exc}): check the path and its permissions") from exc
    return con


def _read_meta(con: sqlite3.Connection, path: Path) -> dict[str, str]:
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not an adaptermix study store ({exc}): pass a study .sqlite file") from exc
    if not {"meta", "evaluations", "fsd"} <= tables:
        raise StoreError(f"{path} is not an adaptermix study store (missing tables): pass a study .sqlite file")
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def _check_version(meta: dict[str, str], path: Path) -> None:
    found = meta.get("schema_version")
    if found != str(SCHEMA_VERSION):
        raise StoreError(f"{path} has store schema version {found}, this adaptermix reads {SCHEMA_VERSION}: "
                         "export it with the adaptermix that wrote it, or start a new --store file")


_OLD_VERSIONS = ("1", "2")


def _migrate_if_old(con: sqlite3.Connection, tables: set[str]) -> None:
    if "meta" in tables:
        migrate(con)


@dataclass(frozen=True)
class Artifact:
    """A study-level result stored beside the rows: `kind` (e.g. `corpus_analysis`), `key`, JSON text."""

    kind: str
    key: str
    value: str
    created: str

    def json(self) -> Any:
        """The value parsed."""
        return json.loads(self.value)


class Store:
    """A study's results database. Use `Store.open` to write (sweeps) and `Store.read` to report.

    Attributes:
        path: the SQLite file.
        meta: the study this store was made for.
    """

    def __init__(self, con: sqlite3.Connection, path: Path, meta: StudyMeta) -> None:
        self._con = con
        self.path = path
        self.meta = meta

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, meta: StudyMeta) -> Store:
        """Open (creating if new) a store for writing, and check it was made for `meta`'s study.

        Args:
            path: the study .sqlite file; parent folders are created.
            meta: the study of this run.

        Returns:
            An open `Store`.

        Raises:
            StoreError: the file is not a store, has another schema version, or was made for a
                different adapter set, base model, method or eval config.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = _connect(path, "rwc")
        try:
            try:
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("PRAGMA synchronous=NORMAL")
                # BEGIN IMMEDIATE takes the write lock, so two processes creating the same new store
                # cannot both write a meta; the second sees the first's and is checked against it.
                con.execute("BEGIN IMMEDIATE")
                tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                if tables and "meta" not in tables:  # someone else's database: never add our tables to it
                    con.execute("ROLLBACK")
                    raise StoreError(f"{path} is an SQLite file but not an adaptermix study store: "
                                     "use a new --store file")
                _migrate_if_old(con, tables)
                for stmt in DDL:
                    con.execute(stmt)
                con.executemany(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                    [("schema_version", str(SCHEMA_VERSION)), ("study", meta.to_json()), ("created", utc_now())],
                )
                con.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{path} is not an adaptermix study store ({exc}): use a new --store file") from exc
            stored = _read_meta(con, path)
            _check_version(stored, path)
            existing = StudyMeta.from_json(stored["study"])
            diff = existing.first_difference(meta)
            if diff is not None:
                what, detail = diff
                raise StoreError(f"{path.name} was made for a different {what} ({detail}): use a new --store file")
        except BaseException:
            con.close()
            raise
        # Keep the stored meta's paths out: the run's own paths are the ones that exist now.
        return cls(con, path, meta)

    @classmethod
    def read(cls, path: str | Path) -> Store:
        """Open an existing store for reading (reporting, export); it is never modified.

        Raises:
            StoreError: missing file, not a store, or another schema version.
        """
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"no study store at {path}: pass the --store file a sweep wrote")
        con = _connect(path, "rw")  # rw (not ro): a WAL reader may need to create the -shm index
        try:
            stored = _read_meta(con, path)
            if stored.get("schema_version") in _OLD_VERSIONS:  # an old store migrates once, then is read as usual
                con.execute("BEGIN IMMEDIATE")
                try:
                    _migrate_if_old(con, {"meta", "evaluations"})
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
                stored = _read_meta(con, path)
            con.execute("PRAGMA query_only=ON")
            _check_version(stored, path)
            if "study" not in stored:
                raise StoreError(f"{path} has no study metadata: it was not written by adaptermix")
            meta = StudyMeta.from_json(stored["study"])
        except BaseException:
            con.close()
            raise
        return cls(con, path, meta)

    # -- evaluations -----------------------------------------------------------------------------

    def done_keys(self, condition: str = "clean", mixer: str = "average") -> set[str]:
        """`target|members_key` of every finished row of this study's eval config, `mixer` and `condition`."""
        cur = self._con.execute(
            "SELECT target, members FROM evaluations WHERE mixer = ? AND condition = ? AND eval_config_hash = ?",
            (mixer, condition, self.meta.eval_config_hash),
        )
        return {f"{t}|{m}" for t, m in cur}

    def upsert(self, rows: Sequence[EvalRow]) -> None:
        """Insert or update `rows` in one transaction (all or nothing).

        Each row is stamped with the eval-config hash, its members' adapter sha256 (JSON), the
        code version and the UTC time. A row with the same (target, members, condition,
        eval_config_hash) is overwritten, so re-running is idempotent.

        Raises:
            StoreError: a member is not an adapter of this study.
        """
        fps = self.meta.fingerprints()
        h, version, now = self.meta.eval_config_hash, __version__, utc_now()
        params = []
        for r in rows:
            missing = [m for m in r.members if m not in fps]
            if missing:
                raise StoreError(f"{missing[0]} is not an adapter of this study: add it to the study or drop the row")
            params.append((r.target, r.members_key, r.k, r.condition, h, float(r.accuracy), float(r.macro_f1),
                           int(r.n_examples), _opt(r.pair_fsd), _opt(r.flip_fraction), _opt(r.mean_pairwise_fsd),
                           json.dumps({m: fps[m] for m in r.members}, sort_keys=True), version,
                           float(r.seconds), int(r.tokens), now, r.mixer, r.mixer_params, r.condition_params,
                           r.precision, _opt(r.mixture_fsd),
                           None if r.metrics is None else json.dumps(r.metrics, sort_keys=True), r.correct))
        if self._con.in_transaction:  # pragma: no cover - only after an interrupted call
            self._con.execute("ROLLBACK")
        self._con.execute("BEGIN IMMEDIATE")
        try:
            self._con.executemany(
                """INSERT INTO evaluations(target, members, k, condition, eval_config_hash, accuracy, macro_f1,
                       n_examples, pair_fsd, flip_fraction, mean_pairwise_fsd, adapter_fingerprints, code_version,
                       seconds, tokens, created, mixer, mixer_params, condition_params, precision, mixture_fsd, metrics,
                       correct)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT(target, members, mixer, condition, eval_config_hash) DO UPDATE SET
                       k = excluded.k, accuracy = excluded.accuracy, macro_f1 = excluded.macro_f1,
                       n_examples = excluded.n_examples, pair_fsd = excluded.pair_fsd,
                       flip_fraction = excluded.flip_fraction, mean_pairwise_fsd = excluded.mean_pairwise_fsd,
                       adapter_fingerprints = excluded.adapter_fingerprints, code_version = excluded.code_version,
                       seconds = excluded.seconds, tokens = excluded.tokens, created = excluded.created,
                       mixer_params = excluded.mixer_params, condition_params = excluded.condition_params,
                       precision = excluded.precision, mixture_fsd = excluded.mixture_fsd,
                       metrics = excluded.metrics, correct = excluded.correct""",
                params,
            )
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def _where(self, condition: str | None, mixer: str | None) -> tuple[str, tuple[str, ...]]:
        sql, args = " WHERE eval_config_hash = ?", (self.meta.eval_config_hash,)
        args_t: tuple[str, ...] = args
        if condition is not None:
            sql, args_t = sql + " AND condition = ?", (*args_t, condition)
        if mixer is not None:
            sql, args_t = sql + " AND mixer = ?", (*args_t, mixer)
        return sql, args_t

    def rows(self, condition: str | None = "clean", mixer: str | None = "average") -> list[EvalRow]:
        """Rows of this study's eval config, ordered by mixer, condition, target, k, members.

        Args:
            condition: a condition label (`clean`, `fgsm(epsilon=0.01)`), or None for all.
            mixer: a mixer label (`average`, `ties(density=0.2,...)`), or None for all.
        """
        where, args = self._where(condition, mixer)
        sql = f"SELECT {', '.join(_ROW_COLUMNS)} FROM evaluations{where} ORDER BY mixer, condition, target, k, members"
        out = []
        for (target, members, cond, acc, f1, n, pair, flip, mean_fsd, secs, toks, mix, mix_p, cond_p, prec, mfsd,
             metrics, correct) in self._con.execute(sql, args):
            out.append(EvalRow(target=target, members=tuple(members.split("+")), condition=cond, accuracy=acc,
                               macro_f1=f1, n_examples=n, pair_fsd=pair, flip_fraction=flip,
                               mean_pairwise_fsd=mean_fsd, seconds=secs or 0.0, tokens=toks or 0, mixer=mix,
                               mixer_params=mix_p, condition_params=cond_p, precision=prec, mixture_fsd=mfsd,
                               metrics=None if metrics is None else json.loads(metrics),
                               correct=None if correct is None else bytes(correct)))
        return out

    def labels(self) -> list[tuple[str, str]]:
        """The (mixer, condition) label pairs that have rows, in first-written order."""
        cur = self._con.execute("SELECT mixer, condition, MIN(id) FROM evaluations WHERE eval_config_hash = ? "
                                "GROUP BY mixer, condition ORDER BY MIN(id)", (self.meta.eval_config_hash,))
        return [(m, c) for m, c, _ in cur]

    def records(self, columns: Sequence[str], condition: str | None = None,
                mixer: str | None = None) -> list[dict[str, object]]:
        """Raw `evaluations` rows of this study's eval config as dicts of `columns` (for export).

        Raises:
            StoreError: a name in `columns` is not a column of `evaluations`.
        """
        known = {r[1] for r in self._con.execute("PRAGMA table_info(evaluations)")}
        bad = [c for c in columns if c not in known]
        if bad:  # names are interpolated into SQL below, so only real column names may pass
            raise StoreError(f"{bad[0]} is not a column of the evaluations table: see docs/store.md")
        where, args = self._where(condition, mixer)
        sql = f"SELECT {', '.join(columns)} FROM evaluations{where} ORDER BY mixer, condition, target, k, members"
        return [dict(zip(columns, row, strict=True)) for row in self._con.execute(sql, args)]

    def count(self, condition: str | None = "clean", mixer: str | None = None) -> int:
        """Number of rows of this study's eval config (and `condition` / `mixer`, unless None)."""
        where, args = self._where(condition, mixer)
        return int(self._con.execute(f"SELECT COUNT(*) FROM evaluations{where}", args).fetchone()[0])

    # -- FSD matrix (Alg. 3, Fig. 4) ---------------------------------------------------------------

    def set_fsd_matrix(self, domains: Sequence[str], S: np.ndarray) -> None:
        """Replace the stored pairwise FSD matrix; every (a, b) and (b, a) entry is a row.

        Raises:
            StoreError: S is not a finite len(domains)² matrix, or a domain is not in the study.
        """
        names = list(domains)
        m = np.asarray(S, dtype=np.float64)
        if m.shape != (len(names), len(names)) or not np.isfinite(m).all():
            raise StoreError(f"FSD matrix of shape {m.shape} does not match {len(names)} domains or is not finite: "
                             "pass the matrix from adaptermix.analysis.fsd_matrix")
        unknown = [d for d in names if d not in self.meta.fingerprints()]
        if unknown:
            raise StoreError(f"{unknown[0]} is not an adapter of this study: compute S over the study's adapters")
        self._con.execute("BEGIN IMMEDIATE")
        try:
            self._con.execute("DELETE FROM fsd")
            self._con.executemany("INSERT INTO fsd(a, b, value) VALUES (?, ?, ?)",
                                  [(a, b, float(m[i, j])) for i, a in enumerate(names) for j, b in enumerate(names)])
            # The row order of S is kept so that fsd_matrix() returns the matrix exactly as given.
            self._con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('fsd_domains', ?)",
                              (json.dumps(names),))
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def fsd_matrix(self) -> tuple[list[str], np.ndarray] | None:
        """The stored (domains, S), or None if no matrix was stored. A missing entry is NaN."""
        entries = {(a, b): v for a, b, v in self._con.execute("SELECT a, b, value FROM fsd")}
        if not entries:
            return None
        row = self._con.execute("SELECT value FROM meta WHERE key = 'fsd_domains'").fetchone()
        names = json.loads(row[0]) if row else sorted({a for a, _ in entries} | {b for _, b in entries})
        S = np.full((len(names), len(names)), np.nan)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                S[i, j] = entries.get((a, b), entries.get((b, a), np.nan))
        return names, S

    # -- artifacts (dataset analysis, stage plans) --------------------------------------------------

    def put_artifact(self, kind: str, key: str, value: str) -> None:
        """Store (or replace) the JSON text `value` under (kind, key), in one transaction.

        Raises:
            StoreError: `value` is not JSON text, or kind/key is empty.
        """
        if not kind or not key:
            raise StoreError(f"artifact kind {kind!r} and key {key!r} must be non-empty")
        try:
            json.loads(value)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"artifact {kind}/{key} is not JSON text ({exc}): pass json.dumps(...) of it") from None
        self._con.execute("BEGIN IMMEDIATE")
        try:
            self._con.execute("INSERT OR REPLACE INTO artifacts(kind, key, value, created) VALUES (?, ?, ?, ?)",
                              (kind, key, value, utc_now()))
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def get_artifact(self, kind: str, key: str) -> Artifact | None:
        """The artifact stored under (kind, key), or None."""
        row = self._con.execute("SELECT kind, key, value, created FROM artifacts WHERE kind = ? AND key = ?",
                                (kind, key)).fetchone()
        return None if row is None else Artifact(*row)

    def artifacts(self, kind: str | None = None) -> list[Artifact]:
        """Every artifact of `kind` (None: all), oldest first."""
        sql = "SELECT kind, key, value, created FROM artifacts"
        args: tuple[str, ...] = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [Artifact(*r) for r in self._con.execute(sql + " ORDER BY created, kind, key", args)]

    # -- lifetime ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _opt(x: float | None) -> float | None:
    return None if x is None else float(x)
