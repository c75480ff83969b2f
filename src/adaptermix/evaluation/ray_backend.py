"""Sweep chunks on a Ray cluster: workers where the cluster has room, lost ones replaced, their chunks redone.

What Ray does not do for us here, and why this module does it:
- **Placement.** An actor the cluster cannot place waits for resources forever, and a chunk handed to it
  waits with it (a sweep asked for two workers on a one-CPU cluster sat silent at 188 of 192 rows). So
  the backend starts only as many actors as the nodes' free resources hold, says so in one line when
  that is fewer than asked, and hands chunks only to actors that have been placed and have built their
  model.
- **Lost nodes.** Ray's own actor restarts re-queue a chunk on the same actor, which waits for a node
  that may never come back. Actors run without restarts instead: a chunk whose actor died (its node was
  killed, preempted or lost) goes back to the queue for another actor, the dead actor is dropped, and a
  replacement is started when the cluster has room. The driver writes a chunk's rows only when its
  result arrives, once, so a lost chunk is never half written and a redone one never written twice.
- **Joining a cluster** (`ray_connect`): an unreachable address or a refused token is one line, in seconds.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from adaptermix.errors import AdapterMixError
from adaptermix.evaluation.engine import Chunk, MixResult, WorkerConfig
from adaptermix.evaluation.ray_connect import RayClusterError, connect, note

__all__ = ["Placement", "RayClusterError", "connect", "fits", "place", "run_chunks"]

#: Chunks in flight per actor: one computing and one queued, so an actor never idles waiting for the driver.
SLOTS = 2
#: Workers a chunk may be lost with before the sweep stops (a chunk that kills every worker it meets is a bug).
MAX_LOSSES = 3
#: Seconds between looks at the cluster's free resources while the sweep has fewer workers than asked.
RECHECK_S = 5.0
#: Seconds the first worker ready waits for the others started with it before chunks are handed out.
START_WAIT_S = 30.0
#: Seconds the sweep waits without any worker (all lost, none placeable) before it gives up.
NO_WORKER_S = 300.0


# ---------------------------------------------------------------------------------------------------------
# Placement


@dataclass(frozen=True)
class Placement:
    """How many workers to start now (`room`: how many the free resources hold), and the CPUs each reserves."""

    count: int
    cpus: float
    room: int


def fits(free: Mapping[str, float], cpus: float, gpus: float) -> int:
    """How many workers of `cpus` CPUs and `gpus` GPUs a node with `free` resources holds."""
    n = int(free.get("CPU", 0.0) // cpus + 1e-9) if cpus > 0 else 10**9
    if gpus > 0:
        n = min(n, int(free.get("GPU", 0.0) // gpus + 1e-9))
    return n


def place(workers: int, free: Sequence[Mapping[str, float]], total: Sequence[Mapping[str, float]],
          cpus: float | None = None, gpus: float = 0.0) -> Placement:
    """Workers to start on nodes with `free` (now) and `total` resources; `cpus` each (default: a fair share).

    The default share is the free CPUs over the workers asked for, at least 1, and no more than the
    largest node has free: a worker cannot span nodes, so two one-CPU nodes hold two one-CPU workers and
    never one two-CPU worker.

    Raises:
        RayClusterError: no node of the cluster could ever hold one worker.
    """
    if cpus is None:
        share = sum(node.get("CPU", 0.0) for node in free) // workers
        largest = max((node.get("CPU", 0.0) for node in free), default=0.0)
        cpus = max(1.0, min(share, largest // 1))
    if not any(fits(node, cpus, gpus) for node in total):
        need = f"{cpus:g} CPU" + (f" and {gpus:g} GPU" if gpus else "")
        raise RayClusterError(f"no node of the Ray cluster has {need} for one worker: lower --gpus-per-worker "
                              "or add a node that has them")
    room = sum(fits(node, cpus, gpus) for node in free)
    # With no room now (other jobs hold every CPU) one worker still starts: Ray places it when room frees
    # up, and until then no chunk is handed out (only loaded workers get chunks).
    return Placement(count=max(1, min(workers, room)), cpus=cpus, room=room)


def _free_and_total() -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """Free and total resources of each live node."""
    import ray

    total = [dict(n["Resources"]) for n in ray.nodes() if n.get("Alive")]
    try:
        from ray._private.state import available_resources_per_node  # per node: a worker cannot span nodes

        free = [dict(r) for r in available_resources_per_node().values()]
    except Exception:  # an internal API: moved, or not served over Ray Client (ray://); the cluster as one node
        free = [dict(ray.available_resources())]
    return free, total


# ---------------------------------------------------------------------------------------------------------
# Workers


class _Actor:
    """The Ray actor: builds its worker (`factory(config)`, one model) on `load`, then runs chunks.

    Building is a call of its own, not `__init__`, so that "placed on a node" (`node` answers) and
    "ready for chunks" (`load` returns) are two events the driver can tell apart, and an error while
    building reaches the driver as the worker's own exception.
    """

    def __init__(self, factory: Callable[[WorkerConfig], Any], config: WorkerConfig) -> None:
        self.factory, self.config = factory, config
        self.worker: Any = None

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def load(self) -> None:
        self.worker = self.factory(self.config)

    def run(self, chunk: Chunk) -> list[MixResult]:
        return list(self.worker.run(chunk))


@dataclass(eq=False)
class _Worker:
    """One actor as the pool sees it: its node once placed, its chunks in flight, whether it was lost."""

    handle: Any
    node: str = ""
    busy: int = 0
    lost: bool = False


@dataclass
class _Tally:
    """What the pool did, for the closing line."""

    per_node: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    redone: int = 0


class _Pool:
    """Actors of one sweep: started, placed, loaded, handed chunks, lost, replaced."""

    def __init__(self, factory: Callable[[WorkerConfig], Any], config: WorkerConfig, placement: Placement,
                 workers: int, gpus: float, clock: Callable[[], float] = time.monotonic) -> None:
        import ray

        self.ray = ray
        # No Ray restarts or task retries: a restarted actor waits for room that may never come back, with
        # the chunk queued on it. The pool retries a lost chunk on another actor instead.
        self.actor_cls = ray.remote(num_cpus=placement.cpus, num_gpus=gpus, max_restarts=0,
                                    max_task_retries=0)(_Actor)
        self.factory, self.config, self.placement, self.target, self.gpus = factory, config, placement, workers, gpus
        self.clock = clock
        self.placing: dict[Any, _Worker] = {}  # ref of `node()` -> worker not yet placed
        self.loading: dict[Any, _Worker] = {}  # ref of `load()` -> worker building its model
        self.ready: list[_Worker] = []
        self.inflight: dict[Any, tuple[_Worker, Chunk]] = {}
        self.again: deque[Chunk] = deque()
        self.losses: Counter[Chunk] = Counter()
        self.tally = _Tally()
        self.alone_since: float | None = None  # when the pool last found itself without any worker
        self.started = False  # chunks are handed out (see `_may_start`)
        self.first_ready: float | None = None
        self.began = clock()
        self.last_look = clock()
        for _ in range(placement.count):
            self._start()

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _start(self) -> None:
        handle: Any = self.actor_cls.remote(self.factory, self.config)  # type: ignore[attr-defined]
        worker = _Worker(handle)
        self.placing[handle.node.remote()] = worker

    def _workers(self) -> list[_Worker]:
        return [*self.placing.values(), *self.loading.values(), *self.ready]

    def _lose(self, worker: _Worker, exc: BaseException) -> None:
        """Drop a dead (or unreachable) actor; its other chunks come back one by one as their calls fail."""
        for table in (self.placing, self.loading):
            for ref in [r for r, w in table.items() if w is worker]:
                del table[ref]
        if worker in self.ready:
            self.ready.remove(worker)
        if worker.lost:
            return
        worker.lost = True
        self.tally.lost += 1
        with contextlib.suppress(Exception):  # already dead, or its node unreachable
            self.ray.kill(worker.handle, no_restart=True)
        where = f" on node {worker.node[:8]}" if worker.node else ""
        first = str(exc).strip().splitlines()
        reason = f"{type(exc).__name__}: {first[0][:120]}" if first else type(exc).__name__
        left = f"the {len(self.ready)} worker(s) left" if self.ready else "a new worker once the cluster has room"
        note(f"lost a worker{where} ({reason}); its chunks go to {left}")

    def _redo(self, chunk: Chunk, exc: BaseException) -> None:
        self.losses[chunk] += 1
        if self.losses[chunk] >= MAX_LOSSES:
            raise RayClusterError(f"a chunk of target #{chunk.target} was lost with {MAX_LOSSES} workers in a row "
                                  f"(last: {type(exc).__name__}); rows finished so far are stored: check the "
                                  "nodes' memory and logs, then run the same command again to resume") from exc
        self.again.append(chunk)
        self.tally.redone += 1

    def close(self) -> None:
        for worker in self._workers():
            with contextlib.suppress(Exception):
                self.ray.kill(worker.handle, no_restart=True)

    # -- the loop -----------------------------------------------------------------------------------------
    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[MixResult]]:
        """Results of every chunk of `chunks`, as they finish; a chunk is pulled only when an actor has room."""
        source = iter(chunks)
        more = True
        while True:
            more = self._hand_out(source, more)
            if not more and not self.inflight and not self.again:
                return
            waiting = [*self.inflight, *self.placing, *self.loading]
            if waiting:
                done, _ = self.ray.wait(waiting, num_returns=1, timeout=RECHECK_S)
            else:
                done = []
                time.sleep(RECHECK_S)
            for ref in done:
                yield from self._finish(ref)
            self._look_after()

    def _may_start(self) -> bool:
        """Whether chunks may be handed out: every worker started with the sweep is ready (or lost), or the
        first one has waited START_WAIT_S for the rest.

        Why wait: workers load their model in seconds, while a chunk of a small sweep takes milliseconds; the
        first worker ready would take every chunk before the others load, and the sweep would run on one
        node of many. A worker slower than START_WAIT_S joins when it is ready.
        """
        if self.started:
            return True
        if not self.ready:
            return False
        if self.first_ready is None:
            self.first_ready = self.clock()
        if (self.placing or self.loading) and self.clock() - self.first_ready < START_WAIT_S:
            return False
        self.started = True
        nodes = len({w.node for w in self.ready})
        note(f"{len(self.ready)} worker(s) ready on {nodes} node(s) ({self.placement.cpus:g} CPU each) after "
             f"{self.clock() - self.began:.1f} s")
        return True

    def _hand_out(self, source: Iterator[Chunk], more: bool) -> bool:
        """Fill every ready actor's free slots: redone chunks first, then new ones; False once `source` is empty."""
        if not self._may_start():
            return more
        for worker in self.ready:
            while worker.busy < SLOTS:
                if self.again:
                    chunk = self.again.popleft()
                else:
                    pulled = next(source, None) if more else None
                    if pulled is None:
                        more = False
                        break
                    chunk = pulled
                self.inflight[worker.handle.run.remote(chunk)] = (worker, chunk)
                worker.busy += 1
        return more

    def _finish(self, ref: Any) -> Iterator[list[MixResult]]:
        ray = self.ray
        lost_types = (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError, ray.exceptions.ObjectLostError)
        if ref in self.placing:
            worker = self.placing.pop(ref)
            try:
                worker.node = ray.get(ref)
            except lost_types as exc:
                self._lose(worker, exc)
                return
            self.loading[worker.handle.load.remote()] = worker
        elif ref in self.loading:
            worker = self.loading.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise _cause(exc) from None
            except lost_types as exc:
                self._lose(worker, exc)
                return
            self.ready.append(worker)
        else:
            worker, chunk = self.inflight.pop(ref)
            worker.busy -= 1
            try:
                results = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise _cause(exc) from None
            except lost_types as exc:
                self._lose(worker, exc)
                self._redo(chunk, exc)
                return
            self.tally.per_node[worker.node] += 1
            yield results

    def _look_after(self) -> None:
        """Replace lost workers when the cluster has room; give up after NO_WORKER_S without any."""
        now = self.clock()
        alive = self._workers()
        if alive:
            self.alone_since = None
        elif self.alone_since is None:
            self.alone_since = now
            note(f"no worker left; waiting up to {NO_WORKER_S:.0f} s for the cluster to have room for one "
                 f"({self.placement.cpus:g} CPU)")
        elif now - self.alone_since > NO_WORKER_S:
            raise RayClusterError(f"no Ray worker for {NO_WORKER_S:.0f} s: the cluster has no room for one "
                                  f"({self.placement.cpus:g} CPU); rows finished so far are stored: run the same "
                                  "command again once it has")
        if len(alive) >= self.target or self.placing or now - self.last_look < RECHECK_S:
            return
        self.last_look = now
        free, _ = _free_and_total()
        room = sum(fits(node, self.placement.cpus, self.gpus) for node in free)
        for _ in range(min(room, self.target - len(alive))):
            self._start()


