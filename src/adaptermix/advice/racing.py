"""Racing member sets on a few labelled validation examples: paired comparisons, growing batches (issue 17, item 3).

A cheap strategy's top candidates for one (target, k) are evaluated on the same validation examples
(paired), in batches that double (32, 32, 64, 128, ... examples: the first 32, 64, 128, 256 seen). After
each batch the leader is the candidate with the highest accuracy so far; a candidate is dropped once
the 95 % interval of its per-example paired difference to the leader lies below 0. The race stops
when one candidate is left or the budget (`RaceSpec.examples` per candidate) is spent; the winner is
the best survivor. This is racing in the sense of Maron & Moore's Hoeffding races and F-Race, with a
paired normal interval instead of Hoeffding's bound (our differences are in {−1, 0, 1} and a few
hundred examples: the normal interval is the usual paired test there, and Hoeffding's would need
thousands of examples to separate sets a few points apart).

`race` is pure: it takes an `evaluate(candidate, start, stop)` callable that returns per-example
correctness on the target's validation examples [start, stop) and the tokens it ran;
`adaptermix.advice.trials.race_member_sets` supplies the model-backed one.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
#: How a partition race decides (`RaceSpec.partition_rule`; each rule in `advice.partition_race.race_partitions`).
ELIMINATE, BEST_MEAN, EVIDENCE = "eliminate", "best_mean", "evidence"
PARTITION_RULES = (ELIMINATE, BEST_MEAN, EVIDENCE)

#: (candidate index, first example, end example) → (per-example correctness, forward tokens run).
Evaluate = Callable[[int, int, int], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class RaceSpec:
    """The knobs of a race, declared once (API, CLI and benchmark read their defaults here).

    Attributes:
        candidates: how many of the seed strategy's top sets per (target, k) enter the race. Two by
            default: on the converged 8-domain store racing the surrogate's top 2 on 256 examples beat
            racing its top 4 (regret 0.25 against 0.27 points) at 8.4 % of the sweep instead of 12 %.
        first: validation examples in the first batch; each later batch doubles the examples seen.
        examples: the budget: at most this many validation examples per candidate (the first ones).
        z: the interval's normal quantile (1.96: two-sided 95 %).
        partitions: how many of the seed's best partitions per G enter a partition race. Four by default:
            with the evidence rule (`EVIDENCE`) the top 4 were within 0.5 points of the
            optimum at every G on both converged stores (LoRA held out), the top 2 on neither.
        partition_examples: validation examples per domain in a partition race at most; the budget is
            what bounds it (at 256 the evidence rule could not show the converged store's G = 3 optimum).
        partition_rule: how a partition race decides: `evidence` (the DP's optimum stands unless another's
            gain is shown; the default), `eliminate` (successive elimination) or `best_mean` (nobody dropped,
            the best measured mean wins); replayed against each other in docs/advisor.md.
    """

    candidates: int = 2
    first: int = 32
    examples: int = 256
    z: float = Z95
    partitions: int = 4
    partition_examples: int = 4096
    partition_rule: str = EVIDENCE

    def check(self) -> RaceSpec:
        """Self, or ValueError naming the bad knob and its range."""
        if not isinstance(self.candidates, int) or self.candidates < 1:
            raise ValueError(f"--race-candidates must be at least 1, got {self.candidates!r}")
        if not isinstance(self.first, int) or self.first < 2:
            raise ValueError(f"the race's first batch must hold at least 2 examples, got {self.first!r}")
        if not isinstance(self.examples, int) or self.examples < self.first:
            raise ValueError(f"--race-examples must be at least the first batch ({self.first}), got {self.examples!r}")
        if not (math.isfinite(self.z) and self.z > 0):
            raise ValueError(f"the race's interval quantile must be positive, got {self.z!r}")
        if not isinstance(self.partitions, int) or self.partitions < 1:
            raise ValueError(f"--partition-candidates must be at least 1, got {self.partitions!r}")
        if not isinstance(self.partition_examples, int) or self.partition_examples < self.first:
            raise ValueError(f"--partition-examples must be at least the first batch ({self.first}), "
                             f"got {self.partition_examples!r}")
        if self.partition_rule not in PARTITION_RULES:
            raise ValueError(f"unknown partition race rule {self.partition_rule!r}: choose one of "
                             f"{', '.join(PARTITION_RULES)}")
        return self

    def for_partitions(self) -> RaceSpec:
        """The spec a partition race reads: `partitions` as its candidates, `partition_examples` as its cap."""
        return dataclasses.replace(self, candidates=self.partitions, examples=self.partition_examples)


@dataclass(frozen=True)
class RaceResult:
    """What a race found and cost.

    Attributes:
        winner: index of the winning candidate (the best survivor; ties: the earlier candidate).
        accuracy: each candidate's accuracy on the examples it saw.
        seen: validation examples each candidate was evaluated on.
        dropped: the round (1-based) in which each candidate was dropped, or None for survivors.
        rounds: batches run.
        evaluations: (candidate, batch) evaluations run.
        tokens: forward tokens run.
    """

    winner: int
    accuracy: tuple[float, ...]
    seen: tuple[int, ...]
    dropped: tuple[int | None, ...]
    rounds: int
    evaluations: int
    tokens: int

    @property
    def examples(self) -> int:
        """Candidate-examples evaluated in all (the race's cost in examples)."""
        return sum(self.seen)


def paired_upper(a: np.ndarray, b: np.ndarray, z: float = Z95) -> float:
    """Upper end of the normal interval of mean(a − b) over paired examples (a, b: correctness bits)."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    m = len(diff)
    if m == 0:
        return math.inf
    sd = float(diff.std(ddof=1)) if m > 1 else math.inf
    return float(diff.mean()) + z * sd / math.sqrt(m)


def race(count: int, evaluate: Evaluate, available: int, spec: RaceSpec | None = None) -> RaceResult:
    """Successive elimination of `count` candidates on the same validation examples (paired).

    Args:
        count: candidates, best prior first (the seed strategy's order breaks ties).
        evaluate: (candidate, start, stop) → (correctness of examples start..stop−1, tokens).
        available: validation examples of the target (the race uses at most `spec.examples` of them).
        spec: the race's knobs (default `RaceSpec()`).

    Returns:
        The `RaceResult`. One candidate, or no example available: candidate 0 wins, nothing is run.

    Raises:
        ValueError: no candidates, or bad knobs.
    """
    spec = (spec or RaceSpec()).check()
    if count < 1:
        raise ValueError("a race needs at least one candidate")
    limit = min(spec.examples, max(0, available))
    bits: list[np.ndarray] = [np.zeros(0, dtype=bool) for _ in range(count)]
    dropped: list[int | None] = [None] * count
    alive = list(range(count))
    stop = rounds = evaluations = tokens = 0
    while len(alive) > 1 and stop < limit:
        start, stop = stop, min(limit, max(spec.first, 2 * stop))
        rounds += 1
        for i in alive:
            got, used = evaluate(i, start, stop)
            if len(got) != stop - start:
                raise ValueError(f"the race's evaluator returned {len(got)} results for examples {start}..{stop - 1}")
            bits[i] = np.concatenate([bits[i], np.asarray(got, dtype=bool)])
            tokens += int(used)
            evaluations += 1
        leader = _leader(alive, bits)
        for i in list(alive):
            if i != leader and paired_upper(bits[i], bits[leader], spec.z) < 0:
                alive.remove(i)
                dropped[i] = rounds
    accuracy = tuple(float(b.mean()) if len(b) else math.nan for b in bits)
    return RaceResult(_leader(alive, bits), accuracy, tuple(len(b) for b in bits), tuple(dropped), rounds,
                      evaluations, tokens)


def _leader(alive: list[int], bits: list[np.ndarray]) -> int:
    """The alive candidate with the most correct examples so far (all alive saw the same ones; ties: earliest)."""
    return max(alive, key=lambda i: (int(bits[i].sum()), -i))


__all__ = ["Evaluate", "RaceResult", "RaceSpec", "Z95", "paired_upper", "race"]
