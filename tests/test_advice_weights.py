"""Weights, not only members (issue 17, item 5): the `weighted` mixer and the CMA-ES weight search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.advice.weights import WeightSearchSpec, search_weights
from adaptermix.errors import ConfigError
from adaptermix.evaluation.spec import EvalSpec, mix_specs
from adaptermix.mixing import MixSpec, get_mixer, mix, mix_rows
from adaptermix.mixing.layout import Layout
from conftest import one_line_error, run_cli, train_toy_adapters
from test_advice_cli import NAMES, no_test_split  # noqa: F401 - the leak rule's fixture

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


# -- the CMA-ES weight search -----------------------------------------------------------------------

def test_search_is_reproducible_bounded_and_never_worse_than_uniform() -> None:
    goal = np.array([0.6, 0.3, 0.1])
    calls: list[tuple[float, ...]] = []

    def loss(w: tuple[float, ...]) -> float:
        calls.append(w)
        return float(np.sum((np.asarray(w) - goal) ** 2))

    spec = WeightSearchSpec(evaluations=40)
    result = search_weights(loss, 3, spec)
    assert len(calls) == result.evaluations <= 40 and calls[0] == (1 / 3, 1 / 3, 1 / 3)  # starts at Eq. 1
    assert result.loss <= result.uniform_loss and result.loss < 0.01  # found the optimum's neighbourhood
    assert all(min(w) >= 0 and abs(sum(w) - 1) < 1e-12 for w in calls)  # on the simplex
    assert search_weights(loss, 3, spec).weights == result.weights  # seeded
    flat = search_weights(lambda w: 1.0, 4, WeightSearchSpec(evaluations=12))
    assert flat.weights == (0.25,) * 4 and not flat.improved  # nothing beats uniform: uniform is kept
    assert search_weights(loss, 1).weights == (1.0,)
    with pytest.raises(ValueError, match="--weight-evaluations"):
        search_weights(loss, 2, WeightSearchSpec(evaluations=0))


@settings(max_examples=15, deadline=None)
@given(k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_search_matches_or_beats_uniform_on_any_objective(k: int, seed: int) -> None:
    centre = np.random.default_rng(seed).dirichlet(np.ones(k))
    result = search_weights(lambda w: float(np.abs(np.asarray(w) - centre).sum()), k,
                            WeightSearchSpec(evaluations=20, seed=seed))
    assert result.loss <= result.uniform_loss and result.evaluations <= 20


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, tiny_encoders: dict[str, Path], cache_dir: Path) -> list[str]:
    root = train_toy_adapters(tmp_path_factory.mktemp("weights"), NAMES, tiny_encoders["bert"], cache_dir,
                              max_steps=6)
    return [str(root / n) for n in NAMES]


@pytest.mark.usefixtures("no_test_split")
def test_cma_strategy_matches_uniform_on_validation_and_never_reads_test(toy: list[str], cache_dir: Path) -> None:
    from adaptermix.advice import advise

    spec = WeightSearchSpec(evaluations=10, examples=16)
    plain = advise(toy, target="alpha", sizes=[2, 3], strategy="fsd_nearest", max_length=32, cache_dir=cache_dir)
    advice = advise(toy, target="alpha", sizes=[2, 3], strategy="fsd_nearest", max_length=32, cache_dir=cache_dir,
                    weights=True, weight_search=spec)
    assert [r.members for r in advice.recommendations] == [r.members for r in plain.recommendations]
    spent = 0
    for rec in advice.recommendations:
        w = rec.weighted
        assert w is not None and len(w.weights) == len(rec.members) and abs(sum(w.weights) - 1) < 1e-9
        assert w.validation_loss <= w.uniform_validation_loss  # never worse than Eq. 1 on its own objective
        assert w.evaluations <= 10 and w.examples <= 16 and w.forward_tokens > 0
        spent += w.forward_tokens
    assert advice.cost.forward_tokens == plain.cost.forward_tokens + spent  # one ledger
    assert advice.cost.evaluations == sum(r.weighted.evaluations for r in advice.recommendations if r.weighted)


def test_weights_json_and_one_line_errors(toy: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["advise", *toy, "--target", "beta", "--sizes", "2", "--strategy", "task_cosine",
                              "--weights", "--weight-evaluations", "6", "--weight-examples", "8", "--json",
                              "--max-length", "32"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    rec = doc["recommendations"][0]
    assert len(rec["weights"]) == len(rec["members"]) == 2 and rec["weight_search"]["evaluations"] <= 6
    assert rec["weight_search"]["mixer"].startswith("weighted(weights=(")
    assert doc["cost"]["forward_tokens"] == rec["weight_search"]["forward_tokens"]  # task_cosine itself is free
    code, out, err = run_cli(["advise", *toy, "--target", "beta", "--sizes", "2", "--strategy", "task_cosine",
                              "--json", "--max-length", "32"], capsys)
    assert code == 0 and json.loads(out)["recommendations"][0]["weights"] is None
    for extra, needle in ((["--target", "beta", "--weights", "--mixer", "ties"], "--mixer average"),
                          (["--target", "beta", "--weights", "--weight-evaluations", "0"], "--weight-evaluations")):
        code, out, err = run_cli(["advise", *toy, "--strategy", "task_cosine", *extra, "--max-length", "32"], capsys)
        one_line_error(code, err, needle)
        assert out == ""


@pytest.mark.usefixtures("no_test_split")
def test_partition_weights_serve_every_domain_of_a_group(toy: list[str], cache_dir: Path) -> None:
    from adaptermix.advice import advise
    from adaptermix.advice.collect import SPLIT, validation_probe
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator
    from adaptermix.mixing import mix

    spec = WeightSearchSpec(evaluations=8, examples=12)
    plain = advise(toy, groups=2, strategy="fsd_nearest", max_length=32, cache_dir=cache_dir)
    advice = advise(toy, groups=2, strategy="fsd_nearest", max_length=32, cache_dir=cache_dir, weights=True,
                    weight_search=spec)
    assert [r.members for r in advice.recommendations] == [r.members for r in plain.recommendations]
    ckpts = read_mixable(toy)
    names = [c.name for c in ckpts]
    evaluator = Evaluator.for_checkpoint(ckpts[0], 32, cache_dir)
    searched = [r for r in advice.recommendations if len(r.members) > 1]
    assert searched and all(r.weighted is None for r in advice.recommendations if len(r.members) == 1)
    for rec in searched:
        w = rec.weighted
        assert w is not None and len(w.weights) == len(rec.members) and w.validation_loss <= w.uniform_validation_loss
        # The group's loss is the mean of its domains' own losses, each with its own head (an independent pass).
        members = [names.index(m) for m in rec.members]
        uniform = mix([ckpts[j].adapter for j in members], "average")
        losses = [validation_probe(evaluator, uniform, ckpts[t], evaluator.target(ckpts[t].domain, SPLIT, 12),
                                   names[t])[0] for t in members]
        assert w.uniform_validation_loss == pytest.approx(float(np.mean(losses)), rel=1e-6)
        assert w.examples == sum(min(12, len(evaluator.target(ckpts[t].domain, SPLIT).encoded)) for t in members)
        assert rec.to_json()["weights"] == list(w.weights)
    assert advice.cost.forward_tokens == plain.cost.forward_tokens + sum(r.weighted.forward_tokens for r in searched)


def test_a_weighted_mixture_checkpoint_records_its_weights(toy: list[str], tmp_path: Path) -> None:
    from adaptermix.checkpoints import read_checkpoint
    from adaptermix.mixing import mix_checkpoints

    spec = MixSpec(mixer="weighted", params={"weights": [0.25, 0.75]})
    out = mix_checkpoints(toy[:2], toy[0], tmp_path / "mix", spec=spec)
    manifest = read_checkpoint(out).manifest
    assert manifest.config["mixer"]["params"] == {"weights": [0.25, 0.75]}
    assert manifest.config["mixer"]["label"] == "weighted(weights=(0.25, 0.75))"
    assert [m.weight for m in manifest.members] == [0.25, 0.75]
    again = MixSpec.model_validate({k: v for k, v in manifest.config["mixer"].items() if k not in ("label", "rank")})
    assert again == spec  # the stored spec reproduces the mixture
