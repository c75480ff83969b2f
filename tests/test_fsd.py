"""FSD (Alg. 3): hand-computed cases, Hypothesis properties, an independent reference, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.analysis import flip_fraction, fsd, fsd_matrix, layer_fsd
from adaptermix.analysis._groups import group_keys, layer_group
from adaptermix.mixing import average

# Names across layers, `layer.1` next to `layer.10`, and one tensor outside any layer.
SHAPES = {
    "enc.layer.0.down.weight": (2, 3),
    "enc.layer.0.down.bias": (2,),
    "enc.layer.1.up.weight": (3, 2),
    "enc.layer.10.up.weight": (4,),
    "invertible.F.weight": (5,),
}
SIZE = sum(int(np.prod(s)) for s in SHAPES.values())
values = st.sampled_from([-2.0, -1.0, -0.5, -1e-30, 0.0, 1e-30, 0.5, 1.0, 3.0])


def build(flat: list[float]) -> dict[str, torch.Tensor]:
    out, start = {}, 0
    for key, shape in SHAPES.items():
        n = int(np.prod(shape))
        out[key] = torch.tensor(flat[start : start + n], dtype=torch.float32).reshape(shape)
        start += n
    return out


adapters = st.lists(values, min_size=SIZE, max_size=SIZE).map(build)


def reference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Entry by entry in plain Python: independent of every vectorised path."""
    conflicts = total = 0
    for key in a:
        for x, y in zip(a[key].reshape(-1).tolist(), b[key].reshape(-1).tolist(), strict=True):
            conflicts += (x > 0 and y < 0) or (x < 0 and y > 0)
            total += 1
    return conflicts / total


def test_hand_computed() -> None:
    a = {"w": torch.tensor([1.0, -2.0, 0.0, 3.0])}
    b = {"w": torch.tensor([-1.0, -2.0, 5.0, -3.0])}
    assert fsd(a, b) == 0.5
    assert np.array_equal(fsd_matrix([a, b]), np.array([[0.0, 0.5], [0.5, 0.0]]))


def test_tiny_opposite_values_conflict() -> None:
    # The product 1e-30 · −1e-30 underflows to −0.0 in float32; comparing signs still sees it.
    a, b = {"w": torch.tensor([1e-30])}, {"w": torch.tensor([-1e-30])}
    assert fsd(a, b) == 1.0 == fsd_matrix([a, b])[0, 1]


@given(adapters)
def test_self_is_zero_and_negation_is_one(a: dict[str, torch.Tensor]) -> None:
    assert fsd(a, a) == 0.0
    neg = {k: -v for k, v in a.items()}
    nonzero = sum(int((v != 0).sum()) for v in a.values())
    assert fsd(a, neg) == nonzero / SIZE  # = 1 when a has no zeros


def test_negation_without_zeros_is_one() -> None:
    a = {k: torch.randn(s).abs() + 0.1 for k, s in SHAPES.items()}
    assert fsd(a, {k: -v for k, v in a.items()}) == 1.0


@given(adapters, adapters)
def test_symmetric_in_range_and_equal_to_reference(a: dict, b: dict) -> None:
    value = fsd(a, b)
    assert value == fsd(b, a)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(reference(a, b), abs=1e-15)


@settings(max_examples=50, deadline=None)
@given(st.lists(adapters, min_size=1, max_size=5))
def test_matrix_agrees_with_pairwise(ads: list[dict]) -> None:
    S = fsd_matrix(ads)
    k = len(ads)
    assert S.shape == (k, k) and S.dtype == np.float64
    assert np.array_equal(S, S.T) and not np.diag(S).any()
    for i in range(k):
        for j in range(i + 1, k):
            assert S[i, j] == pytest.approx(fsd(ads[i], ads[j]), abs=1e-15)


@pytest.mark.parametrize("k", [1, 2, 7])
def test_matrix_against_naive_reference_on_random_dicts(k: int) -> None:
    # Sizes that are not multiples of 8 or 64 (bit padding), one tensor larger than a packing
    # chunk, enough entries to take the threaded path, and exact zeros.
    gen = torch.Generator().manual_seed(k)
    shapes = {"layer.0.a": (7, 13), "layer.0.b": (1,), "layer.1.a": (300_007,), "layer.2.c": (3, 5, 11)}
    ads = []
    for _ in range(k):
        sd = {}
        for key, shape in shapes.items():
            t = torch.randn(shape, generator=gen)
            t[torch.rand(shape, generator=gen) < 0.2] = 0.0
            sd[key] = t
        ads.append(sd)
    S = fsd_matrix(ads)
    total = sum(int(np.prod(s)) for s in shapes.values())
    signs = [torch.cat([torch.sign(sd[key]).reshape(-1) for key in shapes]) for sd in ads]
    for i in range(k):
        assert S[i, i] == 0.0
        for j in range(i + 1, k):
            assert S[i, j] == S[j, i] == int((signs[i] * signs[j] < 0).sum()) / total
    if k > 2:  # the threaded path reports the first bad tensor in adapter order, too
        ads[k - 1]["layer.0.a"][0, 0] = float("nan")
        ads[k - 2]["layer.1.a"][-1] = float("-inf")
        with pytest.raises(ValueError, match=f"'layer.1.a' of adapter #{k - 2}"):
            fsd_matrix(ads)


