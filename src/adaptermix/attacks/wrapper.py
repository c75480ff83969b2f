"""A model wrapper in TextAttack's shape: texts in, class probabilities out, batched, queries counted.

It wraps an AdapterHub flexible-head model whose adapter and head are already loaded, e.g. the
resident model of `adaptermix.evaluation.evaluator.Evaluator` after `evaluate` (or `load_state` into
its slot plus `use_head`). The wrapper never changes which adapter or head is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from adaptermix.methods.inference import model_inputs


class ModelWrapper:
    """Batched text classification with a query counter (TextAttack's `ModelWrapper.__call__`).

    Args:
        model: an AdapterHub model with its adapter and head active.
        tokenizer: the model's tokenizer.
        max_length: truncation length (the evaluator's, so clean scores match it).
        batch_size: texts per forward pass.
    """

    def __init__(self, model: Any, tokenizer: Any, max_length: int = 128, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.queries = 0  # texts scored so far (TextAttack's "queries")
        self.forwards = 0  # forward passes so far

    @classmethod
    def from_evaluator(cls, evaluator: Any, batch_size: int = 64) -> ModelWrapper:
        """Wrap the resident model of an `Evaluator` (whatever adapter and head it holds now)."""
        return cls(evaluator.base.model, evaluator.base.tokenizer, evaluator.max_length, batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Tokenized, padded model inputs (on the model's device) for texts (and second texts)."""
        batch = self.tokenizer(list(texts), None if pairs is None else list(pairs), truncation=True,
                               max_length=self.max_length, padding=True, return_tensors="pt",
                               return_token_type_ids=True)
        return model_inputs(self.model, dict(batch), self.device)

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities, shape (len(texts), num_labels), float64; each text counts as one query."""
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} second texts")
        out = []
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                chunk = texts[start : start + self.batch_size]
                pair = None if pairs is None else pairs[start : start + self.batch_size]
                logits = self.model(**self.encode(chunk, pair)).logits
                out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy().astype(np.float64))
                self.forwards += 1
        self.model.train(was_training)
        self.queries += len(texts)
        if not out:
            return np.zeros((0, 0))
        return np.concatenate(out)
