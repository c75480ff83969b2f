"""Alg. 2 with the target's head pruned too (`MixSpec.head`, recipe `prune.heads`; issue 18's ablation item)."""

from __future__ import annotations

import json

import pytest

from adaptermix.checkpoints import read_checkpoint
from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.evaluation.spec import EvalSpec, MixSpec
from adaptermix.pipeline.stages import prune_mixers
from adaptermix.pruning.magnitude import magnitude_prune
from conftest import one_line_error, run_cli, train_toy_adapters

DOMAINS = ("p", "q")


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_encoders, cache_dir):
    return train_toy_adapters(tmp_path_factory.mktemp("prunehead"), DOMAINS, tiny_encoders["bert"], cache_dir)


def test_the_head_is_in_the_label_and_nowhere_else_when_kept():
    kept = MixSpec(mixer="prune", params={"sparsity": 0.9, "scope": "global"})
    pruned = MixSpec(mixer="prune", params={"sparsity": 0.9, "scope": "global"}, head="pruned")
    assert kept.label == "prune(scope=global,sparsity=0.9)"
    assert pruned.label == "prune(head=pruned,scope=global,sparsity=0.9)"
    assert "head" not in json.loads(kept.as_json())  # rows stored before the option keep their mixer_params
    assert json.loads(pruned.as_json())["head"] == "pruned"
    with pytest.raises(ValueError, match="head: pruned needs mixer prune"):
        MixSpec(mixer="average", head="pruned")
    with pytest.raises(ValueError, match="reference: raw"):
        MixSpec(mixer="prune", reference="init", head="pruned")
    specs = prune_mixers((0.5, 0.9), ("global", "tensor"), heads=("kept", "pruned"))
    assert len(specs) == 8 and [s.head for s in specs] == ["kept"] * 4 + ["pruned"] * 4


@pytest.mark.parametrize(("sparsity", "scope"), [(0.5, "global"), (0.9, "tensor"), (1.0, "global")])
def test_a_pruned_head_row_equals_pruning_both_by_hand(adapters, cache_dir, sparsity, scope):
    paths = tuple(str(adapters / d) for d in DOMAINS)
    mixers = (MixSpec(mixer="prune", params={"sparsity": sparsity, "scope": scope}),
              MixSpec(mixer="prune", params={"sparsity": sparsity, "scope": scope}, head="pruned"))
    worker = SweepWorker(WorkerConfig(paths=paths, spec=EvalSpec(max_length=32, precision="fp32", mixers=mixers),
                                      cache_dir=str(cache_dir)))
    # Kept, pruned, kept again on the same target: the head must follow the mixer each time.
    [kept] = worker.run(Chunk(target=1, subsets=((1,),), mix=0))
    [pruned] = worker.run(Chunk(target=1, subsets=((1,),), mix=1))
    [again] = worker.run(Chunk(target=1, subsets=((1,),), mix=0))
    ckpt = read_checkpoint(paths[1])
    ev = Evaluator.for_checkpoint(ckpt, max_length=32, cache_dir=cache_dir)
    target = ev.target(ckpt.domain, "test")
    adapter = magnitude_prune(ckpt.adapter, sparsity, scope)
    ref_kept = ev.evaluate(adapter, ckpt.head, target, head_key="a")
    ref_pruned = ev.evaluate(adapter, magnitude_prune(ckpt.head, sparsity, scope), target, head_key="b")
    assert (kept.accuracy, kept.macro_f1) == (ref_kept.accuracy, ref_kept.macro_f1)
    assert (pruned.accuracy, pruned.macro_f1) == (ref_pruned.accuracy, ref_pruned.macro_f1)
    assert (again.accuracy, (again.correct == kept.correct).all()) == (kept.accuracy, True)
    if sparsity == 1.0:  # an all-zero head scores every class 0: argmax is the first label for every example
        labels = target.encoded.labels
        assert pruned.accuracy == pytest.approx(float((labels == 0).mean()))


def test_recipe_heads_pruned_with_task_vectors_is_one_line(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nout: " + str(tmp_path / "out") + "\nencoder: minilm\nmethod: pfeiffer\n"
                      "domains: [trec, sms_spam]\nprune: {sparsities: [0.9], reference: init, heads: [kept, pruned]}\n")
    code, _, err = run_cli(["run", str(recipe), "--dry-run"], capsys)
    one_line_error(code, err, "prune.heads: pruned needs prune.reference: raw")
    assert not (tmp_path / "out").exists()


def test_a_pruned_head_is_its_own_series_and_finding(adapters, cache_dir, tmp_path):
    from adaptermix.pipeline.stages import prune_config
    from adaptermix.pipeline.sweep import SweepConfig, run_sweep
    from adaptermix.reporting.findings import pruning_keeps
    from adaptermix.reporting.sec7 import prune_points
    from adaptermix.reporting.study import load_study

    store = tmp_path / "s.sqlite"
    base = SweepConfig(adapters=(adapters,), store=store, cache_dir=cache_dir, progress=False, sizes=(1,),
                       spec=EvalSpec(max_length=32, precision="fp32"))
    run_sweep(base)  # the dense k = 1 rows the finding compares with
    prune = prune_config(base, (0.9,), ("global",), heads=("kept", "pruned"))
    assert run_sweep(prune).evaluated == 4
    assert run_sweep(prune_config(base, (0.9,), ("global",))).evaluated == 0  # the kept rows keep their keys
    study = load_study(store)
    assert sorted({p.scope for p in prune_points(study)}) == ["global", "global+head"]
    assert [f.id for f in pruning_keeps(study)] == ["pruning-keeps-global", "pruning-keeps-global+head"]
    from adaptermix.reporting.sec7 import head_effect, sec7_section

    table = head_effect(study)
    assert table is not None and [r[:3] for r in table.rows] == [("global", 90.0, 2)]
    kept = {p.row.target: p.row.accuracy for p in prune_points(study) if p.scope == "global"}
    pruned = {p.row.target: p.row.accuracy for p in prune_points(study) if p.scope == "global+head"}
    assert table.rows[0][3] == pytest.approx(100 * sum(pruned[d] - kept[d] for d in DOMAINS) / 2)
    assert "prune_head_effect" in [t.name for t in sec7_section(study).tables]


def test_a_mixture_checkpoint_refuses_a_pruned_head(adapters, tmp_path):
    from adaptermix.errors import CheckpointError
    from adaptermix.mixing import mix_checkpoints

    spec = MixSpec(mixer="prune", params={"sparsity": 0.9, "scope": "global"}, head="pruned")
    with pytest.raises(CheckpointError, match="keeps its head as trained"):
        mix_checkpoints([adapters / "p"], adapters / "p", tmp_path / "out", spec=spec)
    assert not (tmp_path / "out").exists()
