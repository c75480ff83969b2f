"""A synthetic study store, for tests, docs and trying `adaptermix plot` without training adapters.

The adapters are random vectors with a shared component (so FSD varies between pairs); FSD, flip
fraction and mean pairwise FSD are computed from them exactly as Alg. 3 defines them (PAPER §6), and
accuracy falls with k and with the flip fraction plus noise — the qualitative shape of Figs. 3 and 6,
not a claim about any real model.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from adaptermix.signs import conflicts
from adaptermix.store.schema import AdapterRef, EvalRow, StudyMeta
from adaptermix.store.sqlite import Store

DEFAULT_DOMAINS = ("sst2", "imdb", "ag", "rte")


def _fsd(a: np.ndarray, b: np.ndarray) -> float:
    """Alg. 3 on two vectors, with the package's one sign rule (`adaptermix.signs`: a zero never conflicts)."""
    return conflicts(a, b) / a.size


def synthetic_study(
    domains: Sequence[str] = DEFAULT_DOMAINS, seed: int = 0, size: int = 4000, max_k: int | None = None
) -> tuple[StudyMeta, list[EvalRow], np.ndarray]:
    """Every in-domain mixture (n·2^(n−1) rows, or those with k ≤ max_k) of made-up adapters.

    Args:
        domains: adapter domain names.
        seed: RNG seed (the result is deterministic).
        size: parameters per synthetic adapter.
        max_k: keep only mixtures with at most this many adapters (a partial store).

    Returns:
        (meta, rows, S) with S the pairwise FSD matrix over `domains`.
    """
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=size)
    # Each adapter mixes the shared direction with its own noise; a different weight per domain
    # gives a spread of pairwise FSDs for the greedy selection to rank.
    mix = np.linspace(0.2, 0.9, len(domains))
    vecs = {d: w * shared + (1 - w) * rng.normal(size=size) for d, w in zip(domains, mix, strict=True)}
    names = list(domains)
    S = np.array([[_fsd(vecs[a], vecs[b]) for b in names] for a in names])
    meta = StudyMeta(
        adapters=tuple(AdapterRef(d, hashlib.sha256(vecs[d].tobytes()).hexdigest(), f"adapters/{d}") for d in names),
        eval_config={"split": "test", "max_examples": 200, "max_length": 64},
        base_fingerprint="synthetic-encoder",
        method="pfeiffer",
    )
    base_acc = {d: 0.80 + 0.15 * rng.random() for d in names}
    rows = []
    for target in names:
        others = [d for d in names if d != target]
        for r in range(len(others) + 1):
            if max_k is not None and r + 1 > max_k:
                break
            for extra in itertools.combinations(others, r):
                members = (target, *extra)
                mixed = np.mean([vecs[m] for m in members], axis=0)
                flip = _fsd(vecs[target], mixed)  # flip fraction = FSD(member, mixture), as `analysis.flip_fraction`
                pairs = [_fsd(vecs[a], vecs[b]) for a, b in itertools.combinations(members, 2)]
                acc = base_acc[target] - 0.03 * r - 0.3 * flip + rng.normal(scale=0.01)
                acc = float(np.clip(acc, 0.0, 1.0))
                rows.append(EvalRow(
                    target=target, members=members, condition="clean", accuracy=acc, macro_f1=acc - 0.02,
                    n_examples=200, pair_fsd=pairs[0] if r == 1 else None, flip_fraction=flip,
                    mean_pairwise_fsd=float(np.mean(pairs)) if pairs else None, seconds=0.01, tokens=200 * 32,
                ))
    return meta, rows, S


def write_synthetic_store(
    path: str | Path, domains: Sequence[str] = DEFAULT_DOMAINS, seed: int = 0, max_k: int | None = None,
    with_fsd: bool = True,
) -> Path:
    """Write `synthetic_study(...)` to a new store at `path` (and its FSD matrix unless `with_fsd` is False)."""
    meta, rows, S = synthetic_study(domains, seed=seed, max_k=max_k)
    with Store.open(path, meta) as store:
        store.upsert(rows)
        if with_fsd:
            store.set_fsd_matrix(list(domains), S)
    return Path(path)
