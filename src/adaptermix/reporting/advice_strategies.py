"""The report's every-strategy tables: the advisor benchmark's view of this study, from stored results only.

The `advise:` stage stores every signal it gathered (`Signals.to_json`: the adapters' FSD and task-vector
cosine, the train-text similarity, and the validation evaluations when its strategy reads them) beside its
advice. Each registered strategy is a pure function of those signals (`adaptermix.advice.STRATEGIES`), so
the report can set every one of them against the stored exhaustive sweep, as
`benchmarks/advisor_regret.py` does: mean regret against the best stored set of each size, regret@3, hit
rate, Spearman ρ, and each strategy's serving partitions against the exact optimum. Nothing here runs a
model; the choices were made from weights, train and validation text only, and the test rows only score
them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from adaptermix.advice import STRATEGIES, Signals
from adaptermix.advice.clustering import PARTITIONERS
from adaptermix.advice.regret import (
    PartitionResult,
    evaluate_partitioners,
    evaluate_strategies,
    half_split_floor,
    partition_half_split_floor,
)
from adaptermix.advice.tables import mask_of, missing_entries, table_from_rows
from adaptermix.reporting.study import Study, correctness
from adaptermix.reporting.sweep_tables import Table


def stored_signals(advice: dict[str, Any]) -> Signals | None:
    """The signals the stage stored with its advice (None for advice stored before 2026-12-06)."""
    doc = advice.get("signals")
    return None if doc is None else Signals.from_json(doc)


def _truth(study: Study, mixer: str) -> tuple[np.ndarray, dict[tuple[int, int], np.ndarray], int, dict[str, int]]:
    domains = study.meta.domains
    index = {d: i for i, d in enumerate(domains)}
    rows = [r for r in study.sweep(mixer=mixer).rows if set(r.members) <= set(domains)]
    truth = table_from_rows(domains, ((r.target, r.members, r.accuracy) for r in rows))
    bits = {}
    for r in rows:
        vec = correctness(r)
        if vec is not None:
            bits[(index[r.target], mask_of(index[m] for m in r.members))] = vec
    return truth, bits, sum(int(r.tokens or 0) for r in rows), {r.target: int(r.n_examples) for r in rows}


def _mean_gap(parts: tuple[PartitionResult, ...]) -> float | None:
    return float(np.mean([100 * (p.optimum - p.reached) for p in parts])) if parts else None


def strategy_tables(study: Study, advice: dict[str, Any]) -> tuple[list[Table], list[str]]:
    """The partners and partitions tables of every strategy the stored signals allow, and notes for the section.

    Returns ([], [why]) when the advice holds no signals or the sweep is not exhaustive (the regrets need
    every in-domain mixture).
    """
    signals = stored_signals(advice)
    if signals is None:
        return [], ["every strategy's regret: not stored with this advice (stored before the stage kept its "
                    "signals; delete the `mixture_advice` artifact and re-run the stage to add it)"]
    truth, bits, exhaustive, sizes = _truth(study, advice["mixer"])
    if missing_entries(truth):
        return [], ["every strategy's regret needs an exhaustive sweep of the advised mixer"]
    signals = replace(signals, test_examples=sizes)  # intervals widened by each target's stored test size
    names = [s for s in STRATEGIES.names() if signals.has(STRATEGIES.get(s).needs)]
    reports = evaluate_strategies(truth, signals, names, signals.tokens, exhaustive)
    clusters = evaluate_partitioners(truth, signals, [p for p in PARTITIONERS.names()
                                                      if signals.has(PARTITIONERS.get(p).needs)],
                                     signals.tokens, exhaustive)
    n = signals.n
    partners = Table("advice_strategies", "Every strategy's partners against the stored sweep (the advisor benchmark)",
                     ("strategy", "reads", "regret", "ci_low", "ci_high", "regret_at_3", "hit_top10_pct",
                      "spearman", "coverage_pct", "mae", "cost_pct"))
    for r in sorted(reports, key=lambda r: r.partners.regret):
        p = r.partners
        partners.rows.append((r.strategy, r.needs, p.regret, p.regret_ci[0], p.regret_ci[1], p.regret_at_3,
                              100 * p.hit_rate, p.spearman, None if p.coverage is None else 100 * p.coverage,
                              p.mae, 100 * r.cost_fraction))
    floor = half_split_floor(bits, n) if len(bits) == int((~np.isnan(truth)).sum()) and n >= 3 else None
    partners.notes += [
        f"cells: every target × k = 2..{n - 1}; regret: points below the best stored member set of that size "
        "(mean over cells; 90 % bootstrap interval over targets); regret@3: the best of the top three; hit: the "
        "pick is in the top 10 % of its cell; ρ: Spearman within each cell; coverage and MAE: the strategies that "
        "predict accuracy, over every stored mixture",
        "cost: forward tokens of the signals each strategy reads, as % of the exhaustive sweep's; random's row "
        "is its exact expectation; a strategy whose signals the stage did not gather is left out "
        f"(gathered: {', '.join(sorted(signals.tokens)) or 'none'})"]
    if floor is not None:
        partners.notes.append(f"the test noise alone: choosing on one half of the test examples and scoring on "
                              f"the other leaves a regret of {floor:.2f} points (the floor of any strategy)")
    gs = list(range(2, n))
    parts = Table("advice_strategy_partitions",
                  "Every strategy's serving partitions: points below the exact optimum per G",
                  ("strategy", "partition_by", "reads", "cost_pct", *[f"G={g}" for g in gs], "mean"))
    rows: list[tuple[Any, ...]] = []
    for r in reports:
        how = "exact expectation" if r.strategy == "random" else "DP on its scores"
        rows.append((r.strategy, how, r.needs, 100 * r.cost_fraction,
                     *[100 * (q.optimum - q.reached) for q in r.partitions], _mean_gap(r.partitions)))
    for c in clusters:
        how = "its clusters" + (f" (mean of {c.seeds} seeds)" if c.seeds > 1 else "")
        rows.append((c.strategy, how, c.needs, 100 * c.cost_fraction,
                     *[100 * (q.optimum - q.reached) for q in c.partitions], _mean_gap(c.partitions)))
    parts.rows = sorted(rows, key=lambda row: (row[-1] is None, row[-1]))
    if floor is not None:
        part_floor = partition_half_split_floor(bits, n)
        values = [part_floor[g] for g in gs]
        parts.rows.append(("choose on half of test, score on the other half", "the optimum on one half", "test",
                           None, *values, float(np.mean(values)) if values else None))
        parts.notes.append("the last row is the test noise alone: the optimal partition on one half of every "
                           "target's test examples, scored on the other half (10 seeded halvings, both ways)")
    if reports and reports[0].partitions:
        optimum = ", ".join(f"G={q.groups} {100 * q.optimum:.2f}" for q in reports[0].partitions)
        parts.notes.append(f"optimum mean accuracy over the {n} domains (%): {optimum}")
    return [partners, parts], []
