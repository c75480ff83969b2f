"""The stacked layout every mixer works on: k adapters as rows of one (k, P) matrix.

PEFT's `merge_utils` merges stacked `(k, ...)` tensors; we go one step further and flatten every
tensor of an adapter into one row, so a mixer is a function of a (k, P) matrix. The sweep engine
keeps the n adapters of a study stacked this way and writes a mixture row straight into the
resident model; the checkpoint path stacks the state dicts it is given. Both call the same mixer
on the same layout, which is what keeps a sweep row bit-identical to mixing the checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from adaptermix.layers import group_keys

SCOPES = ("global", "layer", "tensor")


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


@dataclass(frozen=True)
class Layout:
    """Where each tensor of an adapter lives in a flat row.

    Attributes:
        keys: tensor names in row order (the first adapter's key order).
        shapes: their shapes.
    """

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, state_dict: Mapping[str, Tensor]) -> Layout:
        """The layout of `state_dict`, in its own key order."""
        return cls(tuple(state_dict), tuple(tuple(t.shape) for t in state_dict.values()))

    @cached_property
    def sizes(self) -> tuple[int, ...]:
        out = []
        for shape in self.shapes:
            n = 1
            for d in shape:
                n *= d
            out.append(n)
        return tuple(out)

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        out, pos = [], 0
        for n in self.sizes:
            out.append(pos)
            pos += n
        return tuple(out)

    @property
    def numel(self) -> int:
        """P, the length of a row."""
        return sum(self.sizes)

    def span(self, key: str) -> tuple[int, int]:
        """(start, end) of tensor `key` in a row."""
        i = self.keys.index(key)
        return self.offsets[i], self.offsets[i] + self.sizes[i]

    def groups(self, scope: str) -> list[list[tuple[int, int]]]:
        """The row ranges that form one trimming scope each.

        Args:
            scope: `"tensor"` (each tensor alone, as PEFT and mergekit trim), `"layer"` (the tensors
                of one transformer layer together, `other` for the rest) or `"global"` (the whole row).

        Raises:
            ValueError: an unknown scope.
        """
        if scope == "tensor":
            return [[(o, o + n)] for o, n in zip(self.offsets, self.sizes, strict=True)]
        if scope == "global":
            return [[(0, self.numel)]]
        if scope == "layer":
            return [[self.span(k) for k in keys] for keys in group_keys(self.keys).values()]
        raise ValueError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")

    def layer_groups(self) -> dict[str, list[tuple[int, int]]]:
        """Layer group name (`layer.3`, `other`) → its row ranges, in layer order."""
        return {name: [self.span(k) for k in keys] for name, keys in group_keys(self.keys).items()}

    def stack(self, state_dicts: Sequence[Mapping[str, Tensor]], dtype: torch.dtype | None = None) -> Tensor:
        """Flatten k compatible state dicts into a (k, P) matrix (float32, or float64 if any input is).

        Raises:
            ValueError: mismatched keys or shapes (naming the first), or NaN/Inf in an input.
        """
        check_compatible(state_dicts)
        if dtype is None:
            wide = any(t.dtype == torch.float64 for sd in state_dicts for t in sd.values())
            dtype = torch.float64 if wide else torch.float32
        rows = torch.stack([torch.cat([sd[k].detach().to(device="cpu", dtype=dtype).reshape(-1) for k in self.keys])
                            for sd in state_dicts]) if self.keys else torch.zeros((len(state_dicts), 0), dtype=dtype)
        bad = (~torch.isfinite(rows)).nonzero()
        if len(bad):
            i, pos = int(bad[0, 0]), int(bad[0, 1])
            key = next(k for k, o, n in zip(self.keys, self.offsets, self.sizes, strict=True) if o <= pos < o + n)
            raise ValueError(f"tensor {key!r} of adapter #{i} contains NaN or Inf: fix or drop the adapter")
        return rows

    def unstack(self, row: Tensor, like: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """A row back into a state dict (new tensors; dtypes and device of `like` when given)."""
        out: dict[str, Tensor] = {}
        for key, shape, o, n in zip(self.keys, self.shapes, self.offsets, self.sizes, strict=True):
            t = row[o : o + n].reshape(shape)
            if like is not None:
                t = t.to(device=like[key].device, dtype=like[key].dtype)
            out[key] = t.clone()
        return out


def gather(rows: Tensor, ranges: Sequence[tuple[int, int]]) -> Tensor:
    """The columns of `rows` in `ranges`, concatenated (a view when there is one range)."""
    if len(ranges) == 1:
        a, b = ranges[0]
        return rows[..., a:b]
    return torch.cat([rows[..., a:b] for a, b in ranges], dim=-1)


def scatter(rows: Tensor, ranges: Sequence[tuple[int, int]], values: Tensor) -> None:
    """Write `values` (columns in `ranges` order) back into `rows` in place."""
    pos = 0
    for a, b in ranges:
        rows[..., a:b] = values[..., pos : pos + b - a]
        pos += b - a
