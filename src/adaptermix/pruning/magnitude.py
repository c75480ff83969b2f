"""Magnitude pruning of adapters: Alg. 2 (Sec. 7) of Nguyen & Le (2024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptermix.layers import group_keys
from adaptermix.mixing.layout import SCOPES
from adaptermix.mixing.ops import n_pruned, smallest

__all__ = ["SCOPES", "check_sparsity", "magnitude_prune", "n_pruned"]


def check_sparsity(sparsity: float) -> float:
    """Return sparsity as a float; ValueError unless it is a number in [0, 1]."""
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"sparsity must be a number in [0, 1], got {sparsity!r}") from None
    if not 0.0 <= s <= 1.0:  # also false for NaN
        raise ValueError(f"sparsity must be in [0, 1] (e.g. 0.9 for 90 %), got {sparsity!r}")
    return s


def _prune_together(tensors: Sequence[Tensor], sparsity: float) -> list[Tensor]:
    """Zero the floor(sparsity·n) smallest-magnitude entries among all of `tensors` together."""
    n = sum(t.numel() for t in tensors)
    count = n_pruned(sparsity, n)
    if count == 0:
        return [t.detach().clone() for t in tensors]
    dtype = torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32
    magnitude = torch.cat([t.detach().reshape(-1).to(device="cpu", dtype=dtype).abs() for t in tensors])
    # The exact count, ties by position (key order, then position): the same rule as the `prune` mixer.
    drop = smallest(magnitude, count)
    keep = torch.ones(n, dtype=torch.bool)
    keep[drop] = False
    out, start = [], 0
    for t in tensors:
        mask = keep[start : start + t.numel()].reshape(t.shape)
        # Back on the input's device, so pruned and unpruned tensors can be mixed (Alg. 4).
        out.append(torch.where(mask, t.detach().cpu(), torch.zeros((), dtype=t.dtype)).to(t.device))
        start += t.numel()
    return out


def magnitude_prune(state_dict: Mapping[str, Tensor], sparsity: float, scope: str = "global") -> dict[str, Tensor]:
    """Zero the smallest-magnitude entries of an adapter (Alg. 2, Sec. 7).

    In each scope with n entries exactly floor(sparsity·n) entries of smallest |w| are set to zero
    and all others are kept unchanged. The paper's form, mask = (|w| ≥ z_s) with z_s the s-th
    percentile of |w|, keeps more entries than that when magnitudes tie at the threshold (for
    instance many exact zeros); we prune the exact count instead, breaking ties by position.

    Args:
        state_dict: adapter tensors; never modified.
        sparsity: share of entries to zero in each scope, in [0, 1]; 0 returns a copy, 1 all zeros.
        scope: `"global"` (all tensors together), `"layer"` (per layer group: the `layer.<N>.` part
            of the names, other tensors as one group `other`) or `"tensor"` (each tensor alone).

    Returns:
        A new state dict with the same keys, shapes and dtypes, on the CPU.

    Raises:
        ValueError: sparsity outside [0, 1], an unknown scope, or NaN/Inf in a tensor.
    """
    s = check_sparsity(sparsity)
    if scope == "global":
        scopes = [list(state_dict)]
    elif scope == "layer":
        scopes = list(group_keys(state_dict).values())
    elif scope == "tensor":
        scopes = [[key] for key in state_dict]
    else:
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    for key, tensor in state_dict.items():
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"tensor {key!r} contains NaN or Inf: magnitudes cannot be ranked")
    out: dict[str, Tensor] = {}
    for keys in scopes:
        out.update(zip(keys, _prune_together([state_dict[key] for key in keys], s), strict=True))
    return {key: out[key] for key in state_dict}
