"""The sweep engine: evaluate many mixtures of one adapter set with one resident model.

Why it is fast (PAPER.md §4 needs n·2^(n−1) evaluations, 53,248 for n = 13):
- every member's adapter is flattened once into a row of a stacked (n, P) matrix (`mixing.Layout`);
  a mixture row is computed by the registered mixer (`mixing.mix_rows`, the very function the
  checkpoint path calls, so a sweep row equals mixing the checkpoints bit for bit) and copied into
  the resident adapter's parameters in place;
- a mixer's per-member step (TIES' trim, DARE's drop) depends on the member only, so it runs once
  per adapter and mixer, not once per mixture;
- no model is rebuilt or reloaded between mixtures, heads are added once per target and swapped;
- each target's split is tokenized once; batches are length-sorted with dynamic padding;
- bf16 autocast where it pays (`EvalSpec.precision`, resolved by each worker and stored per row),
  with bf16 copies of the frozen encoder's weights made once (`Evaluator.bf16_weights`);
- under the `clean` condition, up to `WorkerConfig.stack` mixtures of a chunk share each forward
  (`Evaluator.predictions_many`: one adapter slot per mixture, AdapterHub `Parallel`), each scored
  exactly as it would be alone (docs/speed.md has the measurements).
A worker is configured by a frozen `WorkerConfig` holding the study's `EvalSpec`, so the same code
runs in-process, in local worker processes, or as a Ray actor.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from adaptermix.checkpoints import Checkpoint, check_mixable, read_checkpoint
from adaptermix.errors import ConfigError
from adaptermix.evaluation.conditions import CONDITIONS, ScoringContext, autocast
from adaptermix.evaluation.evaluator import EvalTarget, Evaluator
from adaptermix.evaluation.precision import resolve_precision
from adaptermix.evaluation.spec import EvalSpec, MixSpec
from adaptermix.methods.inference import classification_metrics
from adaptermix.mixing import Layout, get_mixer, mix_rows
from adaptermix.pruning.magnitude import magnitude_prune
from adaptermix.signs import count_conflicts, pack_signs

# Mixtures per forward under `clean` when `WorkerConfig.stack` is None. CPU: the stacked forward keeps
# ~2k tokens (`channel_max_tokens`), so more mixtures mean smaller, tighter per-mixture batches; 8
# measured best on MiniLM (docs/speed.md). GPU: larger stacks fill the device.
CPU_STACK = 8
GPU_STACK = 16
# Methods whose stacked (AdapterHub `Parallel`) forward is slower on CPU than one mixture at a time:
# `benchmarks/stack_throughput.py` (MiniLM, 1,000 movie_snippets test examples, bf16, 2 threads, AMD
# EPYC): LoRA 10,461 tokens/s one mixture per forward against 9,230 with 8 stacked (0.88×), where
# Pfeiffer gains (9,872 → 10,943, 1.11×). The LoRA study's sweep rows ran at 9,491 stacked.
CPU_STACK_BY_METHOD = {"lora": 1}


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker needs to build its model and targets (plain data, sent to workers)."""

    paths: tuple[str, ...]  # checkpoint directories, in study order
    spec: EvalSpec = field(default_factory=EvalSpec)
    # (path, domain) of each PEFT / AdapterHub directory among `paths`: those formats record no domain,
    # so the sweep's `--domain NAME=DIR` travels with the paths (ours read their own manifest).
    domains: tuple[tuple[str, str], ...] = ()
    cache_dir: str | None = None
    compile: bool = False
    threads: int | None = None
    stack: int | None = None  # mixtures per forward under `clean` (None: CPU_STACK / GPU_STACK; 1: one at a time)


@dataclass(frozen=True)
class Chunk:
    """A unit of work: mixtures of one target, one mixer and one condition (indices into the spec)."""

    target: int
    subsets: tuple[tuple[int, ...], ...]
    mix: int = 0
    condition: int = 0


