"""The mixer registry: every merge method as a pure function of stacked member rows.

A mixer takes the members as rows of a (k, P) matrix (`Layout.stack`), one weight per member and
its own parameters, and returns one mixture row. Members may first be *prepared* one at a time
(trimmed, dropped): that step depends on nothing but the member, so the sweep engine prepares each
adapter once and reuses it in every mixture; `combine` then merges the prepared rows.

Weights multiply members and are not normalised, as in PEFT, except for `average` (Eq. 1),
`weighted` and `sparse` (Alg. 4 ends in Eq. 1), whose weights are normalised to sum to 1 (uniform by
default). `weighted` carries its per-member weights as a parameter, so they live in the frozen
`MixSpec` and its row key and are recorded with every stored row and manifest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

import adaptermix.mixing.ops as ops
from adaptermix.mixing.layout import Layout, gather, scatter
from adaptermix.registry import Registry, with_defaults

Prepare = Callable[..., Tensor]  # (rows (k, P), layout, **params) -> prepared rows (k, P)
Combine = Callable[..., Tensor]  # (rows (k, P), weights, layout, **params) -> mixture row (P,)


@dataclass(frozen=True)
class Mixer:
    """One merge method.

    Attributes:
        name: registry name.
        combine: merges prepared rows into one row.
        prepare: per-member step (trim/drop), or None; applied to each row independently.
        params: the parameters it takes, with their defaults.
        normalise: weights are normalised to sum to 1 (uniform default) instead of defaulting to 1.
        linear: the mixture is Σ w_i θ_i, hence exact in LoRA ΔW space through concatenated factors.
        cite: where the method comes from.
    """

    name: str
    combine: Combine
    prepare: Prepare | None = None
    params: dict[str, Any] = field(default_factory=dict)
    normalise: bool = False
    linear: bool = False
    cite: str = ""

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in and values checked; ValueError names an unknown or bad parameter."""
        out = with_defaults("mixer", self.name, params, self.params)
        if "density" in out:
            out["density"] = ops.check_density(out["density"])
        if "sparsity" in out:
            s = float(out["sparsity"])
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"sparsity must be in [0, 1] (e.g. 0.9), got {out['sparsity']!r}")
            out["sparsity"] = s
        if "majority_sign" in out and out["majority_sign"] not in ops.MAJORITY_SIGNS:
            known = ", ".join(ops.MAJORITY_SIGNS)
            raise ValueError(f"majority_sign must be one of {known}, got {out['majority_sign']!r}")
        if "scope" in out and out["scope"] not in ("tensor", "layer", "global"):
            raise ValueError(f"scope must be tensor, layer or global, got {out['scope']!r}")
        if "m" in out and (not isinstance(out["m"], int) or out["m"] < 0):
            raise ValueError(f"m must be a non-negative integer, got {out['m']!r}")
        if "seed" in out:
            out["seed"] = int(out["seed"])
        if "weights" in out:
            if out["weights"] is None:
                del out["weights"]  # uniform: the label stays `weighted`, the mixture is Eq. 1's
            else:
                out["weights"] = self._check_weights(out["weights"])
        return out

    def _check_weights(self, weights: Any) -> tuple[float, ...]:
        """A `weights` parameter as a tuple of finite floats (non-negative, positive sum when normalised)."""
        if isinstance(weights, str | bytes) or not isinstance(weights, Sequence) or not weights:
            raise ValueError(f"weights of mixer {self.name!r} must be a non-empty list of numbers, got {weights!r}")
        try:
            w = tuple(float(x) for x in weights)
        except (TypeError, ValueError):
            raise ValueError(f"weights of mixer {self.name!r} must be numbers, got {list(weights)}") from None
        if not all(math.isfinite(x) for x in w):
            raise ValueError(f"weights must be finite, got {list(w)}")
        if self.normalise and (any(x < 0 for x in w) or sum(w) <= 0):
            raise ValueError(f"weights of mixer {self.name!r} must be non-negative with a positive sum, got {list(w)}")
        return w

    def member_weights(self, weights: Sequence[float] | None, params: dict[str, Any], k: int) -> list[float]:
        """The effective weights of k members: from the call or from the spec's `weights` parameter (one place).

        Raises:
            ValueError: weights given both ways and different, or a count other than k.
        """
        own = params.get("weights")
        if own is not None:
            if weights is not None and tuple(float(w) for w in weights) != tuple(own):
                raise ValueError(f"mixer {self.name!r} already carries weights {list(own)}: do not pass others")
            weights = own
        return self.weights(weights, k)

    def weights(self, weights: Sequence[float] | None, k: int) -> list[float]:
        """The effective weights: normalised for `average`/`sparse`, else as given (default 1)."""
        if weights is not None and len(weights) != k:
            raise ValueError(f"got {len(weights)} weights for {k} adapters: give one weight per adapter")
        if weights is not None and any(not math.isfinite(float(w)) for w in weights):
            raise ValueError(f"weights must be finite, got {list(weights)}")
        if not self.normalise:
            return [1.0] * k if weights is None else [float(w) for w in weights]
        if weights is None:
            return [1.0 / k] * k
        if any(w < 0 for w in weights):
            raise ValueError(f"weights of mixer {self.name!r} must be non-negative, got {list(weights)}")
        total = float(sum(weights))
        if total <= 0:
            raise ValueError("weights sum to zero: give at least one positive weight")
        return [float(w) / total for w in weights]


