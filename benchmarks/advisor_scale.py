"""The advisor's own compute at paper scale (13 adapters), excluding forward passes (issue 17: under a minute).

On synthetic signals for N adapters (every signal a strategy may read, drawn at random), it times: each
registered strategy's score table over all N·2^(N−1) in-domain mixtures; the partners advice of every
target at every size; the exact partition DP for every G; and the default's partition race candidates
(`partition_race.top_partitions`, the best 4 distinct partitions: above 10 domains a local search around
the DP's optimum). The race's own forward passes are not counted: they are the budget's, measured by
`advisor_regret.py --race-partitions`. Prints absolute seconds; run it on a quiet machine.

    python benchmarks/advisor_scale.py --n 13
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sweep_throughput import processor

from adaptermix.advice import STRATEGIES, Signals
from adaptermix.advice.api import recommend_partners
from adaptermix.advice.partition import best_partition
from adaptermix.advice.partition_race import top_partitions
from adaptermix.advice.racing import RaceSpec
from adaptermix.advice.spec import DEFAULTS
from adaptermix.advice.types import Cost


def synthetic_signals(n: int, seed: int = 0) -> Signals:
    """Every signal of n adapters, drawn at random in plausible ranges (accuracies, drops, similarities)."""
    rng = np.random.default_rng(seed)
    single = 0.8 + 0.15 * rng.random(n)
    pair = single[:, None] - 0.2 * rng.random((n, n))
    np.fill_diagonal(pair, single)
    full = single - 0.3 * rng.random(n)
    sim = rng.random((n, n))
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 0)
    domains = tuple(f"d{i}" for i in range(n))
    return Signals(domains, fsd=sim, cosine=1 - sim, text=1 - sim, single=single, pair=pair, full=full,
                   agreement=1 - (single[:, None] - pair), agreement_full=1 - (single - full),
                   entropy=0.3 + 2 * (single[:, None] - pair), entropy_full=0.3 + 2 * (single - full),
                   n_validation={d: 500 for d in domains}, forward_tokens=10, evaluations=n * (n + 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=13, help="adapters (13: the paper's domains)")
    ap.add_argument("--candidates", type=int, default=RaceSpec().partitions, help="partitions a race takes per G")
    args = ap.parse_args()
    if not 3 <= args.n <= 16:
        ap.error(f"--n must be in 3..16, got {args.n}")
    n = args.n
    signals = synthetic_signals(n)
    print(f"# the advisor's compute for {n} adapters, no forward pass\n\nprocessor: {processor()}  ")
    print(f"command: python benchmarks/advisor_scale.py --n {n}\n")
    print("| step | seconds |\n|---|---:|")
    total = 0.0
    for name in STRATEGIES.names():
        start = time.perf_counter()
        STRATEGIES.get(name).scores(signals)
        took = time.perf_counter() - start
        print(f"| score table: `{name}` ({n * 2 ** (n - 1):,} mixtures) | {took:.2f} |")
    table = STRATEGIES.get(DEFAULTS.strategy).scores(signals).score
    cost = Cost(10, 10**9, n * (n + 1))
    start = time.perf_counter()
    for t in signals.domains:
        recommend_partners(signals, DEFAULTS.strategy, t, list(range(2, n)), cost)
    took = time.perf_counter() - start
    total += took
    print(f"| partners: every target at k = 2..{n - 1} (`{DEFAULTS.strategy}`, scores included) | {took:.2f} |")
    for g in (2, 3, 4, n // 2, n - 1):
        start = time.perf_counter()
        best_partition(table, g)
        dp = time.perf_counter() - start
        start = time.perf_counter()
        top_partitions(table, g, args.candidates)
        top = time.perf_counter() - start
        total += dp + top
        print(f"| partition G = {g}: exact DP | {dp:.2f} |")
        print(f"| partition G = {g}: the race's best {args.candidates} candidates | {top:.2f} |")
    print(f"| *partners at every size + five G (DP and candidates)* | {total:.2f} |")


if __name__ == "__main__":
    main()