@dataclass(frozen=True)
class MixResult:
    """The score of one mixture on its target's split under one condition."""

    target: int
    members: tuple[int, ...]
    accuracy: float
    macro_f1: float
    n_examples: int
    tokens: int
    padded_tokens: int
    seconds: float
    flip_fraction: float  # share of the target's weights whose sign the mixture reverses (Fig. 6)
    mixture_fsd: float = 0.0  # mean over members of FSD(member, mixture)
    # FSD between the target and its one partner (k = 2), and the mean over member pairs (k ≥ 2), in the
    # same view as flip_fraction and mixture_fsd: raw weights, or task vectors for a reference="init" mixer.
    pair_fsd: float | None = None
    mean_pairwise_fsd: float | None = None
    mix: int = 0
    condition: int = 0
    precision: str = "fp32"
    metrics: dict[str, float] = field(default_factory=dict)
    # Per-example correctness in the split's order (bool), when the condition gives it; the driver packs it.
    correct: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Signs:
    """A mixture's sign statistics, all in the view its mixer worked in (see `MixResult`)."""

    flip_fraction: float
    mixture_fsd: float
    pair_fsd: float | None
    mean_pairwise_fsd: float | None


class SweepWorker:
    """One model, n stacked adapters, and the targets' tokenized splits."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        # Where a long condition reports from inside a row (set by an in-process backend; see ScoringContext).
        self.progress: Callable[[str], None] | None = None
        spec = config.spec
        for m in spec.mixers:
            if m.space != "factors":
                raise ConfigError(f"mixer {m.label}: sweeps mix in factor space only; mix one mixture in ΔW "
                                  "space with `adaptermix mix --space delta`")
        domain_of = dict(config.domains)
        self.checkpoints: list[Checkpoint] = [read_checkpoint(p, domain_of.get(p)) for p in config.paths]
        check_mixable(self.checkpoints)
        cache = None if config.cache_dir is None else Path(config.cache_dir)
        self.evaluator = Evaluator.for_checkpoint(self.checkpoints[0], spec.max_length, cache, config.threads)
        for ckpt in self.checkpoints:
            self.evaluator.check(ckpt)
        slot = self.evaluator.slot_parameters()
        self.layout = Layout.of(self.checkpoints[0].adapter)
        if set(self.layout.keys) != set(slot):
            missing = sorted(set(self.layout.keys) ^ set(slot))[0]
            raise ValueError(f"adapter tensor {missing!r} does not match the model built for it")
        self._params = [slot[k] for k in self.layout.keys]
        device = self._params[0].device
        if config.stack is not None and config.stack < 1:
            raise ConfigError(f"stack={config.stack}: give at least 1 mixture per forward")
        cpu_stack = CPU_STACK_BY_METHOD.get(self.checkpoints[0].manifest.method, CPU_STACK)
        self.stack = config.stack or (GPU_STACK if device.type == "cuda" else cpu_stack)
        self._slot_params: list[list[Tensor]] = [self._params]
        # (n, P) float32: row i is adapter i flattened in layout order.
        self.stacked = self.layout.stack([c.adapter for c in self.checkpoints]).to(device)
        self.precision = resolve_precision(spec.precision)
        self._init: Tensor | None = None
        self._prepared: dict[int, Tensor] = {}
        self._bits: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # every member's packed signs, per view
        self._pair_fsd: dict[str, np.ndarray] = {}  # n×n FSD between members, per view
        self._targets: dict[int, EvalTarget] = {}
        self._head_of: tuple[int, str | None] | None = None  # (target, the pruned head's mixer label)
        self._cache: dict[object, object] = {}
        if config.compile:
            # In place (nn.Module.compile): parameter names, heads and active adapters stay as they are.
            self.evaluator.base.model.compile(dynamic=True)

    @property
    def n(self) -> int:
        return len(self.checkpoints)

    def target(self, i: int) -> EvalTarget:
        if i not in self._targets:
            s = self.config.spec
            self._targets[i] = self.evaluator.target(self.checkpoints[i].domain, s.split, s.max_examples)
        return self._targets[i]

    def init_row(self) -> Tensor:
        """The shared initialisation as a row (rebuilt once, for `reference="init"`)."""
        if self._init is None:
            from adaptermix.training.init import shared_init

            init = shared_init(self.evaluator.base, self.checkpoints)
            self._init = self.layout.stack([self.checkpoints[0].adapter, init])[1].to(self.stacked.device)
        return self._init

    def rows_for(self, index: int) -> Tensor:
        """Every member's row as mixer `index` consumes it: reference applied, per-member step done once."""
        if index not in self._prepared:
            ms: MixSpec = self.config.spec.mixers[index]
            rows = self.stacked if ms.reference == "raw" else self.stacked - self.init_row()
            mx = get_mixer(ms.mixer)
            if mx.prepare is not None:
                rows = torch.cat([mx.prepare(rows[i : i + 1], self.layout, **ms.params) for i in range(self.n)])
            self._prepared[index] = rows
        return self._prepared[index]

    def mixture(self, members: Sequence[int], mix: int = 0) -> Tensor:
        """The mixture row of `members` under mixer `mix` (members in the order given)."""
        ms = self.config.spec.mixers[mix]
        rows = self.rows_for(mix)[list(members)]
        out = mix_rows(rows, self.layout, ms.mixer, prepared=True, **ms.params)
        return out if ms.reference == "raw" else self.init_row() + out

    def _load(self, row: Tensor, slot: int = 0) -> None:
        params = self._slot_params[slot]
        with torch.no_grad():
            for param, (a, b) in zip(params, ((o, o + n) for o, n in zip(self.layout.offsets, self.layout.sizes,
                                                                           strict=True)), strict=True):
                param.copy_(row[a:b].view_as(param))

    def _slots(self, count: int) -> None:
        """Make `count` adapter slots loadable by `_load` (slot 0 is the resident one)."""
        if len(self._slot_params) < count:
            self._slot_params = [[slot[k] for k in self.layout.keys] for slot in self.evaluator.slots(count)]

    @contextlib.contextmanager
    def _alone(self, target: int, mixture: Tensor) -> Iterator[None]:
        """The target's own adapter (raw weights) resident inside the block; the mixture again after."""
        self._load(self.stacked[target])
        try:
            yield
        finally:
            self._load(mixture)

    def _signs(self, target: int, members: Sequence[int], mixture: Tensor, mix: int) -> Signs:
        # Every sign statistic of a row in the one view the mixer worked in: raw weights, or task
        # vectors for reference="init" (issue 19: one weight view per stored row). Members' signs are
        # packed once per view (bit i of a row: entry i > 0, resp. < 0), and so is their pairwise FSD
        # matrix; a mixture's once, then each comparison is a popcount over P/64 words (at BERT-base
        # sizes the element-wise comparisons took longer than the forward pass of a short split).
        view = self.config.spec.mixers[mix].reference
        if view == "raw":
            rows, mixed = self.stacked, mixture
        else:
            base = self.init_row()
            rows, mixed = self.stacked - base, mixture - base
        p = rows.shape[1]
        if view not in self._bits:
            pos, neg = self._bits[view] = pack_signs(rows)
            self._pair_fsd[view] = count_conflicts((pos[:, None], neg[:, None]), (pos[None], neg[None])) / p
        counts = count_conflicts(self._bits[view], pack_signs(mixed))
        pairs = self._pair_fsd[view]
        members = sorted(members)
        between = [float(pairs[a, b]) for a, b in itertools.combinations(members, 2)]
        return Signs(
            flip_fraction=float(counts[target]) / p,
            mixture_fsd=sum(float(counts[i]) for i in members) / (p * len(members)),
            pair_fsd=float(pairs[target, next(i for i in members if i != target)]) if len(members) == 2 else None,
            mean_pairwise_fsd=float(np.mean(between)) if between else None,
        )

    def _use_head(self, target: int, mix: int, label_names: tuple[str, ...]) -> None:
        """The target's head on the model: as trained, or pruned like its adapter (`MixSpec.head`)."""
        spec = self.config.spec.mixers[mix]
        key = (target, None) if spec.head == "kept" else (target, spec.label)
        if self._head_of == key:
            return
        ckpt = self.checkpoints[target]
        head = ckpt.head
        if spec.head == "pruned":
            head = magnitude_prune(head, float(spec.params["sparsity"]), str(spec.params["scope"]))
        self.evaluator.use_head(f"t{target}_{ckpt.name}", head, label_names)  # same slot, these weights
        self._head_of = key

    def run(self, chunk: Chunk) -> list[MixResult]:
        """Evaluate every mixture of `chunk` on its target; returns one result per subset."""
        tgt = self.target(chunk.target)
        self._use_head(chunk.target, chunk.mix, tgt.label_names)
        cond = self.config.spec.conditions[chunk.condition]
        for members in chunk.subsets:
            if chunk.target not in members:
                raise ValueError(f"mixture {members} does not contain its target {chunk.target}")
        if cond.condition == "clean":
            return [r for i in range(0, len(chunk.subsets), self.stack)
                    for r in self._clean_stacked(chunk, chunk.subsets[i : i + self.stack])]
        condition = CONDITIONS.get(cond.condition)
        results = []
        for members in chunk.subsets:
            start = time.perf_counter()
            mixture = self.mixture(sorted(members), chunk.mix)
            self._load(mixture)
            signs = self._signs(chunk.target, members, mixture, chunk.mix)
            context = ScoringContext(self.evaluator, tgt, self.precision, chunk.target, tuple(sorted(members)),
                                     self._cache, functools.partial(self._alone, chunk.target, mixture),
                                     is_alone=len(members) == 1 and torch.equal(mixture, self.stacked[chunk.target]),
                                     progress=self.progress)
            s = condition.run(context, cond.params)
            results.append(MixResult(
                target=chunk.target, members=tuple(sorted(members)), accuracy=s.accuracy, macro_f1=s.macro_f1,
                n_examples=s.n_examples, tokens=s.tokens, padded_tokens=s.padded_tokens,
                seconds=time.perf_counter() - start, flip_fraction=signs.flip_fraction,
                mixture_fsd=signs.mixture_fsd, pair_fsd=signs.pair_fsd,
                mean_pairwise_fsd=signs.mean_pairwise_fsd, mix=chunk.mix,
                condition=chunk.condition, precision=self.precision, metrics=dict(s.metrics),
                correct=s.correct,
            ))
        return results

    def _clean_stacked(self, chunk: Chunk, subsets: Sequence[tuple[int, ...]]) -> list[MixResult]:
        """The `clean` condition for several mixtures at once: one slot each, one pass over the split.

        Same scores as `conditions.clean` run once per mixture (accuracy, macro-F1, per-example
        correctness); a row's `seconds` is the pass's time shared equally plus its own mixing time.
        """
        tgt = self.target(chunk.target)
        start = time.perf_counter()
        self._slots(len(subsets))
        mixtures = [self.mixture(sorted(m), chunk.mix) for m in subsets]
        for slot, mixture in enumerate(mixtures):
            self._load(mixture, slot)
        with autocast(self.precision), (self.evaluator.bf16_weights() if self.precision == "bf16"
                                        else contextlib.nullcontext()):
            preds, padded = self.evaluator.predictions_many(tgt, len(subsets))
        shared = (time.perf_counter() - start) / len(subsets)
        labels = tgt.encoded.labels
        tokens = int(tgt.encoded.lengths.sum())
        results = []
        for members, mixture, pred in zip(subsets, mixtures, preds, strict=True):
            own = time.perf_counter()
            signs = self._signs(chunk.target, members, mixture, chunk.mix)
            accuracy, f1 = classification_metrics(pred, labels, len(tgt.label_names))
            results.append(MixResult(
                target=chunk.target, members=tuple(sorted(members)), accuracy=accuracy, macro_f1=f1,
                n_examples=len(labels), tokens=tokens, padded_tokens=padded,
                seconds=shared + time.perf_counter() - own, flip_fraction=signs.flip_fraction,
                mixture_fsd=signs.mixture_fsd, pair_fsd=signs.pair_fsd,
                mean_pairwise_fsd=signs.mean_pairwise_fsd, mix=chunk.mix,
                condition=chunk.condition, precision=self.precision, correct=pred == labels,
            ))
        return results
