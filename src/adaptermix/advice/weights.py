"""Weights, not only members (issue 17, item 5): CMA-ES over the member weights of a recommended set.

The recipe is LoraHub's (Huang et al. 2023): a gradient-free optimizer from a maintained library
(`cma`, Hansen's CMA-ES), a few dozen loss evaluations on a few labelled examples, bounded weights,
started at the uniform mixture. Where we depart, and why:

- Weights are a convex combination (each in [0, 1], normalised to sum to 1, the `weighted` mixer):
  LoraHub lets each weight range over [−1.5, 1.5] unnormalised; we keep the mixture in the members'
  hull so that the start point is exactly Eq. 1 and a stored weighted mixture is comparable with it.
  With weights on the simplex LoraHub's L1 penalty is constant, so there is none.
- The uniform start is evaluated first and kept if nothing beats it: on its own validation objective
  the search never does worse than Eq. 1.
- The loss is the cross-entropy of the target's own head on the first `examples` **validation**
  examples (LoraHub: 5 examples; we default to 32 because our heads are binary to 6-way and a
  5-example loss is mostly noise). The test split is never read.

This module is pure (an objective in, weights out); `adaptermix.advice.collect.weight_objective`
builds the objective from checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Objective = Callable[[tuple[float, ...]], float]  # normalised weights -> loss (lower is better)


@dataclass(frozen=True)
class WeightSearchSpec:
    """Every knob of the weight search, declared once (the API's and CLI's defaults read it).

    Attributes:
        evaluations: loss evaluations allowed, the uniform start included (LoraHub: 40).
        examples: validation examples per loss evaluation (a few dozen; LoraHub: 5).
        high: upper bound of each raw weight (the lower bound is 0); weights are then normalised.
        sigma0: CMA-ES's initial step size, in raw-weight units (the start is `high / 2` per member).
        seed: CMA-ES's seed (fixed: the same inputs give the same weights).
    """

    evaluations: int = 40
    examples: int = 32
    high: float = 1.0
    sigma0: float = 0.25
    seed: int = 0

    def check(self) -> WeightSearchSpec:
        """Self, or ValueError naming the bad knob."""
        if not isinstance(self.evaluations, int) or self.evaluations < 1:
            raise ValueError(f"--weight-evaluations must be a positive integer (e.g. 40), got {self.evaluations!r}")
        if not isinstance(self.examples, int) or self.examples < 1:
            raise ValueError(f"--weight-examples must be a positive integer (e.g. 32), got {self.examples!r}")
        if not (math.isfinite(self.high) and self.high > 0 and math.isfinite(self.sigma0) and self.sigma0 > 0):
            raise ValueError(f"weight bound and step size must be positive, got high={self.high}, sigma0={self.sigma0}")
        return self


@dataclass(frozen=True)
class WeightResult:
    """The outcome of one weight search.

    Attributes:
        weights: the best weights found, normalised to sum to 1, in member order.
        loss: their loss.
        uniform_loss: the loss of the uniform mixture (Eq. 1), the search's start.
        evaluations: loss evaluations run (the uniform start included).
        history: every (weights, loss) evaluated, in order.
    """

    weights: tuple[float, ...]
    loss: float
    uniform_loss: float
    evaluations: int
    history: tuple[tuple[tuple[float, ...], float], ...] = ()

    @property
    def improved(self) -> bool:
        return self.loss < self.uniform_loss


def normalised(raw: Sequence[float], high: float = 1.0) -> tuple[float, ...]:
    """Raw weights clipped to [0, high] and normalised to sum to 1 (uniform when they all clip to 0)."""
    w = np.clip(np.asarray(raw, dtype=float), 0.0, high)
    total = float(w.sum())
    if total <= 0:
        return tuple([1.0 / len(w)] * len(w))
    return tuple(float(x) for x in w / total)


def search_weights(objective: Objective, k: int, spec: WeightSearchSpec | None = None) -> WeightResult:
    """CMA-ES over k member weights (LoraHub's recipe, see the module docstring), at most `spec.evaluations` losses.

    Args:
        objective: normalised weights (a k-tuple summing to 1) → loss; called at most `evaluations` times.
        k: the number of members.
        spec: the search's knobs (defaults: 40 evaluations, bounds [0, 1], start uniform, seed 0).

    Returns:
        The best weights seen (the uniform start if nothing beat it).

    Raises:
        ValueError: k < 1 or a bad spec.
    """
    import cma

    spec = (spec or WeightSearchSpec()).check()
    if k < 1:
        raise ValueError(f"a weight search needs at least one member, got k={k}")
    uniform = tuple([1.0 / k] * k)
    uniform_loss = float(objective(uniform))
    history: list[tuple[tuple[float, ...], float]] = [(uniform, uniform_loss)]
    if k == 1:  # one member: its weight is 1, nothing to search
        return WeightResult(uniform, uniform_loss, uniform_loss, 1, tuple(history))
    # cma's seed 0 means "from the clock": shift ours so every seed is reproducible.
    es = cma.CMAEvolutionStrategy([spec.high / 2] * k, spec.sigma0,
                                  {"bounds": [0.0, spec.high], "seed": spec.seed + 1, "verbose": -9,
                                   "maxfevals": spec.evaluations})
    while len(history) < spec.evaluations and not es.stop():
        candidates = es.ask()
        left = spec.evaluations - len(history)
        losses = []
        for x in candidates[:left]:
            w = normalised(x, spec.high)
            loss = float(objective(w))
            history.append((w, loss))
            losses.append(loss if math.isfinite(loss) else 1e30)
        if len(losses) < len(candidates):
            break  # the budget ends inside a generation: no `tell` on a partial population
        es.tell(candidates, losses)
    best_w, best_loss = min(history, key=lambda h: h[1])  # the first (uniform) wins ties
    return WeightResult(best_w, best_loss, uniform_loss, len(history), tuple(history))


__all__ = ["Objective", "WeightResult", "WeightSearchSpec", "normalised", "search_weights"]
