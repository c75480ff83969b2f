"""Sampled vs exhaustive sweep: how many evaluations the CI stopping rule saves, and what it costs.

Runs a `--mode sampled` sweep of the same adapters with the same eval config as an existing
exhaustive store, then compares the per-(target, k) mean accuracies.

    python benchmarks/sampled_vs_exhaustive.py --store runs/quickstart/study.sqlite --ci 1.0
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from adaptermix.evaluation.spec import EvalSpec
from adaptermix.pipeline.sweep import SweepConfig, run_sweep
from adaptermix.store import Store


def means(store: Path) -> dict[tuple[str, int], float]:
    groups: dict[tuple[str, int], list[float]] = defaultdict(list)
    with Store.read(store) as s:
        for r in s.rows("clean"):
            groups[(r.target, r.k)].append(r.accuracy)
    return {key: float(np.mean(v)) for key, v in groups.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("runs/quickstart/study.sqlite"))
    ap.add_argument("--ci", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with Store.read(args.store) as s:
        meta = s.meta
        exhaustive_rows = s.count("clean")
    ev = meta.eval_config
    with tempfile.TemporaryDirectory() as tmp:
        sampled_store = Path(tmp) / "sampled.sqlite"
        summary = run_sweep(SweepConfig(
            adapters=tuple(Path(a.path) for a in meta.adapters), store=sampled_store, mode="sampled", ci=args.ci,
            draw_seed=args.seed, spec=EvalSpec(split=ev["split"], max_examples=ev["max_examples"],
                                          max_length=ev["max_length"], precision=ev.get("precision", "auto")),
        ))
        full, part = means(args.store), means(sampled_store)
    diffs = {key: abs(part[key] - full[key]) for key in full if key in part}
    worst = max(diffs, key=diffs.get)
    print(f"exhaustive: {exhaustive_rows} evaluations; sampled (ci {args.ci} points): {summary.planned} "
          f"({100 * summary.planned / summary.exhaustive_count:.1f} % of {summary.exhaustive_count})")
    print(f"largest |mean difference| over (target, k): {100 * diffs[worst]:.2f} points at {worst}; "
          f"mean over groups {100 * float(np.mean(list(diffs.values()))):.2f} points")


if __name__ == "__main__":
    main()