MIXERS: Registry[Mixer] = Registry("mixer")


def register(name: str, *, prepare: Prepare | None = None, params: dict[str, Any] | None = None,
             normalise: bool = False, linear: bool = False, cite: str = "",
             aliases: tuple[str, ...] = ()) -> Callable[[Combine], Combine]:
    """Decorator: register the decorated combine function as mixer `name` (beside its definition)."""

    def wrap(fn: Combine) -> Combine:
        MIXERS.register(name, Mixer(name, fn, prepare, dict(params or {}), normalise, linear, cite), aliases)
        return fn

    return wrap


# -- the parts that members go through first -------------------------------------------------------

def _trim(rows: Tensor, layout: Layout, density: float, scope: str = "tensor", **_: Any) -> Tensor:
    return ops.trim(rows, density, layout.groups(scope))


def _drop(rows: Tensor, layout: Layout, density: float, seed: int = 0, **_: Any) -> Tensor:
    del layout
    return ops.drop(rows, density, seed)


def _sum(rows: Tensor, weights: Sequence[float]) -> Tensor:
    return (rows * ops.weight_column(weights, rows)).sum(dim=0)


def _ties_merge(rows: Tensor, weights: Sequence[float], majority_sign: str) -> Tensor:
    agree = rows.sign() == ops.elect(rows, majority_sign)
    return ops.disjoint_merge(rows * ops.weight_column(weights, rows), agree)


# -- the mixers ------------------------------------------------------------------------------------

@register("average", normalise=True, linear=True, cite="Eq. 1 of Nguyen & Le (2024)", aliases=("mean", "linear"))
def average_rows(rows: Tensor, weights: Sequence[float], layout: Layout) -> Tensor:
    """Eq. 1: Σ w_i θ_i with weights summing to 1 (uniform: the mean).

    Accumulates as zeros, then `add_` member by member in order: the arithmetic of the engine and of
    every stored row since the first release, kept so old and new rows stay bit-identical.
    """
    del layout
    out = torch.zeros(rows.shape[1], dtype=rows.dtype, device=rows.device)
    for w, row in zip(weights, rows, strict=True):
        out.add_(row, alpha=w)
    return out


@register("weighted", params={"weights": None}, normalise=True, linear=True,
          cite="Eq. 1 with per-member weights (LoraHub, Huang et al. 2023, as a convex combination)")
def weighted_rows(rows: Tensor, weights: Sequence[float], layout: Layout, **_: Any) -> Tensor:
    """θ_PLM + Σ w_i θ_i with w on the simplex: Eq. 1 when the weights are equal (bit-identical to `average`).

    The weights are a parameter (`weights=(w_1, ..., w_k)`, in member order, normalised to sum to 1;
    None: uniform), so a weighted mixture is reproducible from its stored spec alone. Departs from
    LoraHub, whose weights are free in [−1.5, 1.5]: we keep a convex combination, so the mixture stays
    in the members' hull and equal weights are exactly Eq. 1.
    """
    return average_rows(rows, weights, layout)


@register("task_arithmetic", linear=True, cite="Ilharco et al. (2023)")
def task_arithmetic_rows(rows: Tensor, weights: Sequence[float], layout: Layout) -> Tensor:
    """Σ w_i θ_i, weights as given (default 1)."""
    del layout
    return _sum(rows, weights)


@register("ties", prepare=_trim, params={"density": 0.2, "majority_sign": "total", "scope": "tensor"},
          cite="Yadav et al. (2023)")
