"""A recipe's Sec. 7 stages and dataset analysis on tiny encoders: rows, artifacts, correctness, resumption."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from adaptermix.analysis.corpus import CorpusAnalysis
from adaptermix.checkpoints import read_checkpoint
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.evaluation.spec import CONDITION_COST, TRANSFER_CRAFT_COST
from adaptermix.pipeline import load_recipe, run_recipe
from adaptermix.pipeline.plan import Throughput, format_plan, plan_recipe
from adaptermix.pipeline.progress import Display
from adaptermix.pipeline.recipe import Recipe
from adaptermix.pipeline.stages import ALG1_KEY, ALG1_KIND, CORPUS_KIND, alg1_sets
from adaptermix.pruning.magnitude import magnitude_prune
from adaptermix.store import Store
from conftest import one_line_error, run_cli, toy_rows
from corpus_fixtures import HashEmbedder  # the same fake sentence encoder

DOMAINS = ("dom0", "dom1", "dom2")


def _recipe(tmp_path: Path, encoder: Path, cache: Path, **extra: object) -> Path:
    domains = []
    for i, name in enumerate(DOMAINS):
        path = tmp_path / f"{name}.csv"
        rows = toy_rows(120, seed=i)
        if i == 1:  # one domain flips the task, so the adapters disagree
            rows = [{"text": r["text"], "label": "neg" if r["label"] == "pos" else "pos"} for r in rows]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
        domains.append(str(path))
    recipe = {
        "name": "tiny-stages", "out": str(tmp_path / "run"), "encoder": str(encoder), "method": "pfeiffer",
        "preset": "quickstart", "domains": domains, "cache_dir": str(cache),
        "train": {"max_steps": 8, "adapter_size": 8, "max_length": 32},
        "eval": {"max_length": 32, "precision": "fp32"}, "sweep": {"mode": "exhaustive", "chunk_size": 3},
        "prune": {"sparsities": [0.5, 1.0], "scopes": ["global", "tensor"]},
        "sparse_mix": {"sparsities": [0.8, 0.9]},
        "data_analysis": {"max_docs": 40, "n_topics": 2, "top_words": 5},
        **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory, tiny_encoders, cache_dir):
    tmp = tmp_path_factory.mktemp("stages")
    path = _recipe(tmp, tiny_encoders["bert"], cache_dir)
    return path, run_recipe(load_recipe(path), progress=False, embedder=HashEmbedder())


def test_prune_rows_are_alg2_exactly(ran, cache_dir):
    _, result = ran
    with Store.read(result.store) as store:
        rows = [r for r in store.rows(condition="clean", mixer=None) if r.mixer.startswith("prune(")]
    assert len(rows) == 3 * 2 * 2 and {r.k for r in rows} == {1}
    labels = {r.mixer for r in rows}
    assert labels == {f"prune(scope={sc},sparsity={sp})" for sc in ("global", "tensor") for sp in (0.5, 1.0)}
    params = json.loads(rows[0].mixer_params)
    assert params["mixer"] == "prune" and set(params["params"]) == {"sparsity", "scope"}
    # The stored row is the accuracy of the adapter pruned by Alg. 2 (`adaptermix prune`'s function).
    row = next(r for r in rows if r.target == "dom1" and r.mixer == "prune(scope=global,sparsity=0.5)")
    ckpt = read_checkpoint(result.store.parent / "adapters" / "dom1")
    evaluator = Evaluator.for_checkpoint(ckpt, 32, cache_dir)
    target = evaluator.target(ckpt.domain, "test", None)
    m = evaluator.evaluate(magnitude_prune(ckpt.adapter, 0.5, "global"), ckpt.head, target, head_key="h")
    assert m.accuracy == row.accuracy


def test_sparse_mix_rows_on_the_alg1_sets(ran):
    _, result = ran
    with Store.read(result.store) as store:
        art = store.get_artifact(ALG1_KIND, ALG1_KEY)
        rows = store.rows(condition="clean", mixer=None)
        names, S = store.fsd_matrix()
    assert art is not None
    sets = art.json()["sets"]
    assert sets == {t: {str(k): list(v) for k, v in by_l.items()} for t, by_l in alg1_sets(names, S).items()}
    have = {(r.mixer, r.target, r.members) for r in rows}
    for target, by_l in sets.items():
        assert set(by_l) == {"2", "3"}
        for members in by_l.values():
            for mixer in ("average", "sparse(m=1,sparsity=0.8)", "sparse(m=1,sparsity=0.9)"):
                assert (mixer, target, tuple(members)) in have
    assert result.stages["sparse_mix"].evaluated == 3 * 2 * 2  # the average rows came from the sweep


def test_every_clean_row_keeps_its_per_example_correctness(ran):
    _, result = ran
    with Store.read(result.store) as store:
        rows = store.rows(condition="clean", mixer=None)
    assert rows
    for r in rows:
        vec = r.correctness
        assert vec is not None and vec.dtype == bool and len(vec) == r.n_examples
        assert vec.mean() == pytest.approx(r.accuracy, abs=1e-12)


def test_dataset_analysis_is_stored_and_a_rerun_recomputes_nothing(ran):
    path, result = ran
    assert result.analysed
    with Store.read(result.store) as store:
        found = store.artifacts(CORPUS_KIND)
        count = store.count(condition=None)
    assert len(found) == 1
    analysis = CorpusAnalysis.from_json(found[0].value)
    assert len(analysis.domains) == 3 and analysis.relation is not None
    stages, _ = plan_recipe(load_recipe(path), Throughput(20_000.0, "minilm", "cpu", 1))
    (planned,) = [s for s in stages if s.stage == "data_analysis"]  # the dry run knows it is stored
    assert "stored, nothing to do" in planned.note and planned.seconds == 0.0
    again = run_recipe(load_recipe(path), progress=False, embedder=HashEmbedder())
    assert not again.analysed and again.trained == ()
    assert again.sweep.evaluated == 0 and all(s.evaluated == 0 for s in again.stages.values())
    with Store.read(result.store) as store:
        assert store.count(condition=None) == count and len(store.artifacts(CORPUS_KIND)) == 1


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, tiny_encoders, cache_dir, capsys):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir)
    code, out, err = run_cli(["run", str(path), "--dry-run"], capsys)
    assert code == 0, err
    assert "| sweep | 12 evaluations" in out
    assert "prune (Fig. 8a) | 12 evaluations" in out and "sparse_mix (Fig. 8b) | 18 evaluations" in out
    assert "estimated" in out and "forward tokens/s" in out
    assert not (tmp_path / "run").exists()


def test_paper_recipe_plans_53248_clean_evaluations_per_study():
    recipe = load_recipe("recipes/paper.yaml")
    stages, rate = plan_recipe(recipe, Throughput(20_000.0, "minilm", "cpu", 2))
    studies = recipe.studies()
    assert len(studies) == 6 and {s.method for s in studies} == {"houlsby", "pfeiffer", "lora"}
    sweeps = [s for s in stages if s.stage == "sweep"]
    assert len(sweeps) == 6 and all(s.count == 53_248 for s in sweeps)
    assert "53,248 evaluations" in format_plan(recipe, stages, rate)


def test_plan_counts_the_attack_on_each_adapter_alone_once():
    # Adaptive TextFooler at k = 1 is the transfer condition's attack on the adapter alone (same settings): the
    # engine runs it once per target, and so must the estimate; with another seed it is a second attack.
    raw = yaml.safe_load(Path("recipes/offline-study.yaml").read_text(encoding="utf-8"))
    transfer = {"condition": "textfooler", "attack_mode": "transfer", "attack_examples": 15, "sizes": [1, 2, 8]}

    def sweep_seconds(*conditions: dict) -> float:
        recipe = Recipe.model_validate({**raw, "methods": ["pfeiffer"],
                                        "eval": {**raw["eval"], "conditions": ["clean", transfer, *conditions]}})
        stages, _ = plan_recipe(recipe, Throughput(20_000.0, "minilm", "cpu", 2))
        return next(s.seconds for s in stages if s.stage == "sweep")

    base = sweep_seconds()
    adaptive = {"condition": "textfooler", "attack_mode": "adaptive", "attack_examples": 15, "sizes": "ends"}
    shared = sweep_seconds(adaptive)
    second = sweep_seconds({**adaptive, "attack_seed": 1})
    assert base < shared < second
    # shared: only the k = n attacks are new; another seed adds one attack on each adapter alone as well.
    assert (second - shared) / (shared - base) == pytest.approx(TRANSFER_CRAFT_COST / CONDITION_COST["textfooler"])


def test_a_resumed_sweep_is_estimated_at_the_cost_of_what_is_left(monkeypatch):
    # With the clean rows stored and the attacked ones not, what is left is the attack's cost, not the mean
    # row's cost times the rows left (the estimate said 1.8 min for 34 TextFooler rows that took hours).
    import adaptermix.pipeline.plan as plan_mod

    raw = yaml.safe_load(Path("recipes/offline-study.yaml").read_text(encoding="utf-8"))
    fgsm = {"condition": "fgsm", "epsilon": 0.01, "attack_examples": 50, "sizes": [1, 2, 8]}

    def sweep(conditions: list, stored: dict) -> tuple[float, str]:
        recipe = Recipe.model_validate({**raw, "methods": ["pfeiffer"],
                                        "eval": {**raw["eval"], "conditions": conditions}})
        monkeypatch.setattr(plan_mod, "_stored", lambda store, labels: sum(stored.get(c, 0) for _, c in labels))
        stages, _ = plan_recipe(recipe, Throughput(20_000.0, "minilm", "cpu", 2))
        found = next(s for s in stages if s.stage == "sweep")
        return found.seconds, found.note

    both, _ = sweep(["clean", fgsm], {})
    clean_only, _ = sweep(["clean"], {})
    resumed, note = sweep(["clean", fgsm], {"clean": 10**6})  # every clean row there (capped at the plan's count)
    assert resumed == pytest.approx(both - clean_only) and resumed > 0
    assert "stored" in note and "48 to do" in note  # the FGSM rows the sampled plan draws at k = 1, 2 and 8


def test_offline_study_recipe_validates():
    recipe = load_recipe("recipes/offline-study.yaml")
    assert len(recipe.domains) >= 8 and len(recipe.studies()) == 3
    assert recipe.prune is not None and recipe.sparse_mix is not None and recipe.data_analysis is not None


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("prune", {"sparsities": [1.5]}, "prune.sparsities"),
    ("prune", {"scopes": ["row"]}, "prune.scopes"),
    ("sparse_mix", {"sparsities": [0.8, 0.8]}, "listed twice"),
    ("methods", ["pfeifer"], "Did you mean"),
    ("data_analysis", {"max_docs": 0}, "data_analysis.max_docs"),
])
def test_bad_stage_fields_are_one_line(tmp_path, tiny_encoders, cache_dir, capsys, field, value, needle):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir, **{field: value})
    code, _, err = run_cli(["run", str(path), "--dry-run"], capsys)
    one_line_error(code, err, needle)


def test_a_note_says_how_far_a_long_row_is_at_most_once_per_interval():
    buf, now = io.StringIO(), [0.0]
    display = Display(stages=1, stream=buf, tty=False, clock=lambda: now[0], interval=60.0)
    with display.stage("sweep", 4) as stage:
        for i in range(10):  # a note every 20 s: one line per 60 s gets through
            now[0] += 20.0
            stage.note(f"textfooler on bbc_news: {i + 1}/10 examples finished")
        stage.update(4)
    notes = [line for line in buf.getvalue().splitlines() if "examples finished" in line]
    assert notes == [f"[1/1] sweep: textfooler on bbc_news: {i}/10 examples finished" for i in (3, 6, 9)]
    quiet = io.StringIO()
    with Display(enabled=False, stream=quiet).stage("sweep", 1) as stage:
        stage.note("nothing")
    assert quiet.getvalue() == ""


def test_progress_off_a_terminal_is_a_few_lines_per_stage():
    buf, now = io.StringIO(), [0.0]
    display = Display(stages=2, stream=buf, tty=False, clock=lambda: now[0])
    with display.stage("sweep", 10_000) as stage:
        for _ in range(10_000):
            now[0] += 0.01
            stage.update(1)
    with display.stage("prune", 3) as stage:
        stage.update(3)
    lines = buf.getvalue().splitlines()
    assert lines[0] == "[1/2] sweep: 10,000 evals"
    assert 3 <= sum(line.startswith("[1/2] sweep: ") and "ETA" in line for line in lines) <= 4
    assert lines[-1].startswith("[2/2] prune: done, 3 evals")
    assert len(lines) <= 9


def test_eta_weighs_units_by_their_expected_work():
    # 90 cheap clean rows, then 10 attacked rows costing 100 clean ones each: after the clean rows the ETA
    # must count the expensive rest, not 10 more cheap rows.
    now = [0.0]
    display = Display(enabled=False, clock=lambda: now[0])
    weighted, unweighted = display.stage("sweep", None), display.stage("sweep", 100)
    weighted.add_total(90, work=90.0)
    weighted.add_total(10, work=1000.0)
    now[0] += 90.0
    weighted.update(90, work=90.0)
    unweighted.update(90)
    assert weighted.eta() == pytest.approx(1000.0)
    assert unweighted.eta() == pytest.approx(10.0)


def test_condition_costs_put_a_transfer_attacks_crafting_per_target():
    from adaptermix.evaluation.spec import ConditionSpec

    clean = ConditionSpec().cost(300)
    fgsm = ConditionSpec(condition="fgsm", params={"attack_examples": 30}).cost(300)
    transfer = ConditionSpec(condition="textfooler",
                             params={"attack_mode": "transfer", "attack_examples": 30}).cost(300)
    assert clean == (1.0, 0.0)
    assert fgsm[0] == pytest.approx(0.1 * 6.0) and fgsm[1] == 0.0
    assert transfer[1] > 100 * transfer[0] > 0  # crafting dominates; scoring a crafted text is cheap


def test_predictions_come_back_in_the_splits_order(ran, cache_dir):
    # The evaluator scores length-sorted batches; the vector must still follow the split's own order.
    import torch

    _, result = ran
    ckpt = read_checkpoint(result.store.parent / "adapters" / "dom2")
    evaluator = Evaluator.for_checkpoint(ckpt, 32, cache_dir)
    target = evaluator.target(ckpt.domain, "test", None)
    evaluator.evaluate(ckpt.adapter, ckpt.head, target, head_key="h")  # loads the adapter and head
    _, preds = evaluator.predictions(target)
    enc, model = target.encoded, evaluator.base.model
    lengths = np.diff(enc.offsets)
    assert len(set(lengths.tolist())) > 1  # the batches really are reordered
    with torch.inference_mode():
        for i in range(len(enc)):  # one example at a time, in order, no padding
            ids = torch.tensor(enc.ids[enc.offsets[i] : enc.offsets[i + 1]], dtype=torch.long)[None]
            alone = int(model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.argmax(-1))
            assert alone == preds[i], i
