"""The default strategy, `combined`: the surrogate's ranking, ties broken by agreement, sets and partitions raced."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptermix.advice import AdviceSpec, get_strategy
from adaptermix.advice.spec import DEFAULTS
from adaptermix.advice.strategies import surrogate
from adaptermix.advice.tables import members_of
from adaptermix.pipeline.advise_stage import AdviseSection
from test_advice_core import fake_signals


def _validation_like(seed: int, n: int, n_val: int):
    """Signals whose accuracies and agreements are counts over `n_val` examples (so ties happen)."""
    signals, _ = fake_signals(n, seed)
    rng = np.random.default_rng(seed)
    single = rng.integers(n_val // 2, n_val, n) / n_val
    pair = np.minimum(single[:, None], rng.integers(n_val // 3, n_val, (n, n)) / n_val)
    np.fill_diagonal(pair, single)
    agreement = rng.integers(n_val // 2, n_val + 1, (n, n)) / n_val
    np.fill_diagonal(agreement, 1.0)
    full = rng.integers(n_val // 4, n_val // 2, n) / n_val
    return dataclasses.replace(signals, single=single, pair=pair, full=full, agreement=agreement,
                               agreement_full=rng.integers(n_val // 3, n_val, n) / n_val,
                               n_validation={d: n_val for d in signals.domains})


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6), n_val=st.integers(4, 40))
def test_combined_ranks_like_the_surrogate_and_breaks_only_its_ties_by_agreement(seed: int, n: int,
                                                                                 n_val: int) -> None:
    signals = _validation_like(seed, n, n_val)
    sur, comb = surrogate(signals), get_strategy("combined").scores(signals)
    agree = get_strategy("agreement").scores(signals).score
    # Predictions and intervals are the surrogate's, bit for bit.
    for name in ("predicted", "low", "high"):
        assert np.array_equal(getattr(comb, name), getattr(sur, name), equal_nan=True)
    for t in range(n):
        for k in range(2, n + 1):
            cells = [m for m in range(1, 1 << n) if m >> t & 1 and len(members_of(m)) == k]
            for a in cells:
                for b in cells:
                    s_a, s_b = sur.score[t, a], sur.score[t, b]
                    if abs(s_a - s_b) > 1e-9:  # the surrogate decides: the combined order is its order
                        assert (comb.score[t, a] > comb.score[t, b]) == (s_a > s_b)
                    elif agree[t, a] > agree[t, b] + 1e-12:  # a surrogate tie: agreement decides
                        assert comb.score[t, a] > comb.score[t, b]


def test_without_the_label_free_signals_combined_is_the_surrogate() -> None:
    signals, _ = fake_signals(5, 3)
    bare = dataclasses.replace(signals, agreement=None, agreement_full=None, entropy=None, entropy_full=None)
    assert np.array_equal(get_strategy("combined").scores(bare).score, surrogate(bare).score, equal_nan=True)


def test_the_default_races_partners_and_partitions_unless_told() -> None:
    assert DEFAULTS.strategy == "combined" and DEFAULTS.race is None
    assert get_strategy("combined").races and not get_strategy("surrogate").races
    assert DEFAULTS.races()
    assert not AdviceSpec(race=False).races()  # --no-race
    assert AdviceSpec(strategy="surrogate", race=True).races()  # --race
    assert not AdviceSpec(strategy="surrogate").races()  # a strategy that does not race
    assert not AdviceSpec(strategy="fsd_clustering").races()  # a partitioner's one clustering
    assert not AdviceSpec(grow=True).races()  # greedy growth gives one set per size
    section = AdviseSection(groups=[2, 3])
    assert section.races_partners and section.races_partitions
    assert not AdviseSection(groups=[2], race=False).races_partitions
    assert not AdviseSection(groups=()).races_partitions  # no groups, nothing to race
    # The partitions race by the strategy they come from: a partitioner's clustering is not raced.
    assert not AdviseSection(groups=[2], partition_strategy="fsd_clustering").races_partitions
    assert not AdviseSection(race=False).races_partners