def ties_rows(rows: Tensor, weights: Sequence[float], layout: Layout, majority_sign: str = "total",
              **_: Any) -> Tensor:
    """TIES: trimmed members (prepare), elected sign, disjoint merge (PEFT's semantics)."""
    del layout
    return _ties_merge(rows, weights, majority_sign)


@register("dare_linear", prepare=_drop, params={"density": 0.2, "seed": 0}, cite="Yu et al. (2024)")
def dare_linear_rows(rows: Tensor, weights: Sequence[float], layout: Layout, **_: Any) -> Tensor:
    """DARE then task arithmetic: dropped and rescaled members (prepare), Σ w_i θ_i."""
    del layout
    return _sum(rows, weights)


@register("dare_ties", prepare=_drop, params={"density": 0.2, "seed": 0, "majority_sign": "total"},
          cite="Yu et al. (2024)")
def dare_ties_rows(rows: Tensor, weights: Sequence[float], layout: Layout, majority_sign: str = "total",
                   **_: Any) -> Tensor:
    """DARE then TIES' sign election and disjoint merge (no trim)."""
    del layout
    return _ties_merge(rows, weights, majority_sign)


@register("magnitude", prepare=_trim, params={"density": 0.2, "scope": "tensor"},
          cite="Alg. 2 of Nguyen & Le (2024); PEFT's magnitude_prune")
def magnitude_rows(rows: Tensor, weights: Sequence[float], layout: Layout, **_: Any) -> Tensor:
    """Members trimmed to `density` by magnitude (prepare), then Σ w_i θ_i."""
    del layout
    return _sum(rows, weights)


@register("sparse", params={"m": 1, "sparsity": 0.9}, normalise=True, cite="Alg. 4 of Nguyen & Le (2024)")
def sparse_rows(rows: Tensor, weights: Sequence[float], layout: Layout, m: int = 1, sparsity: float = 0.9,
                **_: Any) -> Tensor:
    """Alg. 4's last steps: each member prunes its m most conflicting layers, then Eq. 1.

    A member's score for layer L is the mean over the other members j of layer-FSD(i, j)[L]
    (`ops.layer_scores`, the one Alg. 4 scorer); its m highest-scoring layers (ties by layer order) are
    pruned by magnitude to `sparsity` (Alg. 2's exact count, together over the layer's tensors). With one
    member nothing conflicts and the member is returned as it is. `adaptermix.pruning.sparse_mix` chooses
    the members (Alg. 1) and calls this mixer.
    """
    k = rows.shape[0]
    groups = layout.layer_groups()
    if m > len(groups):
        raise ValueError(f"m={m} is out of range: the adapters have {len(groups)} layer groups")
    if k > 1 and m > 0:
        scores = ops.layer_scores(rows, groups)  # on the members as given, before any of them is pruned
        rows = rows.clone()
        for i, score in enumerate(scores):
            for name in ops.most_conflicting(score, m):
                ranges = groups[name]
                vals = gather(rows[i], ranges)
                scatter(rows[i], ranges, ops.prune_smallest(vals, ops.n_pruned(sparsity, vals.numel())))
    return average_rows(rows, weights, layout)


def _prune(rows: Tensor, layout: Layout, sparsity: float, scope: str = "global", **_: Any) -> Tensor:
    out = rows.clone()
    for ranges in layout.groups(scope):
        for i in range(out.shape[0]):
            vals = gather(out[i], ranges)
            scatter(out[i], ranges, ops.prune_smallest(vals, ops.n_pruned(sparsity, vals.numel())))
    return out


@register("prune", prepare=_prune, params={"sparsity": 0.9, "scope": "global"}, normalise=True,
          cite="Alg. 2 of Nguyen & Le (2024), Sec. 7 / Fig. 8a")
def prune_rows(rows: Tensor, weights: Sequence[float], layout: Layout, **_: Any) -> Tensor:
    """Alg. 2 on each member (prepare), then Eq. 1; one member alone is exactly Alg. 2.

    Each member zeroes floor(sparsity·n) smallest-|θ| entries per scope, ties by position: the
    count and the ties of `adaptermix.pruning.magnitude_prune`, so a k = 1 row of a sweep is the
    pruned adapter of `adaptermix prune`. `magnitude` differs: it *keeps* floor(density·n) entries
    (PEFT's count), one entry more per scope pruned whenever (1 − density)·n is not whole.
    """
    return average_rows(rows, weights, layout)
