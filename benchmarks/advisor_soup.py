"""Greedy-soup growth against ground truth: the part of `advisor_regret.py --greedy-soup` that runs models.

For each target, the greedy soup (`adaptermix.advice.trials.grow_member_sets`: forward selection on the
target's first validation examples, Wortsman et al. 2022's greedy soup for a fixed size) grows one member
set of every size k = 2..`k_max`; each is scored on the store's test accuracy (no test forward pass: the
store holds every set), beside the surrogate's pick on the same cells. Validation examples per
evaluation are set from `--budget` as the surrogate's are: the growth of every target together costs
about `budget` of the exhaustive sweep's tokens.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.advice.api import ranked
from adaptermix.advice.regret import bootstrap_ci
from adaptermix.advice.signals import Signals
from adaptermix.advice.strategies import get_strategy
from adaptermix.advice.tables import cell, mask_of


@dataclass(frozen=True)
class SoupCell:
    """One (target, k): the greedy soup's set and the surrogate's pick, scored on the store's test truth."""

    target: str
    k: int
    members: tuple[str, ...]
    soup_regret: float  # points below the cell's best stored set
    surrogate_regret: float | None  # the surrogate's first-ranked set, same cell (None without validation signals)


@dataclass(frozen=True)
class SoupTarget:
    """One target's growth: its cells, evaluations, tokens, validation examples per evaluation, seconds."""

    target: str
    cells: tuple[SoupCell, ...]
    evaluations: int
    tokens: int
    examples: int
    seconds: float


def soup_rows(adapters: Path, domains: Sequence[str], truth: np.ndarray, signals: Signals, k_max: int,
              n_examples: int, max_length: int, progress: Any = print) -> list[SoupTarget]:
    """Grow every target's member sets to `k_max` on validation; score each size's set on the store's truth."""
    from adaptermix.advice.trials import grow_member_sets
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator

    ckpts = read_mixable([adapters / d for d in domains])
    evaluator = Evaluator.for_checkpoint(ckpts[0], max_length)
    names = list(domains)
    surrogate = get_strategy("surrogate").scores(signals) if signals.has("validation") else None
    out = []
    for t in range(len(names)):
        start = time.perf_counter()
        got = grow_member_sets(ckpts, names, evaluator, t, k_max, n_examples)
        cells = []
        for members in got["sets"][1:]:
            k = len(members)
            oracle = float(np.nanmax(cell(truth, t, k)[1]))
            sur = None
            if surrogate is not None:
                first = ranked(signals, surrogate, t, k)[0].members
                sur = 100 * (oracle - float(truth[t, mask_of(names.index(m) for m in first)]))
            cells.append(SoupCell(names[t], k, tuple(names[j] for j in members),
                                  100 * (oracle - float(truth[t, mask_of(members)])), sur))
        out.append(SoupTarget(names[t], tuple(cells), got["evaluations"], got["tokens"],
                              len(evaluator.target(ckpts[t].domain, "validation", n_examples).encoded),
                              time.perf_counter() - start))
        progress("greedy soup: " + json.dumps(asdict(out[-1])))  # one JSON row: a cut-short run still counts
    return out


def soup_table(rows: Sequence[SoupTarget], exhaustive: int, surrogate_tokens: int) -> list[str]:
    """Markdown: the greedy soup's regret per k and overall, beside the surrogate's on the same cells, and the cost."""
    cells = [c for r in rows for c in r.cells]
    lines = ["| strategy | k | cells | regret (pts) | 90 % CI over targets | cost (% of exhaustive) |",
             "|---|---|---:|---:|---|---:|"]
    tokens = sum(r.tokens for r in rows)
    for label, pick, cost in (("greedy soup", lambda c: c.soup_regret, tokens),
                              ("surrogate (same cells)", lambda c: c.surrogate_regret, surrogate_tokens)):
        if any(pick(c) is None for c in cells):
            continue
        for k in [*sorted({c.k for c in cells}), None]:
            here = [c for c in cells if k is None or c.k == k]
            per_target = [float(np.mean([pick(c) for c in here if c.target == r.target])) for r in rows
                          if any(c.target == r.target for c in here)]
            low, high = bootstrap_ci(per_target)
            lines.append(f"| {label} | {'all' if k is None else k} | {len(here)} | "
                         f"{np.mean([pick(c) for c in here]):.2f} | [{low:.2f}, {high:.2f}] | "
                         f"{100 * cost / exhaustive if exhaustive else 0:.2f} |")
    return lines
