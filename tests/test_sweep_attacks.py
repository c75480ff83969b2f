"""Robustness conditions in the sweep engine: stored like clean rows, equal to attacking the mixed checkpoint."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from adaptermix.attacks import AttackSpec, ModelWrapper, attack_examples, sample_examples
from adaptermix.checkpoints import read_checkpoint
from adaptermix.data.domains import get_domain
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.evaluation.spec import ConditionSpec, EvalSpec
from adaptermix.mixing import mix
from adaptermix.pipeline.sweep import SweepConfig, run_sweep
from adaptermix.store import Store
from conftest import one_line_error, run_cli, train_toy_adapters

DOMAINS = ("p", "q", "r")
N_ATTACK = 6


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_encoders, cache_dir) -> Path:
    return train_toy_adapters(tmp_path_factory.mktemp("attackstudy"), DOMAINS, tiny_encoders["bert"], cache_dir,
                              n_rows=120, seed=40, max_steps=10)


@pytest.fixture(scope="module")
def fgsm_store(adapters, cache_dir, tmp_path_factory) -> Path:
    store = tmp_path_factory.mktemp("fgsmstore") / "s.sqlite"
    spec = EvalSpec(max_examples=20, max_length=32, precision="fp32",
                    mixers=("average", {"mixer": "ties", "density": 0.5}),
                    conditions=("clean", {"condition": "fgsm", "attack_examples": N_ATTACK, "mixers": ["average"]},
                                {"condition": "fgsm", "epsilon": 0.0, "attack_examples": N_ATTACK,
                                 "mixers": ["average"]}))
    run_sweep(SweepConfig(adapters=(adapters,), store=store, spec=spec, cache_dir=cache_dir, progress=False))
    return store


def test_every_condition_has_every_row_with_its_metrics(fgsm_store):
    with Store.read(fgsm_store) as store:
        labels = store.labels()
        attack_labels = sorted({c for _, c in labels if c.startswith("fgsm")})
        clean = {(r.target, r.members): r for r in store.rows("clean", "average")}
        assert len(clean) == 3 * 4  # 3 targets × 2^2 subsets
        for label in attack_labels:
            rows = store.rows(label, "average")
            assert {(r.target, r.members) for r in rows} == set(clean)
            for r in rows:
                assert r.n_examples == N_ATTACK
                m = r.metrics
                assert {"clean_accuracy", "accuracy_under_attack", "n_skipped", "n_successful", "n_failed"} <= set(m)
                assert ("avg_queries" in m) == (m["n_skipped"] < N_ATTACK)  # undefined rates are left out
                assert r.accuracy == pytest.approx(m["accuracy_under_attack"])
                assert r.accuracy <= m["clean_accuracy"] + 1e-12
                assert m["n_successful"] + m["n_failed"] + m["n_skipped"] == N_ATTACK
                assert 0.0 < m["craft_seconds"] <= r.seconds  # crafting is a part of the row's time


def test_conditions_score_only_the_mixers_they_name(fgsm_store):
    with Store.read(fgsm_store) as store:
        pairs = {(m.split("(")[0], c.split("(")[0]) for m, c in store.labels()}
    assert pairs == {("average", "clean"), ("ties", "clean"), ("average", "fgsm")}


def test_a_condition_naming_an_absent_mixer_is_refused():
    with pytest.raises(ValueError, match="not among the study's mixers"):
        EvalSpec(conditions=("clean", {"condition": "fgsm", "mixers": ["ties"]}))


def test_epsilon_zero_scores_the_clean_sample(fgsm_store):
    with Store.read(fgsm_store) as store:
        zero = ConditionSpec(condition="fgsm", params={"epsilon": 0.0, "attack_examples": N_ATTACK}).label
        rows = store.rows(zero, "average")
        assert len(rows) == 12
        for r in rows:
            assert r.accuracy == pytest.approx(r.metrics["clean_accuracy"])
            assert r.metrics.get("n_successful", 0) == 0


def test_sweep_row_equals_attacking_the_mixed_checkpoint(fgsm_store, adapters, cache_dir):
    """Oracle: the checkpoint path (mix → evaluator → attack) gives the engine's stored row."""
    ckpts = [read_checkpoint(adapters / d) for d in DOMAINS]
    target = 1
    mixed = mix([c.adapter for c in ckpts])
    ev = Evaluator.for_checkpoint(ckpts[0], 32, cache_dir)
    ev.use_head("t", ckpts[target].head, ckpts[target].manifest.label_names)
    slot = ev.slot_parameters()
    for k, v in mixed.items():
        slot[k].data.copy_(v)
    split = get_domain(ckpts[target].domain).load(cache_dir).split("test").take(20)
    examples = sample_examples(split, N_ATTACK, 0)
    records = attack_examples(ModelWrapper.from_evaluator(ev, 32), examples, AttackSpec(attack="fgsm"))
    expected = sum(r.status == "failed" for r in records) / N_ATTACK
    with Store.read(fgsm_store) as store:
        label = ConditionSpec(condition="fgsm", params={"attack_examples": N_ATTACK}).label
        row = next(r for r in store.rows(label, "average") if r.target == DOMAINS[target] and len(r.members) == 3)
    assert row.accuracy == pytest.approx(expected)
    assert row.metrics["clean_accuracy"] == pytest.approx(sum(r.prediction == r.label for r in records) / N_ATTACK)


