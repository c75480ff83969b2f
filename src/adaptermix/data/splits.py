"""Deterministic, seeded splitting shared by hub, offline and local domains (PAPER.md §2).

Every shuffle is an ordering of example indices by a keyed BLAKE2b digest of `(seed, index)`. That
depends on nothing but the seed and the number of examples: no NumPy stream (which NumPy does not
promise to keep across versions), no Python `hash()` (randomised per process), no global state.

Split policies, chosen by which source splits a domain provides:
- one pool ("all"): shuffle, then 8:1:1 train / validation / test (the paper's six non-GLUE sets);
- "train" + "test": keep the source's test, carve validation (10 % of train) from train (GLUE,
  whose public validation split is the paper's test split);
- "train" + "validation" + "test": keep all three, shuffled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from adaptermix.data.types import DomainData, Split
from adaptermix.errors import DataError

DEFAULT_SEED = 2024
TRAIN_FRACTION, VALIDATION_FRACTION = 0.8, 0.1


@dataclass
class Pool:
    """Examples before splitting: parallel lists, appended to by parsers."""

    text: list[str] = field(default_factory=list)
    label: list[int] = field(default_factory=list)
    text_pair: list[str] | None = None

    def __len__(self) -> int:
        return len(self.text)

    def add(self, text: str, label: int, text_pair: str | None = None) -> None:
        """Append one example (`text_pair` only for pair pools)."""
        self.text.append(text)
        self.label.append(label)
        if text_pair is not None:
            if self.text_pair is None:
                self.text_pair = []
            self.text_pair.append(text_pair)

    def select(self, indices: Sequence[int]) -> Split:
        """A `Split` of the examples at `indices`, in that order."""
        pair = None if self.text_pair is None else tuple(self.text_pair[i] for i in indices)
        return Split(
            text=tuple(self.text[i] for i in indices), label=tuple(self.label[i] for i in indices), text_pair=pair
        )


def permutation(n: int, seed: int, salt: str = "") -> list[int]:
    """A deterministic permutation of range(n), identical on every machine and Python version.

    Args:
        n: number of items.
        seed: integer seed.
        salt: extra key material, so two shuffles with one seed can differ (e.g. the split name).

    Returns:
        The indices 0..n-1 ordered by the digest of (seed, salt, index).
    """
    key = f"{seed}:{salt}".encode()
    return sorted(range(n), key=lambda i: hashlib.blake2b(str(i).encode(), key=key[:64], digest_size=8).digest())


def three_way_sizes(n: int) -> tuple[int, int, int]:
    """Train / validation / test sizes for an 8:1:1 split of `n` examples (each >= 1 when n >= 3)."""
    n_val = max(1, round(n * VALIDATION_FRACTION)) if n >= 3 else 0
    n_test = n_val
    return n - n_val - n_test, n_val, n_test


def dedupe(pool: Pool, seen: set[tuple[str, str | None]] | None = None) -> Pool:
    """Drop exact repeats of (text, text_pair), keeping the first occurrence (and its label).

    Repeated texts would otherwise land on both sides of a split and inflate test accuracy; in the
    TREC file two thirds of the lines are repeats (it concatenates the 1k..5.5k training sets).

    Args:
        pool: the examples.
        seen: keys already taken by earlier pools (updated in place); pass one set through a
            train pool and then its test pool to drop test items that repeat a training text.
    """
    seen = set() if seen is None else seen
    out = Pool(text_pair=None if pool.text_pair is None else [])
    for i, text in enumerate(pool.text):
        pair = None if pool.text_pair is None else pool.text_pair[i]
        if (text, pair) in seen:
            continue
        seen.add((text, pair))
        out.text.append(text)
        out.label.append(pool.label[i])
        if out.text_pair is not None and pair is not None:
            out.text_pair.append(pair)
    return out


def dedupe_pools(pools: Mapping[str, Pool]) -> dict[str, Pool]:
    """`dedupe` across source splits, in the order all/train, validation, test."""
    seen: set[tuple[str, str | None]] = set()
    order = [k for k in ("all", "train", "validation", "test") if k in pools]
    return {key: dedupe(pools[key], seen) for key in order}


def assemble(name: str, label_names: Sequence[str], pools: Mapping[str, Pool], seed: int = DEFAULT_SEED) -> DomainData:
    """Split `pools` by the policy their keys select (see module docstring) into a `DomainData`.

    Args:
        name: the domain name (goes into the fingerprint).
        label_names: class names; pool labels index into them.
        pools: {"all": p} or {"train": p, "test": q} or {"train", "validation", "test"}.
        seed: the shuffle seed.

    Returns:
        The loaded domain with deterministic, shuffled splits.

    Raises:
        DataError: for an unknown combination of pool names, or an empty split.
    """
    keys = set(pools)
    if keys == {"all"}:
        pool = pools["all"]
        order = permutation(len(pool), seed, "all")
        n_train, n_val, _ = three_way_sizes(len(pool))
        parts = {
            "train": pool.select(order[:n_train]),
            "validation": pool.select(order[n_train : n_train + n_val]),
            "test": pool.select(order[n_train + n_val :]),
        }
    elif keys == {"train", "test"}:
        train = pools["train"]
        order = permutation(len(train), seed, "train")
        n_val = max(1, round(len(train) * VALIDATION_FRACTION)) if len(train) >= 2 else 0
        parts = {
            "train": train.select(order[n_val:]),
            "validation": train.select(order[:n_val]),
            "test": pools["test"].select(permutation(len(pools["test"]), seed, "test")),
        }
    elif keys == {"train", "validation", "test"}:
        parts = {key: pools[key].select(permutation(len(pools[key]), seed, key)) for key in pools}
    else:
        raise DataError(
            f"domain {name!r}: source splits {sorted(keys)} are not one of all / train+test / train+validation+test"
        )
    return DomainData(name=name, label_names=tuple(label_names), train=parts["train"],
                      validation=parts["validation"], test=parts["test"])
