"""The sweep engine and driver on tiny BERT adapters: exactness, resumption, modes, backends."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from adaptermix.analysis.fsd import flip_fraction, fsd
from adaptermix.checkpoints import read_checkpoint
from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.mixing import average
from adaptermix.pipeline.sweep import SweepConfig, half_width, run_sweep, subsets_of
from adaptermix.store import Store, StoreError
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train
from conftest import toy_rows

DOMAINS = ("alpha", "beta", "gamma", "delta")


def _write_domain(path: Path, flavour: int) -> None:
    rows = toy_rows(160, seed=flavour)
    if flavour % 2:  # half the domains flip the task, so their adapters pull the other way
        rows = [{"text": r["text"], "label": "neg" if r["label"] == "pos" else "pos"} for r in rows]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_encoders, cache_dir) -> dict[str, Path]:
    """Four tiny Pfeiffer adapters, one per toy domain, in one folder."""
    root = tmp_path_factory.mktemp("study")
    data, ckpts = root / "data", root / "adapters"
    data.mkdir()
    for i, name in enumerate(DOMAINS):
        _write_domain(data / f"{name}.csv", i)
        train(TrainConfig(
            domain=str(data / f"{name}.csv"), out=ckpts / name, method="pfeiffer", encoder=str(tiny_encoders["bert"]),
            preset="quickstart", seed=i, adapter_size=8, learning_rate=5e-3, batch_size=16, epochs=3, max_steps=20,
            max_length=32, cache_dir=cache_dir, progress=False,
        ))
    return {"adapters": ckpts, "root": root}


def _cfg(study, cache_dir, store: Path, max_length: int = 32, **kw) -> SweepConfig:
    base = {"adapters": (study["adapters"],), "store": store, "cache_dir": cache_dir,
            "spec": EvalSpec(max_length=max_length, precision="fp32"), "progress": False, "chunk_size": 5}
    return SweepConfig(**{**base, **kw})


def test_subsets_enumerate_every_mixture_once():
    n = 5
    all_sets = [s for t in range(n) for k in range(1, n + 1) for s in subsets_of(t, n, k)]
    assert len(all_sets) == n * 2 ** (n - 1)
    for t in range(n):
        mine = [s for k in range(1, n + 1) for s in subsets_of(t, n, k)]
        assert len(set(mine)) == len(mine) == 2 ** (n - 1) and all(t in s for s in mine)


def test_half_width_shrinks_and_vanishes_at_the_full_population():
    acc = [0.5, 0.7, 0.6, 0.55]
    assert half_width(acc, 100) > half_width(acc * 3, 100) > 0
    assert half_width(acc, 4) == 0.0
    assert math.isinf(half_width([0.5], 10))


def test_engine_row_equals_evaluating_the_averaged_adapter(study, cache_dir):
    paths = sorted(str(p) for p in study["adapters"].iterdir())
    worker = SweepWorker(WorkerConfig(paths=tuple(paths), spec=EvalSpec(max_length=32, precision="fp32"),
                                      cache_dir=str(cache_dir)))
    members = (0, 2, 3)
    [res] = worker.run(Chunk(target=2, subsets=(members,)))
    ckpts = [read_checkpoint(p) for p in paths]
    mixture = average([ckpts[i].adapter for i in members])
    ev = Evaluator.for_checkpoint(ckpts[2], max_length=32, cache_dir=cache_dir)
    ref = ev.evaluate(mixture, ckpts[2].head, ev.target(ckpts[2].domain, "test"), head_key="x")
    assert (res.accuracy, res.macro_f1, res.n_examples) == (ref.accuracy, ref.macro_f1, ref.n)
    assert res.flip_fraction == pytest.approx(flip_fraction(ckpts[2].adapter, mixture), abs=1e-12)
    # The resident adapter now holds exactly the average.
    for key, live in worker.evaluator.slot_parameters().items():
        torch.testing.assert_close(live.detach(), mixture[key], rtol=0, atol=0)


def test_exhaustive_sweep_fills_the_store_and_resumes_without_recomputing(study, cache_dir, tmp_path):
    store = tmp_path / "study.sqlite"
    first = run_sweep(_cfg(study, cache_dir, store))
    n = len(DOMAINS)
    assert first.evaluated == first.planned == first.exhaustive_count == n * 2 ** (n - 1)
    second = run_sweep(_cfg(study, cache_dir, store))
    assert second.evaluated == 0 and second.reused == n * 2 ** (n - 1)
    with Store.read(store) as s:
        rows = s.rows()
        names, S = s.fsd_matrix()
    assert len(rows) == n * 2 ** (n - 1)
    assert len({r.key for r in rows}) == len(rows)
    ckpts = {p.name: read_checkpoint(p) for p in study["adapters"].iterdir()}
    for r in rows:
        assert r.target in r.members
        if r.k == 1:
            assert r.flip_fraction == 0.0 and r.pair_fsd is None and r.mean_pairwise_fsd is None
        if r.k == 2:
            other = next(m for m in r.members if m != r.target)
            assert r.pair_fsd == pytest.approx(fsd(ckpts[r.target].adapter, ckpts[other].adapter))
    assert S.shape == (n, n) and sorted(names) == sorted(DOMAINS)


def test_a_changed_chunk_size_on_resume_recomputes_no_finished_row(study, cache_dir, tmp_path):
    """Issue 19: chunks are cut anew with the new size, and only the rows missing from the store are run."""
    store = tmp_path / "study.sqlite"
    n = len(DOMAINS)
    first = run_sweep(_cfg(study, cache_dir, store, k_max=2, chunk_size=2))
    with Store.read(store) as s:
        before = {r.key: (r.seconds, r.accuracy) for r in s.rows()}
    resumed = run_sweep(_cfg(study, cache_dir, store, chunk_size=3))
    assert resumed.evaluated == n * 2 ** (n - 1) - first.evaluated and resumed.reused == first.evaluated
    with Store.read(store) as s:
        after = {r.key: (r.seconds, r.accuracy) for r in s.rows()}
    assert {k: after[k] for k in before} == before  # each finished row untouched (its timing included)


def test_store_of_another_eval_config_is_refused(study, cache_dir, tmp_path):
    store = tmp_path / "study.sqlite"
    run_sweep(_cfg(study, cache_dir, store, k_max=1))
    with pytest.raises(StoreError, match="eval config"):
        run_sweep(_cfg(study, cache_dir, store, k_max=1, max_length=24))


def test_sampled_mode_uses_fewer_evaluations_and_is_reproducible(study, cache_dir, tmp_path):
    a = run_sweep(_cfg(study, cache_dir, tmp_path / "a.sqlite", mode="sampled", ci=50.0, min_samples=2))
    b = run_sweep(_cfg(study, cache_dir, tmp_path / "b.sqlite", mode="sampled", ci=50.0, min_samples=2))
    assert a.planned < a.exhaustive_count
    assert a.per_group == b.per_group
    with Store.read(tmp_path / "a.sqlite") as sa, Store.read(tmp_path / "b.sqlite") as sb:
        assert {r.key: r.accuracy for r in sa.rows()} == {r.key: r.accuracy for r in sb.rows()}


def test_two_local_worker_processes_match_one(study, cache_dir, tmp_path):
    one = run_sweep(_cfg(study, cache_dir, tmp_path / "one.sqlite", k_max=2))
    two = run_sweep(_cfg(study, cache_dir, tmp_path / "two.sqlite", k_max=2, workers=2, chunk_size=2))
    assert one.evaluated == two.evaluated
    with Store.read(tmp_path / "one.sqlite") as s1, Store.read(tmp_path / "two.sqlite") as s2:
        assert {r.key: r.accuracy for r in s1.rows()} == {r.key: r.accuracy for r in s2.rows()}


@pytest.fixture(scope="module")
def ray_home(tmp_path_factory):
    """A local `ray.init()` writes its auth token to ~/.ray/auth_token: tests never write to the home folder.
    One home for the module, since Ray keeps the token it loaded first for the rest of the process."""
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        yield home


def test_ray_backend_matches_local(study, cache_dir, tmp_path, ray_home):
    ray = pytest.importorskip("ray")
    local = run_sweep(_cfg(study, cache_dir, tmp_path / "local.sqlite", k_min=2, k_max=3))
    try:
        remote = run_sweep(_cfg(study, cache_dir, tmp_path / "ray.sqlite", k_min=2, k_max=3, backend="ray",
                                workers=2, chunk_size=3))
    finally:
        ray.shutdown()
    assert remote.evaluated == local.evaluated
    with Store.read(tmp_path / "local.sqlite") as s1, Store.read(tmp_path / "ray.sqlite") as s2:
        assert {r.key: r.accuracy for r in s1.rows()} == {r.key: r.accuracy for r in s2.rows()}




def test_ray_backend_pulls_chunks_only_as_actors_free_up(monkeypatch, ray_home):
    # A sweep claims a chunk's lease when the backend pulls it: pulling every chunk up front would
    # keep a second sweep on the same store from sharing the work.
    ray = pytest.importorskip("ray")
    from dataclasses import dataclass

    from adaptermix.evaluation import backends

    @dataclass(frozen=True)
    class Config:
        threads: int = 1

    class Echo:  # defined here so that Ray ships it by value
        def __init__(self, config: Config) -> None:
            self.config = config

        def run(self, chunk: int) -> list[int]:
            return [chunk]

    monkeypatch.setattr(backends, "SweepWorker", Echo)
    pulled: list[int] = []

    def chunks():
        for i in range(12):
            pulled.append(i)
            yield i

    results: list[int] = []
    try:
        for out in backends.RayBackend(workers=2).map(Config(), chunks()):  # type: ignore[arg-type]
            assert len(pulled) <= len(results) + 1 + 2 * 2, "more than two chunks per actor in flight"
            results.extend(out)
    finally:
        ray.shutdown()
    assert sorted(results) == list(range(12))


def test_discover_skips_interrupted_temporary_directories(study, tmp_path):
    import shutil

    from adaptermix.pipeline.adapters import discover

    folder = tmp_path / "adapters"
    shutil.copytree(study["adapters"], folder)
    shutil.copytree(folder / "alpha", folder / ".alpha.x1y2.tmp")  # what a SIGKILL mid-write leaves
    assert [p.name for p in discover([folder])] == sorted(DOMAINS)


def test_unknown_backend_fails_before_the_store_is_created(study, cache_dir, tmp_path):
    from adaptermix.errors import ConfigError

    with pytest.raises(ConfigError, match="sweep backend"):
        run_sweep(_cfg(study, cache_dir, tmp_path / "s.sqlite", backend="slurm"))
    assert not (tmp_path / "s.sqlite").exists()
