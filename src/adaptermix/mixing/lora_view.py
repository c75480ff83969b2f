"""The ΔW view of a LoRA state dict: each factor pair (A, B) replaced by its product B·A."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

# Name part of the A factor → name part of its B factor. AdapterHub: `...loras.<name>.lora_A`
# (r × in) and `...loras.<name>.lora_B` (out × r); PEFT: `...lora_A.weight` or
# `...lora_A.<adapter>.weight`, and `lora_embedding_A/B` for embeddings.
_PAIRS = {"lora_A": "lora_B", "lora_embedding_A": "lora_embedding_B"}
_DELTA = "delta_w"  # AdapterHub's name for B @ A (`LoRA.delta_w`)


def partner(key: str) -> tuple[str, str] | None:
    """(B key, ΔW key) for an A-factor key, or None when `key` is not an A factor."""
    parts = key.split(".")
    for i, part in enumerate(parts):
        if part in _PAIRS:
            b_key = ".".join([*parts[:i], _PAIRS[part], *parts[i + 1 :]])
            return b_key, ".".join([*parts[:i], _DELTA, *parts[i + 1 :]])
    return None


def delta_view(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Replace every LoRA factor pair by ΔW = B @ A; keep every other tensor as it is.

    The scaling α/r that LoRA applies to ΔW is a positive scalar, so it changes no sign and is left
    out. A lone `lora_B` (AdapterHub's (IA)³ keeps only a scaling vector there) is kept as it is.
    Factors with more than two dimensions (PEFT's conv LoRA) are flattened to r × rest first.

    Args:
        state_dict: adapter tensors (AdapterHub or PEFT names).

    Returns:
        A new dict; ΔW takes the place of A under the A name with `lora_A` replaced by `delta_w`.

    Raises:
        ValueError: an A factor without its B, or factors whose ranks do not match.
    """
    products: dict[str, tuple[str, str]] = {}
    for key in state_dict:
        found = partner(key)
        if found is None:
            continue
        b_key, delta_key = found
        if b_key not in state_dict:
            raise ValueError(f"LoRA factor {key!r} has no partner {b_key!r}: pass both factors or use space='factors'")
        products[key] = (b_key, delta_key)
    consumed = {b_key for b_key, _ in products.values()}
    out: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        if key in products:
            b_key, delta_key = products[key]
            out[delta_key] = _product(state_dict[b_key], tensor, key)
        elif key not in consumed:
            out[key] = tensor
    return out


def _product(b: Tensor, a: Tensor, a_key: str) -> Tensor:
    a2 = a.detach().reshape(a.shape[0], -1)
    b2 = b.detach().reshape(b.shape[0], -1)
    if b2.shape[1] != a2.shape[0]:
        raise ValueError(
            f"LoRA factor {a_key!r} has rank {a2.shape[0]} but its B factor has {b2.shape[1]} columns: "
            "the factors do not belong together"
        )
    dtype = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    return b2.to(device="cpu", dtype=dtype) @ a2.to(device="cpu", dtype=dtype)
