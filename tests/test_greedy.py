"""Greedy selection (Alg. 1): ranking, ties, permutation equivariance, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptermix.analysis import greedy_selection


def test_smallest_and_largest_row_means() -> None:
    S = np.array([[0.0, 0.4, 0.5], [0.4, 0.0, 0.1], [0.5, 0.1, 0.0]])  # means .3, .1667, .2
    assert greedy_selection(S, 1) == [1]
    assert greedy_selection(S, 3) == [1, 2, 0]
    assert greedy_selection(S, 2, maximize=True) == [0, 2]


def test_ties_go_to_the_lower_index() -> None:
    S = np.array([[0.0, 0.2, 0.2], [0.2, 0.0, 0.2], [0.2, 0.2, 0.0]])
    assert greedy_selection(S, 2) == [0, 1]
    assert greedy_selection(S, 2, maximize=True) == [0, 1]


@given(st.data(), st.integers(2, 8))
def test_permuting_S_permutes_the_answer(data: st.DataObject, k: int) -> None:
    # Distinct row means, so that the answer does not depend on tie-breaking.
    means = data.draw(st.lists(st.integers(0, 1000), min_size=k, max_size=k, unique=True))
    S = np.diag(np.array(means, dtype=np.float64) * k)  # row mean = means[i]
    perm = np.array(data.draw(st.permutations(range(k))))
    l = data.draw(st.integers(1, k))  # noqa: E741
    maximize = data.draw(st.booleans())
    chosen = greedy_selection(S, l, maximize)
    permuted = greedy_selection(S[np.ix_(perm, perm)], l, maximize)  # new index p ↔ old perm[p]
    assert [int(perm[p]) for p in permuted] == chosen


@pytest.mark.parametrize(
    ("S", "l"),
    [
        (np.zeros((3, 3)), 0),
        (np.zeros((3, 3)), 4),
        (np.zeros((2, 3)), 1),
        (np.zeros((0, 0)), 1),
        (np.array([[0.0, np.nan], [np.nan, 0.0]]), 1),
        (np.zeros((3, 3)), 1.5),
    ],
)
def test_errors(S: np.ndarray, l: object) -> None:  # noqa: E741
    with pytest.raises(ValueError):
        greedy_selection(S, l)  # type: ignore[arg-type]
