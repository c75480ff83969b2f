"""Fraction of sign difference (FSD) between adapters: Alg. 3 and Sec. 5 of Nguyen & Le (2024).

FSD(a, b) = |{j : a_j · b_j < 0}| / s over all s entries of two adapters of the same architecture;
a zero on either side is not a conflict. The conflict test compares signs rather than the product,
which would underflow to −0.0 for tiny entries of opposite sign and miss the conflict; it is the one
kernel of `adaptermix.signs`, which every sign statistic of the package uses.

Two spaces, for LoRA:

- `space="factors"` (default, as in the paper): the statistics run over the adapter's own parameters,
  i.e. the LoRA factors A and B entry by entry. These signs are not a property of the update the
  adapter makes: B·A = (−B)·(−A), so negating both factors changes every sign and nothing else.
- `space="delta"`: each LoRA pair is first replaced by ΔW = B·A (the positive scaling α/r is left
  out), whose signs are invariant to that symmetry; s is then the number of ΔW entries plus the
  entries of the tensors that are not LoRA factors, which are used as they are. For bottleneck
  adapters (Houlsby, Pfeiffer) both spaces are the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from adaptermix.analysis._signbits import conflict_counts
from adaptermix.layers import group_keys
from adaptermix.mixing import check_compatible
from adaptermix.mixing.lora_view import delta_view
from adaptermix.signs import conflicts

SPACES = ("factors", "delta")


def _in_space(state_dict: Mapping[str, Tensor], space: str) -> Mapping[str, Tensor]:
    if space == "factors":
        return state_dict
    if space == "delta":
        return delta_view(state_dict)
    raise ValueError(f"unknown space {space!r}: use one of {', '.join(SPACES)}")


def _check_finite(state_dict: Mapping[str, Tensor], label: str) -> None:
    for key, tensor in state_dict.items():
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"tensor {key!r} of adapter {label} contains NaN or Inf: fix or drop the adapter")


def _pair(
    a: Mapping[str, Tensor], b: Mapping[str, Tensor], space: str
) -> tuple[Mapping[str, Tensor], Mapping[str, Tensor]]:
    """Check two adapters (keys, shapes, finite values) and return them in `space`."""
    check_compatible([a, b], names=["a", "b"])
    _check_finite(a, "a")
    _check_finite(b, "b")
    a_s, b_s = _in_space(a, space), _in_space(b, space)
    if sum(t.numel() for t in a_s.values()) == 0:
        raise ValueError("the adapters have no entries: FSD is undefined")
    return a_s, b_s


def fsd(a: Mapping[str, Tensor], b: Mapping[str, Tensor], space: str = "factors") -> float:
    """Fraction of sign difference between two adapters (Alg. 3, Sec. 5).

    Args:
        a: state dict of the first adapter.
        b: state dict of the second adapter, with the same keys and shapes.
        space: `"factors"` (the paper's; LoRA factors as they are) or `"delta"` (LoRA as ΔW = B·A);
            see the module docstring.

    Returns:
        Share in [0, 1] of all entries whose signs are strictly opposite in `a` and `b`.

    Raises:
        ValueError: empty adapters, mismatched keys or shapes (naming the first), NaN/Inf, an unknown
            space, or a LoRA A factor without its B in delta space.
    """
    a_s, b_s = _pair(a, b, space)
    count = sum(conflicts(t, b_s[key]) for key, t in a_s.items())
    return count / sum(t.numel() for t in a_s.values())


def flip_fraction(member: Mapping[str, Tensor], mixture: Mapping[str, Tensor], space: str = "factors") -> float:
    """Share of a member's entries whose sign the mixture reverses (the k > 2 statistic, Fig. 6, Sec. 5).

    Defined as `fsd(member, mixture, space)`: an entry counts when sign(θ_mix) = −sign(θ_D) ≠ 0;
    an entry the mixture sets to exactly zero is not counted as flipped.

    Args:
        member: the target domain's adapter.
        mixture: the mixed adapter (e.g. `adaptermix.mixing.average` of several members).
        space: `"factors"` or `"delta"`, as in `fsd`.

    Returns:
        The flipped share in [0, 1].

    Raises:
        ValueError: as `fsd`.
    """
    return fsd(member, mixture, space)


def layer_fsd(a: Mapping[str, Tensor], b: Mapping[str, Tensor], space: str = "factors") -> dict[str, float]:
    """FSD restricted to each transformer layer (Sec. 5, used by Alg. 4).

    Tensors are grouped by the `layer.<N>.` / `layers.<N>.` part of their names (`"layer.3"`);
    tensors outside any layer form the group `"other"`. Weighting each value by its group's entry
    count and dividing by the total gives back `fsd(a, b, space)`.

    Args:
        a: state dict of the first adapter.
        b: state dict of the second adapter, with the same keys and shapes.
        space: `"factors"` or `"delta"`, as in `fsd`.

    Returns:
        Group name → conflicts in the group / entries in the group, groups in layer order, `other`
        last. A group without entries gets 0.0.

    Raises:
        ValueError: as `fsd`.
    """
    a_s, b_s = _pair(a, b, space)
    out: dict[str, float] = {}
    for group, keys in group_keys(a_s).items():
        size = sum(a_s[key].numel() for key in keys)
        count = sum(conflicts(a_s[key], b_s[key]) for key in keys)
        out[group] = count / size if size else 0.0
    return out


def fsd_matrix(state_dicts: Sequence[Mapping[str, Tensor]], space: str = "factors") -> np.ndarray:
    """Pairwise FSD matrix S of k adapters (Alg. 3 for every pair; the heatmap of Fig. 4, Sec. 5).

    Signs are packed once per adapter into two bitmaps (positive, negative) and each pair's
    conflicts are one popcount over them, so the cost is about one read of every weight plus
    k²/2 passes over bitmaps 32× smaller than the weights.

    Args:
        state_dicts: k ≥ 1 adapters with the same keys and shapes.
        space: `"factors"` or `"delta"`, as in `fsd`.

    Returns:
        k×k float64 array, symmetric, zero diagonal; S[i, j] = fsd(state_dicts[i], state_dicts[j]).

    Raises:
        ValueError: as `fsd`, naming the first offending adapter (`#i`) and key.
    """
    check_compatible(state_dicts)
    if space == "delta":  # factors must be finite before their product hides which one was not
        for i, sd in enumerate(state_dicts):
            _check_finite(sd, f"#{i}")
    spaced = [_in_space(sd, space) for sd in state_dicts]
    keys = list(spaced[0])
    tensors = [[sd[key] for key in keys] for sd in spaced]
    total = sum(t.numel() for t in tensors[0])
    if total == 0:
        raise ValueError("the adapters have no entries: FSD is undefined")
    counts, bad = conflict_counts(tensors)
    if bad is not None:
        adapter, index = bad
        raise ValueError(f"tensor {keys[index]!r} of adapter #{adapter} contains NaN or Inf: fix or drop the adapter")
    return counts / float(total)
