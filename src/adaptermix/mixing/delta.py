"""Mixing LoRA adapters in ΔW space (ΔW = B·A) instead of factor space.

Factor space (A and B mixed separately) is the paper's choice and PEFT's/AdapterHub's linear
default, but B·A = (−B)(−A): factor signs are not a property of the update. In ΔW space:
- linear mixers (`average`, `task_arithmetic`) are exact through concatenated factors:
  Σ w_i B_i A_i = [w_1 B_1 … w_k B_k] · [A_1; …; A_k], a LoRA of rank k·r (PEFT's `cat`);
- every other mixer (TIES, DARE, magnitude, sparse) mixes the ΔW matrices entry by entry and turns
  the result back into factors with a truncated SVD, B = U_r √S_r, A = √S_r V_rᵀ, at a stated rank
  (default: the members' rank r), which loses whatever lies beyond that rank.
Tensors that are not LoRA factors are mixed by the same mixer as they are. LoRA scales ΔW by α/r:
a caller that writes a rank-r' result must set α' = α·r'/r to keep the scale (see `rescaled_alpha`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from adaptermix.mixing.lora_view import delta_view, partner
from adaptermix.mixing.mix import get_mixer, mix


def lora_pairs(state_dict: Mapping[str, Tensor]) -> dict[str, tuple[str, str]]:
    """A-factor key → (B-factor key, ΔW key) for every LoRA pair in `state_dict`."""
    out = {}
    for key in state_dict:
        found = partner(key)
        if found is not None and found[0] in state_dict:
            out[key] = found
    return out


def rescaled_alpha(alpha: float, old_rank: int, new_rank: int) -> float:
    """The α that keeps LoRA's scale α/r when the rank changes from `old_rank` to `new_rank`."""
    return alpha * new_rank / old_rank


def mix_delta(
    state_dicts: Sequence[Mapping[str, Tensor]],
    mixer: str = "average",
    weights: Sequence[float] | None = None,
    *,
    init: Mapping[str, Tensor] | None = None,
    rank: int | None = None,
    **params: Any,
) -> dict[str, Tensor]:
    """Mix in ΔW space; see the module docstring. Returns factors under the members' own keys.

    Raises:
        ValueError: as `mix`, or a rank below 1.
    """
    if not state_dicts:
        raise ValueError("no adapters given: pass at least one state dict")
    mx = get_mixer(mixer)
    pairs = lora_pairs(state_dicts[0])
    views = [delta_view(sd) for sd in state_dicts]
    init_view = None if init is None else delta_view(init)
    mixed = mix(views, mixer, weights, init=init_view, **params)
    if rank is not None and rank < 1:
        raise ValueError(f"rank must be at least 1, got {rank}")
    consumed = {b for b, _ in pairs.values()}
    out: dict[str, Tensor] = {}
    for key, ref in state_dicts[0].items():
        if key in consumed:
            continue
        if key not in pairs:
            out[key] = mixed[key]
            continue
        b_key, d_key = pairs[key]
        if mx.linear:
            if rank is not None:
                raise ValueError(f"{mx.name} is exact in ΔW space (rank k·r): rank applies to non-linear mixers only")
            w = mx.member_weights(weights, mx.resolve(params), len(state_dicts))
            bs = [wi * sd[b_key].to(torch.float64) for wi, sd in zip(w, state_dicts, strict=True)]
            as_ = [sd[key].to(torch.float64) for sd in state_dicts]
            rest = 1.0 - sum(w)
            if init is not None and abs(rest) > 0:
                bs.append(rest * init[b_key].to(torch.float64))
                as_.append(init[key].to(torch.float64))
            out[key] = torch.cat(as_, dim=0).to(ref.dtype)
            out[b_key] = torch.cat(bs, dim=1).to(state_dicts[0][b_key].dtype)
        else:
            r = rank or ref.shape[0]
            u, s, vh = torch.linalg.svd(mixed[d_key].to(torch.float64), full_matrices=False)
            root = s[:r].sqrt()
            out[key] = (root[:, None] * vh[:r]).to(ref.dtype)
            out[b_key] = (u[:, :r] * root[None, :]).to(state_dicts[0][b_key].dtype)
    return {k: out[k] for k in state_dicts[0] if k in out}
