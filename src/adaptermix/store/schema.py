"""The declared schema of a study store and the records that travel through it (PAPER §4).

A *study* is one combinatorial evaluation (Sec. 3.4): a fixed set of trained adapters on one frozen
base, one adapter method and one evaluation config. `StudyMeta` is what makes two runs "the same
study"; `EvalRow` is one evaluated mixture (target, member set, condition). The SQL below is the
single source of truth for the on-disk layout and is documented in docs/store.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adaptermix.errors import AdapterMixError

#: Bumped whenever a table or column changes. Version 1 and 2 stores are migrated in place on open
#: (`adaptermix.store.migrate`); any other version is refused.
SCHEMA_VERSION = 3

# Tables added by version 3 (also run by the v2 → v3 migration): study-level results that are not
# one mixture's score (the dataset analysis, stage plans), and the leases of sweep chunks (issue 10).
V3_TABLES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS artifacts (
        kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, created TEXT NOT NULL,
        PRIMARY KEY(kind, key)
    )""",
    """CREATE TABLE IF NOT EXISTS leases (
        chunk TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
        expires REAL NOT NULL
    )""",
)

# One statement per entry so they can run inside an explicit transaction (executescript would
# commit on its own). `members` is the sorted member domain names joined by "+", target included.
DDL: tuple[str, ...] = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
    """CREATE TABLE IF NOT EXISTS evaluations (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        members TEXT NOT NULL,
        k INTEGER NOT NULL,
        mixer TEXT NOT NULL DEFAULT 'average',
        condition TEXT NOT NULL,
        eval_config_hash TEXT NOT NULL,
        mixer_params TEXT NOT NULL DEFAULT '{}',
        condition_params TEXT NOT NULL DEFAULT '{}',
        precision TEXT,
        mixture_fsd REAL,
        metrics TEXT,
        accuracy REAL NOT NULL,
        macro_f1 REAL NOT NULL,
        n_examples INTEGER NOT NULL,
        pair_fsd REAL,
        flip_fraction REAL,
        mean_pairwise_fsd REAL,
        adapter_fingerprints TEXT NOT NULL,
        code_version TEXT NOT NULL,
        seconds REAL,
        tokens INTEGER,
        created TEXT NOT NULL,
        correct BLOB,
        UNIQUE(target, members, mixer, condition, eval_config_hash)
    )""",
    "CREATE INDEX IF NOT EXISTS evaluations_by_target_k ON evaluations(mixer, condition, target, k)",
    "CREATE TABLE IF NOT EXISTS fsd (a TEXT, b TEXT, value REAL, PRIMARY KEY(a, b))",
    *V3_TABLES,
)

# Characters that separate names in `members_key` ("+") and in `done_keys` ("|").
_RESERVED = ("+", "|")


class StoreError(AdapterMixError):
    """A study store is missing, not a store, of another schema version, or from another study."""


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal configs always hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class AdapterRef:
    """One trained adapter of a study: its domain, the sha256 of its weights, and where it was read."""

    domain: str
    adapter_sha256: str
    path: str

    def __post_init__(self) -> None:
        if not self.domain or any(c in self.domain for c in _RESERVED):
            raise StoreError(f"domain name {self.domain!r} is empty or contains '+' or '|': rename the domain")


