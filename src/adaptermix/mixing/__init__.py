"""Combining adapters: the mixer registry and pure functions on state dicts or stacked rows.

`mix(state_dicts, mixer, weights, **params)` runs any registered mixer (`MIXERS`): `average`
(Eq. 1), `weighted` (Eq. 1 with per-member weights), `task_arithmetic`, `ties`, `dare_linear`,
`dare_ties`, `magnitude` and `sparse` (Alg. 4).
The sweep engine calls the same mixers on the same stacked layout (`Layout`, `mix_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor

from adaptermix.mixing.average import average
from adaptermix.mixing.layout import Layout, check_compatible
from adaptermix.mixing.mix import get_mixer, mix, mix_rows, task_vectors
from adaptermix.mixing.mixers import (
    MIXERS,
    Mixer,
    average_rows,
    dare_linear_rows,
    dare_ties_rows,
    magnitude_rows,
    sparse_rows,
    task_arithmetic_rows,
    ties_rows,
    weighted_rows,
)
from adaptermix.mixing.spec import MixSpec


def task_arithmetic(state_dicts: Sequence[Mapping[str, Tensor]], weights: Sequence[float] | None = None,
        **kw: Any) -> dict[str, Tensor]:
    """`mix(state_dicts, "task_arithmetic", weights)`: Σ w_i θ_i (weights default 1)."""
    return mix(state_dicts, "task_arithmetic", weights, **kw)


def ties(state_dicts: Sequence[Mapping[str, Tensor]], weights: Sequence[float] | None = None,
        **kw: Any) -> dict[str, Tensor]:
    """`mix(state_dicts, "ties", weights, density=..., majority_sign=..., scope=...)` (Yadav et al. 2023)."""
    return mix(state_dicts, "ties", weights, **kw)


def dare_linear(state_dicts: Sequence[Mapping[str, Tensor]], weights: Sequence[float] | None = None,
        **kw: Any) -> dict[str, Tensor]:
    """`mix(state_dicts, "dare_linear", weights, density=..., seed=...)` (Yu et al. 2024)."""
    return mix(state_dicts, "dare_linear", weights, **kw)


def dare_ties(state_dicts: Sequence[Mapping[str, Tensor]], weights: Sequence[float] | None = None,
        **kw: Any) -> dict[str, Tensor]:
    """`mix(state_dicts, "dare_ties", weights, density=..., seed=..., majority_sign=...)` (Yu et al. 2024)."""
    return mix(state_dicts, "dare_ties", weights, **kw)


def magnitude(state_dicts: Sequence[Mapping[str, Tensor]], weights: Sequence[float] | None = None,
        **kw: Any) -> dict[str, Tensor]:
    """`mix(state_dicts, "magnitude", weights, density=..., scope=...)`: trimmed members, Σ w_i θ_i."""
    return mix(state_dicts, "magnitude", weights, **kw)


__all__ = [
    "MIXERS", "Layout", "MixSpec", "Mixer", "average", "average_rows", "check_compatible", "dare_linear",
    "dare_linear_rows",
    "dare_ties", "dare_ties_rows", "get_mixer", "magnitude", "magnitude_rows", "mix", "mix_checkpoints", "mix_rows",
    "sparse_rows", "task_arithmetic", "task_arithmetic_rows", "task_vectors", "ties", "ties_rows",
    "weighted_rows",
]


def __getattr__(name: str):  # noqa: ANN202 - lazy: keeps the pure mixers importable without transformers
    if name == "mix_checkpoints":
        from adaptermix.mixing.checkpoints import mix_checkpoints

        return mix_checkpoints
    raise AttributeError(name)
