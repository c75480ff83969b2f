"""The sweep engine: evaluate many mixtures of one adapter set with one resident model.

Why it is fast (PAPER.md §4 needs n·2^(n−1) evaluations, 53,248 for n = 13):
- every member's adapter is flattened once into a row of a stacked (n, P) matrix; a mixture is
  written into the resident adapter's parameters in place, with the same float32 accumulation as
  `adaptermix.mixing.average`, so results are bit-identical to mixing checkpoints one by one;
- no model is rebuilt or reloaded between mixtures, heads are added once per target and swapped;
- each target's split is tokenized once; batches are length-sorted with dynamic padding;
- optional `torch.compile`; bf16 autocast on GPU.
A worker is configured by a small frozen, picklable-free `WorkerConfig` (plain fields), so the same
code runs in-process, in local worker processes, or as a Ray actor.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from adaptermix.evaluation.evaluator import EvalTarget, Evaluator
from adaptermix.training.checkpoint import Checkpoint, check_mixable, read_checkpoint


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to build its model and targets (plain data, sent to workers)."""

    paths: tuple[str, ...]  # checkpoint directories, in study order
    split: str = "test"
    max_examples: int | None = None
    max_length: int = 128
    cache_dir: str | None = None
    compile: bool = False
    threads: int | None = None


@dataclass(frozen=True)
class Chunk:
    """A unit of work: mixtures of one target. Members are indices into `WorkerConfig.paths`."""

    target: int
    subsets: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class MixResult:
    """The score of one mixture on its target's split."""

    target: int
    members: tuple[int, ...]
    accuracy: float
    macro_f1: float
    n_examples: int
    tokens: int
    padded_tokens: int
    seconds: float
    flip_fraction: float  # share of the target's weights whose sign the mixture reverses (Fig. 6)


class SweepWorker:
    """One model, n stacked adapters, and the targets' tokenized splits."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.checkpoints: list[Checkpoint] = [read_checkpoint(p) for p in config.paths]
        check_mixable(self.checkpoints)
        cache = None if config.cache_dir is None else Path(config.cache_dir)
        self.evaluator = Evaluator.for_checkpoint(self.checkpoints[0], config.max_length, cache, config.threads)
        for ckpt in self.checkpoints:
            self.evaluator.check(ckpt)
        slot = self.evaluator.slot_parameters()
        self.keys = sorted(slot)
        self._params = [slot[k] for k in self.keys]
        first = self.checkpoints[0].adapter
        if set(first) != set(self.keys):
            missing = sorted(set(self.keys) ^ set(first))[0]
            raise ValueError(f"adapter tensor {missing!r} does not match the model built for it")
        # (n, P) float32: row i is adapter i flattened in `keys` order.
        device = self._params[0].device
        self.stacked = torch.stack([
            torch.cat([c.adapter[k].detach().to(torch.float32).reshape(-1) for k in self.keys])
            for c in self.checkpoints
        ]).to(device)
        self._sizes = [p.numel() for p in self._params]
        self._buf = torch.empty(self.stacked.shape[1], dtype=torch.float32, device=device)
        self._targets: dict[int, EvalTarget] = {}
        self._head_of: int | None = None
        if config.compile:
            # In place (nn.Module.compile): parameter names, heads and active adapters stay as they are.
            self.evaluator.base.model.compile(dynamic=True)

    @property
    def n(self) -> int:
        return len(self.checkpoints)

    def target(self, i: int) -> EvalTarget:
        if i not in self._targets:
            c = self.config
            self._targets[i] = self.evaluator.target(self.checkpoints[i].domain, c.split, c.max_examples)
        return self._targets[i]

    def _mix_into_model(self, members: Sequence[int]) -> Tensor:
        # Same arithmetic as mixing.average (zeros, then add_ with alpha = 1/k in member order), so
        # a sweep row equals evaluating the averaged checkpoint, bit for bit.
        buf = self._buf
        buf.zero_()
        w = 1.0 / len(members)
        for i in members:
            buf.add_(self.stacked[i], alpha=w)
        with torch.no_grad():
            offset = 0
            for param, size in zip(self._params, self._sizes, strict=True):
                param.copy_(buf[offset : offset + size].view_as(param))
                offset += size
        return buf

    def _flip_fraction(self, target: int, mixture: Tensor) -> float:
        t = self.stacked[target]
        flips = ((t > 0) & (mixture < 0)) | ((t < 0) & (mixture > 0))
        return float(flips.sum()) / t.numel()

    def run(self, chunk: Chunk) -> list[MixResult]:
        """Evaluate every mixture of `chunk` on its target; returns one result per subset."""
        tgt = self.target(chunk.target)
        head_ckpt = self.checkpoints[chunk.target]
        if self._head_of != chunk.target:
            self.evaluator.use_head(f"t{chunk.target}_{head_ckpt.name}", head_ckpt.head, tgt.label_names)
            self._head_of = chunk.target
        results = []
        autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if torch.cuda.is_available()
                    else contextlib.nullcontext())
        for members in chunk.subsets:
            if chunk.target not in members:
                raise ValueError(f"mixture {members} does not contain its target {chunk.target}")
            start = time.perf_counter()
            mixture = self._mix_into_model(members)
            flip = self._flip_fraction(chunk.target, mixture)
            with autocast:
                m = self.evaluator.score(tgt)
            results.append(MixResult(
                target=chunk.target, members=tuple(sorted(members)), accuracy=m.accuracy, macro_f1=m.macro_f1,
                n_examples=m.n, tokens=m.tokens, padded_tokens=m.padded_tokens,
                seconds=time.perf_counter() - start, flip_fraction=flip,
            ))
        return results
