"""Weights, not only members, against ground truth: the part of `advisor_regret.py --weights` that runs models.

For the surrogate's recommended member set of each target and k, the CMA-ES weights are searched on
the target's validation examples (`adaptermix.advice.collect.search_member_weights`, exactly what
`adaptermix advise --weights` runs), then the weighted mixture is scored on the store's test examples
(real forward passes, the store's precision) and compared, example by example, with

- the uniform mixture of the same set (scored here too, in the same pass order; its agreement with
  the store's own correctness bits is printed as a check), and
- the best uniform subset of the same size (the store's oracle: chosen on the very test examples, so
  an optimistic bar), and
- the target's adapter alone (k = 1, the store's row): in partners mode the objective is the target's
  own accuracy, and the weights may simply return to it,

with 90 % paired bootstrap intervals over test examples.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.advice.api import ranked
from adaptermix.advice.signals import Signals
from adaptermix.advice.strategies import surrogate
from adaptermix.advice.tables import cell, mask_of
from adaptermix.advice.weights import WeightSearchSpec


@dataclass(frozen=True)
class WeightRow:
    """One (target, k): the weighted mixture against the uniform same set and the best uniform subset."""

    target: str
    k: int
    members: tuple[str, ...]
    weights: tuple[float, ...]
    val_loss_uniform: float
    val_loss: float
    test_uniform: float
    test_weighted: float
    test_best_uniform: float
    best_members: tuple[str, ...]
    vs_uniform: tuple[float, float, float]  # (mean difference, 5 %, 95 %) in points
    vs_best: tuple[float, float, float]
    test_alone: float
    vs_alone: tuple[float, float, float]
    store_agreement: float  # share of test examples where our uniform pass matches the store's bits
    tokens: int
    seconds: float


def paired_bootstrap(a: np.ndarray, b: np.ndarray, draws: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a − b over examples (points) and its 90 % percentile bootstrap interval, resampling examples."""
    diff = 100 * (np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1)
    return float(diff.mean()), float(np.quantile(means, 0.05)), float(np.quantile(means, 0.95))


def weight_rows(adapters: Path, domains: Sequence[str], truth: np.ndarray, correct: dict[tuple[int, int], np.ndarray],
                signals: Signals, targets: int, sizes: Sequence[int], spec: WeightSearchSpec, max_length: int,
                n_test: dict[str, int], precision: str, progress: Any = print) -> list[WeightRow]:
    """Search, score on test and compare, for the first `targets` targets and each k in `sizes`."""
    from adaptermix.advice.collect import search_member_weights, validation_probe
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator
    from adaptermix.mixing import mix

    ckpts = read_mixable([adapters / d for d in domains])
    evaluator = Evaluator.for_checkpoint(ckpts[0], max_length)
    scores = surrogate(signals)
    names = list(domains)
    out = []
    for t in range(min(targets, len(names))):
        # Ground truth: the benchmark reads test, the advisor's search never does.
        test = evaluator.target(names[t], "test", n_test[names[t]])
        for k in sizes:
            start = time.perf_counter()
            rec = ranked(signals, scores, t, k)[0]
            members = [names.index(m) for m in rec.members]
            got = search_member_weights(ckpts, names, evaluator, t, members, spec)
            res = got["result"]
            adapters_k = [ckpts[j].adapter for j in members]
            _, uniform_bits, _ = validation_probe(evaluator, mix(adapters_k, "average"), ckpts[t], test, names[t],
                                                  precision)
            _, weighted_bits, used = validation_probe(evaluator, mix(adapters_k, "weighted", res.weights), ckpts[t],
                                                      test, names[t], precision)
            masks, acc = cell(truth, t, k)
            best = masks[int(np.argmax(acc))]
            stored = correct.get((t, mask_of(members)))
            agreement = float(np.mean(stored == uniform_bits)) if stored is not None else float("nan")
            best_bits = correct[(t, best)]
            alone_bits = correct[(t, 1 << t)]
            out.append(WeightRow(
                names[t], k, rec.members, res.weights, res.uniform_loss, res.loss, float(uniform_bits.mean()),
                float(weighted_bits.mean()), float(best_bits.mean()),
                tuple(sorted(names[i] for i in range(len(names)) if best >> i & 1)),
                paired_bootstrap(weighted_bits, uniform_bits), paired_bootstrap(weighted_bits, best_bits),
                float(alone_bits.mean()), paired_bootstrap(weighted_bits, alone_bits), agreement,
                got["tokens"] + 2 * used, time.perf_counter() - start))
            progress(f"weights: {names[t]} k={k} done in {out[-1].seconds:.0f} s")
    return out


def ci_text(x: tuple[float, float, float]) -> str:
    """`+d [lo, hi] better|worse|tie` of a (mean difference, 5 %, 95 %) triple in points."""
    verdict = "better" if x[1] > 0 else "worse" if x[2] < 0 else "tie"
    return f"{x[0]:+.2f} [{x[1]:+.2f}, {x[2]:+.2f}] {verdict}"


def weights_table(rows: Sequence[WeightRow]) -> list[str]:
    """Markdown: one line per (target, k), then the means."""
    lines = ["| target | k | members | weights | val. loss uniform → weighted | test uniform % | test weighted % | "
             "weighted − uniform (pts, 90 % CI) | best uniform subset % | weighted − best (pts, 90 % CI) | "
             "alone % | weighted − alone (pts, 90 % CI) | store agreement |",
             "|---|---:|---|---|---|---:|---:|---|---:|---|---:|---|---:|"]
    for r in rows:
        lines.append(f"| {r.target} | {r.k} | {' + '.join(r.members)} | {', '.join(f'{w:.2f}' for w in r.weights)} | "
                     f"{r.val_loss_uniform:.3f} → {r.val_loss:.3f} | {100 * r.test_uniform:.2f} | "
                     f"{100 * r.test_weighted:.2f} | {ci_text(r.vs_uniform)} | {100 * r.test_best_uniform:.2f} | "
                     f"{ci_text(r.vs_best)} | {100 * r.test_alone:.2f} | {ci_text(r.vs_alone)} | "
                     f"{100 * r.store_agreement:.1f} % |")
    if rows:
        def summary(side: str) -> str:
            x = [getattr(r, side) for r in rows]
            return (f"{np.mean([v[0] for v in x]):+.2f} ({sum(v[1] > 0 for v in x)} better, "
                    f"{sum(v[2] < 0 for v in x)} worse)")

        lines.append(f"| *mean over {len(rows)}* | | | | | | | {summary('vs_uniform')} | | {summary('vs_best')} | | "
                     f"{summary('vs_alone')} | |")
    return lines
