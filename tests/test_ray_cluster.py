"""Sweeps on a Ray cluster started as a user starts one (tests/ray_cluster.py), on loopback only.

A head and a worker node of one CPU each, token authentication on: the sweep spreads over both nodes and
stores exactly the rows of a one-process sweep; a worker node killed mid-sweep costs no row and
duplicates none; a killed driver resumes; more workers than the cluster holds run on what it holds; a
driver that cannot join says so in one line. Skipped only where Ray cannot start (no `ray`, or no
permission for a network namespace: CI runs as root).
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adaptermix.evaluation.ray_backend import RayClusterError, connect, place
from adaptermix.pipeline.sweep import SweepConfig, run_sweep
from adaptermix.store import Store
from conftest import train_toy_adapters
from ray_cluster import ClusterUnavailable, RayCluster

DOMAINS = ("d0", "d1", "d2")
TOTAL = len(DOMAINS) * 2 ** (len(DOMAINS) - 1)  # 12 mixtures, one per chunk
GATE = 4  # rows stored when a test kills a node or the driver: at most 4 more in flight, so chunks are left
HELPER = str(Path(__file__).with_name("ray_cluster.py"))
RUN_S = 240  # a sweep here takes ~20 s; this only bounds a hang


@pytest.fixture(scope="module")
def adapters(tmp_path_factory, tiny_encoders, cache_dir) -> Path:
    return train_toy_adapters(tmp_path_factory.mktemp("raystudy"), DOMAINS, tiny_encoders["bert"], cache_dir,
                              max_steps=4)


@pytest.fixture(scope="module")
def reference(adapters, cache_dir, tmp_path_factory) -> dict[str, tuple[float, float, int]]:
    """The rows of a one-process sweep."""
    from adaptermix.evaluation.spec import EvalSpec

    store = tmp_path_factory.mktemp("rayref") / "reference.sqlite"
    run_sweep(SweepConfig(adapters=(adapters,), store=store, spec=EvalSpec(max_length=32, precision="fp32"),
                          chunk_size=1, cache_dir=cache_dir, progress=False))
    return _rows(store)


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray")
    try:
        running = RayCluster(cpus=(1, 1))
    except ClusterUnavailable as exc:  # only where Ray cannot start; a cluster that starts and fails, fails
        pytest.skip(f"Ray cannot start a loopback-only cluster here: {exc}")
    with running:
        yield running


@pytest.fixture
def two_nodes(cluster: RayCluster) -> RayCluster:
    """The cluster with its head and one worker node (a test before may have killed the worker node)."""
    while len(cluster.nodes) < 2:
        cluster.add_node(1)
    return cluster


def _rows(store: Path) -> dict[str, tuple[float, float, int]]:
    with Store.read(store) as s:
        return {r.key: (r.accuracy, r.macro_f1, r.n_examples) for r in s.rows()}


def _count(store: Path) -> int:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM evaluations").fetchone()[0]
    finally:
        con.close()


def _argv(adapters: Path, store: Path, cache_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, HELPER, "sweep", "--adapters", str(adapters), "--store", str(store), "--max-length",
            "32", "--precision", "fp32", "--chunk-size", "1", "--cache-dir", str(cache_dir), "--quiet",
            "--backend", "ray", *extra]


def _driver_env(cluster: RayCluster, tmp_path: Path, **extra: str) -> dict[str, str]:
    # A home of its own: a token Ray left in ~/.ray by another test must not stand in for the cluster's.
    return {**cluster.env, "HOME": str(tmp_path), "OMP_NUM_THREADS": "1", **extra}


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=RUN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the sweep did not finish within {RUN_S} s:\n{err[-4000:]}")
    return proc.returncode, out, err


def _run(cluster: RayCluster, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    return _finish(cluster.popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))


def _assert_complete(store: Path, reference: dict[str, tuple[float, float, int]]) -> None:
    con = sqlite3.connect(store)
    dupes = con.execute("SELECT count(*) FROM (SELECT target, members, mixer, condition, count(*) c "
                        "FROM evaluations GROUP BY 1, 2, 3, 4 HAVING c > 1)").fetchone()[0]
    con.close()
    assert dupes == 0
    assert _count(store) == TOTAL
    assert _rows(store) == reference


def _wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + RUN_S
    while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if not path.exists():
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the sweep never reached its gate (exit {proc.returncode}):\n{err[-4000:]}")


@contextlib.contextmanager
def _stopped(proc: subprocess.Popen[str]) -> Iterator[None]:
    """Kill the driver by its pid if the test fails while it runs (a gated driver would wait forever)."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _ours(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("adaptermix:")]


