"""One name per setting (issue 19): renamed options and keys keep their old spelling for one release.

Each old spelling works, warns once on stderr and gives the same spec as the new one; `attack`, `sweep`
and a recipe build the same `ConditionSpec`; a plain ValueError from the pure layers is one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from adaptermix import deprecation
from adaptermix.evaluation.spec import ConditionSpec, EvalSpec
from adaptermix.pipeline.recipe import load_recipe
from conftest import one_line_error, run_cli


class _Stop(Exception):
    """Raised by a stand-in for the API a command calls, once its spec is captured."""


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    deprecation.reset()


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "deprecated" in line]


# --- YAML and API keys of the attack conditions --------------------------------------------------------------

@pytest.mark.parametrize(("condition", "old", "new", "value"), [
    ("fgsm", "n", "attack_examples", 30),
    ("fgsm", "seed", "attack_seed", 3),
    ("textfooler", "mode", "attack_mode", "transfer"),
])
def test_old_condition_key_warns_once_and_gives_the_same_spec(capsys, condition, old, new, value):
    got = ConditionSpec(condition=condition, params={old: value})
    again = EvalSpec.model_validate({"conditions": [{"condition": condition, old: value}]}).conditions[0]
    err = capsys.readouterr().err
    assert _warnings(err) == [f"adaptermix: warning: {old} is deprecated: use {new} (the old spelling goes in the "
                              "next release)"]
    want = ConditionSpec(condition=condition, params={new: value})
    assert got == want == again and got.params[new] == value and old not in got.params
    assert not _warnings(capsys.readouterr().err)  # the new spelling never warns


def test_both_spellings_of_a_key_are_refused():
    with pytest.raises(ValueError, match="give attack_examples only"):
        ConditionSpec(condition="fgsm", params={"n": 30, "attack_examples": 30})


def test_row_keys_keep_the_stored_spelling():
    """Stores written before the rename resume: the label and stored JSON are unchanged."""
    spec = ConditionSpec(condition="textfooler", params={"attack_mode": "transfer", "attack_examples": 15})
    assert spec.label == ("textfooler(max_candidates=50,min_cos=0.8,min_sim=0.84,mode=transfer,n=15,query_budget=None,"
                          "seed=0,vectors=None,window=15)")
    assert '"mode":"transfer"' in spec.as_json() and '"n":15' in spec.as_json()
    assert ConditionSpec(condition="fgsm").label == "fgsm(batch_size=32,epsilon=0.01,n=100,seed=0)"


def test_condition_defaults_are_the_attack_specs():
    from adaptermix.attacks.api import AttackSpec

    for name in ("fgsm", "textfooler"):
        spec = ConditionSpec(condition=name)
        assert AttackSpec(attack=name, **spec.params) == AttackSpec(attack=name)


def test_recipe_with_old_keys_gives_the_same_eval_spec(tmp_path, capsys):
    raw = yaml.safe_load(Path("recipes/quickstart.yaml").read_text(encoding="utf-8"))
    old = {**raw, "eval": {**raw["eval"], "conditions": [
        "clean", {"condition": "fgsm", "epsilon": 0.01, "n": 50, "seed": 1, "sizes": [1, 2, 6]},
        {"condition": "textfooler", "mode": "transfer", "n": 40, "sizes": [1, 2, 6]}]}}
    new = {**raw, "eval": {**raw["eval"], "conditions": [
        "clean", {"condition": "fgsm", "epsilon": 0.01, "attack_examples": 50, "attack_seed": 1, "sizes": [1, 2, 6]},
        {"condition": "textfooler", "attack_mode": "transfer", "attack_examples": 40, "sizes": [1, 2, 6]}]}}
    paths = []
    for name, data in (("old", old), ("new", new)):
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(yaml.safe_dump(data), encoding="utf-8")
    capsys.readouterr()
    old_eval = load_recipe(paths[0]).eval
    assert sorted(_warnings(capsys.readouterr().err)) == sorted(
        f"adaptermix: warning: {o} is deprecated: use {n} (the old spelling goes in the next release)"
        for o, n in (("n", "attack_examples"), ("seed", "attack_seed"), ("mode", "attack_mode")))
    assert load_recipe(paths[1]).eval == old_eval
    assert not _warnings(capsys.readouterr().err)


@pytest.mark.parametrize("recipe", sorted(Path("recipes").glob("*.yaml")))
def test_recipes_use_the_new_names(recipe, capsys):
    load_recipe(recipe)
    assert not _warnings(capsys.readouterr().err)


# --- CLI flags ------------------------------------------------------------------------------------------------

def _capture(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> list[Any]:
    """Replace `module.name` by a stand-in that records its arguments and stops the command."""
    import importlib

    seen: list[Any] = []

    def stop(*args: Any, **kwargs: Any) -> None:
        seen.append((args, kwargs))
        raise _Stop

    monkeypatch.setattr(importlib.import_module(module), name, stop)
    return seen


def _attack_condition(monkeypatch, capsys, tmp_path, *flags: str) -> tuple[ConditionSpec, str]:
    """The ConditionSpec `adaptermix attack` builds from `flags` (it stops at reading the checkpoint)."""
    import adaptermix.evaluation.spec as spec_module

    built: list[ConditionSpec] = []
    real = spec_module.condition_specs

    def record(*args: Any, **kwargs: Any) -> tuple[ConditionSpec, ...]:
        out = real(*args, **kwargs)
        built.extend(out)
        return out

    monkeypatch.setattr(spec_module, "condition_specs", record)
    _capture(monkeypatch, "adaptermix.checkpoints", "read_checkpoint")
    with pytest.raises(_Stop):
        run_cli(["attack", str(tmp_path), "--attack", "fgsm", *flags], capsys)
    (condition,) = built
    return condition, capsys.readouterr().err


@pytest.mark.parametrize(("old", "new", "value"), [
    ("--max-examples", "--attack-examples", "8"),
    ("--seed", "--attack-seed", "3"),
])
def test_attack_old_flag_warns_once_and_gives_the_same_spec(monkeypatch, capsys, tmp_path, old, new, value):
    got, err = _attack_condition(monkeypatch, capsys, tmp_path, old, value)
    assert _warnings(err) == [f"adaptermix: warning: {old} is deprecated: use {new} (the old spelling goes in the "
                              "next release)"]
    want, err = _attack_condition(monkeypatch, capsys, tmp_path, new, value)
    assert got == want and not _warnings(err)


def _sweep_config(monkeypatch, capsys, tmp_path, *flags: str) -> tuple[Any, str]:
    seen = _capture(monkeypatch, "adaptermix.pipeline.sweep", "run_sweep")
    with pytest.raises(_Stop):
        run_cli(["sweep", "--adapters", str(tmp_path), "--store", str(tmp_path / "s.sqlite"), *flags], capsys)
    return seen[-1][0][0], capsys.readouterr().err


@pytest.mark.parametrize(("old", "new", "flags"), [
    ("--seed", "--draw-seed", ["--mode", "sampled"]),
    ("--mix-seed", "--dare-seed", ["--mixers", "average,dare_ties"]),
])
def test_sweep_old_flag_warns_once_and_gives_the_same_config(monkeypatch, capsys, tmp_path, old, new, flags):
    got, err = _sweep_config(monkeypatch, capsys, tmp_path, *flags, old, "5")
    assert _warnings(err) == [f"adaptermix: warning: {old} is deprecated: use {new} (the old spelling goes in the "
                              "next release)"]
    want, err = _sweep_config(monkeypatch, capsys, tmp_path, *flags, new, "5")
    assert got == want and not _warnings(err)
    default, _ = _sweep_config(monkeypatch, capsys, tmp_path, *flags)
    assert got != default


def test_mix_old_seed_warns_once_and_gives_the_same_spec(monkeypatch, capsys, tmp_path):
    seen = _capture(monkeypatch, "adaptermix.mixing.checkpoints", "mix_checkpoints")
    base = ["mix", str(tmp_path / "a"), str(tmp_path / "b"), "--head-from", str(tmp_path / "a"), "--out",
            str(tmp_path / "m"), "--mixer", "dare_ties"]
    with pytest.raises(_Stop):
        run_cli([*base, "--seed", "4"], capsys)
    assert len(_warnings(capsys.readouterr().err)) == 1
    with pytest.raises(_Stop):
        run_cli([*base, "--dare-seed", "4"], capsys)
    assert not _warnings(capsys.readouterr().err)
    old, new = (call[1]["spec"] for call in seen)
    assert old == new and old.params["seed"] == 4


@pytest.mark.parametrize("argv", [
    ["attack", "x", "--attack", "fgsm", "--seed", "1", "--attack-seed", "1"],
    ["sweep", "--adapters", "x", "--store", "s.sqlite", "--seed", "1", "--draw-seed", "1"],
    ["mix", "a", "--head-from", "a", "--out", "m", "--mixer", "dare_ties", "--seed", "1", "--dare-seed", "1"],
])
def test_both_spellings_of_a_flag_are_one_line(argv, capsys):
    code, _, err = run_cli(argv, capsys)
    one_line_error(code, err, "is the old name of")


def test_dare_seed_without_a_dare_mixer_names_the_new_flag(tmp_path, capsys):
    code, _, err = run_cli(["sweep", "--adapters", str(tmp_path), "--store", str(tmp_path / "s.sqlite"),
                            "--dare-seed", "1"], capsys)
    one_line_error(code, err, "--dare-seed is not used")


def test_attack_sweep_and_recipe_build_one_condition_spec(monkeypatch, capsys, tmp_path):
    flags = ["--epsilon", "0.02", "--attack-examples", "8", "--attack-seed", "3"]
    from_attack, _ = _attack_condition(monkeypatch, capsys, tmp_path, *flags)
    cfg, _ = _sweep_config(monkeypatch, capsys, tmp_path, "--conditions", "fgsm", *flags)
    from_recipe = EvalSpec.model_validate({"conditions": [
        {"condition": "fgsm", "epsilon": 0.02, "attack_examples": 8, "attack_seed": 3}]}).conditions[0]
    assert from_attack == cfg.spec.conditions[0] == from_recipe


def test_a_plain_value_error_is_one_line(monkeypatch, capsys, tmp_path):
    """A ValueError of a pure layer (not an AdapterMixError) reaches the user as one line, exit 2."""
    import adaptermix.mixing.checkpoints as mc

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ValueError("weights sum to 0:\n give at least one positive weight")

    monkeypatch.setattr(mc, "mix_checkpoints", refuse)
    code, _, err = run_cli(["mix", str(tmp_path), "--head-from", str(tmp_path), "--out", str(tmp_path / "m")],
                           capsys)
    one_line_error(code, err, "weights sum to 0: give at least one positive weight")


def test_sweep_config_seed_is_the_old_name_of_draw_seed(tmp_path, capsys):
    """The API spelling follows the CLI's: `SweepConfig(seed=)` still works for one release, with a warning."""
    from adaptermix.deprecation import reset
    from adaptermix.pipeline.sweep import SweepConfig

    reset()
    common = {"adapters": (tmp_path,), "store": tmp_path / "s.sqlite"}
    old = SweepConfig(**common, seed=7)
    assert _warnings(capsys.readouterr().err) == ["adaptermix: warning: seed is deprecated: use draw_seed (the old "
                                                  "spelling goes in the next release)"]
    assert old == SweepConfig(**common, draw_seed=7) and old.draw_seed == 7
    with pytest.raises(ValueError, match="give draw_seed only"):
        SweepConfig(**common, seed=1, draw_seed=1)
