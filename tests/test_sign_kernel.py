"""One sign-conflict kernel, one rule for zeros (issue 19): `adaptermix.signs`, and every caller equal to it.

The rule: entries conflict when one is > 0 and the other < 0; ±0.0 and NaN never conflict. The callers
are FSD (pair, per layer, matrix through the threaded driver), flip fraction, the sweep engine's sign
statistics, the Alg. 4 layer scores of the `sparse` mixer and of `sparse_mix_plan`, and the synthetic
store. Each is checked here on weights full of exact zeros of both signs, where rules differ.
"""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from adaptermix.analysis import flip_fraction, fsd, fsd_matrix, layer_fsd
from adaptermix.analysis._signbits import conflict_counts
from adaptermix.evaluation.engine import SweepWorker
from adaptermix.layers import group_keys
from adaptermix.mixing import Layout, mix
from adaptermix.mixing.ops import layer_scores, most_conflicting
from adaptermix.pruning import sparse_mix_plan
from adaptermix.signs import conflicts, count_conflicts, pack_signs, pair_conflicts
from adaptermix.store import synthetic

SHAPES = {"enc.layer.0.a": (6, 4), "enc.layer.0.b": (5,), "enc.layer.1.a": (7, 3), "enc.layer.2.a": (70,),
          "head.w": (3,)}


def _zeros_everywhere(seed: int, k: int = 4) -> list[dict[str, torch.Tensor]]:
    """k adapters with a third of their entries +0.0 or −0.0, and one adapter rounded (many more zeros)."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(k):
        sd = {}
        for key, shape in SHAPES.items():
            t = torch.randn(*shape, generator=g)
            u = torch.rand(*shape, generator=g)
            t[u < 0.15] = 0.0
            t[(u >= 0.15) & (u < 0.3)] = -0.0
            sd[key] = t.round() if i == 1 else t
        out.append(sd)
    return out


def _flat(sd: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in sd.values()])


def _by_hand(a: torch.Tensor, b: torch.Tensor) -> int:
    """The rule written out element by element, independent of the kernel."""
    return sum(1 for x, y in zip(a.tolist(), b.tolist(), strict=True) if (x > 0 and y < 0) or (x < 0 and y > 0))


def test_the_rule_zeros_and_nan_never_conflict_tiny_opposites_do() -> None:
    a = torch.tensor([0.0, -0.0, 0.0, 1.0, -1.0, float("nan"), 1e-300, 2.0], dtype=torch.float64)
    b = torch.tensor([-1.0, 1.0, -0.0, -0.0, 0.0, -1.0, -1e-300, 3.0], dtype=torch.float64)
    assert float((a[6] * b[6]).item()) == 0.0  # the product underflows: a product rule would miss it
    assert conflicts(a, b) == 1
    assert conflicts(a.numpy(), b.numpy()) == 1
    assert conflicts(a.float(), b.half()) == conflicts(a, b) - 1  # 1e-300 is 0 in float32: no conflict left


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 200])
def test_packed_rows_count_like_the_rule(n: int) -> None:
    rows = torch.randn(3, n)
    rows[rows.abs() < 0.6] = 0.0
    rows[0, : n // 2] = -0.0
    counts = pair_conflicts(pack_signs(rows))
    for i, j in itertools.product(range(3), repeat=2):
        assert int(counts[i, j]) == _by_hand(rows[i], rows[j])
    assert np.array_equal(count_conflicts(pack_signs(rows), pack_signs(rows[2])), counts[:, 2])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fsd_flip_fraction_and_layer_fsd_are_the_kernel(seed: int) -> None:
    ads = _zeros_everywhere(seed)
    total = sum(math.prod(s) for s in SHAPES.values())
    mixture = mix(ads[:3])
    for a, b in itertools.product(ads, repeat=2):
        assert fsd(a, b) == conflicts(_flat(a), _flat(b)) / total
        for group, keys in group_keys(a).items():
            size = sum(a[key].numel() for key in keys)
            want = sum(conflicts(a[key], b[key]) for key in keys) / size
            assert layer_fsd(a, b)[group] == want
        assert flip_fraction(a, mixture) == conflicts(_flat(a), _flat(mixture)) / total


@pytest.mark.parametrize("threads", [False, True])
def test_the_threaded_fsd_matrix_driver_is_the_kernel(threads: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from adaptermix.analysis import _signbits

    if threads:
        monkeypatch.setattr(_signbits, "_PARALLEL_MIN", 0)
        monkeypatch.setattr(_signbits, "_TASK", 64)
        monkeypatch.setattr(_signbits, "_workers", lambda: 3)
    ads = _zeros_everywhere(3, k=5)
    rows = torch.stack([_flat(sd) for sd in ads])
    want = pair_conflicts(pack_signs(rows))
    counts, bad = conflict_counts([list(sd.values()) for sd in ads], chunk=64)
    assert bad is None
    assert np.array_equal(counts, want)
    assert np.array_equal(fsd_matrix(ads), want / rows.shape[1])


def test_the_engine_sign_statistics_are_the_kernel() -> None:
    """`SweepWorker._signs` on rows with zeros, in both views: every statistic from the kernel's counts."""
    ads = _zeros_everywhere(4)
    layout = Layout.of(ads[0])
    stacked = layout.stack(ads)
    init = torch.zeros(stacked.shape[1])
    init[::3] = stacked[0, ::3]  # task vectors then have exact zeros where member 0 equals the init
    for reference in ("raw", "init"):
        worker = SimpleNamespace(stacked=stacked, _bits={}, _pair_fsd={}, init_row=lambda: init,
                                 config=SimpleNamespace(spec=SimpleNamespace(mixers=[SimpleNamespace(reference=reference)])))
        members = [0, 2, 3]
        mixture = stacked[members].mean(dim=0)
        mixture[::5] = 0.0
        s = SweepWorker._signs(worker, 0, members, mixture, 0)  # type: ignore[arg-type]
        rows, mixed = (stacked, mixture) if reference == "raw" else (stacked - init, mixture - init)
        p = rows.shape[1]
        assert s.flip_fraction == conflicts(rows[0], mixed) / p
        assert s.mixture_fsd == sum(conflicts(rows[i], mixed) for i in members) / (p * 3)
        between = [conflicts(rows[a], rows[b]) / p for a, b in itertools.combinations(members, 2)]
        assert s.mean_pairwise_fsd == float(np.mean(between))


