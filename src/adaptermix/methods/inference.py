"""The forward pass over a tokenized split, and the metrics of the paper (accuracy, macro-F1).

Shared by training (model selection) and evaluation (single adapters and mixtures).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from adaptermix.data.tokenize import Encoded, iter_collated, length_batches

# Padded tokens per forward pass at inference. On CPU, ~2k tokens keep each GEMM's operands in
# cache (measured on MiniLM, 2 threads: 5.4k tokens/s at 2048 vs 5.1k at 8192, and less padding);
# a GPU wants far larger batches to fill its cores.
DEFAULT_MAX_TOKENS = 2048
GPU_MAX_TOKENS = 32768
# Several mixtures in one forward (`predict_channels`): each mixture's share of a stacked batch. On
# CPU the stacked forward keeps about DEFAULT_MAX_TOKENS, and the smaller per-mixture batches are cut
# tighter by length (less padding); never below CHANNEL_MIN_TOKENS, where per-forward overheads
# (hundreds of small kernels) start to show.
CHANNEL_MIN_TOKENS = 256
GPU_CHANNEL_MIN_TOKENS = 4096


@dataclass(frozen=True)
class Metrics:
    """Classification quality and throughput of one evaluation."""

    accuracy: float
    macro_f1: float
    n: int
    tokens: int  # real (non-pad) tokens processed
    padded_tokens: int  # tokens including padding
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "n": self.n,
            "tokens": self.tokens,
            "padded_tokens": self.padded_tokens,
            "seconds": self.seconds,
            "tokens_per_s": self.tokens_per_s,
        }


def model_inputs(model: nn.Module, batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """The tensors of `batch` that `model` takes, on `device`.

    RoBERTa has a single token type (type_vocab_size = 1): segment ids of sentence pairs from a
    BERT-style tokenizer would index out of range, so they are passed only to models that use them.
    """
    use_types = getattr(getattr(model, "config", None), "type_vocab_size", 2) > 1
    return {k: v.to(device) for k, v in batch.items() if k != "labels" and (use_types or k != "token_type_ids")}


def classification_metrics(preds: np.ndarray, labels: np.ndarray, num_labels: int) -> tuple[float, float]:
    """Accuracy and macro-F1 (mean over the labels present in `labels` or `preds`)."""
    if len(labels) == 0:
        raise ValueError("cannot score an empty split")
    accuracy = float((preds == labels).mean())
    f1s = []
    for c in range(num_labels):
        tp = int(((preds == c) & (labels == c)).sum())
        fp = int(((preds == c) & (labels != c)).sum())
        fn = int(((preds != c) & (labels == c)).sum())
        if tp + fp + fn == 0:
            continue  # label absent from both: it says nothing about this split
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return accuracy, float(np.mean(f1s))


Batches = list[tuple[np.ndarray, dict[str, torch.Tensor]]]


def prepare_batches(
    model: nn.Module, encoded: Encoded, pad_id: int, batch_size: int = 128, max_tokens: int | None = None
) -> Batches:
    """Length-sorted, dynamically padded model inputs for `encoded`, on the model's device.

    A sweep scores thousands of mixtures on the same split: building these once per target and
    reusing them keeps collation off the per-mixture path.
    """
    device = next(model.parameters()).device
    default = GPU_MAX_TOKENS if device.type == "cuda" else DEFAULT_MAX_TOKENS
    plan = length_batches(encoded, batch_size if device.type != "cuda" else 4 * batch_size, max_tokens or default)
    return [(idx, model_inputs(model, batch, device)) for idx, batch in iter_collated(encoded, plan, pad_id)]


def channel_max_tokens(device: torch.device, channels: int) -> int:
    """Padded tokens per mixture in a batch shared by `channels` mixtures (see `CHANNEL_MIN_TOKENS`)."""
    if device.type == "cuda":
        return max(GPU_CHANNEL_MIN_TOKENS, GPU_MAX_TOKENS // channels)
    return max(CHANNEL_MIN_TOKENS, DEFAULT_MAX_TOKENS // channels)


def _argmax_passes(model: nn.Module, batches: Batches, preds: np.ndarray,
                   logits_of: Callable[[Any], torch.Tensor],
                   keep: Callable[[Any, torch.Tensor], None] | None = None) -> int:
    """Write the argmax of every batch's logits into `preds[..., idx]`; returns the padded tokens.

    `keep(idx, logits)`, when given, also sees every batch's logits (e.g. to keep probabilities).
    """
    padded = 0
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for idx, inputs in batches:
            padded += inputs["input_ids"].numel()
            logits = logits_of(model(**inputs))
            preds[..., idx] = logits.argmax(-1).cpu().numpy()
            if keep is not None:
                keep(idx, logits)
    model.train(was_training)
    return padded


def predict_channels(model: nn.Module, n: int, batches: Batches, channels: int) -> tuple[np.ndarray, int]:
    """Predicted labels of `channels` mixtures at once: (channels, n) in the split's order, and padded tokens.

    The model must be set up for AdapterHub `Parallel` with `channels` adapters and as many heads: the
    batch is repeated at the first adapter and channel c's logits are `head_outputs[c]`.
    """

    def logits_of(output: Any) -> torch.Tensor:
        if len(output.head_outputs) != channels:
            raise ValueError(f"expected {channels} parallel outputs, got {len(output.head_outputs)}")
        return torch.stack([out.logits for out in output.head_outputs])

    preds = np.empty((channels, n), dtype=np.int64)
    return preds, _argmax_passes(model, batches, preds, logits_of)


def predict(
    model: nn.Module,
    encoded: Encoded,
    pad_id: int,
    batch_size: int = 128,
    max_tokens: int | None = None,
    batches: Batches | None = None,
) -> tuple[np.ndarray, int]:
    """Predicted label per example (in the split's order) and the padded token count.

    Length-sorted batches with dynamic padding (or the given `batches` from `prepare_batches`);
    `inference_mode`; the model's active adapter and head are used as they are.
    """
    if batches is None:
        batches = prepare_batches(model, encoded, pad_id, batch_size, max_tokens)
    preds = np.empty(len(encoded), dtype=np.int64)
    return preds, _argmax_passes(model, batches, preds, lambda output: output.logits)


def predict_proba(
    model: nn.Module, encoded: Encoded, pad_id: int, batches: Batches | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Predicted label and softmax probabilities per example (in the split's order), and padded tokens.

    The same forward as `predict` (same batches, the label is the argmax of the logits, not of the
    rounded probabilities), keeping the distribution for label-free scores (agreement, entropy).
    """
    if batches is None:
        batches = prepare_batches(model, encoded, pad_id)
    preds = np.empty(len(encoded), dtype=np.int64)
    kept: list[np.ndarray] = []

    def keep(idx: Any, logits: torch.Tensor) -> None:
        if not kept:
            kept.append(np.empty((len(encoded), logits.shape[-1]), dtype=np.float64))
        kept[0][idx] = torch.softmax(logits.float(), dim=-1).double().cpu().numpy()

    padded = _argmax_passes(model, batches, preds, lambda output: output.logits, keep)
    return preds, kept[0] if kept else np.empty((0, 0)), padded


def evaluate_model(
    model: nn.Module, encoded: Encoded, pad_id: int, num_labels: int, batches: Batches | None = None
) -> Metrics:
    """Run `predict` and score it (see `classification_metrics`)."""
    start = time.perf_counter()
    preds, padded = predict(model, encoded, pad_id, batches=batches)
    seconds = time.perf_counter() - start
    accuracy, f1 = classification_metrics(preds, encoded.labels, num_labels)
    return Metrics(accuracy, f1, len(encoded), int(encoded.lengths.sum()), padded, seconds)
