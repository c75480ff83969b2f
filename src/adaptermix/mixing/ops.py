"""The parts mixers are made of, on stacked (k, P) rows: trim, drop, elect, disjoint merge, layer scores.

mergekit's `generalized_task_arithmetic.py` builds TIES, DARE and task arithmetic from these parts;
PEFT's `merge_utils.py` has the same parts as pure tensor functions, and is our test oracle.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import numpy as np
import torch
from torch import Tensor

from adaptermix.mixing.layout import gather, scatter
from adaptermix.signs import pack_signs, pair_conflicts

MAJORITY_SIGNS = ("total", "frequency")


def check_density(density: float, what: str = "density") -> float:
    """`density` as a float in (0, 1]; ValueError otherwise (NaN, 0, negative, > 1)."""
    try:
        d = float(density)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number in (0, 1], got {density!r}") from None
    if not 0.0 < d <= 1.0:  # also false for NaN
        raise ValueError(f"{what} must be in (0, 1] (the share of entries kept, e.g. 0.2), got {density!r}")
    return d


def decimal_floor(fraction: float, n: int) -> int:
    """floor(fraction · n), reading `fraction` as written in decimal: the one count of every pruning rule.

    Binary floating point makes `0.29 * 100` 28.999…; the decimal reading (through the float's shortest
    `repr`) gives the 29 a user means. TIES/magnitude *keep* floor(density · n) entries (PEFT's
    `int(density * n)`, `n_kept`); Alg. 2 *zeroes* floor(sparsity · n) (`n_pruned`), and so keeps
    ceil((1 − sparsity) · n): the two differ by one entry per scope when the product is not whole.
    """
    return math.floor(Decimal(repr(float(fraction))) * n)


def n_kept(density: float, n: int) -> int:
    """Entries TIES/magnitude keep of n: floor(density · n) (`decimal_floor`)."""
    return decimal_floor(density, n)


def n_pruned(sparsity: float, n: int) -> int:
    """Entries Alg. 2 zeroes of n: floor(sparsity · n) (`decimal_floor`)."""
    return decimal_floor(sparsity, n)


def trim(rows: Tensor, density: float, groups: Sequence[Sequence[tuple[int, int]]]) -> Tensor:
    """Keep each row's floor(density · n) largest-|θ| entries in every scope, zero the rest.

    Ties go to the entry that comes first (a stable sort), so the result is deterministic; PEFT's
    `torch.topk` leaves ties unspecified, and on tie-free inputs the two agree.

    Args:
        rows: (k, P) member rows; never modified.
        density: share kept, in (0, 1].
        groups: the scopes, from `Layout.groups(scope)`.
    """
    out = rows.clone()
    for ranges in groups:
        vals = gather(rows, ranges)
        n = vals.shape[-1]
        keep = n_kept(density, n)
        if keep >= n:
            continue
        mask = torch.zeros_like(vals, dtype=torch.bool)
        if keep > 0:
            top = torch.sort(vals.abs(), dim=-1, descending=True, stable=True).indices[..., :keep]
            mask.scatter_(-1, top, True)
        scatter(out, ranges, torch.where(mask, vals, torch.zeros((), dtype=vals.dtype)))
    return out


def smallest(values: Tensor, count: int) -> Tensor:
    """Indices of the `count` smallest-|θ| entries of a 1-D tensor. A stable sort: among equal magnitudes
    the earlier position goes first, so Alg. 2 prunes an exact, deterministic count."""
    return torch.sort(values.abs(), stable=True).indices[:count]


def prune_smallest(values: Tensor, sparsity_count: int) -> Tensor:
    """Zero the `sparsity_count` smallest-|θ| entries of a 1-D tensor (Alg. 2's exact count, stable ties)."""
    if sparsity_count <= 0:
        return values.clone()
    out = values.clone()
    out[smallest(values, sparsity_count)] = 0
    return out


def member_seed(seed: int, row: Tensor) -> int:
    """A generator seed from the user's seed and the member's own bytes.

    Seeding each member's drop mask by its content (not by its position) makes DARE independent of
    member order, and gives a member the same mask in every mixture it joins.
    """
    h = hashlib.sha256(str(int(seed)).encode())
    h.update(row.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return int.from_bytes(h.digest()[:8], "little")


def drop(rows: Tensor, density: float, seed: int) -> Tensor:
    """DARE's drop-and-rescale (Yu et al. 2024): keep each entry with probability `density`, ÷ density.

    Same arithmetic as PEFT's `random_pruning(..., rescale=True)`: (θ · mask) / density, the mask
    drawn with `torch.bernoulli` (here from one generator per member, seeded by `member_seed`).
    """
    out = torch.empty_like(rows)
    for i in range(rows.shape[0]):
        gen = torch.Generator().manual_seed(member_seed(seed, rows[i]))
        mask = torch.bernoulli(torch.full_like(rows[i], density), generator=gen)
        out[i] = (rows[i] * mask) / density
    return out


def elect(rows: Tensor, method: str = "total") -> Tensor:
    """TIES' elected sign per entry: + or −, from the sum (`total`) or the count (`frequency`) of signs.

    A tie (sum 0) elects +, as PEFT does.
    """
    if method == "total":
        magnitude = rows.sum(dim=0)
    elif method == "frequency":
        magnitude = rows.sign().sum(dim=0)
    else:
        raise ValueError(f"unknown majority_sign {method!r}: use one of {', '.join(MAJORITY_SIGNS)}")
    return torch.where(magnitude >= 0, 1, -1)


def disjoint_merge(weighted: Tensor, agree: Tensor) -> Tensor:
    """Σ over agreeing members of w_i θ_i, ÷ the number of agreeing members (1 where none); PEFT's order."""
    return (weighted * agree).sum(dim=0) / torch.clamp(agree.sum(dim=0), min=1.0)


def weight_column(weights: Sequence[float], rows: Tensor) -> Tensor:
    """The weights as a (k, 1) column in the rows' dtype."""
    return torch.tensor(list(weights), dtype=rows.dtype, device=rows.device).view(-1, 1)


def layer_scores(rows: Tensor, groups: Mapping[str, Sequence[tuple[int, int]]]) -> list[dict[str, float]]:
    """Alg. 4's layer scores (Sec. 7): score_i(L) = mean over the other members j of layer-FSD(i, j)[L].

    The one scorer of Alg. 4, used by the `sparse` mixer and by `adaptermix.pruning.sparse_mix_plan`.
    layer-FSD(i, j)[L] is the share of the entries of layer group L whose signs conflict between members
    i and j (the `adaptermix.signs` rule: > 0 against < 0, a zero never conflicts), 0.0 for a group
    without entries. The mean is exactly rounded (`math.fsum`), so it does not depend on member order.
    A lone member has nothing to conflict with and scores 0.0 everywhere.

    Args:
        rows: (k, P) members; never modified.
        groups: layer group name → its row ranges, in layer order (`Layout.layer_groups`).

    Returns:
        One dict per member, group → score, groups in the order given.
    """
    k = rows.shape[0]
    if k < 2:
        return [dict.fromkeys(groups, 0.0) for _ in range(k)]
    pairs: dict[str, tuple[np.ndarray, int]] = {}
    for name, ranges in groups.items():
        part = gather(rows, ranges)
        size = part.shape[-1]
        pairs[name] = (pair_conflicts(pack_signs(part)) if size else np.zeros((k, k), np.int64), size)
    return [{name: math.fsum(int(counts[i, j]) / size if size else 0.0 for j in range(k) if j != i) / (k - 1)
             for name, (counts, size) in pairs.items()} for i in range(k)]


def most_conflicting(score: Mapping[str, float], m: int) -> tuple[str, ...]:
    """The m groups of highest score, highest first; equal scores go by group order (Alg. 4: layer order)."""
    names = list(score)
    rank = sorted(range(len(names)), key=lambda i: (-score[names[i]], i))
    return tuple(names[i] for i in rank[:m])
