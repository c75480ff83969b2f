"""`mix`: any registered mixer on state dicts, in the raw or task-vector view, factor or ΔW space."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from adaptermix.mixing.layout import Layout
from adaptermix.mixing.mixers import MIXERS, Mixer

SPACES = ("factors", "delta")


def get_mixer(name: str) -> Mixer:
    """The registered mixer `name` (ConfigError, a ValueError, listing the known ones otherwise)."""
    return MIXERS.get(name)


def mix_rows(rows: Tensor, layout: Layout, mixer: str, weights: Sequence[float] | None = None,
             prepared: bool = False, **params: Any) -> Tensor:
    """Mix stacked member rows into one row (the function the sweep engine calls per mixture).

    Args:
        rows: (k, P) members in `layout`; never modified.
        layout: where each tensor lives in a row.
        mixer: a name in `MIXERS`.
        weights: one per member; see `Mixer.weights` for defaults and normalisation (`weighted` may
            carry them as its `weights` parameter instead).
        prepared: the rows already went through the mixer's per-member `prepare` step.
        **params: the mixer's parameters (density, majority_sign, seed, scope, m, sparsity).

    Raises:
        ValueError: unknown mixer or parameter, bad density/weights, or a non-finite mixture.
    """
    mx = get_mixer(mixer)
    p = mx.resolve(params)
    w = mx.member_weights(weights, p, rows.shape[0])
    p.pop("weights", None)  # the combine step takes them as `w`
    if mx.prepare is not None and not prepared:
        rows = mx.prepare(rows, layout, **p)
    out = mx.combine(rows, w, layout, **p)
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"the {mx.name} mixture is not finite (NaN/Inf): check the adapters and weights")
    return out


def mix(
    state_dicts: Sequence[Mapping[str, Tensor]],
    mixer: str = "average",
    weights: Sequence[float] | None = None,
    *,
    init: Mapping[str, Tensor] | None = None,
    space: str = "factors",
    rank: int | None = None,
    **params: Any,
) -> dict[str, Tensor]:
    """Mix adapters with any registered mixer (pure: inputs are never modified).

    Args:
        state_dicts: k ≥ 1 adapters with the same keys and shapes.
        mixer: `average` (Eq. 1), `task_arithmetic`, `ties`, `dare_linear`, `dare_ties`, `magnitude`,
            `sparse` (see `MIXERS`).
        weights: one per member; normalised for `average` and `sparse`, else multiplied as given.
        init: the shared initialisation, for the task-vector view (`reference="init"`): the members
            become θ_i − θ_0 and the mixture is θ_0 + mixer(θ_i − θ_0). None: the raw view (the paper's).
        space: `"factors"` (each tensor as it is; LoRA A and B mixed separately, the paper's and the
            libraries' default) or `"delta"` (LoRA pairs mixed as ΔW = B·A; see `mixing.delta`).
        rank: `space="delta"` with a non-linear mixer: the rank of the truncated SVD that turns the
            mixed ΔW back into factors (default: the members' rank).
        **params: the mixer's own parameters.

    Returns:
        The mixture, same keys, shapes and dtypes as the first member (LoRA factors in ΔW space
        may have another rank: see `mixing.delta`).

    Raises:
        ValueError: mismatched adapters, NaN/Inf, unknown mixer/parameter/space, bad density or weights.
    """
    if space == "delta":
        from adaptermix.mixing.delta import mix_delta

        return mix_delta(state_dicts, mixer, weights, init=init, rank=rank, **params)
    if space != "factors":
        raise ValueError(f"unknown space {space!r}: use one of {', '.join(SPACES)}")
    if rank is not None:
        raise ValueError("rank is only used with space='delta'")
    layout = Layout.of(state_dicts[0]) if state_dicts else Layout((), ())
    rows = layout.stack(state_dicts)
    if init is None:
        return layout.unstack(mix_rows(rows, layout, mixer, weights, **params), like=state_dicts[0])
    base = layout.stack([state_dicts[0], init], dtype=rows.dtype)[1]
    out = base + mix_rows(rows - base, layout, mixer, weights, **params)
    return layout.unstack(out, like=state_dicts[0])


def task_vectors(state_dicts: Sequence[Mapping[str, Tensor]], init: Mapping[str, Tensor]) -> list[dict[str, Tensor]]:
    """θ_i − θ_0 for each adapter: the task-vector view used by FSD and flip fraction with reference=init."""
    layout = Layout.of(init)
    base = layout.stack([init])[0]
    rows = layout.stack([init, *state_dicts])[1:]
    return [layout.unstack(r - base, like=sd) for r, sd in zip(rows, state_dicts, strict=True)]
