"""FSD-guided sparse mixing: Alg. 4 (Sec. 7) of Nguyen & Le (2024)."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from torch import Tensor

from adaptermix.analysis.fsd import fsd_matrix
from adaptermix.analysis.greedy import greedy_selection, mean_fsd
from adaptermix.layers import group_keys
from adaptermix.mixing import Layout, check_compatible, mix
from adaptermix.mixing.ops import layer_scores, most_conflicting
from adaptermix.pruning.magnitude import check_sparsity


@dataclass(frozen=True)
class SparseMixPlan:
    """What Alg. 4 chose, before any pruning.

    Attributes:
        candidates: indices of the l adapters chosen by Alg. 1, smallest mean FSD first.
        pruned: for each candidate, the m layer groups to prune, highest score first.
        scores: for each candidate, layer group → mean per-layer FSD against the other candidates.
        mean_fsd: avg_S (`analysis.greedy.mean_fsd`) for every one of the k adapters (Alg. 1's ranking).
    """

    candidates: tuple[int, ...]
    pruned: tuple[tuple[str, ...], ...]
    scores: tuple[dict[str, float], ...]
    mean_fsd: tuple[float, ...]


def _check_m(m: int, groups: Sequence[str]) -> int:
    try:
        m = operator.index(m)
    except TypeError:
        raise ValueError(f"m must be an integer, got {m!r}") from None
    if not 0 <= m <= len(groups):
        raise ValueError(
            f"m={m} is out of range: the adapters have {len(groups)} layer groups, choose 0 ≤ m ≤ {len(groups)}"
        )
    return m


def sparse_mix_plan(state_dicts: Sequence[Mapping[str, Tensor]], l: int, m: int) -> SparseMixPlan:  # noqa: E741
    """Choose the candidates and the layers to prune of Alg. 4 (Sec. 7), without pruning.

    Candidates are Alg. 1's l adapters with the smallest mean FSD (factor space, as in the paper).
    Each candidate i scores every layer group L by the mean over the other candidates j of
    layer_fsd(i, j)[L] and marks its m highest-scoring groups; equal scores go by layer order. The
    scores and the marks are the `sparse` mixer's own (`mixing.ops.layer_scores`, `most_conflicting`).

    Args:
        state_dicts: the k adapters, same keys and shapes.
        l: number of candidates, 1 ≤ l ≤ k (l = 1 only with m = 0: there is nothing to compare).
        m: number of layer groups to prune per candidate, 0 ≤ m ≤ number of groups.

    Returns:
        The `SparseMixPlan`.

    Raises:
        ValueError: mismatched adapters, NaN/Inf, l or m out of range.
    """
    check_compatible(state_dicts)
    groups = list(group_keys(state_dicts[0]))
    m = _check_m(m, groups)
    S = fsd_matrix(state_dicts)  # also rejects NaN/Inf, so the per-layer counts need no re-check
    candidates = greedy_selection(S, l)
    if len(candidates) == 1 and m > 0:
        raise ValueError("l=1 leaves no other candidate to score layers against: use l ≥ 2 or m = 0")
    layout = Layout.of(state_dicts[0])
    scores = layer_scores(layout.stack([state_dicts[i] for i in candidates]), layout.layer_groups())
    return SparseMixPlan(
        candidates=tuple(candidates),
        pruned=tuple(most_conflicting(score, m) for score in scores),
        scores=tuple(scores),
        mean_fsd=tuple(float(v) for v in mean_fsd(S)),
    )


def sparse_mix(
    state_dicts: Sequence[Mapping[str, Tensor]],
    l: int,  # noqa: E741
    m: int,
    sparsity: float,
) -> dict[str, Tensor]:
    """FSD-guided sparse mixing (Alg. 4, Sec. 7).

    Runs `sparse_mix_plan`, prunes each candidate's chosen layer groups to `sparsity` by magnitude
    (Alg. 2, one scope per group; the rest of the candidate is untouched) and returns the uniform
    average (Eq. 1) of the partly pruned candidates.

    Args:
        state_dicts: the k adapters, same keys and shapes; never modified.
        l: number of candidates, 1 ≤ l ≤ k.
        m: number of layer groups to prune per candidate, 0 ≤ m ≤ number of groups.
        sparsity: share of entries to zero in each pruned group, in [0, 1] (paper: 0.8 or 0.9).

    Returns:
        The mixed state dict.

    Raises:
        ValueError: as `sparse_mix_plan`, or sparsity outside [0, 1].
    """
    s = check_sparsity(sparsity)
    plan = sparse_mix_plan(state_dicts, l, m)
    # The pruning and averaging are the `sparse` mixer, the same one sweeps use; it re-scores the
    # layers among exactly these candidates, so it prunes what `plan.pruned` says.
    return mix([state_dicts[i] for i in plan.candidates], "sparse", m=m, sparsity=s)
