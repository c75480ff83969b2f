"""Weights, not only members (issue 17, item 5): the `weighted` mixer and the CMA-ES weight search."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.errors import ConfigError
from adaptermix.evaluation.spec import EvalSpec, mix_specs
from adaptermix.mixing import MixSpec, get_mixer, mix, mix_rows
from adaptermix.mixing.layout import Layout

KEYS = {"enc.layer.0.adapters.a.down.weight": (6, 4), "enc.layer.0.adapters.a.up.weight": (4, 6),
        "enc.layer.1.adapters.a.down.bias": (6,)}


def adapters(k: int, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [{key: torch.randn(shape, generator=g) for key, shape in KEYS.items()} for _ in range(k)]


def exactly_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 6), w=st.floats(1e-3, 1e3, allow_nan=False, allow_infinity=False), seed=st.integers(0, 99))
def test_weighted_at_equal_weights_is_exactly_eq1(k: int, w: float, seed: int) -> None:
    sds = adapters(k, seed)
    reference = mix(sds, "average")
    assert exactly_equal(mix(sds, "weighted"), reference)  # uniform default
    assert exactly_equal(mix(sds, "weighted", [w] * k), reference)  # as a call argument
    spec = MixSpec(mixer="weighted", params={"weights": [w] * k})  # as the spec's parameter
    layout = Layout.of(sds[0])
    rows = layout.stack(sds)
    assert torch.equal(mix_rows(rows, layout, spec.mixer, **spec.params), mix_rows(rows, layout, "average"))


def test_weighted_is_the_normalised_weighted_sum() -> None:
    sds = adapters(3, seed=5)
    out = mix(sds, "weighted", [1.0, 2.0, 1.0])
    for key in KEYS:
        torch.testing.assert_close(out[key], 0.25 * sds[0][key] + 0.5 * sds[1][key] + 0.25 * sds[2][key])
    one_hot = mix(sds, "weighted", [0.0, 1.0, 0.0])
    assert exactly_equal(one_hot, sds[1])  # a member at weight 1 reproduces itself


def test_weights_live_in_the_frozen_spec_and_its_row_key() -> None:
    spec = MixSpec(mixer="weighted", params={"weights": [0.2, 0.8]})
    assert spec.label == "weighted(weights=(0.2, 0.8))"
    again = MixSpec.model_validate(json.loads(spec.as_json()))  # what a store row / manifest records
    assert again == spec and again.label == spec.label
    assert MixSpec(mixer="weighted").label == "weighted"  # uniform: no weights in the key
    mixer = get_mixer("weighted")
    assert mixer.member_weights(None, spec.params, 2) == [0.2, 0.8]
    with pytest.raises(ValueError, match="already carries"):  # weights are given once
        mixer.member_weights([0.5, 0.5], spec.params, 2)
    study = EvalSpec(mixers=[{"mixer": "weighted", "weights": [1, 3]}])
    assert study.mixers[0].params == {"weights": (1.0, 3.0)}
    assert mix_specs("average,weighted", weights=(1.0, 3.0))[1].params == {"weights": (1.0, 3.0)}
    with pytest.raises(ConfigError, match="--weights"):
        mix_specs("average,ties", weights=(1.0, 3.0))


@pytest.mark.parametrize("bad", [[-1.0, 2.0], [0.0, 0.0], [], "0.5,0.5", [float("nan"), 1.0]])
def test_bad_weights_name_the_problem(bad: object) -> None:
    with pytest.raises(ValueError, match="weights"):
        MixSpec(mixer="weighted", params={"weights": bad})


def test_wrong_number_of_weights_is_refused() -> None:
    with pytest.raises(ValueError, match="2 weights for 3 adapters"):
        mix(adapters(3), "weighted", [0.5, 0.5])
