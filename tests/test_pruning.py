"""Magnitude pruning (Alg. 2) and sparse mixing (Alg. 4)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.analysis import fsd_matrix, greedy_selection, layer_fsd
from adaptermix.analysis._groups import group_keys
from adaptermix.mixing import average
from adaptermix.pruning import SparseMixPlan, magnitude_prune, sparse_mix, sparse_mix_plan

SHAPES = {"enc.layer.0.w": (3, 4), "enc.layer.0.b": (3,), "enc.layer.1.w": (5,), "enc.layer.2.w": (2, 2), "x": (4,)}
SIZE = sum(int(np.prod(s)) for s in SHAPES.values())


def build(flat: list[float]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for key, shape in SHAPES.items():
        n = int(np.prod(shape))
        out[key] = torch.tensor(flat[start : start + n]).reshape(shape)
        start += n
    return out


# Few distinct magnitudes, so ties (and exact zeros) are common.
adapters = st.lists(st.sampled_from([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]), min_size=SIZE, max_size=SIZE).map(
    build
)
sparsities = st.sampled_from([0.0, 0.1, 0.25, 0.29, 0.5, 0.7, 0.9, 1.0]) | st.floats(0, 1)


def expected_pruned(s: float, n: int) -> int:
    return math.floor(Fraction(repr(s)) * n)  # the sparsity as written, e.g. 0.29·100 = 29


def check_scope(before: list[torch.Tensor], after: list[torch.Tensor], s: float) -> None:
    b = torch.cat([t.reshape(-1) for t in before])
    a = torch.cat([t.reshape(-1) for t in after])
    n = b.numel()
    kept = a != 0
    changed = kept & (a != b)
    assert not changed.any()  # survivors are unchanged
    pruned_positions = (a == 0) & (b != 0)
    # exactly floor(s·n) entries are pruned (an entry that was 0 may be one of them) ...
    assert int((b == 0).sum() + pruned_positions.sum()) >= expected_pruned(s, n)
    assert int(kept.sum()) <= n - expected_pruned(s, n)
    # ... and they are the smallest: no kept magnitude is below a pruned one.
    if kept.any() and pruned_positions.any():
        assert b[kept].abs().min() >= b[pruned_positions].abs().max()


@given(adapters, sparsities)
def test_global_keeps_exact_count_of_largest(sd: dict, s: float) -> None:
    out = magnitude_prune(sd, s)
    check_scope(list(sd.values()), list(out.values()), s)
    # With distinct non-zero entries the count of survivors is exact.
    distinct = {
        k: torch.arange(1, v.numel() + 1, dtype=torch.float32).reshape(v.shape) * (-1) ** i
        for i, (k, v) in enumerate(sd.items())
    }
    kept = sum(int((t != 0).sum()) for t in magnitude_prune(distinct, s).values())
    assert kept == SIZE - expected_pruned(s, SIZE)


def test_exact_count_on_ties() -> None:
    # The percentile form (|w| ≥ z_s) would keep all four; the exact count keeps two.
    out = magnitude_prune({"w": torch.tensor([1.0, -1.0, 1.0, -1.0])}, 0.5)
    assert out["w"].tolist() == [0.0, 0.0, 1.0, -1.0]  # ties by position: earlier goes first
    assert magnitude_prune({"w": torch.ones(100)}, 0.29)["w"].count_nonzero() == 71


@pytest.mark.parametrize("scope", ["layer", "tensor"])
@settings(max_examples=40, deadline=None)
@given(sd=adapters, s=sparsities)
def test_scoped_counts(scope: str, sd: dict, s: float) -> None:
    out = magnitude_prune(sd, s, scope=scope)
    scopes = list(group_keys(sd).values()) if scope == "layer" else [[k] for k in sd]
    for keys in scopes:
        check_scope([sd[k] for k in keys], [out[k] for k in keys], s)


@given(adapters)
def test_identity_zero_and_input_untouched(sd: dict) -> None:
    copy = {k: v.clone() for k, v in sd.items()}
    same = magnitude_prune(sd, 0.0)
    assert all(torch.equal(same[k], sd[k]) and same[k] is not sd[k] for k in sd)
    assert all(not v.any() for v in magnitude_prune(sd, 1.0).values())
    magnitude_prune(sd, 0.5, scope="layer")
    assert all(torch.equal(copy[k], sd[k]) for k in sd)


def test_prune_errors() -> None:
    sd = {"w": torch.ones(3)}
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="sparsity"):
            magnitude_prune(sd, bad)
    with pytest.raises(ValueError, match="global, layer, tensor"):
        magnitude_prune(sd, 0.5, scope="row")
    with pytest.raises(ValueError, match="'w'"):
        magnitude_prune({"w": torch.tensor([1.0, float("inf")])}, 0.5)


def random_adapters(k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [{key: torch.randn(shape, generator=gen) for key, shape in SHAPES.items()} for _ in range(k)]


def test_sparse_mix_plan_follows_alg4() -> None:
    ads = random_adapters(5)
    plan = sparse_mix_plan(ads, l=3, m=2)
    assert isinstance(plan, SparseMixPlan)
    S = fsd_matrix(ads)
    assert list(plan.candidates) == greedy_selection(S, 3)
    assert plan.mean_fsd == pytest.approx(S.mean(axis=1).tolist())
    for i, pruned, scores in zip(plan.candidates, plan.pruned, plan.scores, strict=True):
        others = [j for j in plan.candidates if j != i]
        for g in ["layer.0", "layer.1", "layer.2", "other"]:
            assert scores[g] == pytest.approx(np.mean([layer_fsd(ads[i], ads[j])[g] for j in others]))
        ranked = sorted(scores, key=lambda g, s=scores: -s[g])
        assert [scores[g] for g in pruned] == [scores[g] for g in ranked[:2]]


def test_sparse_mix_prunes_the_planned_groups_then_averages() -> None:
    ads = random_adapters(4, seed=1)
    plan = sparse_mix_plan(ads, l=2, m=1)
    members = []
    for i, pruned in zip(plan.candidates, plan.pruned, strict=True):
        groups = group_keys(ads[i])
        member = dict(ads[i])
        for g in pruned:
            member.update(magnitude_prune({k: member[k] for k in groups[g]}, 0.9))
        members.append(member)
    out = sparse_mix(ads, l=2, m=1, sparsity=0.9)
    expect = average(members)
    assert all(torch.equal(out[k], expect[k]) for k in expect)
    # m = 0 is Alg. 1's greedy mixture; sparsity 0 changes nothing either.
    dense = average([ads[i] for i in plan.candidates])
    for got in (sparse_mix(ads, 2, 0, 0.9), sparse_mix(ads, 2, 3, 0.0)):
        assert all(torch.equal(got[k], dense[k]) for k in dense)


def test_sparse_mix_errors() -> None:
    ads = random_adapters(3)
    with pytest.raises(ValueError, match="l=4"):
        sparse_mix(ads, l=4, m=1, sparsity=0.8)
    with pytest.raises(ValueError, match="m=5"):
        sparse_mix(ads, l=2, m=5, sparsity=0.8)  # 4 groups
    with pytest.raises(ValueError, match="m=-1"):
        sparse_mix(ads, l=2, m=-1, sparsity=0.8)
    with pytest.raises(ValueError, match="l=1"):
        sparse_mix(ads, l=1, m=1, sparsity=0.8)
    with pytest.raises(ValueError, match="sparsity"):
        sparse_mix(ads, l=2, m=1, sparsity=1.2)
    with pytest.raises(ValueError, match="lacks tensor"):
        sparse_mix([ads[0], {"x": torch.ones(4)}], l=2, m=1, sparsity=0.8)
    with pytest.raises(ValueError):
        sparse_mix([], l=1, m=0, sparsity=0.8)


@pytest.mark.parametrize("scope", ["global", "layer", "tensor"])
@pytest.mark.parametrize("sparsity", [0.0, 0.29, 0.5, 0.9, 1.0])
def test_the_prune_mixer_is_alg2_bit_for_bit(scope: str, sparsity: float) -> None:
    """One pruning arithmetic: the sweep's `prune` mixer at k = 1 and `adaptermix prune` (Alg. 2) agree exactly,
    ties included (rounded values make many equal magnitudes)."""
    from adaptermix.mixing import mix

    g = torch.Generator().manual_seed(3)
    sd = {f"encoder.layer.{i}.adapter.{name}": (torch.randn(shape, generator=g) * 4).round() / 4
          for i in range(2) for name, shape in (("down.weight", (6, 5)), ("down.bias", (6,)), ("up.weight", (5, 6)))}
    ours = mix([sd], "prune", sparsity=sparsity, scope=scope)
    alg2 = magnitude_prune(sd, sparsity, scope)
    assert ours.keys() == alg2.keys()
    for key in sd:
        assert torch.equal(ours[key], alg2[key]), key
