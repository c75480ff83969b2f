"""`adaptermix advise` on tiny checkpoints: the JSON schema, one-line errors, and the leak rule (no test split)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adaptermix.advice import STRATEGIES
from adaptermix.advice.clustering import PARTITIONERS
from adaptermix.advice.collect import gather
from adaptermix.advice.signals import TEXT, UNLABELED, VALIDATION, WEIGHTS
from conftest import one_line_error, run_cli, train_toy_adapters

NAMES = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, tiny_encoders: dict[str, Path], cache_dir: Path) -> list[str]:
    root = train_toy_adapters(tmp_path_factory.mktemp("advice"), NAMES, tiny_encoders["bert"], cache_dir, max_steps=6)
    return [str(root / n) for n in NAMES]


class _Poisoned:
    """A test split that fails on any use: the advisor must never read it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the advisor read the test split ({name})")


@pytest.fixture
def no_test_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every domain the advisor loads has a poisoned test split; Evaluator.target refuses split='test'."""
    import adaptermix.data as data_pkg
    import adaptermix.evaluation.evaluator as evaluator_mod
    from adaptermix.evaluation.evaluator import Evaluator

    real_get_domain = data_pkg.get_domain

    class Guarded:
        def __init__(self, spec: Any) -> None:
            self._spec = spec

        def __getattr__(self, name: str) -> Any:
            return getattr(self._spec, name)

        def load(self, *args: Any, **kwargs: Any) -> Any:
            data = copy.copy(self._spec.load(*args, **kwargs))  # a copy: the cached object stays intact
            object.__setattr__(data, "test", _Poisoned())
            return data

    def guarded_get_domain(name: str) -> Any:
        return Guarded(real_get_domain(name))

    real_target = Evaluator.target

    def guarded_target(self: Evaluator, domain: str, split: str = "test", max_examples: int | None = None) -> Any:
        if split == "test":
            raise AssertionError(f"the advisor asked for the test split of {domain}")
        return real_target(self, domain, split, max_examples)

    monkeypatch.setattr(data_pkg, "get_domain", guarded_get_domain)
    monkeypatch.setattr(evaluator_mod, "get_domain", guarded_get_domain)
    monkeypatch.setattr(Evaluator, "target", guarded_target)


def test_no_advisor_path_reads_the_test_split(adapters: list[str], cache_dir: Path, no_test_split: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from adaptermix.checkpoints import read_mixable

    ckpts = read_mixable(adapters)
    signals, exhaustive = gather(ckpts, NAMES, {WEIGHTS, TEXT, VALIDATION, UNLABELED}, budget=0.5, sweep_examples=40,
                                 max_length=32, cache_dir=cache_dir, text_docs=16)
    assert exhaustive > 0 and signals.evaluations == 12 and signals.forward_tokens > 0
    for name in STRATEGIES:  # every registered strategy runs on what was gathered
        assert STRATEGIES.get(name).scores(signals).score.shape == (3, 8)
    from adaptermix.advice.trials import grow_member_sets
    from adaptermix.evaluation.evaluator import Evaluator

    evaluator = Evaluator.for_checkpoint(ckpts[0], 32, cache_dir)
    grown = grow_member_sets(ckpts, NAMES, evaluator, 1, 3, signals.n_validation["beta"])  # greedy soup: validation
    assert grown["sets"] == [(1,), grown["sets"][1], (0, 1, 2)] and grown["evaluations"] == 3
    # Its pairs are the surrogate's pair evaluations (the same first validation examples, the same head).
    assert grown["accuracy"][1] == pytest.approx(max(signals.pair[1, 0], signals.pair[1, 2]))
    # The estimate of the exhaustive cost (weights-only strategies) reads validation lengths, not test ones.
    _, estimate = gather(ckpts, NAMES, {WEIGHTS}, sweep_examples=40, max_length=32, cache_dir=cache_dir)
    assert estimate > 0
    code, out, err = run_cli(["advise", *adapters, "--target", "beta", "--sizes", "2", "--budget", "0.5",
                              "--sweep-examples", "40", "--max-length", "32"], capsys)
    assert code == 0, err
    assert "k=2" in out
    code, out, err = run_cli(["advise", *adapters, "--target", "beta", "--sizes", "2,3", "--budget", "0.5",
                              "--sweep-examples", "40", "--max-length", "32", "--weights",
                              "--weight-evaluations", "5", "--weight-examples", "8"], capsys)
    assert code == 0, err
    assert "weights:" in out  # the CMA-ES weight search reads validation examples only
    code, out, err = run_cli(["advise", *adapters, "--target", "beta", "--sizes", "2", "--strategy", "task_cosine",
                              "--race", "--race-examples", "40", "--max-length", "32"], capsys)
    assert code == 0, err
    assert "race:" in out  # racing reads validation examples only
    code, out, err = run_cli(["advise", *adapters, "--target", "beta", "--sizes", "2,3", "--grow", "--budget", "1.0",
                              "--sweep-examples", "40", "--max-length", "32"], capsys)
    assert code == 0, err
    assert "grown:" in out  # greedy growth reads validation examples only
    for name in PARTITIONERS:  # the clustering partitions read weights and train text only
        code, out, err = run_cli(["advise", *adapters, "--groups", "2", "--strategy", name, "--max-length", "32"],
                                 capsys)
        assert code == 0, err
        assert "group 1" in out
    code, out, err = run_cli(["advise", *adapters, "--groups", "2", "--strategy", "task_cosine", "--race",
                              "--partition-candidates", "3", "--partition-examples", "40", "--budget", "1.0",
                              "--max-length", "32"], capsys)
    assert code == 0, err
    assert "race:" in out and "group 1" in out  # racing partitions reads validation examples only


def test_label_free_signals_read_no_label(adapters: list[str], cache_dir: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Agreement and entropy come from the same passes as the accuracies, and permuting the labels moves neither."""
    import dataclasses

    import numpy as np

    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator
    from adaptermix.mixing import mix

    ckpts = read_mixable(adapters)
    kwargs: dict[str, Any] = {"budget": 0.5, "sweep_examples": 40, "max_length": 32, "cache_dir": cache_dir}
    signals, _ = gather(ckpts, NAMES, {UNLABELED}, **kwargs)
    assert signals.has(UNLABELED) and signals.agreement is not None and signals.entropy is not None
    assert signals.agreement_full is not None and signals.entropy_full is not None
    assert np.allclose(np.diag(signals.agreement), 1.0)
    assert ((signals.agreement >= 0) & (signals.agreement <= 1)).all()
    assert ((signals.entropy >= 0) & (signals.entropy <= np.log(6) + 1e-9)).all()
    # An independent pass: agreement of the pair {beta, gamma} with beta's adapter alone, on beta's examples.
    evaluator = Evaluator.for_checkpoint(ckpts[0], 32, cache_dir)
    target = evaluator.target(ckpts[1].domain, "validation", signals.n_validation["beta"])
    evaluator.evaluate(ckpts[1].adapter, ckpts[1].head, target, head_key="beta")
    _, own = evaluator.predictions(target)
    evaluator.evaluate(mix([ckpts[1].adapter, ckpts[2].adapter], "average"), ckpts[1].head, target, head_key="beta")
    _, pair = evaluator.predictions(target)
    assert signals.agreement[1, 2] == pytest.approx(float(np.mean(own == pair)))

    real_target = Evaluator.target
    rng = np.random.default_rng(0)

    def shuffled(self: Evaluator, domain: str, split: str = "test", max_examples: int | None = None) -> Any:
        got = real_target(self, domain, split, max_examples)
        labels = rng.permutation(got.encoded.labels)
        return dataclasses.replace(got, encoded=dataclasses.replace(got.encoded, labels=labels))

    monkeypatch.setattr(Evaluator, "target", shuffled)
    again, _ = gather(ckpts, NAMES, {UNLABELED}, **kwargs)
    for name in ("agreement", "agreement_full", "entropy", "entropy_full"):
        assert np.array_equal(getattr(again, name), getattr(signals, name)), name


