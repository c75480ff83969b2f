"""Racing member sets on validation examples (issue 17, item 3): a scripted evaluator, the rules and the cost."""

from __future__ import annotations

import numpy as np
import pytest

from adaptermix.advice.racing import RaceSpec, paired_upper, race

AVAILABLE = 400


def scripted(accuracies: list[float], seed: int = 0) -> tuple[dict[int, np.ndarray], list[tuple[int, int, int]]]:
    """Fixed correctness bits per candidate (seeded), and a log of the calls a race makes."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(size=AVAILABLE)  # one draw per example, shared: the candidates' bits are paired
    return {i: u < a for i, a in enumerate(accuracies)}, []


def evaluator(bits: dict[int, np.ndarray], calls: list[tuple[int, int, int]], tokens_per_example: int = 7):
    def evaluate(i: int, start: int, stop: int) -> tuple[np.ndarray, int]:
        calls.append((i, start, stop))
        return bits[i][start:stop], tokens_per_example * (stop - start)
    return evaluate


def test_a_clearly_worse_candidate_is_dropped_and_the_best_wins() -> None:
    bits, calls = scripted([0.70, 0.95, 0.20, 0.93])
    got = race(4, evaluator(bits, calls), AVAILABLE, RaceSpec(examples=256))
    assert got.winner == 1  # the best, though the seed ranked it second
    assert got.dropped[2] == 1  # 20 % against 95 %: separated by the first 32 examples
    assert got.dropped[1] is None
    assert got.seen[2] == 32 and got.seen[1] == max(got.seen)
    assert got.accuracy[1] == pytest.approx(bits[1][: got.seen[1]].mean())


def test_every_candidate_sees_the_same_examples_in_doubling_batches() -> None:
    bits, calls = scripted([0.8, 0.8, 0.8])
    bits[1] = bits[0].copy()
    bits[2] = bits[0].copy()  # identical candidates: nothing separates them, the budget stops the race
    got = race(3, evaluator(bits, calls), AVAILABLE, RaceSpec(first=32, examples=200))
    windows = sorted({(start, stop) for _, start, stop in calls})
    assert windows == [(0, 32), (32, 64), (64, 128), (128, 200)]  # doubling, cut at the budget
    for start, stop in windows:  # paired: every alive candidate is run on every window
        assert sorted(i for i, a, b in calls if (a, b) == (start, stop)) == [0, 1, 2]
    assert got.winner == 0 and got.dropped == (None, None, None) and got.seen == (200, 200, 200)
    assert got.rounds == 4


def test_cost_accounting_counts_what_was_run() -> None:
    bits, calls = scripted([0.9, 0.1, 0.85, 0.5], seed=3)
    got = race(4, evaluator(bits, calls, tokens_per_example=5), AVAILABLE, RaceSpec(examples=128))
    assert got.evaluations == len(calls)
    assert got.examples == sum(stop - start for _, start, stop in calls) == sum(got.seen)
    assert got.tokens == 5 * got.examples
    assert max(got.seen) <= 128


def test_the_budget_and_the_split_size_bound_the_race() -> None:
    bits, calls = scripted([0.8, 0.79])
    got = race(2, evaluator(bits, calls), 50, RaceSpec(examples=256))  # only 50 validation examples exist
    assert max(stop for _, _, stop in calls) == 50 and got.seen == (50, 50)


def test_one_candidate_or_no_example_runs_nothing() -> None:
    bits, calls = scripted([0.5])
    assert race(1, evaluator(bits, calls), AVAILABLE).winner == 0 and calls == []
    bits, calls = scripted([0.5, 0.6])
    got = race(2, evaluator(bits, calls), 0)
    assert got.winner == 0 and got.tokens == 0 and calls == []


def test_paired_interval() -> None:
    a = np.array([1, 1, 1, 1, 0, 1, 1, 1] * 8, dtype=bool)
    assert paired_upper(a, a) == 0.0  # identical: the interval is the point 0, not below it
    assert paired_upper(np.zeros(64, dtype=bool), a) < 0
    assert paired_upper(a, np.zeros(64, dtype=bool)) > 0


@pytest.mark.parametrize(("spec", "needle"), [
    (RaceSpec(candidates=0), "--race-candidates"),
    (RaceSpec(first=1), "first batch"),
    (RaceSpec(examples=16), "--race-examples"),
])
def test_bad_knobs_name_themselves(spec: RaceSpec, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        spec.check()


def test_validation_window_slices_tokens_and_refuses_other_splits() -> None:
    from adaptermix.advice.trials import validation_window
    from adaptermix.data.tokenize import Encoded
    from adaptermix.evaluation.evaluator import EvalTarget

    lengths = [3, 1, 4, 2]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.arange(offsets[-1], dtype=np.int32)
    enc = Encoded(ids, np.zeros_like(ids, dtype=np.int8), offsets, np.array([0, 1, 0, 1], dtype=np.int64))
    window = validation_window(EvalTarget("d", "validation", enc, ("n", "p")), 1, 3)
    assert list(window.encoded.lengths) == [1, 4] and list(window.encoded.labels) == [1, 0]
    assert list(window.encoded.ids) == [3, 4, 5, 6, 7]
    with pytest.raises(ValueError, match="validation"):
        validation_window(EvalTarget("d", "test", enc, ("n", "p")), 0, 2)


def test_affordable_prefix_against_brute_force() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from adaptermix.advice.trials import affordable

    @settings(max_examples=60, deadline=None)
    @given(lengths=st.lists(st.integers(1, 50), max_size=30), candidates=st.integers(1, 4),
           cap=st.integers(-5, 3000))
    def check(lengths: list[int], candidates: int, cap: int) -> None:
        brute = max((m for m in range(len(lengths) + 1) if candidates * sum(lengths[:m]) <= max(cap, 0)), default=0)
        assert affordable(np.array(lengths), candidates, cap) == brute

    check()
    assert affordable(np.array([3, 4]), 2, None) == 2  # no cap: every example


def test_the_budget_share_of_a_partners_race() -> None:
    from adaptermix.advice.api import race_share
    from adaptermix.advice.types import Cost

    # 10 % of 1,000,000 is 100,000; the signals took 40,000; 6 targets × 2 sizes share the other 60,000.
    assert race_share(Cost(40_000, 1_000_000), 0.1, 6 * 2) == 5_000
    assert race_share(Cost(150_000, 1_000_000), 0.1, 6 * 2) == 0  # the signals spent it all: no race
    assert race_share(Cost(40_000, 1_000_000), 0.1, 6 * 2 + 3) == 4_000  # a stage: 3 partition races share it


def test_a_raced_pick_still_lists_every_runner_up_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    # The race sees the top 2 sets; the runners-up are the loser, then the strategy's next sets: 3 in all.
    import adaptermix.advice.trials as trials
    import adaptermix.evaluation.evaluator as evaluator_mod
    from adaptermix.advice import Cost, recommend_partners
    from adaptermix.advice.api import race_partners
    from adaptermix.advice.racing import RaceResult
    from test_advice_core import fake_signals

    signals, _ = fake_signals(5, 1)
    plain = recommend_partners(signals, "surrogate", "d0", [2], Cost(10, 10_000), runners_up=3)
    monkeypatch.setattr(evaluator_mod.Evaluator, "for_checkpoint", staticmethod(lambda *a, **k: None))
    # The race's second candidate wins.
    monkeypatch.setattr(trials, "race_member_sets", lambda *a, **k: RaceResult(1, (0.5, 0.9), (64, 64), (None, None),
                                                                               2, 4, 100))
    raced = race_partners(plain, signals, "surrogate", [None] * 5, list(signals.domains), RaceSpec(), 32)
    (before,), (after,) = plain.recommendations, raced.recommendations
    assert after.members == before.runners_up[0].members  # the seed's second set won
    assert [c.members for c in after.runners_up] == [before.members] + [c.members for c in before.runners_up[1:]]
    assert len(after.runners_up) == len(before.runners_up) == 3