def test_a_killed_driver_resumes_on_both_nodes_to_the_rows_of_one_process(two_nodes, adapters, cache_dir,
                                                                         reference, tmp_path):
    store, gate = tmp_path / "killed-driver.sqlite", tmp_path / "gate"
    argv = _argv(adapters, store, cache_dir, "--workers", "2")
    env = _driver_env(two_nodes, tmp_path)
    proc = two_nodes.popen(argv, env={**env, "GATE_ROWS": str(GATE), "GATE_FILE": str(gate)},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with _stopped(proc):
        _wait_for(gate, proc)
        proc.kill()  # SIGKILL, by its pid, while GATE rows are stored and chunks are in flight
        proc.communicate()
    assert _count(store) == GATE
    two_nodes.wait_for_no_actors()

    # The resumed driver has the token only as a file, RAY_AUTH_MODE unset: it turns token mode on, as `ray start`.
    env = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    code, out, err = _run(two_nodes, argv, {**env, "RAY_AUTH_TOKEN_PATH": str(two_nodes.token_file)})
    assert code == 0, err
    assert f"{TOTAL - GATE} evaluated now, {GATE} already stored" in out
    said = _ours(err)
    assert any("2 worker(s) ready on 2 node(s)" in ln for ln in said), err
    assert any(f"{TOTAL - GATE} chunks on 2 node(s)" in ln for ln in said), err  # both nodes ran chunks
    _assert_complete(store, reference)


def test_more_workers_than_the_cluster_holds_and_a_lost_node(two_nodes, adapters, cache_dir, reference, tmp_path):
    # --workers 3 on two one-CPU nodes: two run, said in one line, and no chunk waits for the third. Then
    # the worker node is killed mid-sweep: the head's worker finishes, with every row stored once.
    store, gate, release = tmp_path / "killed-node.sqlite", tmp_path / "gate", tmp_path / "release"
    env = _driver_env(two_nodes, tmp_path, GATE_ROWS=str(GATE), GATE_FILE=str(gate), RELEASE_FILE=str(release))
    proc = two_nodes.popen(_argv(adapters, store, cache_dir, "--workers", "3"), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    with _stopped(proc):
        _wait_for(gate, proc)
        # Held at the gate: GATE rows stored, the rest to do, both workers holding chunks. The worker node
        # goes, all of it (raylet, worker processes), while the driver hands out nothing.
        two_nodes.kill_node(two_nodes.nodes[1])
        release.write_text("go")
        code, out, err = _finish(proc)
    assert code == 0, err
    assert "Traceback" not in err
    said = _ours(err)
    room = [ln for ln in said if "room for" in ln]
    assert len(room) == 1 and "2 of the 3 workers" in room[0], err
    assert len([ln for ln in said if "lost a worker" in ln]) == 1, err
    assert f"{TOTAL} evaluated now" in out
    _assert_complete(store, reference)


CANNOT_JOIN = {
    "no token": "needs token authentication",
    "wrong token": "refused this driver's token",
    "no cluster": "cannot reach the Ray cluster at 127.0.0.1:6390",
}


def test_a_driver_that_cannot_join_says_so_in_one_line(cluster, adapters, cache_dir, tmp_path):
    procs = {}
    started = time.monotonic()
    for case in CANNOT_JOIN:  # the three drivers at once: each spends its time importing, not waiting
        home = tmp_path / case.replace(" ", "-")
        home.mkdir()
        env = _driver_env(cluster, home)
        if case == "no token":
            env = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
        elif case == "wrong token":
            env["RAY_AUTH_TOKEN"] = "0" * 64
        else:
            env["RAY_ADDRESS"] = "127.0.0.1:6390"  # nothing listens there
        store = tmp_path / f"{case.replace(' ', '-')}.sqlite"
        procs[case] = cluster.popen(_argv(adapters, store, cache_dir), env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
    for case, proc in procs.items():
        code, _, err = _finish(proc)
        lines = [ln for ln in err.strip().splitlines() if ln]
        assert code == 2, f"{case}: {err}"
        assert len(lines) == 1 and "Traceback" not in err, f"{case}: {err}"
        assert CANNOT_JOIN[case] in lines[0], f"{case}: {lines[0]}"
    # Ray alone retries a refused token for 20 s and an unreachable address for minutes.
    assert time.monotonic() - started < 90


# Without a cluster: how many workers fit, and an address where nothing listens.
@pytest.mark.parametrize(("workers", "free", "want"), [
    (2, [{"CPU": 1}, {"CPU": 1}], (2, 1.0)),
    (3, [{"CPU": 1}, {"CPU": 1}], (2, 1.0)),  # the third has no room: it is not started
    (1, [{"CPU": 1}, {"CPU": 1}], (1, 1.0)),  # not one worker of 2 CPUs: a worker cannot span nodes
    (2, [{"CPU": 16}], (2, 8.0)),
    (2, [{"CPU": 0}, {"CPU": 0}], (1, 1.0)),  # busy now: one worker waits for room, no chunk waits on it
])
def test_place_starts_only_the_workers_the_nodes_hold(workers, free, want):
    placement = place(workers, free, [{"CPU": 1}, {"CPU": 1}] if len(free) == 2 else free)
    assert (placement.count, placement.cpus) == want


def test_place_refuses_a_worker_no_node_can_hold():
    with pytest.raises(RayClusterError, match="no node of the Ray cluster has 2 CPU and 1 GPU"):
        place(2, [{"CPU": 4}], [{"CPU": 4}], gpus=1.0)


def test_an_address_where_nothing_listens_fails_at_once(monkeypatch):
    ray = pytest.importorskip("ray")
    import socket

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # not token mode: that would change this process's environment

    with socket.socket() as s:  # a loopback port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not ray.is_initialized()
    started = time.monotonic()
    with pytest.raises(RayClusterError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        connect(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 10 and not ray.is_initialized()
