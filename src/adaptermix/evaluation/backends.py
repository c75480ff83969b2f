"""Where sweep chunks run: in this process, in local worker processes, or on a Ray cluster (`ray_backend`).

Every backend takes the same `WorkerConfig` and chunks and yields lists of `MixResult` as chunks
finish (in any order); the driver writes them to the store. Each worker holds one model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from multiprocessing import get_context
from typing import Protocol

from adaptermix.errors import ConfigError
from adaptermix.evaluation.engine import Chunk, MixResult, SweepWorker, WorkerConfig
from adaptermix.registry import Registry


class Backend(Protocol):
    """Runs chunks on workers built from one `WorkerConfig`."""

    def map(self, config: WorkerConfig, chunks: Iterable[Chunk]) -> Iterator[list[MixResult]]: ...


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


class LocalBackend:
    """One worker in this process, or `workers` spawned processes with one model each."""

    def __init__(self, workers: int = 1, gpus_per_worker: float = 0.0) -> None:
        del gpus_per_worker  # local workers see every GPU of the machine
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self._worker: SweepWorker | None = None
        # In-process only: where a long row (a TextFooler crafting) says how far it is. Worker processes
        # report when their rows end, as Ray actors do.
        self.progress: Callable[[str], None] | None = None

    def map(self, config: WorkerConfig, chunks: Iterable[Chunk]) -> Iterator[list[MixResult]]:
        # Chunks are pulled only as workers free up: the sweep claims a chunk's lease as it pulls it.
        if self.workers == 1:
            if self._worker is None or self._worker.config != config:
                self._worker = SweepWorker(config)
            self._worker.progress = self.progress
            for chunk in chunks:
                yield self._worker.run(chunk)
            return
        config = replace(config, threads=config.threads or _threads_per_worker(self.workers))
        # spawn, not fork: forking a process that already runs torch threads can deadlock.
        with ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"), initializer=_init_process,
                                 initargs=(config,)) as pool:
            pending: set[Future] = set()
            queue = iter(chunks)
            more = True
            try:
                while True:
                    while more and len(pending) < 2 * self.workers:
                        item = next(queue, None)
                        if item is None:
                            more = False
                        else:
                            pending.add(pool.submit(_run_in_process, item))
                    if not pending:
                        break
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            finally:
                for fut in pending:
                    fut.cancel()


_PROCESS_WORKER: SweepWorker | None = None


def _init_process(config: WorkerConfig) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = SweepWorker(config)


def _run_in_process(chunk: Chunk) -> list[MixResult]:
    assert _PROCESS_WORKER is not None, "worker process was not initialised"
    return _PROCESS_WORKER.run(chunk)


class RayBackend:
    """`workers` Ray actors, each holding one model, on the cluster named by RAY_ADDRESS (else a local Ray).

    The cluster's free resources decide how many actors start (fewer than asked is said in one line); a
    chunk goes only to an actor that is placed and loaded, and the chunks of a lost actor go to the others
    (`adaptermix.evaluation.ray_backend`).
    """

    def __init__(self, workers: int = 1, num_gpus_per_worker: float = 0.0,
                 num_cpus_per_worker: float | None = None) -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ConfigError("the ray backend needs Ray: pip install 'adaptermix[ray]'") from exc
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        self.workers = workers
        self.cpus = num_cpus_per_worker
        self.gpus = num_gpus_per_worker

    def map(self, config: WorkerConfig, chunks: Iterable[Chunk]) -> Iterator[list[MixResult]]:
        # Like the process pool, at most two chunks per actor are in flight: the sweep claims a chunk's
        # lease only as it is pulled, so another sweep on the same store can take the rest.
        from adaptermix.evaluation.ray_backend import run_chunks

        return run_chunks(SweepWorker, config, chunks, self.workers, self.cpus, self.gpus)


BACKENDS: Registry[Callable[[int, float], Backend]] = Registry("sweep backend")
BACKENDS.register("local", LocalBackend)
BACKENDS.register("ray", RayBackend)


def get_backend(name: str, workers: int = 1, gpus_per_worker: float = 0.0) -> Backend:
    """A backend by name (`local`, `ray`) with `workers` workers (Ray actors reserve `gpus_per_worker`)."""
    return BACKENDS.get(name)(workers, gpus_per_worker)
