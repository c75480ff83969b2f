"""Racing partitions on validation examples (issue 17's partition goal): scripted evaluator, sharing, budget."""

from __future__ import annotations

import numpy as np
import pytest

from adaptermix.advice.partition import best_partition, brute_force_partition, partition_value, partitions
from adaptermix.advice.partition_race import race_partitions, top_partitions
from adaptermix.advice.racing import BEST_MEAN, ELIMINATE, EVIDENCE, RaceSpec

N = 4
AVAILABLE = [400, 300, 400, 120]
TOKENS_PER_EXAMPLE = 5


def scripted(accuracy: dict[tuple[int, int], float], seed: int = 0):
    """Correctness bits of domain t under group mask (seeded, shared draws per domain: paired), and a call log."""
    rng = np.random.default_rng(seed)
    draws = [rng.uniform(size=a) for a in AVAILABLE]
    calls: list[tuple[int, int, int, int]] = []

    def evaluate(t: int, mask: int, start: int, stop: int) -> tuple[np.ndarray, int]:
        calls.append((t, mask, start, stop))
        acc = accuracy.get((t, mask), 0.8)
        return draws[t][start:stop] < acc, TOKENS_PER_EXAMPLE * (stop - start)

    return evaluate, calls


def window_tokens(t: int, start: int, stop: int) -> int:
    return TOKENS_PER_EXAMPLE * (stop - start)


A = (0b0011, 0b1100)  # {0, 1} {2, 3}
B = (0b0101, 0b1010)  # {0, 2} {1, 3}
C = (0b0111, 0b1000)  # {0, 1, 2} {3}


def test_a_clearly_better_partition_wins_though_the_seed_ranked_it_last() -> None:
    # Under B every domain scores 0.95; under A and C 0.6: B is clearly better.
    acc = {(t, g): 0.95 for g in B for t in range(N) if g >> t & 1}
    acc.update({(t, g): 0.6 for p in (A, C) for g in p for t in range(N) if g >> t & 1})
    evaluate, calls = scripted(acc)
    got = race_partitions([A, C, B], N, evaluate, AVAILABLE, RaceSpec(examples=256, partition_rule=ELIMINATE))
    assert got.winner == 2
    assert got.dropped[2] is None and got.dropped[0] is not None and got.dropped[1] is not None
    assert got.gain[2] > 0.2 and got.gain[0] == 0.0


def test_shared_group_evaluations_run_once_and_unchanged_domains_not_at_all() -> None:
    # D keeps A's group {0, 1}: domains 0 and 1 score the same under both, so they are never run.
    D = (0b0011, 0b0100, 0b1000)  # {0, 1} {2} {3}
    evaluate, calls = scripted({})
    got = race_partitions([A, D], N, evaluate, AVAILABLE, RaceSpec(examples=64))
    keys = [(t, m, s, e) for t, m, s, e in calls]
    assert len(keys) == len(set(keys))  # no (domain, group, window) run twice
    assert {t for t, *_ in calls} == {2, 3}  # domains 0 and 1 have the same group in A and D: never run
    assert got.seen[0] == got.seen[1] == 0
    assert got.evaluations == len(calls)
    assert got.tokens == sum(TOKENS_PER_EXAMPLE * (e - s) for *_, s, e in calls)


def test_a_group_shared_by_several_candidates_is_evaluated_once_per_window() -> None:
    E = (0b0011, 0b0100, 0b1000)
    F = (0b0001, 0b0010, 0b1100)  # shares {2, 3} with A
    evaluate, calls = scripted({})
    race_partitions([A, E, F], N, evaluate, AVAILABLE, RaceSpec(examples=64))
    for window in {(s, e) for *_, s, e in calls}:
        here = [(t, m) for t, m, s, e in calls if (s, e) == window]
        assert len(here) == len(set(here))
        assert (2, 0b1100) in here and (3, 0b1100) in here  # needed by A and F, run once


def test_the_token_budget_is_respected() -> None:
    evaluate, calls = scripted({})
    budget = 3_000  # the first round (4 domains × 3 groups × 32 examples × 5 tokens = 1,920) fits, the rest does not
    got = race_partitions([A, B, C], N, evaluate, AVAILABLE, RaceSpec(examples=256), max_tokens=budget,
                          window_tokens=window_tokens)
    assert 0 < got.tokens <= budget
    unlimited = race_partitions([A, B, C], N, scripted({})[0], AVAILABLE, RaceSpec(examples=256))
    assert unlimited.tokens > budget  # the budget did bind
    none = race_partitions([A, B, C], N, scripted({})[0], AVAILABLE, RaceSpec(examples=256), max_tokens=0,
                           window_tokens=window_tokens)
    assert none.tokens == 0 and none.winner == 0 and none.rounds == 0  # nothing affordable: the seed's first


def test_a_budget_short_of_the_first_batch_runs_nothing() -> None:
    # A vs B: every domain's group differs, so the first round costs 4 domains × 32 examples × 5 tokens each
    # candidate group: 2 groups per domain → 1,280 tokens. One token less must not race on a shrunk window
    # (the quickstart store raced on 5-10 examples that way and lost 2.89 points at G = 2).
    first = 2 * N * RaceSpec().first * TOKENS_PER_EXAMPLE
    evaluate, calls = scripted({})
    short = race_partitions([A, B, C], N, evaluate, AVAILABLE, RaceSpec(examples=256), max_tokens=first - 1,
                            window_tokens=window_tokens)
    assert short.rounds == 0 and short.tokens == 0 and short.winner == 0 and not calls
    evaluate, calls = scripted({})
    enough = race_partitions([A, B], N, evaluate, AVAILABLE, RaceSpec(examples=256), max_tokens=first,
                             window_tokens=window_tokens)
    assert enough.rounds >= 1 and enough.tokens <= first
    assert min(e - s for *_, s, e in calls) == RaceSpec().first  # the one affordable round is the whole first batch


