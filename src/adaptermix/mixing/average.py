"""Weight-space averaging of adapters (Eq. 1 of Nguyen & Le 2024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor

from adaptermix.mixing.mix import mix


def average(
    state_dicts: Sequence[Mapping[str, Tensor]], weights: Sequence[float] | None = None
) -> dict[str, Tensor]:
    """Mix adapters by (weighted) element-wise averaging of every parameter tensor.

    Implements Eq. 1: θ_mix = θ_PLM + (1/k) Σ_i θ_Di. Only the adapter part is given here (θ_PLM is
    frozen and shared), so the mixture is the element-wise mean of the adapters' tensors; LoRA
    factors A and B are averaged separately, as in AdapterHub's `average_adapter(...,
    combine_strategy="linear")`. Classification heads must not be passed: label sets differ
    between domains, and a mixture is evaluated with the target domain's own head.

    This is `mix(state_dicts, "average", weights)`: one implementation for checkpoints and sweeps.

    Args:
        state_dicts: k ≥ 1 adapter state dicts with identical keys and shapes.
        weights: optional non-negative weights, one per adapter; normalised to sum to 1.
            Uniform (1/k) by default.

    Returns:
        A new state dict (fresh tensors, inputs untouched) in the dtype of the first adapter.
        Accumulation is done in float32 (float64 when an input is float64).

    Raises:
        ValueError: no adapters, mismatched keys/shapes, bad weights, or non-finite values.
    """
    return mix(state_dicts, "average", weights)
