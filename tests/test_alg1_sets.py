"""One place builds the in-domain Alg. 1 sets (issue 19): `analysis.greedy.in_domain_members`, and every
caller (the Sec. 7 stage, the Fig. 7 table, the advisor's strategy and report) equal to it."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from adaptermix.advice import Signals
from adaptermix.advice.strategies import STRATEGIES, _alg1_means
from adaptermix.advice.tables import members_of
from adaptermix.analysis.greedy import greedy_selection, in_domain_mean_fsd, in_domain_members, mean_fsd
from adaptermix.pipeline.stages import alg1_sets
from adaptermix.pruning import sparse_mix_plan
from adaptermix.reporting.sweep_tables import greedy_members


def _matrices() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for n in (2, 3, 5, 6):
        a = rng.random((n, n))
        s = (a + a.T) / 2
        np.fill_diagonal(s, 0.0)
        ties = np.round(s, 1)  # many equal means: the tie-break (lower index) decides
        np.fill_diagonal(ties, 0.0)
        out += [s, ties]
    return out


def _by_hand(names: list[str], S: np.ndarray, target: str, l: int, maximize: bool) -> tuple[str, ...]:  # noqa: E741
    """Alg. 1 written out for an in-domain target: rank the others by their row mean on S without the target."""
    t = names.index(target)
    others = [i for i in range(len(names)) if i != t]
    mean = {j: math.fsum(S[j, others]) / len(others) for j in others}
    ranked = sorted(others, key=lambda j: ((-1 if maximize else 1) * mean[j], j))
    return tuple(sorted([target, *(names[j] for j in ranked[: l - 1])]))


@pytest.mark.parametrize("S", _matrices(), ids=lambda s: f"n{len(s)}")
def test_the_shared_function_is_alg1_on_s_without_the_target(S: np.ndarray) -> None:
    names = [f"d{i}" for i in range(len(S))]
    for target, l, maximize in itertools.product(names, range(1, len(S) + 1), (False, True)):  # noqa: E741
        assert in_domain_members(names, S, target, l, maximize) == _by_hand(names, S, target, l, maximize)


@pytest.mark.parametrize("S", _matrices(), ids=lambda s: f"n{len(s)}")
def test_every_caller_builds_the_same_sets(S: np.ndarray) -> None:
    names = [f"d{i}" for i in range(len(S))]
    n = len(S)
    stage = alg1_sets(names, S)
    for target, l in itertools.product(names, range(2, n + 1)):  # noqa: E741
        want = in_domain_members(names, S, target, l)
        assert stage[target][l] == want
        assert greedy_members(target, names, S, l, maximize=False) == want
        assert greedy_members(target, names, S, l, maximize=True) == in_domain_members(names, S, target, l, True)
    # The advisor's Alg. 1 strategy: its best-scoring set of each size is the shared function's set.
    scores = STRATEGIES.get("alg1_min_fsd").scores(Signals(domains=tuple(names), fsd=S, cosine=np.eye(len(S)))).score
    for t, target in enumerate(names):
        for l in range(1, n + 1):  # noqa: E741
            masks = [m for m in range(1 << n) if m >> t & 1 and len(members_of(m)) == l]
            best = max(masks, key=lambda m: (scores[t, m], -m))
            if sum(scores[t, m] == scores[t, best] for m in masks) == 1:  # a unique best: no tie to break
                assert tuple(sorted(names[i] for i in members_of(best))) == in_domain_members(names, S, target, l)


def test_the_advisor_means_are_the_shared_ranking() -> None:
    S = _matrices()[4]
    names = [f"d{i}" for i in range(len(S))]
    means = _alg1_means(Signals(domains=tuple(names), fsd=S, cosine=np.eye(len(S))))
    for t in range(len(S)):
        others = [j for j in range(len(S)) if j != t]
        assert np.array_equal(means[t, others], in_domain_mean_fsd(S, t)[others])
        assert np.array_equal(means[t, others], [math.fsum(S[j, others]) / len(others) for j in others])
        assert math.isnan(means[t, t])


def test_avg_s_is_one_computation() -> None:
    import torch

    S = _matrices()[2]
    assert np.array_equal(mean_fsd(S), [math.fsum(row) / len(S) for row in S])
    assert greedy_selection(S, 2) == [int(i) for i in np.argsort(mean_fsd(S), kind="stable")[:2]]
    g = torch.Generator().manual_seed(0)
    ads = [{"layer.0.w": torch.randn(40, generator=g), "layer.1.w": torch.randn(40, generator=g)} for _ in range(4)]
    from adaptermix.analysis import fsd_matrix

    plan = sparse_mix_plan(ads, 3, 1)
    assert plan.mean_fsd == tuple(mean_fsd(fsd_matrix(ads)))


def test_bad_targets_and_sizes_are_named() -> None:
    S = _matrices()[2]
    names = ["a", "b", "c"]
    with pytest.raises(ValueError, match="'z' is not one of"):
        in_domain_members(names, S, "z", 2)
    with pytest.raises(ValueError, match="l=4 is out of range"):
        in_domain_members(names, S, "a", 4)
    with pytest.raises(ValueError, match="2 names for a 3×3"):
        in_domain_members(names[:2], S, "a", 2)
