"""Engine v2: several mixers and conditions in one store; every sweep row equals mixing the checkpoints."""

from __future__ import annotations

import csv
import sqlite3

import pytest
import torch

from adaptermix.checkpoints import read_checkpoint
from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.evaluation.spec import EvalSpec, MixSpec
from adaptermix.methods.model import load_base
from adaptermix.mixing import mix
from adaptermix.pipeline.sweep import SweepConfig, run_sweep
from adaptermix.store import Store
from adaptermix.training.init import shared_init
from conftest import one_line_error, run_cli, train_toy_adapters

DOMAINS = ("p", "q", "r")
MIXERS = (MixSpec(), MixSpec(mixer="ties", params={"density": 0.5}),
          MixSpec(mixer="dare_ties", params={"density": 0.5, "seed": 3}),
          MixSpec(mixer="ties", params={"density": 0.5}, reference="init"))


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_encoders, cache_dir):
    """Three tiny adapters trained with one seed: one shared initialisation, as in a recipe."""
    return train_toy_adapters(tmp_path_factory.mktemp("mixstudy"), DOMAINS, tiny_encoders["bert"], cache_dir)


def test_shared_init_is_rebuilt_exactly(shared):
    ckpts = [read_checkpoint(shared / d) for d in DOMAINS]
    base = load_base(ckpts[0].manifest.base.encoder)
    init = shared_init(base, ckpts)  # verifies the sha256 recorded at training
    assert all("init" in c.manifest.extra for c in ckpts)
    assert set(init) == set(ckpts[0].adapter)
    assert any(not torch.equal(init[k], ckpts[0].adapter[k]) for k in init)  # training moved away from it


@pytest.mark.parametrize("mi", range(len(MIXERS)))
def test_sweep_row_equals_mixing_the_checkpoints(shared, cache_dir, mi):
    paths = tuple(str(shared / d) for d in DOMAINS)
    spec = EvalSpec(max_length=32, precision="fp32", mixers=MIXERS)
    worker = SweepWorker(WorkerConfig(paths=paths, spec=spec, cache_dir=str(cache_dir)))
    members = (0, 1, 2)
    [res] = worker.run(Chunk(target=1, subsets=(members,), mix=mi))
    ckpts = [read_checkpoint(p) for p in paths]
    ms = MIXERS[mi]
    init = None if ms.reference == "raw" else shared_init(worker.evaluator.base, ckpts)
    mixture = mix([c.adapter for c in ckpts], ms.mixer, init=init, **ms.params)
    for key, live in worker.evaluator.slot_parameters().items():  # bit for bit in the resident model
        torch.testing.assert_close(live.detach(), mixture[key], rtol=0, atol=0)
    ev = Evaluator.for_checkpoint(ckpts[1], max_length=32, cache_dir=cache_dir)
    ref = ev.evaluate(mixture, ckpts[1].head, ev.target(ckpts[1].domain, "test"), head_key="x")
    assert (res.accuracy, res.macro_f1, res.n_examples) == (ref.accuracy, ref.macro_f1, ref.n)
    assert res.precision == "fp32" and res.mix == mi


def test_one_store_holds_every_mixer_and_resumes(shared, cache_dir, tmp_path):
    store = tmp_path / "s.sqlite"
    cfg = SweepConfig(adapters=(shared,), store=store, cache_dir=cache_dir, progress=False, chunk_size=2,
                      spec=EvalSpec(max_length=32, precision="fp32", mixers=MIXERS[:2]), label="toy/pfeiffer")
    first = run_sweep(cfg)
    assert first.evaluated == first.exhaustive_count == 2 * 3 * 4
    assert run_sweep(cfg).evaluated == 0
    with Store.read(store) as s:
        assert s.meta.name == "toy/pfeiffer" and s.meta.encoder  # the store names its study and encoder
        assert [m for m, _ in s.labels()] == [MIXERS[0].label, MIXERS[1].label]
        for m in (MIXERS[0].label, MIXERS[1].label):
            rows = s.rows(mixer=m)
            assert len(rows) == 12 and all(r.precision == "fp32" and r.mixture_fsd is not None for r in rows)
        # k = 1 under TIES is the trimmed adapter, not the adapter: the two mixers differ there
        single = {r.mixer: r for r in s.rows(mixer=None) if r.members == ("p",) and r.target == "p"}
        assert single["average"].flip_fraction == 0.0
    # adding a mixer later computes only its rows
    more = SweepConfig(**{**cfg.model_dump(), "spec": EvalSpec(max_length=32, precision="fp32", mixers=MIXERS[:3])})
    third = run_sweep(more)
    assert third.evaluated == 12 and third.reused == 24


