"""A model wrapper in TextAttack's shape: texts in, class probabilities out, batched, queries counted.

Texts are batched with others of the same token length, never padded: padding changes the
reductions of every layer, while a CPU GEMM gives a row nearly (MiniLM's encoder layers: exactly)
the same result whatever other rows it has. An attack that batches across examples then scores a
text as a one-query-per-forward loop does, to ~1e-7 (measured: fp32 MiniLM + Pfeiffer adapter,
40 sentences alone vs batched, at most 6e-8 apart; bf16 autocast: bit for bit), far below any gap
the attack's decisions turn on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from adaptermix.attacks.tokens import Words
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
        self.tokens = 0  # tokens through the model so far (no padding: every one is a query's)
        self.tokens_sq = 0  # sum over queries of length²: the attention's share of the FLOPs

    @classmethod
    def from_evaluator(cls, evaluator: Any, batch_size: int = 64) -> ModelWrapper:
        """Wrap the resident model of an `Evaluator` (whatever adapter and head it holds now)."""
        return cls(evaluator.base.model, evaluator.base.tokenizer, evaluator.max_length, batch_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def visible_words(self, words: Words, first: str | None = None) -> int:
        """How many leading words of `words` reach the model: those starting inside the truncated input.

        `words` is the attacked text (the second of a pair whose untouched first text is `first`). A
        word that starts beyond the `max_length` tokens the model keeps cannot change its input, so
        deleting or swapping it cannot change a prediction. Without a fast tokenizer (no offsets),
        every word counts.
        """
        if not getattr(self.tokenizer, "is_fast", False) or not words.words:
            return len(words)
        text = words.text
        args = (first, text) if first is not None else (text,)
        enc = self.tokenizer(*args, truncation=True, max_length=self.max_length, return_offsets_mapping=True)
        mine = 1 if first is not None else 0
        ends = [end for (start, end), seq in zip(enc["offset_mapping"], enc.sequence_ids(), strict=True)
                if seq == mine and end > start]
        if not ends:
            return 0
        boundary = max(ends)
        return sum(start < boundary for start in words.starts())

    def encode(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Tokenized, padded model inputs (on the model's device) for texts (and second texts)."""
        batch = self.tokenizer(list(texts), None if pairs is None else list(pairs), truncation=True,
                               max_length=self.max_length, padding=True, return_tensors="pt",
                               return_token_type_ids=True)
        return model_inputs(self.model, dict(batch), self.device)

    def __call__(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities, shape (len(texts), num_labels), float64; each text counts as one query.

        Texts go through the model in groups of equal token length (`batch_size` at most per
        forward), so the result of a text does not depend on what else is scored with it.
        """
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} second texts")
        if not texts:
            return np.zeros((0, 0))
        enc = self.tokenizer(list(texts), None if pairs is None else list(pairs), truncation=True,
                             max_length=self.max_length, return_token_type_ids=True)
        groups: dict[int, list[int]] = {}
        for i, ids in enumerate(enc["input_ids"]):
            groups.setdefault(len(ids), []).append(i)
        rows: dict[int, np.ndarray] = {}
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for length in sorted(groups):
                    idx = groups[length]
                    for start in range(0, len(idx), self.batch_size):
                        part = idx[start : start + self.batch_size]
                        batch = {k: torch.tensor([enc[k][i] for i in part]) for k in enc}
                        logits = self.model(**model_inputs(self.model, batch, self.device)).logits
                        probs = torch.softmax(logits.float(), dim=-1).cpu().numpy().astype(np.float64)
                        rows.update(zip(part, probs, strict=True))
                        self.forwards += 1
                    self.tokens += length * len(idx)
                    self.tokens_sq += length * length * len(idx)
        finally:
            self.model.train(was_training)
        self.queries += len(texts)
        return np.stack([rows[i] for i in range(len(texts))])