def test_json_schema_partners_and_partition(adapters: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["advise", *adapters, "--target", "alpha", "--sizes", "1,2,3", "--json",
                              "--budget", "0.5", "--sweep-examples", "40", "--max-length", "32"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc) == {"target", "objective", "mixer", "recommendations", "cost", "strategy"}
    # The default strategy ranks with the surrogate (ties by agreement) and races the partners.
    assert doc["target"] == "alpha" and doc["mixer"] == "average" and doc["strategy"] == "combined+race"
    assert [r["k"] for r in doc["recommendations"]] == [1, 2, 3]
    for r in doc["recommendations"]:
        assert {"k", "members", "predicted_accuracy", "interval"} <= set(r)
        assert "alpha" in r["members"] and len(r["members"]) == r["k"]
        low, high = r["interval"]
        assert 0 <= low <= r["predicted_accuracy"] <= high <= 1
    assert {"forward_tokens", "exhaustive_forward_tokens", "fraction"} <= set(doc["cost"])
    assert 0 < doc["cost"]["fraction"] <= 1
    code, out, err = run_cli(["advise", *adapters, "--groups", "2", "--strategy", "task_cosine", "--json",
                              "--max-length", "32"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["target"] is None and doc["strategy"] == "task_cosine" and doc["cost"]["forward_tokens"] == 0
    groups = [r["members"] for r in doc["recommendations"]]
    assert [r["group"] for r in doc["recommendations"]] == [0, 1]
    assert sorted(m for g in groups for m in g) == sorted(NAMES)
    # A label-free strategy ranks without predicting accuracy, at the surrogate's cost (the same passes).
    code, out, err = run_cli(["advise", *adapters, "--target", "alpha", "--sizes", "2", "--strategy", "agreement",
                              "--json", "--budget", "0.5", "--sweep-examples", "40", "--max-length", "32"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["strategy"] == "agreement" and doc["cost"]["evaluations"] == 12 and doc["cost"]["forward_tokens"] > 0
    (rec,) = doc["recommendations"]
    assert rec["predicted_accuracy"] is None and rec["interval"] is None and "alpha" in rec["members"]


def test_grow_json_nests_the_sets_and_counts_its_evaluations(adapters: list[str],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["advise", *adapters, "--target", "gamma", "--sizes", "1,2,3", "--grow", "--json",
                              "--budget", "1.0", "--sweep-examples", "40", "--max-length", "32"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["strategy"] == "greedy_soup" and doc["target"] == "gamma"
    sets = [r["members"] for r in doc["recommendations"]]
    assert sets[0] == ["gamma"] and len(sets[2]) == 3 and set(sets[1]) < set(sets[2])  # one nested set per size
    assert doc["recommendations"][0].get("grow") is None  # the target alone is not evaluated
    grown = doc["recommendations"][1]["grow"]
    assert 0 <= grown["validation_accuracy"] <= 1 and grown["examples"] > 0
    # 3 adapters grown to k = 3: 2 candidate pairs, then the one set of 3.
    assert doc["cost"]["evaluations"] == 3 and 0 < doc["cost"]["fraction"] <= 1.0


@pytest.mark.parametrize(("extra", "needles"), [
    (["--target", "delta"], ["unknown target 'delta'", "alpha"]),
    (["--target", "alpha", "--sizes", "4"], ["k=4", "1 ≤ k ≤ 3"]),
    (["--target", "alpha", "--sizes", "0,2"], ["k=0"]),
    (["--target", "alpha", "--sizes", "two"], ["--sizes"]),
    (["--groups", "4"], ["--groups 4", "1 to 3"]),
    (["--target", "alpha", "--budget", "0"], ["--budget", "(0, 1]"]),
    (["--target", "alpha", "--budget", "1.5"], ["--budget", "(0, 1]"]),
    (["--target", "alpha", "--budget", "0.0001"], ["--budget", "validation examples"]),
    (["--target", "alpha", "--strategy", "oracle"], ["unknown advisor strategy 'oracle'"]),
    (["--target", "alpha", "--groups", "2"], ["either --target", "--groups"]),
    (["--groups", "2", "--race", "--strategy", "kmeans_text"], ["--race", "kmeans_text"]),
    (["--target", "alpha", "--strategy", "kmeans_text"], ["kmeans_text", "--groups"]),
    (["--target", "alpha", "--race", "--race-examples", "8"], ["--race-examples"]),
    (["--target", "alpha", "--race", "--race-candidates", "0"], ["--race-candidates"]),
    (["--groups", "2", "--race", "--partition-candidates", "0"], ["--partition-candidates"]),
    (["--groups", "2", "--race", "--partition-examples", "8"], ["--partition-examples"]),
    (["--groups", "2", "--grow"], ["--grow", "--target"]),
    (["--target", "alpha", "--grow", "--race"], ["--grow", "--race"]),
    (["--target", "alpha", "--grow", "--budget", "0.0001"], ["--budget", "validation examples"]),
    ([], ["either --target"]),
])
def test_bad_input_is_one_line_and_writes_nothing(adapters: list[str], extra: list[str], needles: list[str],
                                                  tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["advise", *adapters, *extra, "--max-length", "32"], capsys)
    one_line_error(code, err, *needles)
    assert out == "" and list(tmp_path.iterdir()) == []


def test_checkpoints_of_another_encoder_are_refused(adapters: list[str], tiny_encoders: dict[str, Path],
                                                    cache_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    other = train_toy_adapters(tmp_path, ["delta"], tiny_encoders["roberta"], cache_dir, max_steps=2)
    code, out, err = run_cli(["advise", *adapters, str(other / "delta"), "--target", "alpha",
                              "--strategy", "fsd_nearest"], capsys)
    one_line_error(code, err)
    assert out == ""


def test_python_api_is_lazy_and_typed(adapters: list[str]) -> None:
    import adaptermix

    advice = adaptermix.advise(adapters, target="gamma", sizes=[2], strategy="fsd_nearest", max_length=32)
    assert advice.target == "gamma" and advice.recommendations[0].k == 2
    assert advice.cost.forward_tokens == 0 and advice.cost.fraction == 0


def test_one_frozen_spec_carries_every_knob(adapters: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    import dataclasses

    import adaptermix
    from adaptermix.advice import AdviceSpec
    from adaptermix.errors import ConfigError

    spec = AdviceSpec(strategy="fsd_nearest", max_length=32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.budget = 0.5  # type: ignore[misc]
    by_spec = adaptermix.advise(adapters, target="gamma", sizes=[2, 3], spec=spec)
    by_knobs = adaptermix.advise(adapters, target="gamma", sizes=[2, 3], strategy="fsd_nearest", max_length=32)
    assert by_spec.to_json() == by_knobs.to_json()
    with pytest.raises(ConfigError, match="unknown advise setting 'stratgy'.*strategy"):
        adaptermix.advise(adapters, target="gamma", stratgy="fsd_nearest")
    with pytest.raises(ConfigError, match="--sweep-examples must be a positive integer"):
        adaptermix.advise(adapters, target="gamma", spec=spec, sweep_examples=0)
    code, out, err = run_cli(["advise", *adapters, "--target", "gamma", "--max-length", "0"], capsys)
    one_line_error(code, err, "--max-length")
    assert out == ""


def test_race_json_counts_its_tokens_into_the_cost(adapters: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["advise", *adapters, "--target", "alpha", "--sizes", "2,3", "--strategy", "task_cosine", "--json",
            "--max-length", "32"]
    code, out, err = run_cli(base, capsys)
    assert code == 0, err
    plain = json.loads(out)
    code, out, err = run_cli([*base, "--race", "--race-candidates", "2", "--race-examples", "32"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["strategy"] == "task_cosine+race"
    raced = 0
    for rec, before in zip(doc["recommendations"], plain["recommendations"], strict=True):
        race = rec["race"]
        names = [c["members"] for c in race["candidates"]]
        assert names[0] == before["members"] and rec["members"] in names  # the seed's pick entered the race
        assert len(names) == (2 if rec["k"] == 2 else 1)  # 3 adapters: two sets of size 2, one of size 3
        raced += race["forward_tokens"]
        if len(names) == 1:  # nothing to race: nothing run, no accuracy
            assert race["forward_tokens"] == 0 and race["candidates"][0]["validation_accuracy"] is None
            continue
        assert all(0 <= c["validation_accuracy"] <= 1 and 0 < c["examples"] <= 32 for c in race["candidates"])
        assert race["forward_tokens"] > 0
    assert doc["cost"]["forward_tokens"] == plain["cost"]["forward_tokens"] + raced
    assert doc["cost"]["evaluations"] == sum(r["race"]["evaluations"] for r in doc["recommendations"])


def test_partition_race_json_stays_within_the_budget(adapters: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    base = ["advise", *adapters, "--groups", "2", "--strategy", "task_cosine", "--json", "--max-length", "32",
            "--sweep-examples", "40"]
    code, out, err = run_cli(base, capsys)
    assert code == 0, err
    plain = json.loads(out)
    for budget in ("1.0", "0.002"):
        code, out, err = run_cli([*base, "--race", "--partition-candidates", "3", "--partition-examples", "32",
                                  "--budget", budget], capsys)
        assert code == 0, err
        doc = json.loads(out)
        race = doc["race"]
        assert doc["strategy"] == "task_cosine+race" and len(race["candidates"]) == 3  # S(3, 2) = 3 partitions
        assert race["candidates"][0]["groups"] == [r["members"] for r in plain["recommendations"]]
        assert [r["members"] for r in doc["recommendations"]] in [c["groups"] for c in race["candidates"]]
        assert doc["cost"]["forward_tokens"] == plain["cost"]["forward_tokens"] + race["forward_tokens"]
        assert doc["cost"]["fraction"] <= float(budget) + 1e-12  # signals + race within the budget
        if budget == "1.0":
            assert race["forward_tokens"] > 0 and race["evaluations"] > 0


def test_the_default_races_partitions_and_no_race_keeps_the_dps(adapters: list[str],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = ["advise", *adapters, "--groups", "2", "--json", "--max-length", "32", "--sweep-examples", "40",
            "--budget", "1.0", "--partition-examples", "32"]
    code, out, err = run_cli(base, capsys)
    assert code == 0, err
    raced = json.loads(out)
    assert raced["strategy"] == "combined+race" and raced["race"]["forward_tokens"] > 0
    assert len(raced["race"]["candidates"]) == 3  # S(3, 2) = 3 partitions, at most the default 4
    code, out, err = run_cli([*base, "--no-race"], capsys)
    assert code == 0, err
    plain = json.loads(out)
    assert plain["strategy"] == "combined" and plain.get("race") is None
    assert raced["race"]["candidates"][0]["groups"] == [r["members"] for r in plain["recommendations"]]
    assert raced["cost"]["forward_tokens"] == plain["cost"]["forward_tokens"] + raced["race"]["forward_tokens"]


def test_a_race_stays_within_what_the_budget_leaves(adapters: list[str]) -> None:
    from adaptermix.advice import advise
    from adaptermix.advice.api import race_share
    from adaptermix.advice.racing import RaceSpec

    kw = {"target": "alpha", "sizes": [2, 3], "max_length": 32, "race": True, "race_spec": RaceSpec(examples=64)}
    for budget in (0.04, 1.0):  # the surrogate spends nearly all of a small budget: little is left to race
        plain = advise(adapters, target="alpha", sizes=[2, 3], max_length=32, budget=budget, race=False)
        raced = advise(adapters, budget=budget, **kw)
        assert plain.strategy == "combined" and raced.strategy == "combined+race"
        share = race_share(plain.cost, budget, 3 * 2)
        spent = [r.race.forward_tokens for r in raced.recommendations if r.race is not None]
        assert all(s <= share for s in spent)
        assert raced.cost.forward_tokens == plain.cost.forward_tokens + sum(spent)
        assert raced.cost.forward_tokens <= budget * raced.cost.exhaustive_forward_tokens
        if share == 0:  # nothing left to race: nothing run, the seed's picks stand
            assert spent == [0, 0] and [r.members for r in raced.recommendations] == \
                [r.members for r in plain.recommendations]


def test_help_names_every_registered_strategy() -> None:
    """`--strategy`'s help lists every strategy and partitioner the registries hold (a new one must be named)."""
    import inspect

    from adaptermix.cli.advise import advise

    default = inspect.signature(advise).parameters["strategy"].default
    for name in [*STRATEGIES.names(), *PARTITIONERS.names()]:
        assert name in default.help, name


@pytest.mark.parametrize("flag", [[], ["--no-race"]])
def test_cli_default_strategy_and_no_race(flag: list[str], adapters: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["advise", *adapters, "--target", "alpha", "--sizes", "2", "--json", "--budget", "0.5",
                              "--sweep-examples", "40", "--max-length", "32", *flag], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["strategy"] == ("combined" if flag else "combined+race")
    assert ("race" in doc["recommendations"][0]) == (not flag)
    assert doc["cost"]["fraction"] <= 0.5 + 1e-12
