"""Two sweeps on one store share the chunks (issue 10): leases, a killed claimer, expiry by an injected clock."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adaptermix.evaluation.spec import EvalSpec
from adaptermix.pipeline.sweep import SweepConfig, chunk_id, run_sweep, subsets_of
from adaptermix.store import AdapterRef, EvalRow, Store, StudyMeta
from adaptermix.store.leases import Claim, Leases
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train
from conftest import toy_rows

DOMAINS = ("alpha", "beta", "gamma")
ROOT = Path(__file__).resolve().parents[1]


def _meta() -> StudyMeta:
    return StudyMeta(adapters=tuple(AdapterRef(d, f"sha-{d}", d) for d in DOMAINS), eval_config={"split": "test"},
                     base_fingerprint="fp", method="pfeiffer")


def _row(target: str, members: tuple[str, ...]) -> EvalRow:
    return EvalRow(target=target, members=members, condition="clean", accuracy=0.5, macro_f1=0.5, n_examples=4,
                   pair_fsd=None, flip_fraction=0.0, mean_pairwise_fsd=None, seconds=0.1, tokens=10)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid names no process now
    return proc.pid


def test_claim_busy_expiry_and_done(tmp_path):
    path = tmp_path / "s.sqlite"
    meta = _meta()
    Store.open(path, meta).close()
    now = [1000.0]
    a = Leases(path, meta.eval_config_hash, ttl=60, clock=lambda: now[0])
    b = Leases(path, meta.eval_config_hash, ttl=60, clock=lambda: now[0])
    b.host = "another-host"  # a claimer on another machine: only its expiry can free its chunks
    keys = ["alpha", "alpha+beta"]
    assert b.claim("c1", "average", "clean", "alpha", keys) is Claim.CLAIMED
    assert a.claim("c1", "average", "clean", "alpha", keys) is Claim.BUSY
    now[0] += 59
    b.renew()  # a live owner renews: still busy after the first expiry would have passed
    now[0] += 30
    assert a.claim("c1", "average", "clean", "alpha", keys) is Claim.BUSY
    now[0] += 61  # the owner stopped renewing (died): its lease expires
    assert a.claim("c1", "average", "clean", "alpha", keys) is Claim.CLAIMED
    with Store.open(path, meta) as store:
        store.upsert([_row("alpha", ("alpha",)), _row("alpha", ("alpha", "beta"))])
    a.release("c1")
    assert b.claim("c1", "average", "clean", "alpha", keys) is Claim.DONE
    a.close()
    b.close()
    with Store.read(path) as store:
        assert store._con.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_a_dead_claimer_on_this_host_is_stale_at_once(tmp_path):
    path = tmp_path / "s.sqlite"
    meta = _meta()
    Store.open(path, meta).close()
    mine = Leases(path, meta.eval_config_hash)
    with Store.open(path, meta) as store:
        store._con.execute("INSERT INTO leases VALUES ('c1', 'x:1:dead', ?, ?, ?)",
                           (_dead_pid(), mine.host, 4e9))
        store._con.execute("INSERT INTO leases VALUES ('c2', 'x:2:live', ?, ?, ?)", (os.getppid(), mine.host, 4e9))
    assert mine.claim("c1", "average", "clean", "alpha", ["alpha"]) is Claim.CLAIMED
    assert mine.claim("c2", "average", "clean", "alpha", ["alpha"]) is Claim.BUSY  # alive: our parent
    mine.close()


# -- with real sweeps on tiny adapters ---------------------------------------------------------------

@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_encoders, cache_dir) -> Path:
    root = tmp_path_factory.mktemp("lease-study")
    for i, name in enumerate(DOMAINS):
        data = root / f"{name}.csv"
        rows = toy_rows(80, seed=i)
        with data.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
        train(TrainConfig(domain=str(data), out=root / "adapters" / name, method="pfeiffer",
                          encoder=str(tiny_encoders["bert"]), preset="quickstart", seed=i, adapter_size=8,
                          max_steps=4, max_length=32, cache_dir=cache_dir, progress=False))
    return root / "adapters"


def _cfg(adapters: Path, store: Path, cache_dir: Path, **kw: object) -> SweepConfig:
    return SweepConfig(adapters=(adapters,), store=store, cache_dir=cache_dir, chunk_size=2, progress=False,
                       spec=EvalSpec(max_length=32, precision="fp32"), **kw)


def _all_chunk_ids(chunk_size: int) -> list[tuple[str, str]]:
    """(target, chunk id) of every chunk of an exhaustive average/clean sweep of DOMAINS, as the driver cuts them."""
    out = []
    n = len(DOMAINS)
    for t, target in enumerate(DOMAINS):
        sets = [s for k in range(1, n + 1) for s in subsets_of(t, n, k)]
        for i in range(0, len(sets), chunk_size):
            keys = ["+".join(sorted(DOMAINS[j] for j in s)) for s in sets[i : i + chunk_size]]
            out.append((target, chunk_id("average", "clean", target, keys)))
    return out


def test_chunks_of_a_killed_sweep_are_taken_back(adapters, cache_dir, tmp_path):
    store = tmp_path / "s.sqlite"
    run_sweep(_cfg(adapters, store, cache_dir, k_max=1))  # creates the store (and rows for k = 1)
    with Store.open(store, Store.read(store).meta) as s:
        dead = _dead_pid()
        host = Leases(store, s.meta.eval_config_hash).host
        s._con.executemany("INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?)",
                           [(cid, f"{host}:{dead}:gone", dead, host, 4e9) for _, cid in _all_chunk_ids(2)])
    summary = run_sweep(_cfg(adapters, store, cache_dir))
    assert summary.evaluated + summary.reused == 3 * 4 and summary.evaluated == 3 * 3
    with Store.read(store) as s:
        assert s.count() == 12
        assert s._con.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0


def test_a_live_foreign_lease_is_waited_for_until_it_expires(adapters, cache_dir, tmp_path):
    store = tmp_path / "s.sqlite"
    run_sweep(_cfg(adapters, store, cache_dir, k_max=1))
    (target, cid), *_ = _all_chunk_ids(2)
    with Store.open(store, Store.read(store).meta) as s:
        s._con.execute("INSERT INTO leases VALUES (?, 'far:1:x', 1, 'far-away-host', 1100.0)", (cid,))
    now, slept = [1000.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    summary = run_sweep(_cfg(adapters, store, cache_dir), clock=lambda: now[0], sleep=sleep)
    assert slept and now[0] >= 1100.0  # it waited for the expiry, not forever and not zero times
    assert summary.evaluated == 9 and not summary.interrupted
    with Store.read(store) as s:
        assert s.count() == 12


def test_two_sweep_processes_share_the_work(adapters, cache_dir, tmp_path):
    store = tmp_path / "s.sqlite"
    run_sweep(_cfg(adapters, store, cache_dir, k_max=1))  # the store exists before both start
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from adaptermix.evaluation.spec import EvalSpec\n"
        "from adaptermix.pipeline.sweep import SweepConfig, run_sweep\n"
        "a, s, c = map(Path, sys.argv[1:4])\n"
        "r = run_sweep(SweepConfig(adapters=(a,), store=s, cache_dir=c, chunk_size=1, progress=False,\n"
        "              spec=EvalSpec(max_length=32, precision='fp32')))\n"
        "print(json.dumps({'evaluated': r.evaluated, 'reused': r.reused}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(adapters), str(store), str(cache_dir)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    done = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    # Every missing row computed exactly once between them, whoever got which chunk.
    assert sum(d["evaluated"] for d in done) == 9
    with Store.read(store) as s:
        assert s.count() == 12
        dupes = s._con.execute("SELECT COUNT(*) FROM (SELECT target, members FROM evaluations "
                               "GROUP BY target, members, mixer, condition HAVING COUNT(*) > 1)").fetchone()[0]
        assert dupes == 0
