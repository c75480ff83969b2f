"""Per (target, k) statistics of mixture accuracy: PAPER §4 (Sec. 3.4, Fig. 3).

For each target domain and mixture size k the paper reports mean, variance, min and max accuracy
over all member sets; the max is the "empirical upper bound" and the min the "empirical lower
bound" (also the reference lines of Fig. 7).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from adaptermix.store.schema import EvalRow


@dataclass(frozen=True)
class Aggregate:
    """Accuracy statistics of all stored mixtures of size k evaluated on one target (Sec. 3.4).

    `variance` is the population variance (ddof=0) of the stored accuracies: in an exhaustive sweep
    the rows are the whole population of member sets, not a sample of it. For a sampled sweep,
    multiply by count/(count − 1) for the unbiased sample estimate. Accuracies are fractions.
    """

    target: str
    k: int
    condition: str
    mean: float
    variance: float
    min: float
    max: float
    count: int
    argmax_members: tuple[str, ...]
    argmin_members: tuple[str, ...]
    mixer: str = "average"


def aggregates(rows: Sequence[EvalRow]) -> list[Aggregate]:
    """Mean, population variance, min, max, count and arg-max/min member sets per (mixer, condition, target, k).

    Ties for the max or min go to the member set whose `members_key` sorts first, so the result does
    not depend on the order of `rows`.

    Args:
        rows: evaluated mixtures, e.g. `Store.rows(condition=None)`.

    Returns:
        One `Aggregate` per (mixer, condition, target, k), sorted that way.
    """
    groups: dict[tuple[str, str, str, int], list[EvalRow]] = defaultdict(list)
    for r in rows:
        groups[(r.mixer, r.condition, r.target, r.k)].append(r)
    out = []
    for (mixer, condition, target, k), group in sorted(groups.items()):
        group = sorted(group, key=lambda r: r.members_key)
        acc = np.array([r.accuracy for r in group], dtype=np.float64)
        # np.argmax/argmin return the first extreme, i.e. the first members_key after sorting.
        out.append(Aggregate(
            target=target, k=k, condition=condition, mean=float(acc.mean()), variance=float(acc.var(ddof=0)),
            min=float(acc.min()), max=float(acc.max()), count=len(group),
            argmax_members=group[int(np.argmax(acc))].members, argmin_members=group[int(np.argmin(acc))].members,
            mixer=mixer,
        ))
    return out
