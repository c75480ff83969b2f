"""A Ray cluster started as a user starts one, kept on loopback, for tests/test_ray_cluster.py.

`ray start --head`, then each worker node `ray start --address ...` as a process of its own with its own
`--num-cpus`, with token authentication on (Ray 2.60's default for `ray start`): the head and the drivers
get the token as RAY_AUTH_TOKEN, the worker nodes as a token file (RAY_AUTH_TOKEN_PATH), the two ways
docs/ray.md describes.

Why a network namespace: Ray binds the machine's network address even when given `--node-ip-address
127.0.0.1`. In a namespace of its own, where `lo` is the only interface, every node is 127.0.0.1 and no
packet leaves the machine (../shared/DATA.md, "Ray on these machines"). One `unshare -n` process holds
the namespace for the cluster's life; every node and driver enters it with `nsenter --net`. Its ports
are private too, so two test sessions on one machine never collide.

Why sessions: each node is `ray start --block` in a session of its own. Its GCS (on the head), raylet
and every worker process the raylet spawns keep that session id, so `kill_node` stops exactly that
node, by the pids of its processes, and `close` stops every process the cluster started.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adaptermix.evaluation.engine import Chunk, MixResult, WorkerConfig

PORT = 6379
BIN = Path(sys.executable).parent
# Fail fast in tests: a dead node is declared dead after ~1.5 s of missed health checks, not ~15 s.
FAST_HEALTH = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
               "RAY_health_check_timeout_ms": "500"}


class ClusterUnavailable(RuntimeError):
    """Ray cannot start here (no permission for a network namespace, no `ray` command)."""


@dataclass
class Node:
    """One `ray start --block` process; the node is every process of its session."""

    proc: subprocess.Popen[bytes]
    cpus: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def session_pids(sid: int) -> list[int]:
    """Pids of every live (not zombie) process whose session id is `sid` (a node's processes)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields 3 and 6 of /proc/PID/stat: state and session id (field 2, the name, may hold spaces).
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


def check_namespaces() -> None:
    """Raise `ClusterUnavailable` unless this process may make a loopback-only network namespace."""
    if not (BIN / "ray").exists():
        raise ClusterUnavailable(f"no `ray` command in {BIN} (install the dev extras)")
    for tool in ("unshare", "nsenter", "ip"):
        if shutil.which(tool) is None:
            raise ClusterUnavailable(f"`{tool}` is not installed")
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode:
        raise ClusterUnavailable(f"cannot make a network namespace ({probe.stderr.strip() or 'unshare -n failed'}); "
                                 "the cluster tests need root, as on CI")


class RayCluster:
    """A head node and worker nodes (`cpus` each, the head first) in a loopback-only namespace.

    Use as a context manager. `env` is what a driver needs (RAY_ADDRESS and the token).
    """

    def __init__(self, cpus: Sequence[int] = (1, 1)) -> None:
        check_namespaces()
        self.cpus = tuple(cpus)
        # A short path: Ray's unix sockets live under it, and a socket path has at most 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="amray-", dir="/tmp"))
        self.token = secrets.token_hex(32)
        self.token_file = self.root / "auth_token"
        self.token_file.write_text(self.token)
        self.address = f"127.0.0.1:{PORT}"
        self.nodes: list[Node] = []
        self._holder: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment of a driver of this cluster: its address and token (as RAY_AUTH_TOKEN)."""
        return {**os.environ, "RAY_ADDRESS": self.address, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def __enter__(self) -> RayCluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        # The holder keeps the namespace alive; `exec cat` ends when our end of its stdin closes, so
        # the namespace cannot outlive this process even if `close` never runs.
        self._holder = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && exec cat"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self._holder.stdout is not None
        if self._holder.stdout.readline().strip() != b"up":
            raise ClusterUnavailable("the network namespace did not come up")
        for cpus in self.cpus:
            self.add_node(cpus)

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` run inside the cluster's network namespace."""
        assert self._holder is not None, "the cluster is not started"
        return ["nsenter", f"--net=/proc/{self._holder.pid}/ns/net", *argv]

    def popen(self, argv: Sequence[str], env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[str]:
        """A process (a driver) in the namespace, with the cluster's driver environment by default."""
        return subprocess.Popen(self.command(argv), env=self.env if env is None else env, text=True,
                                **kw)  # type: ignore[call-overload]

    def add_node(self, cpus: int) -> Node:
        """Start the head (first call) or a worker node joining it, and wait until the cluster lists it."""
        head = not self.nodes
        log = self.root / f"node{len(self.nodes)}.log"
        env = {**os.environ, **FAST_HEALTH, "RAY_AUTH_MODE": "token", "RAY_USAGE_STATS_ENABLED": "0"}
        if head:
            env["RAY_AUTH_TOKEN"] = self.token
            where = ["--head", f"--port={PORT}", f"--temp-dir={self.root / 'ray'}", "--include-dashboard=false"]
        else:
            env.pop("RAY_AUTH_TOKEN", None)
            env["RAY_AUTH_TOKEN_PATH"] = str(self.token_file)
            where = [f"--address={self.address}"]
        argv = [str(BIN / "ray"), "start", *where, f"--num-cpus={cpus}", "--num-gpus=0", "--block",
                "--disable-usage-stats"]
        with log.open("wb") as out:
            proc = subprocess.Popen(self.command(argv), env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        node = Node(proc, cpus, log)
        self.nodes.append(node)
        self._wait_started(node)
        return node

    def _wait_started(self, node: Node, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"Ray runtime started" in node.log.read_bytes():
                return
            if node.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise ClusterUnavailable(f"a Ray node did not start: {node.log.read_text(errors='replace')[-2000:]}")

    def kill_node(self, node: Node) -> None:
        """SIGKILL every process of `node` (its raylet, its workers, the GCS if it is the head)."""
        # Again until none is left: a raylet may fork a worker while its session is being killed.
        deadline = time.monotonic() + 30
        while (pids := session_pids(node.pid)) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            node.proc.poll()  # reap the `ray start` process, the session's leader
            time.sleep(0.05)
        node.proc.wait()
        self.nodes.remove(node)

    def actor_pids(self) -> list[int]:
        """Pids of the live Ray actor processes on the cluster's nodes (Ray titles them `ray::ClassName`)."""
        pids = []
        for node in self.nodes:
            for pid in session_pids(node.pid):
                with contextlib.suppress(OSError):
                    if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_Actor"):
                        pids.append(pid)
        return pids

    def wait_for_no_actors(self, timeout: float = 60.0) -> None:
        """Until the actors of a killed driver are gone (Ray ends them when it sees the driver die), so
        the next driver finds the cluster's CPUs free."""
        deadline = time.monotonic() + timeout
        while self.actor_pids():
            if time.monotonic() > deadline:
                raise TimeoutError(f"Ray actors still alive {timeout:.0f} s after their driver died")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every node (workers first), then the namespace holder; remove the temporary folder."""
        for node in reversed(list(self.nodes)):
            self.kill_node(node)
        if self._holder is not None and self._holder.poll() is None:
            assert self._holder.stdin is not None
            self._holder.stdin.close()
            self._holder.wait()
        shutil.rmtree(self.root, ignore_errors=True)


# The driver of the fault tests: `python tests/ray_cluster.py sweep ...` is `adaptermix sweep ...`, held after
# GATE_ROWS rows are stored. Held there, it has written GATE_FILE and hands out no chunk until RELEASE_FILE
# exists (or it is killed), so a test kills a node or the driver at a known point of the sweep: exactly
# GATE_ROWS rows stored, the rest still to do.
def _gated_main() -> None:
    from adaptermix.cli.main import main
    from adaptermix.store import Store

    real_upsert = Store.upsert
    stored = 0
    gate, release = int(os.environ.get("GATE_ROWS", "0")), os.environ.get("RELEASE_FILE", "")

    def gated_upsert(self: Store, rows: object, *args: object, **kwargs: object) -> None:
        nonlocal stored, gate
        real_upsert(self, rows, *args, **kwargs)  # type: ignore[arg-type]
        stored += len(rows)  # type: ignore[arg-type]
        if gate and stored >= gate:
            gate = 0
            Path(os.environ["GATE_FILE"]).write_text(str(stored))
            while not (release and Path(release).exists()):
                time.sleep(0.01)

    Store.upsert = gated_upsert  # type: ignore[method-assign]
    main(sys.argv[1:])


# `python tests/ray_cluster.py measure ADAPTERS`: what the Ray backend costs per evaluation (docs/ray.md). The
# same chunks, one worker of one thread each: in this process, then on a one-node loopback cluster (one
# actor of one CPU). Counted from the first result to the last, so start-up (the actor's process and model)
# is reported apart. Other work on the machine moves every timing, so the overhead is the driver's wall time
# less the compute time the worker itself measured (`MixResult.seconds`), both from the same run; rounds
# alternate the two backends and the median is printed. Then the same with a worker that computes nothing
# (canned results of the same size): Ray's own round trip per chunk.
class _Canned:
    """A worker that returns results of a real chunk's size without computing them."""

    def __init__(self, config: WorkerConfig) -> None:
        self.examples = config.spec.max_examples or 100

    def run(self, chunk: Chunk) -> list[MixResult]:
        import numpy as np

        from adaptermix.evaluation.engine import MixResult

        return [MixResult(chunk.target, s, 0.5, 0.5, self.examples, 0, 0, 0.0, 0.0,
                          correct=np.ones(self.examples, dtype=bool)) for s in chunk.subsets]


def _timed(results: Iterator[list[MixResult]]) -> tuple[float, float, float]:
    """(seconds to the first result, wall seconds per evaluation after it, worker seconds per evaluation)."""
    start, first, first_n, count, work = time.perf_counter(), 0.0, 0, 0, 0.0
    for out in results:
        count += len(out)
        if first_n:
            work += sum(r.seconds for r in out)
        else:
            first, first_n = time.perf_counter(), count
    steady = count - first_n
    return first - start, (time.perf_counter() - first) / steady, work / steady


def _measure(args: list[str]) -> None:
    import argparse
    from statistics import median

    from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig
    from adaptermix.evaluation.ray_backend import run_chunks
    from adaptermix.evaluation.spec import EvalSpec
    from adaptermix.pipeline.adapters import discover
    from adaptermix.pipeline.sweep import subsets_of

    parser = argparse.ArgumentParser(prog="ray_cluster.py measure")
    parser.add_argument("adapters", type=Path)
    parser.add_argument("--chunk-sizes", default="1,16")
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None)
    opts = parser.parse_args(args)
    if "RAY_ADDRESS" not in os.environ:  # start the cluster, then run this again inside its namespace
        with RayCluster(cpus=(1,)) as cluster:
            sys.exit(cluster.popen([sys.executable, __file__, "measure", *args]).wait())
    paths = discover([opts.adapters])
    n = len(paths)
    config = WorkerConfig(paths=tuple(map(str, paths)), threads=1,
                          spec=EvalSpec(max_examples=opts.max_examples, max_length=opts.max_length, precision="fp32"),
                          cache_dir=None if opts.cache_dir is None else str(opts.cache_dir))
    sets = {t: [s for k in range(1, n + 1) for s in subsets_of(t, n, k)] for t in range(n)}
    local = SweepWorker(config)
    print(f"{n * 2 ** (n - 1)} evaluations of {n} adapters, {opts.max_examples} examples each, 1 thread; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    for size in map(int, opts.chunk_sizes.split(",")):
        chunks = [Chunk(t, tuple(mine[i:i + size])) for t, mine in sets.items() for i in range(0, len(mine), size)]
        runs: dict[str, list[tuple[float, float, float]]] = {"in-process": [], "ray": [], "ray, no compute": []}
        for _ in range(opts.rounds):
            runs["in-process"].append(_timed(local.run(c) for c in chunks))
            runs["ray"].append(_timed(run_chunks(SweepWorker, config, chunks, workers=1)))
            runs["ray, no compute"].append(_timed(run_chunks(_Canned, config, chunks * 8, workers=1)))
        for name, got in runs.items():
            wall, work = median(r[1] for r in got), median(r[1] - r[2] for r in got)
            print(f"chunk size {size:>2}, {name:<15}: {1000 * wall:7.2f} ms per evaluation, of which not "
                  f"computing {1000 * work:+6.2f} ms; first result after {median(r[0] for r in got):5.1f} s",
                  flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        _measure(sys.argv[2:])
    else:
        _gated_main()
