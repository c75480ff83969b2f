"""Greedy-soup growth (`adaptermix.advice.soup`): forward selection, its cost, and its one validation pass each."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.advice.soup import grow, soup_evaluations


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 8), data=st.data())
def test_growth_is_optimal_where_accuracy_adds_up_and_costs_what_it_says(n: int, data: st.DataObject) -> None:
    """Where a set's accuracy is a sum of per-partner gains, forward selection finds the best set of every size."""
    target = data.draw(st.integers(0, n - 1))
    k_max = data.draw(st.integers(1, n))
    gains = np.array(data.draw(st.lists(st.floats(-1, 1, allow_nan=False), min_size=n, max_size=n, unique=True)))
    calls: list[tuple[int, ...]] = []

    def accuracy(members: tuple[int, ...]) -> float:
        assert members == tuple(sorted(members)) and target in members
        calls.append(members)
        return float(sum(gains[j] for j in members if j != target))

    sets = grow(n, target, k_max, accuracy)
    assert [len(s) for s in sets] == list(range(1, k_max + 1)) and sets[0] == (target,)
    assert len(calls) == len(set(calls)) == soup_evaluations(n, k_max)
    others = [j for j in range(n) if j != target]
    for members in sets[1:]:
        best = max(itertools.combinations(others, len(members) - 1), key=lambda c: sum(gains[j] for j in c))
        assert members == tuple(sorted((target, *best)))
    for small, large in itertools.pairwise(sets):  # each set extends the one before: one set per size, nested
        assert set(small) < set(large)


def test_ties_go_to_the_lowest_index_and_bad_sizes_are_refused() -> None:
    assert grow(5, 2, 3, lambda members: 0.0) == [(2,), (0, 2), (0, 1, 2)]
    with pytest.raises(ValueError, match="k_max"):
        grow(4, 0, 5, lambda members: 0.0)
    with pytest.raises(ValueError, match="target"):
        grow(4, 4, 2, lambda members: 0.0)
    assert soup_evaluations(8, 7) == 7 + 6 + 5 + 4 + 3 + 2 and soup_evaluations(8, 1) == 0