def _cause(exc: Any) -> BaseException:
    """A user error raised in a worker (a checkpoint missing on its node) as itself, so the CLI prints its one
    line; anything else stays Ray's error, whose message carries the worker's traceback (a bug keeps it)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, AdapterMixError) else exc


def run_chunks(factory: Callable[[WorkerConfig], Any], config: WorkerConfig, chunks: Iterable[Chunk], workers: int,
               cpus: float | None = None, gpus: float = 0.0) -> Iterator[list[MixResult]]:
    """Run `chunks` on up to `workers` Ray actors built by `factory(config)`; yield results as chunks finish.

    Joins the cluster named by RAY_ADDRESS (or starts a local Ray), starts the workers the cluster has
    room for (saying so when that is fewer than asked), and redoes the chunks of workers that are lost.

    Raises:
        RayClusterError: the cluster cannot be reached or refused the token, has no node for a worker,
            lost every worker for good, or lost one chunk with MAX_LOSSES workers.
    """
    import ray

    connect(os.environ.get("RAY_ADDRESS"))
    free, total = _free_and_total()
    placement = place(workers, free, total, cpus, gpus)
    free_cpus = sum(node.get("CPU", 0.0) for node in free)
    if placement.room == 0:
        note(f"the cluster has no room free for a worker now ({placement.cpus:g} CPU each, {free_cpus:g} CPU free): "
             "starting one that waits for room; chunks go out once it is placed")
    elif placement.count < workers:
        note(f"the cluster has room for {placement.count} of the {workers} workers asked for "
             f"({placement.cpus:g} CPU each, {free_cpus:g} CPU free): running on {placement.count}; more join if "
             "room frees up")
    config = replace(config, threads=config.threads or max(1, int(placement.cpus)))
    pool = _Pool(factory, config, placement, workers, gpus)
    try:
        yield from pool.run(chunks)
    except ray.exceptions.RayError as exc:
        if isinstance(exc, ray.exceptions.RayTaskError):  # a worker's own error (`_cause`)
            raise
        # Not a lost worker (the pool redoes those) but the cluster itself failing, e.g. its head gone.
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise RayClusterError(f"the Ray cluster failed during the sweep ({type(exc).__name__}: {first}); finished "
                              "chunks are stored: run the same command again to resume") from exc
    finally:
        pool.close()
    tally = pool.tally
    if tally.per_node:
        spread = " + ".join(str(n) for n in sorted(tally.per_node.values(), reverse=True))
        lost = f"; {tally.lost} worker(s) lost, {tally.redone} chunk(s) redone" if tally.lost else ""
        note(f"{sum(tally.per_node.values())} chunks on {len(tally.per_node)} node(s) ({spread}){lost}")
