"""Weight-space averaging of adapters (Eq. 1 of Nguyen & Le 2024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from torch import Tensor


def check_compatible(state_dicts: Sequence[Mapping[str, Tensor]], names: Sequence[str] | None = None) -> None:
    """Raise ValueError naming the first key/shape/dtype mismatch between state dicts.

    Args:
        state_dicts: adapter state dicts that are to be combined element-wise.
        names: optional labels of the state dicts, used in messages (default: their positions).

    Raises:
        ValueError: empty input, empty state dict, or the first mismatching key, shape or dtype.
    """
    if len(state_dicts) == 0:
        raise ValueError("no adapters given: pass at least one state dict")
    labels = list(names) if names is not None else [f"#{i}" for i in range(len(state_dicts))]
    ref = state_dicts[0]
    if len(ref) == 0:
        raise ValueError(f"adapter {labels[0]} has no tensors")
    for label, sd in zip(labels[1:], state_dicts[1:], strict=True):
        missing = [k for k in ref if k not in sd]
        if missing:
            raise ValueError(f"adapter {label} lacks tensor {missing[0]!r} that {labels[0]} has")
        extra = [k for k in sd if k not in ref]
        if extra:
            raise ValueError(f"adapter {label} has tensor {extra[0]!r} that {labels[0]} lacks")
        for key, tensor in ref.items():
            other = sd[key]
            if tuple(other.shape) != tuple(tensor.shape):
                raise ValueError(
                    f"tensor {key!r} has shape {tuple(other.shape)} in {label} but "
                    f"{tuple(tensor.shape)} in {labels[0]}"
                )


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
    from adaptermix.mixing.mix import mix

    return mix(state_dicts, "average", weights)