@given(adapters, adapters)
def test_layer_fsd_recombines_to_fsd(a: dict, b: dict) -> None:
    per_layer = layer_fsd(a, b)
    assert list(per_layer) == ["layer.0", "layer.1", "layer.10", "other"]
    sizes = {g: sum(a[k].numel() for k in keys) for g, keys in group_keys(a).items()}
    recombined = sum(per_layer[g] * sizes[g] for g in per_layer) / SIZE
    assert recombined == pytest.approx(fsd(a, b), abs=1e-12)


def test_layer_groups() -> None:
    assert layer_group("bert.encoder.layer.1.output.adapters.x.adapter_up.weight") == "layer.1"
    assert layer_group("bert.encoder.layer.10.output.w") == "layer.10"
    assert layer_group("model.layers.3.mlp.lora_A.weight") == "layers.3"
    assert layer_group("block.sublayer.1.w") == "other"
    assert layer_group("bert.invertible_adapters.x.F.0.weight") == "other"
    assert list(group_keys(["layer.10.a", "x", "layer.2.a", "layer.1.b"])) == [
        "layer.1",
        "layer.2",
        "layer.10",
        "other",
    ]


def test_flip_fraction_is_fsd_to_the_mixture() -> None:
    a = {"w": torch.tensor([1.0, -1.0, 2.0, 0.5])}
    b = {"w": torch.tensor([-3.0, 1.0, 1.0, -0.5])}
    mix = average([a, b])  # [-1, 0, 1.5, 0]: one flip, two zeros (not flips)
    assert flip_fraction(a, mix) == 0.25 == fsd(a, mix)


def _lora(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "bert.encoder.layer.0.attention.self.query.loras.d.lora_A": torch.randn(2, 6, generator=gen),
        "bert.encoder.layer.0.attention.self.query.loras.d.lora_B": torch.randn(5, 2, generator=gen),
        "base.layer.1.q.lora_A.default.weight": torch.randn(3, 4, generator=gen),
        "base.layer.1.q.lora_B.default.weight": torch.randn(4, 3, generator=gen),
        "heads.bias": torch.randn(3, generator=gen),
    }


def test_delta_space_is_invariant_to_negating_both_factors() -> None:
    a = _lora(0)
    flipped = {k: (-v if "lora_" in k else v) for k, v in a.items()}
    assert fsd(a, flipped, space="delta") == 0.0
    factor_entries = 2 * 6 + 5 * 2 + 3 * 4 + 4 * 3
    assert fsd(a, flipped) == factor_entries / (factor_entries + 3)  # every factor entry flips
    only_factors = {k: v for k, v in a.items() if "lora_" in k}
    assert fsd(only_factors, {k: -v for k, v in only_factors.items()}) == 1.0
    assert fsd_matrix([a, flipped], space="delta")[0, 1] == 0.0


def test_delta_space_counts_product_entries() -> None:
    a, b = _lora(1), _lora(2)
    (ka, kb), (pa, pb) = list(a)[:2], list(a)[2:4]
    conflicts = int((torch.sign(a[kb] @ a[ka]) * torch.sign(b[kb] @ b[ka]) < 0).sum())
    conflicts += int((torch.sign(a[pb] @ a[pa]) * torch.sign(b[pb] @ b[pa]) < 0).sum())
    conflicts += int((torch.sign(a["heads.bias"]) * torch.sign(b["heads.bias"]) < 0).sum())
    assert fsd(a, b, space="delta") == conflicts / (5 * 6 + 4 * 4 + 3)
    assert fsd_matrix([a, b], space="delta")[0, 1] == pytest.approx(fsd(a, b, space="delta"), abs=1e-15)
    assert set(layer_fsd(a, b, space="delta")) == {"layer.0", "layer.1", "other"}


def test_delta_space_needs_both_factors() -> None:
    a = _lora(0)
    del a["base.layer.1.q.lora_B.default.weight"]
    with pytest.raises(ValueError, match="lora_B.default.weight"):
        fsd(a, a, space="delta")
    with pytest.raises(ValueError, match="unknown space"):
        fsd(a, a, space="weights")


def test_errors_name_the_offending_key() -> None:
    a = {"x": torch.ones(3), "y": torch.ones(2)}
    with pytest.raises(ValueError, match="'y'"):
        fsd(a, {"x": torch.ones(3)})
    with pytest.raises(ValueError, match="'y'"):
        fsd(a, {"x": torch.ones(3), "y": torch.ones(3)})
    with pytest.raises(ValueError, match="lacks tensor 'y'"):
        fsd_matrix([a, {"x": torch.ones(3), "z": torch.ones(2)}])
    bad = {"x": torch.ones(3), "y": torch.tensor([1.0, float("nan")])}
    with pytest.raises(ValueError, match="'y'.*NaN"):
        fsd(a, bad)
    with pytest.raises(ValueError, match="'y' of adapter #1"):
        fsd_matrix([a, bad])
    with pytest.raises(ValueError, match="'x' of adapter #0"):
        fsd_matrix([{"x": torch.tensor([float("inf"), 1.0, 0.0]), "y": torch.ones(2)}, a])
    with pytest.raises(ValueError):
        fsd({}, {})
    with pytest.raises(ValueError):
        fsd_matrix([])


