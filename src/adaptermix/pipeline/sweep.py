"""The sweep driver: plan every in-domain mixture, skip what the store has, run, write (PAPER.md §4).

For each target domain D among n adapters: D alone and D with every subset of the others
(n·2^(n−1) evaluations; 53,248 for n = 13), each on D's split with D's head. Results go to the
study's SQLite store chunk by chunk, so a killed sweep resumes where it stopped and a finished
row is never recomputed. `sampled` mode draws subsets per (target, k) until the mean is known to
the requested precision. `member_sets` replaces the enumeration by explicit member sets per target
(the Alg. 1 sets of the Sec. 7 stages).

Several sweeps may run on one store at once (issue 10): each chunk is claimed with a lease before it
is computed (`adaptermix.store.leases`), so they share the chunks instead of each computing every
row, and the chunks of a sweep that died are taken back. Chunks are cut from the full, deterministic
list of member sets (then stripped of stored rows), so every process names a chunk the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from adaptermix.analysis.fsd import fsd_matrix
from adaptermix.checkpoints import check_mixable
from adaptermix.errors import ConfigError
from adaptermix.evaluation.backends import LocalBackend, get_backend
from adaptermix.evaluation.engine import Chunk, MixResult, WorkerConfig
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.pipeline.adapters import read_adapters, study_names, sweep_dirs
from adaptermix.pipeline.progress import Display, Stage
from adaptermix.store import AdapterRef, EvalRow, Store, StudyMeta, pack_correct
from adaptermix.store.leases import DEFAULT_TTL, Claim, Leases


class SweepConfig(BaseModel):
    """One sweep (CLI flags → this → `run_sweep`).

    Attributes:
        adapters: a folder of checkpoint directories, or the checkpoint directories themselves.
        domains: PEFT / AdapterHub adapter directories by domain (`--domain NAME=DIR`): those formats
            record no domain, so each is named here; it joins the sweep (whether or not `adapters` also
            holds it), read as `adaptermix import` would, and is named in the store after its domain.
        targets: target domains (default: every adapter's domain).
        k_min, k_max: mixture sizes to evaluate (default: 1..n).
        ci: sampled mode: stop drawing for a (target, k) once the 95 % confidence half-width of
            its mean accuracy is at most this many points (finite-population corrected).
        draw_seed: sampled mode: the seed of the order in which member sets are drawn (was `seed`).
        chunk_size: mixtures per unit of work (and per store transaction).
        spec: how every mixture is scored (split, budget, precision, mixers, conditions); one frozen
            object, carried to the workers as it is.
        member_sets: explicit member sets per target (target name → sets of adapter names, each
            containing the target) instead of every subset; `sizes`, `k_min`, `k_max` and `mode`
            are then ignored and `targets` defaults to its keys.
        lease_ttl: seconds a chunk's lease outlives its owner (the owner renews it while alive).
        label: how the study names itself in reports (stored in its `StudyMeta`; default `<encoder>/<method>`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    adapters: tuple[Path, ...] = ()
    store: Path
    domains: dict[str, Path] | None = None  # domain → PEFT / AdapterHub directory (they record none)
    targets: tuple[str, ...] | None = None
    k_min: int = Field(default=1, ge=1)
    k_max: int | None = Field(default=None, ge=1)
    sizes: tuple[int, ...] | None = None  # explicit mixture sizes (e.g. (1, n)); overrides k_min/k_max
    mode: Literal["exhaustive", "sampled"] = "exhaustive"
    ci: float = Field(default=1.0, gt=0)
    min_samples: int = Field(default=3, ge=2)
    draw_seed: int = 0  # sampled mode: the seed of the order in which member sets are drawn
    spec: EvalSpec = EvalSpec()
    backend: str = "local"
    workers: int = Field(default=1, ge=1)
    gpus_per_worker: float = Field(default=0.0, ge=0)  # Ray only: GPUs each actor reserves
    chunk_size: int = Field(default=16, ge=1)
    compile: bool = False
    cache_dir: Path | None = None
    progress: bool = True
    member_sets: dict[str, tuple[tuple[str, ...], ...]] | None = None
    lease_ttl: float = Field(default=DEFAULT_TTL, gt=0)
    label: str = ""  # how the study names itself in reports (default: `<encoder>/<method>`)

    @model_validator(mode="before")
    @classmethod
    def _renamed_seed(cls, data: Any) -> Any:
        """`seed` is the old name of `draw_seed` (one release, with a warning): `seed` meant four things."""
        if isinstance(data, dict) and "seed" in data:
            from adaptermix.deprecation import warn_renamed

            if "draw_seed" in data:
                raise ValueError("seed is the old name of draw_seed: give draw_seed only")
            warn_renamed("seed", "draw_seed")
            data = {("draw_seed" if k == "seed" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _some_adapters(self) -> SweepConfig:
        if not self.adapters and not self.domains:
            raise ValueError("no adapters given: pass --adapters DIR (ours) or --domain NAME=DIR (PEFT, AdapterHub)")
        return self


@dataclass
class SweepSummary:
    """What a sweep did."""

    store: Path
    exhaustive_count: int  # evaluations an exhaustive sweep of the selected targets/k needs
    planned: int  # evaluations this run wanted (all of them, or the sampled ones)
    reused: int  # already in the store
    evaluated: int  # computed now
    seconds: float = 0.0
    tokens: int = 0
    interrupted: bool = False
    per_group: dict[tuple[str, int], int] = field(default_factory=dict)  # sampled: draws per (target, k)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")


def subsets_of(target: int, n: int, k: int) -> list[tuple[int, ...]]:
    """All member sets of size k that contain `target` (sorted tuples, lexicographic order)."""
    others = [i for i in range(n) if i != target]
    return [tuple(sorted((target, *rest))) for rest in itertools.combinations(others, k - 1)]


def chunk_id(mixer: str, condition: str, target: str, members: Sequence[str]) -> str:
    """The lease id of a chunk: its labels, target and every member key of the full chunk (24 hex)."""
    text = "|".join([mixer, condition, target, *members])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


Work = tuple[str, Chunk]
"""A chunk id (the same in every process) and the chunk holding only its rows not yet stored."""


def half_width(acc: Sequence[float], population: int) -> float:
    """95 % confidence half-width of the mean of `acc` drawn without replacement from `population`.

    Student's t with m − 1 degrees of freedom (not the normal 1.96): with the handful of draws a
    small (target, k) group gets, the normal quantile stops too early (measured on the quickstart:
    a 3.3-point error at a ±1-point target). The finite-population correction makes it 0 once
    the whole group is drawn.
    """
    from scipy.stats import t as student_t

    m = len(acc)
    if m >= population:
        return 0.0
    if m < 2:
        return math.inf
    sd = float(np.std(acc, ddof=1))
    fpc = math.sqrt((population - m) / (population - 1))
    return float(student_t.ppf(0.975, m - 1)) * sd / math.sqrt(m) * fpc


def _order(seed: int, target: str, k: int, n: int) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{target}|{k}|{n}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class _Run:
    """Shared state of one sweep run: names, S, store, backend and the bookkeeping."""

    def __init__(self, cfg: SweepConfig, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        # The backend first: an unknown backend or a missing Ray must fail before any file is made.
        self.backend = get_backend(cfg.backend, cfg.workers, cfg.gpus_per_worker)
        dirs = sweep_dirs(list(cfg.adapters), cfg.domains)
        self.ckpts = read_adapters(dirs)
        check_mixable(self.ckpts)
        self.names = study_names(self.ckpts)
        self.n = len(self.ckpts)
        targets = cfg.targets or tuple(self.names)
        unknown = [t for t in targets if t not in self.names]
        if unknown:
            raise ConfigError(f"target {unknown[0]!r} has no adapter; adapters: {', '.join(self.names)}")
        self.targets = [self.names.index(t) for t in targets]
        self.member_sets = self._member_sets(cfg.member_sets)
        if cfg.member_sets is not None and not cfg.targets:
            self.targets = list(self.member_sets)
        self.k_max = min(cfg.k_max or self.n, self.n)
        if cfg.k_min > self.k_max:
            raise ConfigError(f"--k {cfg.k_min}..{cfg.k_max} is empty for {self.n} adapters")
        self.S = fsd_matrix([c.adapter for c in self.ckpts])
        self.spec = cfg.spec
        # The study-level part of the spec keys the store; the precision each worker actually used
        # is stored per row (`auto` may resolve to bf16 on a GPU actor and fp32 on a CPU driver).
        eval_config = cfg.spec.study_config()
        refs = tuple(AdapterRef(nm, c.manifest.adapter_sha256, str(c.path))
                     for nm, c in zip(self.names, self.ckpts, strict=True))
        meta = StudyMeta(
            adapters=refs,
            eval_config=eval_config, base_fingerprint=self.ckpts[0].manifest.base.fingerprint,
            method=self.ckpts[0].manifest.method, encoder=self.ckpts[0].manifest.base.encoder, label=cfg.label,
        )
        self.worker_config = WorkerConfig(
            paths=tuple(str(p) for p, _ in dirs), spec=cfg.spec,
            domains=tuple((str(p), d) for p, d in dirs if d is not None),
            cache_dir=None if cfg.cache_dir is None else str(cfg.cache_dir), compile=cfg.compile,
        )
        # (mixer index, condition index) pairs: every mixture is scored by each mixer under each condition.
        self.pairs = cfg.spec.pairs()  # every mixer × condition, less what a condition's `mixers` excludes
        self.store = Store.open(cfg.store, meta)
        try:
            self.store.set_fsd_matrix(self.names, self.S)
            self.done = {(mi, ci): self.store.done_keys(self.spec.conditions[ci].label, self.spec.mixers[mi].label)
                         for mi, ci in self.pairs}
            self.leases = Leases(cfg.store, meta.eval_config_hash, cfg.lease_ttl, clock=clock)
        except BaseException:
            self.store.close()
            raise
        self.sleep = sleep
        # (attack on the adapter alone, target) already counted, for the progress ETA's cost bookkeeping
        self.crafts_planned: set[tuple[object, int]] = set()
        self.crafts_done: set[tuple[object, int]] = set()

    def _member_sets(self, given: dict[str, tuple[tuple[str, ...], ...]] | None) -> dict[int, list[tuple[int, ...]]]:
        """Explicit sets as sorted index tuples per target index (validated), or {} when none are given."""
        out: dict[int, list[tuple[int, ...]]] = {}
        for target, sets in (given or {}).items():
            if target not in self.names:
                raise ConfigError(f"member set target {target!r} has no adapter; adapters: {', '.join(self.names)}")
            rows: list[tuple[int, ...]] = []
            for members in sets:
                unknown = [m for m in members if m not in self.names]
                if unknown:
                    raise ConfigError(f"member {unknown[0]!r} of a set for {target} has no adapter; "
                                      f"adapters: {', '.join(self.names)}")
                if target not in members or len(set(members)) != len(members):
                    raise ConfigError(f"member set {'+'.join(members)} for {target} must contain {target} "
                                      "and name each adapter once")
                idx = tuple(sorted(self.names.index(m) for m in members))
                if idx not in rows:
                    rows.append(idx)
            out[self.names.index(target)] = rows
        return out

    def close(self) -> None:
        self.leases.close()
        self.store.close()

    def cost(self, condition: int, target: int, sizes: Iterable[int], crafted: set[tuple[object, int]]) -> float:
        """Expected cost of rows of one target under one condition (their mixture sizes), in clean scorings, for
        the progress ETA (`ConditionSpec.cost`, as the dry run counts it): an attack row costs far more than a
        clean one, and the attack on the target's adapter alone is counted the first time `crafted` sees it."""
        cond = self.spec.conditions[condition]
        total = once = 0.0
        for k in sizes:
            per_mixture, per_target = cond.cost(self.spec.max_examples, k)
            total += per_mixture
            once = max(once, per_target)
        if once and (cond.alone_attack(), target) not in crafted:
            crafted.add((cond.alone_attack(), target))
            total += once
        return total

    def add_total(self, stage: Stage, todo: Sequence[Work]) -> None:
        stage.add_total(sum(len(c.subsets) for _, c in todo),
                        work=sum(self.cost(c.condition, c.target, map(len, c.subsets), self.crafts_planned)
                                 for _, c in todo))

    def key(self, target: int, members: tuple[int, ...]) -> str:
        return f"{self.names[target]}|{self.members_key(members)}"

    def members_key(self, members: tuple[int, ...]) -> str:
        return "+".join(sorted(self.names[i] for i in members))

    def work(self, mi: int, ci: int, target: int, subsets: Sequence[tuple[int, ...]],
             stored: Container[str]) -> Iterator[Work]:
        """Chunks of `subsets` cut in order (ids from the full chunk), without the sets whose row key is `stored`."""
        size = self.cfg.chunk_size
        for i in range(0, len(subsets), size):
            full = tuple(subsets[i : i + size])
            fresh = tuple(s for s in full if self.key(target, s) not in stored)
            if fresh:
                cid = chunk_id(self.spec.mixers[mi].label, self.spec.conditions[ci].label, self.names[target],
                               [self.members_key(s) for s in full])
                yield cid, Chunk(target, fresh, mi, ci)

    def row(self, r: MixResult) -> EvalRow:
        mix, cond = self.spec.mixers[r.mix], self.spec.conditions[r.condition]
        # Every sign statistic in the row's own view (the worker computed them beside flip_fraction).
        return EvalRow(
            target=self.names[r.target], members=tuple(self.names[i] for i in r.members), condition=cond.label,
            accuracy=r.accuracy, macro_f1=r.macro_f1, n_examples=r.n_examples, pair_fsd=r.pair_fsd,
            flip_fraction=r.flip_fraction, mean_pairwise_fsd=r.mean_pairwise_fsd, seconds=r.seconds, tokens=r.tokens,
            mixer=mix.label, mixer_params=mix.as_json(), condition_params=cond.as_json(), precision=r.precision,
            mixture_fsd=r.mixture_fsd, metrics=r.metrics or None,
            correct=None if r.correct is None else pack_correct(r.correct),
        )

    def execute(self, work: Sequence[Work], summary: SweepSummary, stage: Stage) -> dict[tuple[int, int, str], float]:
        """Run chunks, upsert each as it finishes; returns (mixer, condition, key) → accuracy of every row.

        Each chunk is claimed first (`Leases.claim`): a chunk another live sweep holds is skipped and
        retried after the rest, until its rows are stored by that sweep or its lease expires.
        """
        got: dict[tuple[int, int, str], float] = {}
        pending = list(work)
        if not pending:
            return got
        if isinstance(self.backend, LocalBackend):  # an in-process worker can say how far a long row is
            self.backend.progress = stage.note
        self.leases.start_heartbeat()
        poll = min(5.0, self.cfg.lease_ttl / 4)
        while pending:
            deferred: list[Work] = []
            by_chunk: dict[tuple[int, int, int, tuple[tuple[int, ...], ...]], str] = {}
            by_others: list[Chunk] = []

            def claimed(todo: list[Work], deferred: list[Work] = deferred,
                        by_chunk: dict[tuple[int, int, int, tuple[tuple[int, ...], ...]], str] = by_chunk,
                        by_others: list[Chunk] = by_others) -> Iterator[Chunk]:
                for cid, chunk in todo:
                    mix, cond = self.spec.mixers[chunk.mix].label, self.spec.conditions[chunk.condition].label
                    keys = [self.members_key(s) for s in chunk.subsets]
                    state = self.leases.claim(cid, mix, cond, self.names[chunk.target], keys)
                    if state is Claim.CLAIMED:
                        by_chunk[(chunk.mix, chunk.condition, chunk.target, chunk.subsets)] = cid
                        yield chunk
                    elif state is Claim.DONE:  # another sweep stored it meanwhile
                        by_others.append(chunk)
                        summary.reused += len(chunk.subsets)
                        stage.update(len(chunk.subsets), work=self.cost(chunk.condition, chunk.target,
                                                                        map(len, chunk.subsets), self.crafts_done))
                    else:
                        deferred.append((cid, chunk))

            before, start = summary.seconds, time.perf_counter()
            for results in self.backend.map(self.worker_config, claimed(pending)):
                rows = [self.row(r) for r in results]
                self.store.upsert(rows)  # one transaction per chunk: a kill loses at most this chunk
                first = results[0]
                cid = by_chunk.pop((first.mix, first.condition, first.target, tuple(r.members for r in results)))
                self.leases.release(cid)
                for r, row in zip(results, rows, strict=True):
                    got[(r.mix, r.condition, row.key)] = r.accuracy
                    summary.tokens += r.tokens
                summary.evaluated += len(results)
                summary.seconds = before + time.perf_counter() - start
                sizes = [len(r.members) for r in results]
                stage.update(len(results), work=self.cost(first.condition, first.target, sizes, self.crafts_done),
                             tok_s=f"{summary.tokens_per_s:.0f}")
            if by_others:
                got.update(self._stored(by_others))
            pending = deferred
            if pending:
                self.sleep(poll)
        return got

    def _stored(self, chunks: Sequence[Chunk]) -> dict[tuple[int, int, str], float]:
        """Accuracies of the rows of `chunks` that another sweep stored."""
        out: dict[tuple[int, int, str], float] = {}
        for mi, ci in {(c.mix, c.condition) for c in chunks}:
            rows = {r.key: r.accuracy for r in self.store.rows(condition=self.spec.conditions[ci].label,
                                                              mixer=self.spec.mixers[mi].label)}
            for c in chunks:
                if (c.mix, c.condition) == (mi, ci):
                    for s in c.subsets:
                        out[(mi, ci, self.key(c.target, s))] = rows[self.key(c.target, s)]
        return out


def run_sweep(cfg: SweepConfig, stage: Stage | None = None, *, clock: Callable[[], float] = time.time,
              sleep: Callable[[float], None] = time.sleep) -> SweepSummary:
    """Run (or resume) a sweep; see the module docstring.

    Args:
        cfg: the sweep.
        stage: the progress display of the calling study's stage (default: one of its own,
            shown unless `cfg.progress` is False).
        clock, sleep: wall clock and wait, for the chunk leases (injectable: tests move time).

    Raises:
        ConfigError / CheckpointError / StoreError: bad adapters, targets, k range, member sets, or a
            store of another study.
    """
    run = _Run(cfg, clock, sleep)
    try:
        sizes: Sequence[int] = range(cfg.k_min, run.k_max + 1)
        if cfg.sizes is not None:
            bad = [k for k in cfg.sizes if not 1 <= k <= run.n]
            if bad:
                raise ConfigError(f"mixture size {bad[0]} is outside 1..{run.n}")
            sizes = sorted(set(cfg.sizes))
        sets = {t: run.member_sets.get(t, []) if run.member_sets
                else [s for k in sizes for s in subsets_of(t, run.n, k)] for t in run.targets}
        # Every (mixer, condition) pair over the subsets of the sizes its condition scores (an attack may
        # score k = 1, 2 and n only).
        exhaustive = sum(cfg.spec.conditions[ci].scores_size(len(m), run.n)
                         for _, ci in run.pairs for subsets in sets.values() for m in subsets)
        summary = SweepSummary(store=cfg.store, exhaustive_count=exhaustive, planned=0, reused=0, evaluated=0)
        own = stage is None
        if stage is None:
            stage = Display(enabled=cfg.progress).stage("sweep" if cfg.mode == "exhaustive" else "sweep (sampled)")
        try:
            if cfg.mode == "exhaustive" or run.member_sets:
                _exhaustive(run, sets, summary, stage)
            else:
                _sampled(run, sizes, summary, stage)
        except KeyboardInterrupt:
            summary.interrupted = True
        finally:
            if own:
                stage.close()
    finally:
        run.close()
    return summary


def _exhaustive(run: _Run, sets: dict[int, list[tuple[int, ...]]], summary: SweepSummary, stage: Stage) -> None:
    todo: list[Work] = []
    for mi, ci in run.pairs:
        done = run.done[(mi, ci)]
        cond = run.spec.conditions[ci]
        for t in run.targets:
            subsets = [s for s in sets[t] if cond.scores_size(len(s), run.n)]
            summary.planned += len(subsets)
            work = list(run.work(mi, ci, t, subsets, done))
            summary.reused += len(subsets) - sum(len(c.subsets) for _, c in work)
            todo.extend(work)
    run.add_total(stage, todo)
    run.execute(todo, summary, stage)


@dataclass
class _Group:
    """Sampled-mode state of one (target, k): its subsets in draw order and what was drawn."""

    order: list[tuple[int, ...]]
    acc: list[float] = field(default_factory=list)

    @property
    def drawn(self) -> int:
        return len(self.acc)


def _sampled(run: _Run, sizes: Sequence[int], summary: SweepSummary, stage: Stage) -> None:
    """Per (target, k): draw subsets in a seeded random order until the CI half-width ≤ cfg.ci points."""
    cfg = run.cfg
    labels = {(run.spec.mixers[mi].label, run.spec.conditions[ci].label): (mi, ci) for mi, ci in run.pairs}
    known: dict[tuple[int, int, str], float] = {
        (*labels[(r.mixer, r.condition)], r.key): r.accuracy
        for r in run.store.rows(condition=None, mixer=None) if (r.mixer, r.condition) in labels
    }
    groups: dict[tuple[int, int, int, int], _Group] = {}
    for mi, ci in run.pairs:
        for t in run.targets:
            for k in sizes:
                if not run.spec.conditions[ci].scores_size(k, run.n):
                    continue
                subsets = subsets_of(t, run.n, k)
                # The same draw order for every mixer and condition: their groups are paired samples.
                order = _order(cfg.draw_seed, run.names[t], k, run.n).permutation(len(subsets))
                groups[(mi, ci, t, k)] = _Group([subsets[i] for i in order])
    while True:
        wanted: list[tuple[_Group, tuple[int, int, int], list[tuple[int, ...]]]] = []
        for (mi, ci, t, _k), g in groups.items():
            if half_width(g.acc, len(g.order)) * 100 <= cfg.ci:
                continue
            step = max(cfg.min_samples - g.drawn, 2)
            wanted.append((g, (mi, ci, t), g.order[g.drawn : g.drawn + step]))
        if not wanted:
            break
        todo: list[Work] = []
        have: dict[tuple[int, int], set[str]] = {pair: set() for pair in run.pairs}
        for mi, ci, key in known:
            have[(mi, ci)].add(key)
        for _g, (mi, ci, t), subsets in wanted:
            work = list(run.work(mi, ci, t, subsets, have[(mi, ci)]))
            summary.reused += len(subsets) - sum(len(c.subsets) for _, c in work)
            todo.extend(work)
        run.add_total(stage, todo)
        known.update(run.execute(todo, summary, stage))
        for g, (mi, ci, t), subsets in wanted:
            g.acc.extend(known[(mi, ci, run.key(t, s))] for s in subsets)
    for (mi, ci, t, k), g in groups.items():
        if mi == 0 and ci == 0:
            summary.per_group[(run.names[t], k)] = g.drawn
    summary.planned = sum(g.drawn for g in groups.values())
