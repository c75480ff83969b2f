"""The condition registry: how a target split is scored with the resident mixture.

A condition gets a `ScoringContext` (the evaluator whose model already holds the mixture and the
target's head, the tokenized target, the precision the worker uses and a per-worker cache) and
returns `Scored`: accuracy, macro-F1, throughput and any extra metrics (an attack's success rate,
queries, ...), which the store keeps per row. `clean` is plain scoring. The robustness attacks
(`robustness.py`) register into this registry beside their definitions, and the package's
`__init__` imports them, so the registry is whole wherever `adaptermix.evaluation` is imported.
`fgsm` needs gradients w.r.t. the input embeddings of `context.evaluator.base.model`; `textfooler`
needs text in and class probabilities out (TextAttack's model-wrapper shape); both get everything
they need from the context, so adding them does not touch the engine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adaptermix.evaluation.evaluator import EvalTarget, Evaluator
from adaptermix.methods.precision import autocast
from adaptermix.registry import Registry, with_defaults


@dataclass
class ScoringContext:
    """What a condition may use. The model holds the mixture and the target's head already.

    Attributes:
        evaluator: the worker's evaluator (`evaluator.base.model`, `evaluator.base.tokenizer`).
        target: the target split, tokenized (`target.domain`, `target.split` name the raw data).
        precision: `fp32` or `bf16`, as resolved by the worker; use `autocast(precision)`.
        target_index: the target's position in the study (for per-target caches).
        members: the mixture's member indices.
        cache: per-worker scratch space that lives across mixtures (e.g. transfer-mode examples).
        alone: a context manager factory; inside it the resident model holds the target's adapter
            alone (not the mixture), so a transfer attack can craft its examples there once.
        is_alone: the resident mixture *is* the target's adapter alone (k = 1 under a mixer that
            returns a single member unchanged), so work done on the adapter alone can be shared.
        progress: where a long condition (TextFooler) says how far it is, one line at a time; None
            where nobody listens (worker processes and Ray actors: their rows report when they end).
    """

    evaluator: Evaluator
    target: EvalTarget
    precision: str
    target_index: int = 0
    members: tuple[int, ...] = ()
    cache: dict[Any, Any] = field(default_factory=dict)
    alone: Callable[[], contextlib.AbstractContextManager[None]] | None = None
    is_alone: bool = False
    progress: Callable[[str], None] | None = None


@dataclass(frozen=True)
class Scored:
    """The result of scoring one mixture under one condition.

    Attributes:
        correct: optional per-example correctness (bool, one entry per scored example, in the
            split's order), for paired comparisons of rows (a paired bootstrap over examples);
            the store keeps it as packed bits (`EvalRow.correct`, `EvalRow.correctness`).
    """

    accuracy: float
    macro_f1: float
    n_examples: int
    tokens: int
    padded_tokens: int
    metrics: dict[str, float] = field(default_factory=dict)
    correct: np.ndarray | None = field(default=None, compare=False)


Run = Callable[[ScoringContext, dict[str, Any]], Scored]


@dataclass(frozen=True)
class Condition:
    """One registered condition: its scoring function and its parameters with their defaults."""

    name: str
    run: Run
    params: dict[str, Any] = field(default_factory=dict)
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    cite: str = ""

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in and values checked (ValueError naming the parameter)."""
        out = with_defaults("condition", self.name, params, self.params)
        return self.check(out) if self.check is not None else out


CONDITIONS: Registry[Condition] = Registry("condition")


def register(name: str, *, params: dict[str, Any] | None = None,
             check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
             cite: str = "") -> Callable[[Run], Run]:
    """Decorator: register the decorated scoring function as condition `name` (beside its definition)."""

    def wrap(fn: Run) -> Run:
        CONDITIONS.register(name, Condition(name, fn, dict(params or {}), check, cite))
        return fn

    return wrap


@register("clean", cite="PAPER.md §4: in-domain accuracy of the mixture with the target's head")
def clean(context: ScoringContext, params: dict[str, Any]) -> Scored:
    """Plain scoring of the target split (length-sorted batches, `inference_mode`), with per-example correctness."""
    del params
    with autocast(context.precision):
        m, preds = context.evaluator.predictions(context.target)
    return Scored(m.accuracy, m.macro_f1, m.n, m.tokens, m.padded_tokens,
                  correct=preds == context.target.encoded.labels)