def test_cli_sweep_with_mixers_export_and_mix(shared, cache_dir, tmp_path, capsys):
    store = tmp_path / "cli.sqlite"
    code, out, err = run_cli(["sweep", "--adapters", str(shared), "--store", str(store), "--max-length", "32",
                              "--mixers", "average,ties", "--density", "0.5", "--precision", "fp32",
                              "--k", "3", "--cache-dir", str(cache_dir), "--quiet"], capsys)
    assert code == 0, err
    assert "6 evaluated now" in out
    code, out, err = run_cli(["export", str(store), "--format", "csv"], capsys)
    assert code == 0, err
    with open(store.with_suffix(".csv")) as fh:
        rows = list(csv.DictReader(fh))
    assert {r["mixer"] for r in rows} == {"average", "ties(density=0.5,majority_sign=total,scope=tensor)"}
    assert {r["condition"] for r in rows} == {"clean"}
    out_ckpt = tmp_path / "mixed"
    code, out, err = run_cli(["mix", *(str(shared / d) for d in DOMAINS), "--head-from", str(shared / "q"),
                              "--out", str(out_ckpt), "--mixer", "ties", "--density", "0.5"], capsys)
    assert code == 0, err
    written = read_checkpoint(out_ckpt)
    assert written.manifest.config["mixer"]["label"] == "ties(density=0.5,majority_sign=total,scope=tensor)"
    con = sqlite3.connect(store)
    acc = con.execute("SELECT accuracy FROM evaluations WHERE target='q' AND mixer LIKE 'ties%'").fetchone()[0]
    con.close()
    from adaptermix.evaluation.evaluator import evaluate_checkpoint

    assert evaluate_checkpoint(out_ckpt, max_length=32, cache_dir=cache_dir).accuracy == acc


@pytest.mark.parametrize("argv,needle", [
    (["--mixers", "tis"], "Did you mean 'ties'"),
    (["--mixers", "average", "--density", "0.3"], "--density is not used"),
    (["--mixers", "ties", "--density", "1.5"], "density must be in (0, 1]"),
    (["--precision", "fp16"], "--precision"),
    (["--conditions", "fgsmm"], "unknown condition"),
])
def test_cli_bad_mixer_flags_are_one_line(shared, tmp_path, capsys, argv, needle):
    code, _, err = run_cli(["sweep", "--adapters", str(shared), "--store", str(tmp_path / "x.sqlite"), *argv], capsys)
    one_line_error(code, err, needle)
    assert not (tmp_path / "x.sqlite").exists()


def test_fsd_cli_in_the_task_vector_view(shared, tmp_path, capsys):
    import json

    code, _, err = run_cli(["fsd", *(str(shared / d) for d in DOMAINS), "--out", str(tmp_path / "raw")], capsys)
    assert code == 0, err
    code, _, err = run_cli(["fsd", *(str(shared / d) for d in DOMAINS), "--out", str(tmp_path / "tv"),
                            "--reference", "init"], capsys)
    assert code == 0, err
    raw = json.loads((tmp_path / "raw" / "fsd.json").read_text())
    tv = json.loads((tmp_path / "tv" / "fsd.json").read_text())
    assert tv["reference"] == "init" and raw["reference"] == "raw"
    ckpts = [read_checkpoint(shared / d) for d in DOMAINS]
    init = shared_init(load_base(ckpts[0].manifest.base.encoder), ckpts)
    from adaptermix.analysis import fsd
    from adaptermix.mixing import task_vectors

    a, b = task_vectors([ckpts[0].adapter, ckpts[1].adapter], init)
    assert tv["matrix"][0][1] == pytest.approx(fsd(a, b))
    assert tv["matrix"][0][1] != raw["matrix"][0][1]


def test_every_sign_statistic_of_a_row_is_in_the_rows_view(shared, cache_dir, tmp_path):
    """Issue 19: a task-vector mixer's rows carry pair FSD, mean pairwise FSD, flip fraction and mixture FSD
    all computed on task vectors; a raw mixer's on raw weights (Alg. 3 on the state dicts as the oracle)."""
    from adaptermix.analysis import fsd
    from adaptermix.mixing import task_vectors

    raw_mix, tv_mix = MIXERS[1], MIXERS[3]  # TIES on raw weights and on task vectors
    store = tmp_path / "s.sqlite"
    run_sweep(SweepConfig(adapters=(shared,), store=store, cache_dir=cache_dir, progress=False,
                          spec=EvalSpec(max_length=32, precision="fp32", mixers=(raw_mix, tv_mix))))
    ckpts = [read_checkpoint(shared / d) for d in DOMAINS]
    init = shared_init(load_base(ckpts[0].manifest.base.encoder), ckpts)
    views = {raw_mix.label: [c.adapter for c in ckpts],
             tv_mix.label: task_vectors([c.adapter for c in ckpts], init)}
    with Store.read(store) as s:
        for label, sds in views.items():
            for r in s.rows(mixer=label):
                idx = sorted(DOMAINS.index(m) for m in r.members)
                t = DOMAINS.index(r.target)
                pairs = [fsd(sds[a], sds[b]) for i, a in enumerate(idx) for b in idx[i + 1:]]
                if len(idx) == 2:
                    assert r.pair_fsd == pytest.approx(fsd(sds[t], sds[next(i for i in idx if i != t)]))
                assert r.mean_pairwise_fsd == (pytest.approx(sum(pairs) / len(pairs)) if pairs else None)
                ms = raw_mix if label == raw_mix.label else tv_mix
                mixed = mix([ckpts[i].adapter for i in idx], ms.mixer,
                            init=None if ms.reference == "raw" else init, **ms.params)
                view = mixed if ms.reference == "raw" else task_vectors([mixed], init)[0]
                assert r.flip_fraction == pytest.approx(fsd(sds[t], view))
                assert r.mixture_fsd == pytest.approx(sum(fsd(sds[i], view) for i in idx) / len(idx))
        raw_pairs = {r.members: r.pair_fsd for r in s.rows(mixer=raw_mix.label) if len(r.members) == 2}
        tv_pairs = {r.members: r.pair_fsd for r in s.rows(mixer=tv_mix.label) if len(r.members) == 2}
        assert raw_pairs != tv_pairs  # the two views differ, so the check above could fail
