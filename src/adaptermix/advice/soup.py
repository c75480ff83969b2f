"""Greedy-soup growth (issue 17, item 3): member sets grown one adapter at a time on validation accuracy.

Wortsman et al. 2022's greedy soup adds ingredients one by one and keeps each that does not lower
held-out accuracy. For the advisor's question (the best k-mixture for a target) the same idea is forward
selection: start from the target's own adapter, and at each step add the partner whose mixture scores
best on the target's validation examples. Step s evaluates the n − s sets that extend the current one,
so growing to size k costs Σ_{s=1}^{k−1} (n − s) evaluations per target, and it gives one set of every
size on the way. This module is the pure search; `adaptermix.advice.trials.grow_member_sets` runs it on
validation evaluations (never the test split).
"""

from __future__ import annotations

from collections.abc import Callable


def soup_evaluations(n: int, k_max: int) -> int:
    """Evaluations one target's growth to size `k_max` runs: Σ_{s=1}^{k_max−1} (n − s)."""
    return sum(n - s for s in range(1, max(1, min(k_max, n))))


def grow(n: int, target: int, k_max: int, accuracy: Callable[[tuple[int, ...]], float]) -> list[tuple[int, ...]]:
    """The greedy member sets of sizes 1..k_max for `target` (sorted index tuples, the target included).

    Args:
        n: number of adapters.
        target: the target's index.
        k_max: the largest size grown to (at most n).
        accuracy: validation accuracy of a sorted member tuple (called once per candidate set).

    Ties go to the partner of lowest index, so the growth is deterministic.

    Raises:
        ValueError: `target` or `k_max` out of range.
    """
    if not 0 <= target < n:
        raise ValueError(f"target index {target} is out of range for {n} adapters")
    if not 1 <= k_max <= n:
        raise ValueError(f"k_max={k_max} is out of range: grow to 1..{n} adapters")
    current: tuple[int, ...] = (target,)
    sets = [current]
    while len(current) < k_max:
        best_j, best = -1, float("-inf")
        for j in range(n):
            if j in current:
                continue
            acc = accuracy(tuple(sorted((*current, j))))
            if acc > best:
                best_j, best = j, acc
        current = tuple(sorted((*current, best_j)))
        sets.append(current)
    return sets


__all__ = ["grow", "soup_evaluations"]