@dataclass(frozen=True)
class StudyMeta:
    """What makes two runs the same study (Sec. 3.4): adapters, eval config, base model and method.

    Two metas are compatible when they have the same domains with the same sha256 (paths may differ:
    adapters can be moved), the same base fingerprint, the same method and the same eval-config hash.
    """

    adapters: tuple[AdapterRef, ...]
    eval_config: dict[str, Any] = field(hash=False)
    base_fingerprint: str
    method: str
    # How the study names itself (not part of what makes two runs the same study): the encoder its
    # adapters were trained on, and a label (a recipe's `minilm/pfeiffer`, an ablation cell's name).
    encoder: str = field(default="", compare=False)
    label: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        """The study's name in reports: its label, else `<encoder>/<method>`, else "" (stores written before
        studies named themselves, schema 0.1.0 and earlier)."""
        if self.label:
            return self.label
        return f"{self.encoder.rstrip('/').rsplit('/', 1)[-1]}/{self.method}" if self.encoder else ""

    @property
    def eval_config_hash(self) -> str:
        """sha256 of the canonical JSON of `eval_config`, first 16 hex digits."""
        return hashlib.sha256(canonical_json(self.eval_config).encode()).hexdigest()[:16]

    @property
    def domains(self) -> tuple[str, ...]:
        """The adapter domains in the study's order."""
        return tuple(a.domain for a in self.adapters)

    def fingerprints(self) -> dict[str, str]:
        """domain → adapter sha256."""
        return {a.domain: a.adapter_sha256 for a in self.adapters}

    def to_json(self) -> str:
        """Canonical JSON stored in the `meta` table under key `study`."""
        return canonical_json(
            {
                "adapters": [{"domain": a.domain, "adapter_sha256": a.adapter_sha256, "path": a.path}
                             for a in self.adapters],
                "eval_config": self.eval_config,
                "eval_config_hash": self.eval_config_hash,
                "base_fingerprint": self.base_fingerprint,
                "method": self.method,
                **({"encoder": self.encoder} if self.encoder else {}),
                **({"label": self.label} if self.label else {}),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> StudyMeta:
        """Inverse of `to_json`."""
        d = json.loads(text)
        return cls(
            adapters=tuple(AdapterRef(a["domain"], a["adapter_sha256"], a["path"]) for a in d["adapters"]),
            eval_config=dict(d["eval_config"]),
            base_fingerprint=d["base_fingerprint"],
            method=d["method"],
            encoder=d.get("encoder", ""),
            label=d.get("label", ""),
        )

    def first_difference(self, other: StudyMeta) -> tuple[str, str] | None:
        """The first way `other` is a different study, as (what, detail), or None if compatible.

        Args:
            other: the meta of the run that wants to write into a store made with `self`.

        Returns:
            None, or e.g. ("adapter set", "sst2 not in the store") for the error message.
        """
        mine, theirs = self.fingerprints(), other.fingerprints()
        for d in sorted(set(theirs) - set(mine)):
            return "adapter set", f"{d} not in the store"
        for d in sorted(set(mine) - set(theirs)):
            return "adapter set", f"{d} is in the store but not in this run"
        for d in sorted(mine):
            if mine[d] != theirs[d]:
                return "adapter set", f"{d} sha256 {mine[d][:12]} in the store, {theirs[d][:12]} now"
        if self.base_fingerprint != other.base_fingerprint:
            return "base model", f"{self.base_fingerprint} in the store, {other.base_fingerprint} now"
        if self.method != other.method:
            return "adapter method", f"{self.method} in the store, {other.method} now"
        if self.eval_config_hash != other.eval_config_hash:
            keys = sorted(set(self.eval_config) | set(other.eval_config))
            # 1 == 1.0 in Python but not in JSON: fall back to naming the whole config.
            key = next((k for k in keys if self.eval_config.get(k) != other.eval_config.get(k)), None)
            if key is None:
                mine_s, theirs_s = canonical_json(self.eval_config), canonical_json(other.eval_config)
            else:
                mine_s, theirs_s = f"{key}={self.eval_config.get(key)!r}", f"{key}={other.eval_config.get(key)!r}"
            return "eval config", f"{mine_s} in the store, {theirs_s} now"
        return None


@dataclass(frozen=True)
class EvalRow:
    """One evaluated mixture: `members` mixed by `mixer`, scored on `target` with its head under `condition`.

    `members` is normalised to sorted order; the target must be one of them. Accuracies are
    fractions in [0, 1]. `mixer` and `condition` are labels (`average`, `ties(density=0.2,...)`,
    `clean`, `fgsm(epsilon=0.01)`): with the target, members and eval-config hash they key the row.
    """

    target: str
    members: tuple[str, ...]
    condition: str
    accuracy: float
    macro_f1: float
    n_examples: int
    pair_fsd: float | None
    flip_fraction: float | None
    mean_pairwise_fsd: float | None
    seconds: float
    tokens: int
    mixer: str = "average"
    mixer_params: str = "{}"  # canonical JSON of the MixSpec
    condition_params: str = "{}"  # canonical JSON of the ConditionSpec
    precision: str | None = None  # what the worker actually used (fp32 / bf16)
    mixture_fsd: float | None = None  # mean over members of FSD(member, mixture)
    metrics: dict[str, float] | None = None  # condition-specific (attack success rate, queries, ...)
    correct: bytes | None = None  # per-example correctness, `pack_correct` bits in the split's order

    def __post_init__(self) -> None:
        if self.correct is not None and len(self.correct) != (self.n_examples + 7) // 8:
            raise StoreError(f"row for target {self.target!r}: {len(self.correct)} bytes of correctness do not "
                             f"hold {self.n_examples} examples; pack the vector with pack_correct")
        members = tuple(sorted(self.members))
        # Sorting here (not at every caller) keeps members_key canonical, so the UNIQUE key works.
        object.__setattr__(self, "members", members)
        if self.target not in members:
            raise StoreError(f"row for target {self.target!r} has members {members}: include the target")
        if len(set(members)) != len(members):
            raise StoreError(f"row for target {self.target!r} repeats a member in {members}: list each once")

    @property
    def k(self) -> int:
        """Number of adapters in the mixture."""
        return len(self.members)

    @property
    def correctness(self) -> np.ndarray | None:
        """Per-example correctness (bool, length `n_examples`, the split's order), or None if not stored."""
        return None if self.correct is None else unpack_correct(self.correct, self.n_examples)

    @property
    def members_key(self) -> str:
        """Sorted member names joined by "+" (the `members` column)."""
        return "+".join(self.members)

    @property
    def key(self) -> str:
        """`target|members_key`, the form `Store.done_keys` returns."""
        return f"{self.target}|{self.members_key}"


def pack_correct(correct: np.ndarray | Sequence[bool]) -> bytes:
    """A per-example correctness vector as packed bits (little bit order: example i is bit i % 8 of byte i // 8).

    One bit per example keeps a row's vector small: 872 bytes for a 6,976-example split.
    """
    return np.packbits(np.asarray(correct, dtype=bool), bitorder="little").tobytes()


def unpack_correct(packed: bytes, n: int) -> np.ndarray:
    """Inverse of `pack_correct` for a vector of `n` examples."""
    return np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=n, bitorder="little").astype(bool)
