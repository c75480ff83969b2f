"""Reliability: a sweep killed with SIGKILL at random points resumes to exactly the uninterrupted table."""

from __future__ import annotations

import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adaptermix.evaluation.spec import EvalSpec, mix_specs
from adaptermix.pipeline.sweep import SweepConfig, run_sweep
from adaptermix.store import Store
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train
from conftest import toy_rows

N_DOMAINS = 5


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_encoders, cache_dir) -> Path:
    root = tmp_path_factory.mktemp("killstudy")
    for i in range(N_DOMAINS):
        path = root / f"d{i}.csv"
        rows = toy_rows(1500, seed=100 + i)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
        train(TrainConfig(domain=str(path), out=root / "adapters" / f"d{i}", method="pfeiffer",
                          encoder=str(tiny_encoders["bert"]), preset="quickstart", seed=i, adapter_size=8,
                          max_steps=5, max_length=32, cache_dir=cache_dir, progress=False))
    return root / "adapters"


def _count(store: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=0.1)
        try:
            return con.execute("SELECT count(*) FROM evaluations").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


def _argv(adapters: Path, store: Path, cache_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from adaptermix.cli.main import main; main()", "sweep", "--adapters",
            str(adapters), "--store", str(store), "--max-length", "32", "--chunk-size", "1",
            "--precision", "fp32", "--cache-dir", str(cache_dir), "--quiet", *extra]


MIXERS = ("--mixers", "average,ties", "--density", "0.5")


def test_sigkill_at_random_points_then_resume_equals_uninterrupted(adapters, cache_dir, tmp_path):
    # Two mixers in one store: a kill must lose no row and duplicate none of either mixer.
    total = 2 * N_DOMAINS * 2 ** (N_DOMAINS - 1)
    reference = tmp_path / "reference.sqlite"
    spec = EvalSpec(max_length=32, precision="fp32", mixers=mix_specs("average,ties", density=0.5))
    run_sweep(SweepConfig(adapters=(adapters,), store=reference, spec=spec, chunk_size=1, cache_dir=cache_dir,
                          progress=False))

    store = tmp_path / "killed.sqlite"
    rng = random.Random(20241122)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    kills_mid_run = 0
    for _attempt in range(6):
        before = _count(store)
        if before >= total - 2 or kills_mid_run >= 3:
            break
        threshold = rng.randint(before + 1, before + max(1, (total - before) // 2))
        proc = subprocess.Popen(_argv(adapters, store, cache_dir, *MIXERS), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while proc.poll() is None and _count(store) < threshold and time.monotonic() < deadline:
            time.sleep(0.002)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills_mid_run += 1
        proc.wait()
        assert _count(store) >= before  # committed rows survive a SIGKILL
    assert kills_mid_run >= 3, f"only {kills_mid_run} kills landed mid-run"

    resumed = subprocess.run(_argv(adapters, store, cache_dir, *MIXERS), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    dupes = con.execute("SELECT count(*) FROM (SELECT target, members, mixer, condition, eval_config_hash, "
                        "count(*) c FROM evaluations GROUP BY 1, 2, 3, 4, 5 HAVING c > 1)").fetchone()[0]
    con.close()
    assert dupes == 0
    with Store.read(reference) as ref, Store.read(store) as got:
        want = {(r.mixer, r.key): (r.accuracy, r.macro_f1, r.n_examples, r.flip_fraction)
                for r in ref.rows(mixer=None)}
        have = {(r.mixer, r.key): (r.accuracy, r.macro_f1, r.n_examples, r.flip_fraction)
                for r in got.rows(mixer=None)}
    assert len(want) == total
    assert have == want


# The Ctrl-C test must interrupt a sweep that is still running. Racing a polling loop against the
# sweep is not enough: with the CPU busy the sweep can finish (exit 0) before the signal lands. So the
# sweep runs with a gate: after GATE_ROWS rows are committed, `Store.upsert` writes GATE_FILE and then
# waits until it is interrupted. The sweep cannot finish before the signal, and the signal lands at a
# known point (between chunks, with exactly GATE_ROWS rows stored), so every assertion is exact.
_GATED_MAIN = """
import os, pathlib, signal, time
# A terminal's Ctrl-C reaches a process whose SIGINT is neither ignored nor blocked. A child of the test
# process inherits the test process's signal mask and ignored signals, which libraries loaded by earlier
# tests may have changed, so start from a terminal's state.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
signal.signal(signal.SIGINT, signal.default_int_handler)
from adaptermix.store import Store

real_upsert = Store.upsert
stored = 0

def gated_upsert(self, rows, *args, **kwargs):
    global stored
    real_upsert(self, rows, *args, **kwargs)
    stored += len(rows)
    if stored >= int(os.environ["GATE_ROWS"]):
        pathlib.Path(os.environ["GATE_FILE"]).write_text(str(stored))
        while True:  # a user's Ctrl-C ends this wait
            time.sleep(0.01)

Store.upsert = gated_upsert
import faulthandler
faulthandler.register(signal.SIGUSR1, all_threads=True)  # the test asks for every stack if Ctrl-C hangs
from adaptermix.cli.main import main
main()
"""
GATE_ROWS = 3


def test_ctrl_c_stops_cleanly_and_resume_completes(adapters, cache_dir, tmp_path):
    total = N_DOMAINS * 2 ** (N_DOMAINS - 1)
    store, gate = tmp_path / "interrupted.sqlite", tmp_path / "gate"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GATE_ROWS": str(GATE_ROWS), "GATE_FILE": str(gate)}
    argv = [sys.executable, "-c", _GATED_MAIN, *_argv(adapters, store, cache_dir)[3:]]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while proc.poll() is None and not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    if not gate.exists():
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the sweep never reached the gate (exit {proc.returncode}): {err[-2000:]}")
    assert proc.poll() is None  # held at the gate: it cannot have finished
    status = Path(f"/proc/{proc.pid}/status")
    signals = [ln for ln in status.read_text().splitlines() if ln.startswith("Sig")] if status.exists() else []
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack to stderr
        time.sleep(2)
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the sweep did not stop within 120 s of Ctrl-C ({'; '.join(signals)}); its threads:\n"
                    f"{err[-6000:]}")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    stored = _count(store)
    assert stored == GATE_ROWS < total  # every committed chunk kept, nothing after the interrupt
    resumed = subprocess.run(_argv(adapters, store, cache_dir), env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{stored} already stored" in resumed.stdout
    assert _count(store) == total