def test_the_evidence_rule_measures_everyone_and_switches_only_on_a_clear_gain() -> None:
    # B is clearly better (0.95 against 0.6 everywhere): shown at one-sided 95 %, it replaces the seed's A.
    acc = {(t, g): 0.95 for g in B for t in range(N) if g >> t & 1}
    acc.update({(t, g): 0.6 for p in (A, C) for g in p for t in range(N) if g >> t & 1})
    evaluate, calls = scripted(acc)
    assert RaceSpec().partition_rule == EVIDENCE  # the default
    got = race_partitions([A, C, B], N, evaluate, AVAILABLE, RaceSpec(examples=256))
    assert got.winner == 2 and got.dropped == (None, None, None)
    assert got.seen == (256, 256, 256, 120)  # nobody dropped: every candidate measured to the end
    # Every candidate equally good (the same 0.8 everywhere): no gain is shown, so the seed's first stands,
    # whichever candidate happens to measure best; the eliminating rule takes the best measured survivor.
    def noisy(seed: int):
        def evaluate(t: int, mask: int, start: int, stop: int) -> tuple[np.ndarray, int]:
            draws = np.random.default_rng([seed, t, mask]).uniform(size=AVAILABLE[t])  # independent per group
            return draws[start:stop] < 0.8, TOKENS_PER_EXAMPLE * (stop - start)
        return evaluate

    wins = {rule: [race_partitions([A, B, C], N, noisy(seed), AVAILABLE,
                                   RaceSpec(examples=256, partition_rule=rule)).winner for seed in range(20)]
            for rule in (EVIDENCE, ELIMINATE, BEST_MEAN)}
    assert wins[EVIDENCE].count(0) >= 15  # two one-sided 5 % tests per race: about 2 false switches in 20
    assert wins[ELIMINATE].count(0) <= 10, wins  # the best measured of three equals: about a third
    assert wins[BEST_MEAN].count(0) <= 10, wins
    with pytest.raises(ValueError, match="rule 'best'"):
        race_partitions([A, B], N, evaluate, AVAILABLE, RaceSpec(partition_rule="best"))


def test_best_mean_measures_everyone_and_takes_the_best_measured() -> None:
    # B better by a margin too small to drop A or C early: best_mean still measures all to the end.
    acc = {(t, g): 0.85 for g in B for t in range(N) if g >> t & 1}
    acc.update({(t, g): 0.8 for p in (A, C) for g in p for t in range(N) if g >> t & 1})
    evaluate, _ = scripted(acc)
    got = race_partitions([A, C, B], N, evaluate, AVAILABLE, RaceSpec(examples=256, partition_rule=BEST_MEAN))
    assert got.dropped == (None, None, None) and got.seen == (256, 256, 256, 120)
    assert got.winner == max(range(3), key=lambda i: (got.gain[i], -i))


def test_windows_stop_at_each_domains_validation_size() -> None:
    evaluate, calls = scripted({})
    got = race_partitions([A, B], N, evaluate, AVAILABLE, RaceSpec(examples=256))
    assert got.seen == (256, 256, 256, 120)  # domain 3 holds 120 validation examples
    assert max(e for t, _, _, e in calls if t == 3) == 120


def test_one_candidate_runs_nothing_and_bad_input_is_refused() -> None:
    evaluate, calls = scripted({})
    got = race_partitions([A], N, evaluate, AVAILABLE)
    assert got.winner == 0 and got.tokens == 0 and not calls
    with pytest.raises(ValueError, match="at least one"):
        race_partitions([], N, evaluate, AVAILABLE)
    with pytest.raises(ValueError, match="window_tokens"):
        race_partitions([A, B], N, evaluate, AVAILABLE, max_tokens=10)


@pytest.mark.parametrize("groups", [1, 2, 3, 4, 5])
def test_top_partitions_are_the_best_distinct_ones_best_first(groups: int) -> None:
    rng = np.random.default_rng(groups)
    n = 5
    table = rng.uniform(size=(n, 1 << n))
    top = top_partitions(table, groups, 4)
    every = sorted((partition_value(table, p) for p in partitions(n, groups)), reverse=True)
    assert [round(v, 12) for _, v in top] == [round(v, 12) for v in every[: len(top)]]
    assert len(top) == min(4, len(every)) and len({p for p, _ in top}) == len(top)
    assert top[0][0] == best_partition(table, groups).groups == brute_force_partition(table, groups).groups


def test_top_partitions_by_local_search_above_the_enumeration_limit() -> None:
    n = 11
    table = np.random.default_rng(0).uniform(size=(n, 1 << n))
    top = top_partitions(table, 3, 3)
    assert top[0][0] == best_partition(table, 3).groups
    assert len({p for p, _ in top}) == 3 and top[0][1] >= top[1][1] >= top[2][1]
    for p, v in top:
        assert sum(bin(g).count("1") for g in p) == n and v == pytest.approx(partition_value(table, p))
