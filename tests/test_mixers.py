"""Mixers: PEFT's merge_utils as the oracle, and one invariant table over every registered mixer."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from peft.utils import merge_utils as peft

from adaptermix.mixing import MIXERS, Layout, average, mix, mix_rows, task_vectors
from adaptermix.mixing.ops import drop, n_kept

KEYS = {"enc.layer.0.adapters.a.down.weight": (6, 4), "enc.layer.0.adapters.a.up.weight": (4, 6),
        "enc.layer.1.adapters.a.down.weight": (6, 4), "enc.layer.1.adapters.a.down.bias": (6,)}


def adapters(k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{key: torch.randn(shape, generator=g) for key, shape in KEYS.items()} for _ in range(k)]


def per_key(sds, fn):
    """Apply a PEFT function key by key on the stacked members, as PEFT's add_weighted_adapter does."""
    return {key: fn([sd[key] for sd in sds]) for key in sds[0]}


def assert_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


W = [0.7, 1.3, 0.4]


@pytest.mark.parametrize("density", [0.2, 0.5, 1.0])
@pytest.mark.parametrize("sign", ["total", "frequency"])
def test_ties_equals_peft(density, sign):
    sds = adapters(3)
    ours = mix(sds, "ties", W, density=density, majority_sign=sign)
    ref = per_key(sds, lambda ts: peft.ties(ts, torch.tensor(W), density, sign))
    assert_equal(ours, ref)


@pytest.mark.parametrize("density", [0.3, 1.0])
def test_magnitude_and_task_arithmetic_equal_peft(density):
    sds = adapters(3, seed=1)
    assert_equal(mix(sds, "magnitude", W, density=density),
                 per_key(sds, lambda ts: peft.magnitude_prune(ts, torch.tensor(W), density)))
    assert_equal(mix(sds, "task_arithmetic", W), per_key(sds, lambda ts: peft.task_arithmetic(ts, torch.tensor(W))))


@pytest.mark.parametrize("name,peft_fn", [("dare_linear", peft.dare_linear), ("dare_ties", peft.dare_ties)])
def test_dare_equals_peft_given_the_same_masks(name, peft_fn, monkeypatch):
    # PEFT draws masks from the global RNG in call order; ours are seeded per member by content (order-
    # invariant). Feed PEFT our masks through torch.bernoulli and everything else must match exactly.
    sds = adapters(3, seed=2)
    density, seed = 0.4, 7
    layout = Layout.of(sds[0])
    rows = layout.stack(sds)
    dropped = drop(rows, density, seed)
    masks = (dropped != 0).to(rows.dtype)
    queue = [layout.unstack(masks[i]) for i in range(3)]
    calls = iter([(key, i) for key in sds[0] for i in range(3)])

    def fake_bernoulli(p, *a, **kw):
        key, i = next(calls)
        return queue[i][key]

    ours = mix(sds, name, W, density=density, seed=seed)
    monkeypatch.setattr(torch, "bernoulli", fake_bernoulli)
    ref = per_key(sds, lambda ts: peft_fn(ts, torch.tensor(W), density))
    assert_equal(ours, ref)


def test_dare_drop_statistics():
    rows = torch.ones(2, 200_000)
    out = drop(rows, 0.25, seed=3)
    kept = (out != 0).float().mean(dim=1)
    assert torch.allclose(kept, torch.full((2,), 0.25), atol=0.01)
    assert torch.equal(out[out != 0], torch.full_like(out[out != 0], 4.0))  # rescaled by 1/density
    assert not torch.equal(out[0], drop(rows, 0.25, seed=4)[0])  # the seed matters
    assert torch.equal(out, drop(rows, 0.25, seed=3))  # and fixes the result


def test_trim_keeps_floor_of_density_times_n_per_tensor_and_other_scopes():
    sds = adapters(1)
    out = mix(sds, "magnitude", density=0.5)
    for t in out.values():
        assert int((t != 0).sum()) == n_kept(0.5, t.numel())
    glob = mix(sds, "magnitude", density=0.5, scope="global")
    assert sum(int((t != 0).sum()) for t in glob.values()) == n_kept(0.5, sum(t.numel() for t in glob.values()))
    layer = mix(sds, "magnitude", density=0.5, scope="layer")
    assert int((layer["enc.layer.0.adapters.a.down.weight"] != 0).sum()
               + (layer["enc.layer.0.adapters.a.up.weight"] != 0).sum()) == 24
    assert n_kept(0.29, 100) == 29  # decimal reading, where PEFT's int(0.29 * 100) gives 28


# Per mixer: parameters that make a single member at weight 1 reproduce itself (None: not defined),
# and the weight at which k identical members give the member back.
TABLE = {
    "average": ({}, None),
    "weighted": ({}, None),
    "task_arithmetic": ({}, "1/k"),
    "ties": ({"density": 1.0}, 1.0),
    "dare_linear": ({"density": 1.0}, "1/k"),
    "dare_ties": ({"density": 1.0}, 1.0),
    "magnitude": ({"density": 1.0}, "1/k"),
    "sparse": ({"m": 0}, None),
    "prune": ({"sparsity": 0.0}, None),
}


