"""A fake sentence encoder for the dataset-analysis tests (no model download, deterministic)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np


class HashEmbedder:
    """A deterministic bag-of-hashed-words encoder (dim 16, unit rows) that counts its calls."""

    identity = "hash-16"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), 16), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 16] += 1
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        if progress:
            progress(len(texts))
        return out