def test_export_has_attack_metrics(fgsm_store, tmp_path, capsys):
    out = tmp_path / "rows.csv"
    code, _, err = run_cli(["export", str(fgsm_store), "--out", str(out)], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    attacked = [r for r in rows if r["condition"].startswith("fgsm")]
    assert len(attacked) == 2 * 12 and all(r["mixer"] == "average" for r in attacked)
    for r in attacked:
        metrics = json.loads(r["metrics"])
        assert {"clean_accuracy", "accuracy_under_attack", "n_skipped"} <= set(metrics)
        assert float(r["accuracy"]) == pytest.approx(metrics["accuracy_under_attack"])


def _vectors_file(folder: Path) -> Path:
    from attack_fixtures import toy_vectors

    v = toy_vectors()
    vec = folder / "toy.vec"
    vec.write_text("".join(f"{w} {' '.join(map(str, row))}\n" for w, row in zip(v.words, v.matrix.tolist(),
                                                                                 strict=True)))
    return vec


@pytest.mark.slow
def test_textfooler_transfer_equals_adaptive_alone_and_is_reused(adapters, cache_dir, tmp_path):
    """Transfer mode crafts on the target's adapter alone: at k = 1 it is the adaptive attack itself."""
    common = {"attack_examples": N_ATTACK, "vectors": str(_vectors_file(tmp_path))}
    spec = EvalSpec(max_examples=20, max_length=32, precision="fp32",
                    conditions=({"condition": "textfooler", "sizes": "ends", **common},
                                {"condition": "textfooler", "attack_mode": "transfer", **common}))
    store = tmp_path / "tf.sqlite"
    summary = run_sweep(SweepConfig(adapters=(adapters,), store=store, spec=spec, cache_dir=cache_dir,
                                    progress=False))
    # The exhaustive count is per condition's sizes: 12 transfer rows, 6 adaptive ones at the ends.
    assert summary.exhaustive_count == summary.planned == 18
    with Store.read(store) as s:
        adaptive_label, transfer_label = (c.label for c in spec.conditions)
        adaptive = {(r.target, r.members): r for r in s.rows(adaptive_label, "average")}
        transfer = {(r.target, r.members): r for r in s.rows(transfer_label, "average")}
    # Adaptive only at the ends (k = 1 and k = n = 3), as `sizes: ends` asks; transfer on every mixture.
    assert len(transfer) == 12 and set(adaptive) == {key for key in transfer if len(key[1]) in (1, 3)}
    # The attack does something on these models (else the equalities below would be vacuous).
    assert sum(r.metrics.get("n_successful", 0) for r in adaptive.values()) > 0
    assert sum(r.metrics.get("n_successful", 0) for r in transfer.values()) > 0
    for key, row in transfer.items():
        assert row.accuracy <= row.metrics["clean_accuracy"] + 1e-12
        assert "avg_queries" not in row.metrics or row.metrics["avg_queries"] == 2
        if len(key[1]) == 1:  # the adapter the examples were crafted on: transfer is the adaptive attack
            assert row.accuracy == pytest.approx(adaptive[key].accuracy)
            assert row.metrics["clean_accuracy"] == pytest.approx(adaptive[key].metrics["clean_accuracy"])


@pytest.mark.parametrize(("flags", "needle"), [
    (["--conditions", "clean,fgsm", "--attack-mode", "transfer"], "--attack-mode is not used"),
    (["--conditions", "fgsm", "--epsilon", "-1"], "epsilon"),
    (["--conditions", "fgsm", "--epsilon", "nan"], "epsilon"),
    (["--conditions", "pgd"], "pgd"),
    (["--conditions", "textfooler", "--attack-mode", "sideways"], "sideways"),
    (["--conditions", "fgsm", "--attack-examples", "0"], "attack_examples=0"),
    (["--conditions", "textfooler", "--query-budget", "0"], "query_budget"),
])
def test_bad_condition_flags_one_line(adapters, tmp_path, capsys, flags, needle):
    code, _, err = run_cli(["sweep", "--adapters", str(adapters), "--store", str(tmp_path / "s.sqlite"), *flags],
                           capsys)
    one_line_error(code, err, needle)
    assert not (tmp_path / "s.sqlite").exists()


def test_worker_processes_give_the_in_process_rows(fgsm_store, adapters, cache_dir, tmp_path):
    """Attacks run wherever the engine runs: two spawned workers store the rows one process stored."""
    spec = EvalSpec(max_examples=20, max_length=32, precision="fp32",
                    conditions=({"condition": "fgsm", "attack_examples": N_ATTACK},))
    store = tmp_path / "procs.sqlite"
    run_sweep(SweepConfig(adapters=(adapters,), store=store, spec=spec, cache_dir=cache_dir, progress=False,
                          workers=2, chunk_size=2))
    label = spec.conditions[0].label
    with Store.read(store) as s:
        got = {r.key: (r.accuracy, _untimed(r.metrics)) for r in s.rows(label, "average")}
    with Store.read(fgsm_store) as s:
        want = {r.key: (r.accuracy, _untimed(r.metrics)) for r in s.rows(label, "average")}
    assert got == want and len(got) == 12


def _untimed(metrics: dict[str, float] | None) -> dict[str, float]:
    """A row's metrics without `craft_seconds` (a wall-clock time, which differs between runs)."""
    return {k: v for k, v in (metrics or {}).items() if k != "craft_seconds"}


@pytest.mark.slow
def test_a_long_attacked_row_says_how_far_it_is(adapters, cache_dir, tmp_path):
    # In-process sweeps pass the stage's note down to TextFooler's rounds (interval 0: every note shows).
    import io

    from adaptermix.pipeline.progress import Display

    common = {"attack_examples": N_ATTACK, "vectors": str(_vectors_file(tmp_path))}
    spec = EvalSpec(max_examples=20, max_length=32, precision="fp32",
                    conditions=({"condition": "textfooler", "attack_mode": "transfer", "sizes": [2], **common},))
    buf = io.StringIO()
    stage = Display(stream=buf, tty=False, interval=0.0).stage("sweep")
    run_sweep(SweepConfig(adapters=(adapters,), store=tmp_path / "tf.sqlite", spec=spec, cache_dir=cache_dir,
                          targets=("p",)), stage)
    notes = [line for line in buf.getvalue().splitlines() if "examples finished" in line]
    assert notes and all(line.startswith("sweep: textfooler: crafting on p.csv's adapter alone: ") for line in notes)
    assert notes[-1].endswith(f": {N_ATTACK}/{N_ATTACK} examples finished")
