"""Stacked vs one-at-a-time forwards: tokens/s of the evaluator with 1 and N mixtures per forward, per method.

The clean sweep scores several mixtures in one forward (AdapterHub `Parallel`, one slot each;
`SweepWorker.stack`). This measures whether that pays for each method's committed adapter, in one run:
the same adapter loaded into every slot, the same examples, bf16 autocast as the sweep runs it, one
warm-up pass first, the median of `--repeats` timed passes. The engine's CPU default per method
(`engine.CPU_STACK_BY_METHOD`) comes from it.

    python benchmarks/stack_throughput.py [--domain movie_snippets] [--n 1000] [--slots 1,8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from adaptermix.checkpoints import read_mixable
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.methods.precision import autocast

STUDIES = Path(__file__).resolve().parents[1] / "studies" / "offline-converged"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="movie_snippets")
    ap.add_argument("--n", type=int, default=1000, help="test examples")
    ap.add_argument("--slots", default="1,8", help="mixtures per forward to compare")
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per setting (the median is printed)")
    ap.add_argument("--methods", default="pfeiffer,lora", help="committed converged studies to read adapters from")
    args = ap.parse_args()
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        ckpt = read_mixable([STUDIES / method / "adapters" / args.domain])[0]
        ev = Evaluator.for_checkpoint(ckpt, 64)
        target = ev.target(args.domain, "test", args.n)
        rate: dict[int, float] = {}
        for count in [int(s) for s in args.slots.split(",")]:
            with torch.no_grad():
                for slot in ev.slots(count):  # each slot's live parameters, by the adapter's canonical keys
                    for key, param in slot.items():
                        param.copy_(ckpt.adapter[key])
            ev.use_head(args.domain, ckpt.head, target.label_names)
            times = []
            with autocast("bf16"), ev.bf16_weights():
                ev.predictions_many(target, count)  # warm-up
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    preds, _ = ev.predictions_many(target, count)
                    times.append(time.perf_counter() - start)
            seconds = float(np.median(times))
            tokens = int(target.encoded.lengths.sum()) * count
            acc = float(np.mean(preds[0] == target.encoded.labels))
            rate[count] = tokens / seconds
            print(f"{method}: {count} mixture(s) per forward: {rate[count]:,.0f} tokens/s (median of {args.repeats}: "
                  f"{seconds:.2f} s; accuracy {acc:.4f})", flush=True)
        counts = sorted(rate)
        print(f"{method}: {counts[-1]} stacked / 1 at a time = {rate[counts[-1]] / rate[counts[0]]:.2f}×", flush=True)


if __name__ == "__main__":
    main()
