"""Fast in-domain evaluation of adapters and mixtures.

One model per process: the encoder is loaded once with a single adapter slot; each adapter (or
mixture) is copied into the slot in place, and each target's head is added once and reused. Each
split is tokenized once (and cached on disk), batches are length-sorted with dynamic padding, and
everything runs under `inference_mode`.

A sweep scores many mixtures on one split: `predictions_many` runs up to G of them in one forward
(AdapterHub's `Parallel` composition over G adapter slots, one mixture per slot): the encoder's
weights are read once per layer for all G, the part of the encoder before the first adapter runs
once on the un-repeated batch, and each mixture's adapter sees only its own segment of the batch.
Each segment computes exactly what a forward of that mixture alone computes (bit for bit in fp32;
`tests/test_engine_batched.py`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from adaptermix.checkpoints import Checkpoint, read_checkpoint
from adaptermix.data import DomainData, get_domain
from adaptermix.data.tokenize import Encoded, encode
from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.methods.inference import (
    Batches,
    Metrics,
    channel_max_tokens,
    classification_metrics,
    predict,
    predict_channels,
    predict_proba,
    prepare_batches,
)
from adaptermix.methods.model import Base, load_base, load_state, set_threads
from adaptermix.methods.precision import autocast, resolve_precision
from adaptermix.methods.registry import get_method

SLOT = "slot"


@dataclass(frozen=True)
class EvalTarget:
    """A domain split ready to score: its tokens and label names."""

    domain: str
    split: str
    encoded: Encoded
    label_names: tuple[str, ...]


class Evaluator:
    """Scores adapter state dicts on tokenized domain splits with one resident model.

    Args:
        encoder: the base encoder (as recorded in the checkpoints' manifests).
        method: adapter method of every adapter this evaluator will see.
        adapter_size: bottleneck width or LoRA rank.
        max_length: truncation length of the tokenized splits.
        cache_dir: where tokenized splits (and corpora) are cached.
    """

    def __init__(
        self,
        encoder: str,
        method: str,
        adapter_size: int,
        max_length: int = 128,
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        set_threads(threads)
        self.base: Base = load_base(encoder)
        self.base.model.to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        self.method = method
        self.max_length = max_length
        self.cache_dir = cache_dir
        self._config = get_method(method).build_config(self.base.hidden_size, adapter_size)
        self.base.model.add_adapter(SLOT, config=self._config)
        self.base.model.set_active_adapters(SLOT)
        self._slots = [SLOT]  # adapter slots; extra ones are added by `slots` for `predictions_many`
        self._heads: dict[str, int] = {}
        self._active_head: str | None = None
        self._targets: dict[tuple[str, str, int | None], EvalTarget] = {}
        # (id(encoded), max tokens) -> (encoded, prepared inputs); the split is held so its id cannot be reused.
        self._batches: dict[tuple[int, int | None], tuple[Encoded, Batches]] = {}
        self._shadows: list[tuple[Tensor, Tensor, Tensor]] | None = None

    @classmethod
    def for_checkpoint(
        cls, ckpt: Checkpoint, max_length: int = 128, cache_dir: Path | None = None, threads: int | None = None
    ) -> Evaluator:
        """An evaluator matching a checkpoint's encoder, method and size."""
        m = ckpt.manifest
        return cls(m.base.encoder, m.method, m.adapter_size, max_length, cache_dir, threads)

    @property
    def pad_id(self) -> int:
        return self.base.tokenizer.pad_token_id or 0

    def target(self, domain: str, split: str = "test", max_examples: int | None = None) -> EvalTarget:
        """Load and tokenize a domain split once per process (and once per machine, via the cache)."""
        key = (domain, split, max_examples)
        if key not in self._targets:
            data: DomainData = get_domain(domain).load(self.cache_dir)
            part = data.split(split).take(max_examples)
            encoded = encode(self.base.tokenizer, part, self.max_length, self.cache_dir)
            self._targets[key] = EvalTarget(domain, split, encoded, data.label_names)
        return self._targets[key]

    def use_head(self, head_key: str, head: Mapping[str, Tensor], label_names: tuple[str, ...]) -> None:
        """Make `head` (a target domain's head) the active one; heads are added once per key."""
        key = "".join(c if c.isalnum() or c in "_-" else "_" for c in head_key)
        model: Any = self.base.model
        if key not in self._heads:
            model.add_classification_head(key, num_labels=len(label_names), id2label=dict(enumerate(label_names)))
            self._heads[key] = len(label_names)
        load_state(model, key, head, heads=True)
        model.active_head = key
        self._active_head = key

    def slot_parameters(self, slot: str = SLOT) -> dict[str, Tensor]:
        """An adapter slot's parameters by canonical key (live tensors: writing them changes the model)."""
        prefix = {f"{c}.{slot}." for c in ("adapters", "loras")}
        out: dict[str, Tensor] = {}
        for name, param in self.base.model.named_parameters():
            for p in prefix:
                if p in name:
                    out[name.replace(p, p.replace(f".{slot}.", ".adapter."), 1)] = param
        return out

    def slots(self, count: int) -> list[dict[str, Tensor]]:
        """Parameters of the first `count` adapter slots (the resident one first), adding slots as needed.

        Slots beyond the first are built with the same method and size; they are used only by
        `predictions_many`, the resident slot stays the active adapter everywhere else.
        """
        while len(self._slots) < count:
            name = f"{SLOT}{len(self._slots)}"
            self.base.model.add_adapter(name, config=self._config)
            self._slots.append(name)
        self.base.model.set_active_adapters(SLOT)
        return [self.slot_parameters(name) for name in self._slots[:count]]

    def _prepared(self, target: EvalTarget, max_tokens: int | None) -> Batches:
        key = (id(target.encoded), max_tokens)
        if key not in self._batches:
            batches = prepare_batches(self.base.model, target.encoded, self.pad_id, max_tokens=max_tokens)
            self._batches[key] = (target.encoded, batches)
        return self._batches[key][1]

    @contextlib.contextmanager
    def bf16_weights(self) -> Iterator[None]:
        """The frozen encoder's linear layers hold bf16 copies of their weights inside the block.

        Under CPU autocast every `linear` otherwise casts its fp32 weight to bf16 on every call
        (autocast's weight cache is off in `inference_mode`): for MiniLM that re-reads and writes
        the encoder's weights once per forward, ≈ 10 % of a bf16 forward (torch.profiler, 2 cores).
        The copies are made once per evaluator (the encoder is frozen); autocast's cast of a bf16
        tensor to bf16 is a no-op, so the results are those of autocast with fp32 weights. Adapter
        and head weights change between mixtures and stay as they are. Only for use under autocast.
        """
        if self._shadows is None:
            self._shadows = []
            for name, module in self.base.model.named_modules():
                frozen = not any(part in name for part in ("adapters.", "loras.", "heads."))
                if frozen and isinstance(module, torch.nn.Linear):
                    for param in (module.weight, module.bias):
                        if param is not None:
                            self._shadows.append((param, param.data, param.data.to(torch.bfloat16)))
        try:
            for param, _, low in self._shadows:
                param.data = low
            yield
        finally:
            for param, full, _ in self._shadows:
                param.data = full

    def score(self, target: EvalTarget) -> Metrics:
        """Score whatever adapter and head are loaded now on `target` (its batches are built once)."""
        return self.predictions(target)[0]

    def predictions(self, target: EvalTarget) -> tuple[Metrics, np.ndarray]:
        """Like `score`, with the predicted label of every example in the split's original order.

        Batches run length-sorted; `predict` writes each batch's predictions back at the examples'
        own positions, so `preds[i]` belongs to `target.encoded.labels[i]` (what a paired
        bootstrap over examples needs).
        """
        batches = self._prepared(target, None)
        start = time.perf_counter()
        preds, padded = predict(self.base.model, target.encoded, self.pad_id, batches=batches)
        seconds = time.perf_counter() - start
        accuracy, f1 = classification_metrics(preds, target.encoded.labels, len(target.label_names))
        metrics = Metrics(accuracy, f1, len(target.encoded), int(target.encoded.lengths.sum()), padded, seconds)
        return metrics, preds

    def probabilities(self, target: EvalTarget) -> tuple[Metrics, np.ndarray, np.ndarray]:
        """Like `predictions`, with each example's softmax probabilities too: (metrics, preds, (n, C) probs).

        The same batches and forward as `predictions`, so `preds` and the metrics are the same.
        """
        batches = self._prepared(target, None)
        start = time.perf_counter()
        preds, probs, padded = predict_proba(self.base.model, target.encoded, self.pad_id, batches=batches)
        seconds = time.perf_counter() - start
        accuracy, f1 = classification_metrics(preds, target.encoded.labels, len(target.label_names))
        metrics = Metrics(accuracy, f1, len(target.encoded), int(target.encoded.lengths.sum()), padded, seconds)
        return metrics, preds, probs

    def predictions_many(self, target: EvalTarget, count: int) -> tuple[np.ndarray, int]:
        """Predictions of the mixtures in the first `count` slots (see `slots`) on `target`, in one pass.

        Every forward runs all `count` mixtures on the same batch (AdapterHub `Parallel`, one slot per
        channel, the active head on every channel). Batches are cut to `channel_max_tokens(count)` per
        mixture so that a stacked forward stays the size the machine runs best.

        Returns:
            (preds, padded): int64 (count, n) predicted labels in the split's order, and the padded
            tokens of one mixture's pass.
        """
        import adapters.composition as ac

        model: Any = self.base.model
        device = next(model.parameters()).device
        batches = self._prepared(target, None if count == 1 else channel_max_tokens(device, count))
        if count == 1:
            preds, padded = predict(model, target.encoded, self.pad_id, batches=batches)
            return preds[None], padded
        if self._active_head is None:
            raise ValueError("no head is active: call use_head first")
        model.set_active_adapters(ac.Parallel(*self._slots[:count]))
        model.active_head = ac.Parallel(*[self._active_head] * count)
        try:
            return predict_channels(model, len(target.encoded), batches, count)
        finally:
            model.set_active_adapters(SLOT)
            model.active_head = self._active_head

    def evaluate(
        self,
        adapter: Mapping[str, Tensor],
        head: Mapping[str, Tensor],
        target: EvalTarget,
        head_key: str | None = None,
    ) -> Metrics:
        """Score `adapter` with `head` on `target`.

        Args:
            adapter: canonical adapter state dict (one adapter or a mixture).
            head: canonical head state dict of the target domain.
            target: from `target()`.
            head_key: a stable name for this head; heads with the same key are reused (the
                weights are still copied, so a different head under the same key is honoured).
        """
        load_state(self.base.model, SLOT, adapter)
        self.use_head(head_key or f"head_{len(target.label_names)}_{target.domain}", head, target.label_names)
        return self.score(target)

    def check(self, ckpt: Checkpoint) -> None:
        """Refuse a checkpoint trained on another base or with another method."""
        if ckpt.manifest.base.fingerprint != self.base.fingerprint:
            raise CheckpointError(
                f"{ckpt.path} was trained on base {ckpt.manifest.base.fingerprint}, this evaluator holds "
                f"{self.base.fingerprint}: evaluate it with its own encoder"
            )
        if ckpt.manifest.method != self.method:
            raise CheckpointError(f"{ckpt.path} is a {ckpt.manifest.method} adapter, expected {self.method}")


def evaluate_checkpoint(
    path: str | Path | Checkpoint,
    domain: str | None = None,
    split: str = "test",
    max_examples: int | None = None,
    max_length: int = 128,
    cache_dir: Path | None = None,
    precision: str = "fp32",
) -> Metrics:
    """Evaluate a checkpoint (a directory in any supported format, or one already read) on a domain split
    (its own domain by default). A PEFT/AdapterHub directory that needs flags is read first with
    `read_checkpoint(path, domain, encoder, labels)` and passed as the `Checkpoint`. `precision` is an
    `EvalSpec` precision (`auto`, `fp32`, `bf16`), resolved as a sweep worker resolves it.

    Raises:
        CheckpointError / DataError / ConfigError: bad checkpoint, data, or a label-set mismatch.
    """
    ckpt = path if isinstance(path, Checkpoint) else read_checkpoint(path)
    path = ckpt.path
    evaluator = Evaluator.for_checkpoint(ckpt, max_length, cache_dir)
    evaluator.check(ckpt)
    target = evaluator.target(domain or ckpt.domain, split, max_examples)
    if tuple(target.label_names) != tuple(ckpt.manifest.label_names):
        raise ConfigError(
            f"{path} has labels {list(ckpt.manifest.label_names)} but {target.domain} has "
            f"{list(target.label_names)}: evaluate on the domain of its head"
        )
    if resolve_precision(precision) == "bf16":
        with autocast("bf16"), evaluator.bf16_weights():
            return evaluator.evaluate(ckpt.adapter, ckpt.head, target, head_key=ckpt.name)
    return evaluator.evaluate(ckpt.adapter, ckpt.head, target, head_key=ckpt.name)