# --- the packed-sign-bits kernel behind fsd_matrix, driven directly with small chunks -------------


def _kernel_reference(ads: list[dict[str, torch.Tensor]]) -> np.ndarray:
    signs = [torch.cat([torch.sign(t.double()).reshape(-1) for t in sd.values()]) for sd in ads]
    k = len(ads)
    out = np.zeros((k, k), np.int64)
    for i in range(k):
        for j in range(k):
            if i != j:
                out[i, j] = int((signs[i] * signs[j] < 0).sum())
    return out


def _random_ads(k: int, shapes: dict[str, tuple[int, ...]], seed: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    ads = []
    for _ in range(k):
        sd = {}
        for key, shape in shapes.items():
            t = torch.randn(shape, generator=gen)
            draw = torch.rand(shape, generator=gen)
            t[draw < 0.15] = 0.0
            t[draw > 0.9] = -0.0  # a zero all the same: no conflict with anything
            sd[key] = t
        ads.append(sd)
    return ads


@pytest.mark.parametrize("chunk", [64, 128, 192, 1 << 19])
@pytest.mark.parametrize("k", [1, 2, 5])
@pytest.mark.parametrize("threaded", [False, True])
def test_kernel_exact_across_chunk_boundaries(
    chunk: int, k: int, threaded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adaptermix.analysis import _signbits

    if threaded:  # many small tasks on several threads, whatever the size
        monkeypatch.setattr(_signbits, "_PARALLEL_MIN", 0)
        monkeypatch.setattr(_signbits, "_TASK", 128)
        monkeypatch.setattr(_signbits, "_workers", lambda: 3)
    # 1000 entries: not a multiple of 64 or of any chunk; tensors straddle chunks, one spans several.
    shapes = {"a": (3, 7), "b": (1,), "c": (700,), "d": (2, 3, 5), "e": (248,)}
    ads = _random_ads(k, shapes, seed=10 * k + chunk % 7)
    counts, bad = _signbits.conflict_counts([list(sd.values()) for sd in ads], chunk=chunk)
    assert bad is None
    assert counts.dtype == np.int64
    assert np.array_equal(counts, _kernel_reference(ads))


def test_kernel_signed_zeros_tiny_values_and_dtypes() -> None:
    from adaptermix.analysis._signbits import conflict_counts

    # float64 values far below float32's range must keep their signs; bfloat16 widens exactly.
    a = [torch.tensor([1e-300, -0.0, 0.0, -2.0], dtype=torch.float64), torch.tensor([1.0, -1.0], dtype=torch.bfloat16)]
    b = [
        torch.tensor([-1e-300, 5.0, -5.0, -0.0], dtype=torch.float64),
        torch.tensor([-1.0, -1.0], dtype=torch.bfloat16),
    ]
    counts, bad = conflict_counts([a, b], chunk=64)
    assert bad is None
    assert counts[0, 1] == counts[1, 0] == 2  # 1e-300 vs -1e-300, and 1 vs -1


@pytest.mark.parametrize("threaded", [False, True])
def test_kernel_names_the_first_non_finite_tensor(threaded: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from adaptermix.analysis import _signbits

    if threaded:
        monkeypatch.setattr(_signbits, "_PARALLEL_MIN", 0)
        monkeypatch.setattr(_signbits, "_TASK", 64)
        monkeypatch.setattr(_signbits, "_workers", lambda: 4)
    shapes = {"a": (50,), "b": (300,), "c": (90,)}
    ads = _random_ads(4, shapes, seed=3)
    ads[3]["a"][0] = float("nan")  # later adapter, earlier key: loses to adapter #2
    ads[2]["c"][-1] = float("inf")  # last entry of the last chunk
    ads[2]["b"][250] = float("-inf")  # deep inside a tensor that straddles chunks: the first one
    tensors = [list(sd.values()) for sd in ads]
    assert _signbits.conflict_counts(tensors, chunk=64)[1] == (2, 1)
    ads[2]["b"][250] = 1.0
    assert _signbits.conflict_counts(tensors, chunk=64)[1] == (2, 2)
    with pytest.raises(ValueError, match="'c' of adapter #2"):
        fsd_matrix(ads)
    with pytest.raises(ValueError, match="multiple of 64"):
        _signbits.conflict_counts(tensors, chunk=100)


def test_kernel_sum_overflow_is_not_mistaken_for_inf() -> None:
    # Finite entries whose sum overflows float32 trip the cheap per-chunk check; the exact re-check
    # must clear them and the counts must stay right.
    from adaptermix.analysis._signbits import conflict_counts

    big = torch.full((200,), 3e38)
    big[::3] = -3e38
    counts, bad = conflict_counts([[big], [-big]], chunk=64)
    assert bad is None
    assert counts[0, 1] == 200
    assert fsd_matrix([{"w": big}, {"w": -big}])[0, 1] == 1.0
