"""The ablation: cells as independent stores that a re-run reuses; factors declared once (issue 18)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from adaptermix.checkpoints import read_checkpoint
from adaptermix.errors import ConfigError
from adaptermix.pipeline import load_recipe, run_recipe
from adaptermix.pipeline.ablation import AblationSection, cells, left_out, merge
from conftest import one_line_error, run_cli, toy_domain_files


def test_one_at_a_time_and_full_designs():
    one = cells(AblationSection(factors=("training", "width", "init")))
    assert [label for label, _ in one] == [
        "training=steps150,width=w64,init=shared", "training=converged,width=w64,init=shared",
        "training=steps150,width=w256,init=shared", "training=steps150,width=w64,init=independent"]
    converged = one[1][1]
    assert converged["train"]["patience"] == 4 and converged["train"]["max_steps"] is None
    assert converged["train"]["adapter_size"] == 64 and converged["init"] == "shared"
    assert len(cells(AblationSection(factors=("training", "width", "init"), design="full"))) == 8


def test_merge_is_nested_and_an_explicit_none_replaces():
    assert merge({"a": {"x": 1, "y": 2}, "b": 3}, {"a": {"y": None}, "c": 4}) == {"a": {"x": 1, "y": None}, "b": 3,
                                                                                 "c": 4}


def _recipe(tmp_path: Path, encoder: Path, cache: Path, **extra) -> Path:
    domains = toy_domain_files(tmp_path, 2)
    recipe = {
        "name": "tiny-ablation", "out": str(tmp_path / "run"), "encoder": str(encoder), "method": "pfeiffer",
        "preset": "quickstart", "domains": domains, "cache_dir": str(cache),
        "train": {"max_steps": 6, "adapter_size": 8, "max_length": 32},
        "eval": {"max_length": 32, "max_examples": 24}, "sweep": {"mode": "ends"},
        "prune": {"sparsities": [0.5], "scopes": ["global"]}, **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_cells_are_independent_stores_that_a_rerun_reuses(tmp_path, tiny_encoders, cache_dir, monkeypatch):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, ablation={"factors": ["init", "view"]})
    from adaptermix.pipeline import recipe as recipe_module

    calls: list[str] = []
    real_train = recipe_module.train
    monkeypatch.setattr(recipe_module, "train", lambda cfg: calls.append(cfg.domain) or real_train(cfg))
    # The plan counts what the run will train: the view cell's adapters are copies of the baseline's.
    from adaptermix.pipeline.plan import Throughput, plan_recipe

    stages, _ = plan_recipe(load_recipe(path), Throughput(20_000.0, "minilm", "cpu", 1))
    training = [s for s in stages if s.stage == "train"]
    assert [s.count for s in training] == [2, 2, 0]
    assert training[0].seconds > 0 and training[2].seconds == 0 and "2 copied from an earlier cell" in training[2].note
    first = run_recipe(load_recipe(path), progress=False)
    # the view cell trains with the baseline's settings: its adapters are the baseline's, copied, not retrained
    assert len(calls) == 4
    results = [first, *first.others]
    stores = [r.store for r in results]
    assert [s.parent.name for s in stores] == ["init-shared_view-raw", "init-independent_view-raw",
                                               "init-shared_view-task"]
    assert len(set(stores)) == 3 and all(s.is_file() for s in stores)
    assert all(len(r.trained) == 2 for r in results)
    assert first.overview is not None and first.overview.is_file()
    # shared init: one seed for every domain; independent: a seed per domain
    seeds = [{read_checkpoint(p).manifest.config["seed"] for p in (s.parent / "adapters").iterdir()} for s in stores]
    assert len(seeds[0]) == 1 and len(seeds[1]) == 2
    shas = [{p.name: read_checkpoint(p).manifest.adapter_sha256 for p in (s.parent / "adapters").iterdir()}
            for s in stores]
    assert shas[2] == shas[0] != shas[1]
    # the view factor: task-vector pruning rows in its cell only
    refs = []
    for s in stores:
        with sqlite3.connect(s) as db:
            refs.append({json.loads(p).get("reference", "raw") for (p,) in
                         db.execute("SELECT mixer_params FROM evaluations WHERE mixer LIKE 'prune%'")})
    assert refs == [{"raw"}, {"raw"}, {"init"}]

    again = run_recipe(load_recipe(path), progress=False)
    assert all(r.trained == () and r.sweep.evaluated == 0 for r in [again, *again.others])


@pytest.mark.parametrize(("ablation", "needle"), [
    ({"factors": ["widht"]}, "width"),
    ({"factors": ["init"], "design": "half"}, "design"),
])
def test_a_factor_that_does_not_exist_is_one_line(tmp_path, tiny_encoders, cache_dir, capsys, ablation, needle):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, ablation=ablation)
    with pytest.raises(ConfigError, match=needle):
        load_recipe(path)
    code, _, err = run_cli(["run", str(path), "--quiet"], capsys)
    one_line_error(code, err, needle)
    assert not (tmp_path / "run").exists()


def test_the_view_factor_needs_a_prune_section(tmp_path, tiny_encoders, cache_dir):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, ablation={"factors": ["view"]}, prune=None)
    with pytest.raises(ConfigError, match="prune"):
        load_recipe(path)


def test_the_full_design_leaves_out_the_cells_that_cannot_run_and_says_why():
    # Task-vector pruning needs one shared initialisation: independent seeds x task vectors cannot run.
    section = AblationSection(factors=("init", "view"), design="full")
    assert [label for label, _ in cells(section)] == [
        "init=shared,view=raw", "init=shared,view=task", "init=independent,view=raw"]
    assert left_out(section) == [("init=independent,view=task",
                                  "task vectors need one shared initialisation (init=shared)")]
    assert left_out(AblationSection(factors=("init", "view"))) == []  # one at a time: the baseline shares
    full = AblationSection(factors=("training", "width", "init", "view"), design="full")
    assert len(cells(full)) == 12 and len(left_out(full)) == 4


def test_a_full_design_with_a_cell_left_out_loads_and_the_dry_run_names_it(tmp_path, tiny_encoders, cache_dir):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, ablation={"factors": ["init", "view"], "design": "full"})
    assert [c.cell for c in load_recipe(path).cells()] == [
        "init=shared,view=raw", "init=shared,view=task", "init=independent,view=raw"]
    from adaptermix.pipeline.plan import Throughput, format_plan, plan_recipe

    recipe = load_recipe(path)
    stages, rate = plan_recipe(recipe, Throughput(20_000.0, "minilm", "cpu", 1))
    text = format_plan(recipe, stages, rate)
    assert "left out of the full design: cell init=independent,view=task: task vectors need" in text
    assert not (tmp_path / "run").exists()


def test_a_cell_that_cannot_run_is_refused_before_anything_runs(tmp_path, tiny_encoders, cache_dir):
    # An explicit recipe-level setting that no cell can run with: independent seeds and a task-vector mixer.
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, init="independent",
                   ablation={"factors": ["view"]})
    with pytest.raises(ConfigError, match="task vectors"):
        load_recipe(path)
    assert not (tmp_path / "run").exists()


def test_an_adapter_written_after_the_run_planned_it_is_not_trained_again(tmp_path, tiny_encoders, cache_dir,
                                                                          monkeypatch):
    # A run decides what to train at its start; another process (a second run of a later cell) may write the
    # very adapter before this run gets there. The check is made again just before training.
    from adaptermix.pipeline import recipe as recipe_module

    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir)
    first = run_recipe(load_recipe(path), progress=False)
    assert len(first.trained) == 2
    first.store.unlink()  # as at the other run's start: no store yet, the adapters planned as missing
    calls: list[str] = []
    monkeypatch.setattr(recipe_module, "train", lambda cfg: calls.append(cfg.domain))
    monkeypatch.setattr(recipe_module, "stale_domains", lambda recipe, study: list(recipe.domains))
    again = run_recipe(load_recipe(path), progress=False)
    assert calls == [] and again.trained == ()
