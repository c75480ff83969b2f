"""Tokenize a split once, cache it on disk, and serve length-bucketed, minimally padded batches.

The cache is a safetensors file of flat token ids plus offsets (no pickle), keyed by the
tokenizer's full definition, the split's content fingerprint and the maximum length, so a changed
tokenizer or corpus can never be served stale ids.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load_file, save

from adaptermix.data.types import Split
from adaptermix.fileio import atomic_write_bytes


@dataclass(frozen=True)
class Encoded:
    """A tokenized split: example i is `ids[offsets[i]:offsets[i+1]]` (same for `type_ids`)."""

    ids: np.ndarray  # int32, all examples concatenated
    type_ids: np.ndarray  # int8, token type (segment) ids, same layout as `ids`
    offsets: np.ndarray  # int64, len n + 1
    labels: np.ndarray  # int64, len n

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def take(self, n: int | None) -> Encoded:
        """The first `n` examples (all if None)."""
        if n is None or n >= len(self):
            return self
        end = int(self.offsets[n])
        return Encoded(self.ids[:end], self.type_ids[:end], self.offsets[: n + 1], self.labels[:n])


@functools.lru_cache(maxsize=8)
def _tokenizer_digest(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    spec = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def cache_key(tokenizer: Any, split_fingerprint: str, max_length: int) -> str:
    """The cache file stem for a split tokenized by `tokenizer` at `max_length`."""
    return f"{_tokenizer_digest(tokenizer)}-{split_fingerprint[:16]}-{max_length}"


def split_fingerprint(split: Split) -> str:
    """A content hash of one split (texts, pairs, labels)."""
    h = hashlib.sha256()
    for i, text in enumerate(split.text):
        h.update(text.encode())
        h.update(b"\x1f")
        if split.text_pair is not None:
            h.update(split.text_pair[i].encode())
        h.update(b"\x1e%d\x1d" % split.label[i])
    return h.hexdigest()


def encode(tokenizer: Any, split: Split, max_length: int, cache_dir: Path | None = None) -> Encoded:
    """Tokenize `split` (truncating to `max_length`), reading/writing the on-disk cache if given."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "tokens" / f"{cache_key(tokenizer, split_fingerprint(split), max_length)}.safetensors"
        if path.is_file():
            try:
                arrays = load_file(str(path))
                return Encoded(arrays["ids"], arrays["type_ids"], arrays["offsets"], arrays["labels"])
            except Exception:  # a torn or foreign file: rebuild it below
                path.unlink(missing_ok=True)
    pairs = list(split.text_pair) if split.text_pair is not None else None
    out = tokenizer(
        list(split.text),
        pairs,
        truncation=True,
        max_length=max_length,
        return_token_type_ids=True,
        return_attention_mask=False,
    )
    ids = [np.asarray(x, dtype=np.int32) for x in out["input_ids"]]
    types = [np.asarray(x, dtype=np.int8) for x in out["token_type_ids"]]
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(x) for x in ids])
    encoded = Encoded(
        ids=np.concatenate(ids) if ids else np.zeros(0, np.int32),
        type_ids=np.concatenate(types) if types else np.zeros(0, np.int8),
        offsets=offsets,
        labels=np.asarray(split.label, dtype=np.int64),
    )
    if path is not None:
        arrays = {
            "ids": encoded.ids, "type_ids": encoded.type_ids, "offsets": encoded.offsets, "labels": encoded.labels,
        }
        atomic_write_bytes(path, save(arrays))
    return encoded


def length_batches(
    encoded: Encoded,
    batch_size: int,
    max_tokens: int | None = None,
    shuffle_seed: int | None = None,
    max_waste: float = 0.1,
    min_tokens: int = 1024,
) -> list[np.ndarray]:
    """Group examples of similar length into batches (indices), to minimise padding.

    Without `shuffle_seed` (evaluation): sort by length and cut into batches of at most
    `batch_size` examples and `max_tokens` padded tokens; a batch that already holds `min_tokens`
    padded tokens is also cut before an example that would make more than `max_waste` of it
    padding (on CPU, compute is linear in padded tokens, so a big batch of mixed lengths wastes
    more than a few smaller, tighter ones). With `shuffle_seed` (training): shuffle, then sort
    within pools of 50 batches of exactly `batch_size`, so batches stay random in content but tight
    in length; the batch order is shuffled.
    """
    n = len(encoded)
    lengths = encoded.lengths
    if shuffle_seed is None:
        pools = [np.argsort(lengths, kind="stable")]
    else:
        rng = np.random.default_rng(shuffle_seed)
        perm = rng.permutation(n)
        pool = batch_size * 50
        chunks = np.array_split(perm, max(1, -(-n // pool)))
        pools = [chunk[np.argsort(lengths[chunk], kind="stable")] for chunk in chunks]
    batches: list[np.ndarray] = []
    for order in pools:
        if shuffle_seed is not None:  # training: fixed batch size, so every step sees batch_size examples
            batches.extend(order[i : i + batch_size] for i in range(0, len(order), batch_size))
            continue
        start, useful = 0, 0
        for pos in range(len(order)):
            length = int(lengths[order[pos]])  # ascending: the newcomer is the longest of its batch
            count = pos - start
            padded = length * (count + 1)
            waste = 1 - (useful + length) / padded
            full = count >= batch_size or (max_tokens is not None and padded > max_tokens)
            wasteful = length * count >= min_tokens and waste > max_waste
            if count and (full or wasteful):
                batches.append(order[start:pos])
                start, useful = pos, 0
            useful += length
        if start < len(order):
            batches.append(order[start:])
    if shuffle_seed is not None:
        rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def collate(encoded: Encoded, indices: np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the examples at `indices` to their longest one; returns model inputs plus `labels`."""
    lengths = encoded.lengths[indices]
    width = int(lengths.max())
    ids = np.full((len(indices), width), pad_id, dtype=np.int64)
    types = np.zeros((len(indices), width), dtype=np.int64)
    mask = np.zeros((len(indices), width), dtype=np.int64)
    for row, (i, length) in enumerate(zip(indices, lengths, strict=True)):
        start = encoded.offsets[i]
        ids[row, :length] = encoded.ids[start : start + length]
        types[row, :length] = encoded.type_ids[start : start + length]
        mask[row, :length] = 1
    return {
        "input_ids": torch.from_numpy(ids),
        "token_type_ids": torch.from_numpy(types),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(encoded.labels[indices]),
    }


def iter_collated(
    encoded: Encoded, batches: list[np.ndarray], pad_id: int
) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """Yield (indices, padded batch) for each batch."""
    for idx in batches:
        yield idx, collate(encoded, idx, pad_id)