@pytest.mark.parametrize("seed", [0, 5])
def test_the_alg4_scores_are_the_kernel_and_the_plan_uses_them(seed: int) -> None:
    ads = _zeros_everywhere(seed)
    layout = Layout.of(ads[0])
    rows = layout.stack(ads)
    scores = layer_scores(rows, layout.layer_groups())
    for i, score in enumerate(scores):
        for group, keys in group_keys(ads[0]).items():
            size = sum(ads[0][key].numel() for key in keys)
            per_other = [sum(conflicts(ads[i][key], ads[j][key]) for key in keys) / size
                         for j in range(len(ads)) if j != i]
            assert score[group] == math.fsum(per_other) / len(per_other)
            assert score[group] == math.fsum(layer_fsd(ads[i], ads[j])[group] for j in range(4) if j != i) / 3
    plan = sparse_mix_plan(ads, 4, 2)
    want = layer_scores(layout.stack([ads[i] for i in plan.candidates]), layout.layer_groups())
    assert list(plan.scores) == want
    assert plan.pruned == tuple(most_conflicting(s, 2) for s in want)


def test_the_sparse_mixer_prunes_the_layers_the_kernel_scores_highest() -> None:
    ads = _zeros_everywhere(6)
    layout = Layout.of(ads[0])
    rows = layout.stack(ads)
    groups = layout.layer_groups()
    got = layout.stack([mix(ads, "sparse", m=1, sparsity=1.0)])[0]
    pruned = rows.clone()
    for i, score in enumerate(layer_scores(rows, groups)):
        (name,) = most_conflicting(score, 1)
        for a, b in groups[name]:
            pruned[i, a:b] = 0.0  # sparsity 1: the whole group
    assert torch.equal(got, layout.stack([mix([layout.unstack(r, like=ads[0]) for r in pruned])])[0])


def test_the_synthetic_store_uses_the_kernel() -> None:
    a = np.array([0.0, -0.0, 1.0, -2.0, 0.5, -0.0])
    b = np.array([-1.0, 1.0, -0.0, 3.0, -0.5, 0.0])
    assert synthetic._fsd(a, b) == conflicts(a, b) / a.size == 2 / 6
    # Flip fraction is FSD(member, mixture): a mixture entry that is exactly zero is not a flip.
    meta, rows, S = synthetic.synthetic_study(("x", "y", "z"), seed=3, size=500)
    assert np.array_equal(np.diag(S), np.zeros(3))
    assert all(r.flip_fraction == 0.0 for r in rows if r.k == 1)