def test_table_covers_every_mixer():
    assert set(TABLE) == set(MIXERS.names())


@pytest.mark.parametrize("name", sorted(TABLE))
def test_invariants(name):
    params, same_w = TABLE[name]
    sds = adapters(3, seed=5)
    copies = [{k: v.clone() for k, v in sd.items()} for sd in sds]
    # a single member at weight 1 reproduces itself
    assert_equal(mix(sds[:1], name, [1.0], **params), sds[0])
    # identical members give the member back
    w = None if same_w is None else ([1 / 3] * 3 if same_w == "1/k" else [same_w] * 3)
    torch.testing.assert_close(mix([sds[0]] * 3, name, w, **params), sds[0])
    # member order does not matter (up to float summation order), with the mixer's defaults
    base = mix(sds, name, [0.5, 0.3, 0.2])
    for perm in itertools.permutations(range(3)):
        other = mix([sds[i] for i in perm], name, [[0.5, 0.3, 0.2][i] for i in perm])
        torch.testing.assert_close(other, base, rtol=1e-6, atol=1e-6)
    # inputs are never modified
    for a, b in zip(sds, copies, strict=True):
        assert_equal(a, b)
    # NaN/Inf and bad densities are refused
    bad = [dict(sds[0]), dict(sds[1])]
    bad[1]["enc.layer.1.adapters.a.down.bias"] = torch.full((6,), float("nan"))
    with pytest.raises(ValueError, match="NaN or Inf"):
        mix(bad, name)
    if "density" in MIXERS.get(name).params:
        for d in (0.0, -0.1, 1.5, float("nan")):
            with pytest.raises(ValueError, match="density"):
                mix(sds, name, density=d)


def test_mix_equals_average_bit_for_bit_and_unknowns_are_refused():
    sds = adapters(4, seed=9)
    assert_equal(mix(sds), average(sds))
    with pytest.raises(ValueError, match="unknown mixer 'tis'. Did you mean 'ties'"):
        mix(sds, "tis")
    with pytest.raises(ValueError, match="does not take 'density'"):
        mix(sds, "average", density=0.3)
    with pytest.raises(ValueError, match="one weight per adapter"):
        mix(sds, "ties", [1.0])


def test_task_vector_view():
    sds, init = adapters(3, seed=11), adapters(1, seed=12)[0]
    out = mix(sds, "ties", init=init, density=0.5)
    deltas = task_vectors(sds, init)
    inner = mix(deltas, "ties", density=0.5)
    for key in out:
        torch.testing.assert_close(out[key], init[key] + inner[key])
    # average is the same in both views
    torch.testing.assert_close(mix(sds, init=init), mix(sds), rtol=1e-5, atol=1e-5)


def test_lora_delta_space_linear_is_exact_and_nonlinear_uses_stated_rank():
    g = torch.Generator().manual_seed(0)
    sds = [{"l.loras.a.lora_A": torch.randn(2, 5, generator=g), "l.loras.a.lora_B": torch.randn(4, 2, generator=g),
            "l.other.bias": torch.randn(3, generator=g)} for _ in range(3)]
    out = mix(sds, "task_arithmetic", W, space="delta")
    want = sum(w * sd["l.loras.a.lora_B"] @ sd["l.loras.a.lora_A"] for w, sd in zip(W, sds, strict=True))
    torch.testing.assert_close(out["l.loras.a.lora_B"] @ out["l.loras.a.lora_A"], want, rtol=1e-5, atol=1e-5)
    assert out["l.loras.a.lora_A"].shape == (6, 5)  # rank k·r
    ties = mix(sds, "ties", space="delta", density=0.5, rank=3)
    assert ties["l.loras.a.lora_A"].shape == (3, 5) and ties["l.loras.a.lora_B"].shape == (4, 3)
    with pytest.raises(ValueError, match="unknown space"):
        mix(sds, space="weights")


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 4), density=st.floats(0.05, 1.0), seed=st.integers(0, 2**16))
def test_mix_rows_prepared_equals_unprepared(k, density, seed):
    # The engine prepares each member once and combines per mixture: it must equal the one-shot path.
    sds = adapters(k, seed=seed)
    layout = Layout.of(sds[0])
    rows = layout.stack(sds)
    for name in ("ties", "dare_ties", "magnitude"):
        mx = MIXERS.get(name)
        p = mx.resolve({"density": density})
        prepared = torch.stack([mx.prepare(rows[i : i + 1], layout, **p)[0] for i in range(k)])
        assert torch.equal(mix_rows(prepared, layout, name, prepared=True, density=density),
                           mix_rows(rows, layout, name, density=density))
