"""Findings on synthetic stores whose truth is known, and the bootstrap intervals behind them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from adaptermix.reporting import findings as F
from adaptermix.reporting.robustness import describe_label
from adaptermix.reporting.study import load_study
from adaptermix.reporting.uncertainty import PAIRED, bootstrap_mean, paired_example_bootstrap
from adaptermix.store import EvalRow
from adaptermix.store.synthetic import DEFAULT_DOMAINS
from test_report_fixtures import FGSM, correct_vector, extras, fsd_matrix, full_study, mixer, row, shaped_study

BASE = {d: 0.80 + 0.03 * i for i, d in enumerate(DEFAULT_DOMAINS)}
IDX = {d: i for i, d in enumerate(DEFAULT_DOMAINS)}


def _linear(slope: float):  # accuracy falls by `slope` per added adapter, exactly
    return lambda t, m: BASE[t] - slope * (len(m) - 1)


def _study(tmp_path: Path, accuracy, **kw):
    return load_study(shaped_study(tmp_path / "s.sqlite", accuracy, **kw))


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory):
    return load_study(full_study(tmp_path_factory.mktemp("full") / "s.sqlite"))


@pytest.mark.parametrize(("slope", "verdict"), [(0.02, F.HOLDS), (0.0, F.FAILS), (-0.02, F.FAILS)])
def test_accuracy_falls_with_k(tmp_path: Path, slope: float, verdict: str) -> None:
    f = F.accuracy_falls(_study(tmp_path, _linear(slope)))
    assert f.verdict == verdict, f.statistic
    assert f.table is not None
    slopes = [r[2] for r in f.table.rows]
    assert slopes == pytest.approx([-100 * slope] * 4, abs=1e-9)
    # The drop k = 1 → 4 is exactly 3 slopes on every target; the interval is degenerate around it.
    assert f"{300 * slope:.2f} pts over 4 targets" in f.statistic


def test_mixed_when_only_some_targets_fall(tmp_path: Path) -> None:
    falls = {"sst2", "imdb"}
    f = F.accuracy_falls(_study(tmp_path, lambda t, m: BASE[t] - (0.02 if t in falls else 0.0) * (len(m) - 1)))
    assert f.verdict == F.MIXED and "2 of 4" in f.statistic


@pytest.mark.parametrize(("slope", "verdict", "within"), [(0.01, F.HOLDS, 4), (0.05, F.FAILS, 0)])
def test_small_mixtures_within_three_points(tmp_path: Path, slope: float, verdict: str, within: int) -> None:
    f = F.small_mixtures(_study(tmp_path, _linear(slope)))
    assert f.verdict == verdict and f.statistic.startswith(f"{within} of 4 targets")


def test_small_mixtures_names_the_targets(tmp_path: Path) -> None:
    f = F.small_mixtures(_study(tmp_path, lambda t, m: BASE[t] - (0.0 if t == "ag" else 0.05) * (len(m) - 1)))
    assert f.verdict == F.MIXED and "1 of 4 targets" in f.statistic and "(ag)" in f.statistic


@pytest.mark.parametrize(("sign", "verdict"), [(-1, F.HOLDS), (1, F.FAILS)])
def test_fsd_correlation_sign(tmp_path: Path, sign: int, verdict: str) -> None:
    def mixture_fsd(t: str, m: tuple[str, ...]) -> float:  # varies with k and with the members
        return 0.05 * len(m) + 0.01 * sum(IDX[o] for o in m)

    f = F.fsd_correlation(_study(tmp_path, lambda t, m: BASE[t] + sign * 0.1 * mixture_fsd(t, m), fsd=mixture_fsd))
    assert f.verdict == verdict, f.statistic
    assert "mean FSD between the mixture and its members" in f.statistic


@pytest.mark.parametrize(("sign", "verdict"), [(-1, F.HOLDS), (1, F.FAILS)])
def test_greedy_against_its_max_fsd_twin(tmp_path: Path, sign: int, verdict: str) -> None:
    S = fsd_matrix()

    def acc(t: str, m: tuple[str, ...]) -> float:  # accuracy follows the members' mean FSD to the target
        return BASE[t] + sign * 0.2 * float(np.mean([S[IDX[t], IDX[o]] for o in m]))

    f = F.greedy_vs_twin(_study(tmp_path, acc))
    assert f.verdict == verdict, f.statistic
    wins, losses = (8, 0) if sign < 0 else (0, 8)
    assert f"beat its max-FSD twin in {wins} of 8 (target, l) cells, lost {losses}, tied 0" in f.statistic


def test_full_study_verdicts(full) -> None:
    by_id = {f.id: f for f in F.compute_findings(full)}
    assert by_id["pruning-keeps-tensor"].verdict == F.HOLDS  # the fixture prunes losslessly up to 90 % per tensor
    assert by_id["pruning-keeps-global"].verdict == F.FAILS  # ... and loses 25 points globally at 90 %
    assert by_id["sparse-beats-upper"].verdict == F.HOLDS
    assert "24 of 24" in by_id["sparse-beats-upper"].statistic
    adv = by_id["adversarial-vs-clean-1"]
    assert describe_label(FGSM) in adv.claim and "8 of 8 (target, k) cells" in adv.statistic
    # −2.63 points over 4 targets is inside ±3, but its interval reaches outside: undecided, and it says how many
    # targets would decide it.
    assert adv.verdict == F.UNDECIDED and "targets (now 4)" in adv.to_decide
    assert all(f.verdict in F.VERDICTS for f in by_id.values())


def test_not_measured_without_the_rows(tmp_path: Path) -> None:
    study = _study(tmp_path, _linear(0.02))
    for f in (*F.adversarial_drops(study), *F.pruning_keeps(study), F.sparse_beats_upper(study)):
        assert f.verdict == F.NOT_MEASURED and f.statistic


def test_adversarial_drop_larger_than_clean_does_not_hold(tmp_path: Path) -> None:
    def attack(rows: list[EvalRow]) -> list[EvalRow]:  # the attack costs 10 more points per added adapter
        return [dataclasses.replace(r, condition=FGSM, accuracy=r.accuracy - 0.1 * (r.k - 1)) for r in rows]

    f = F.adversarial_drops(_study(tmp_path, _linear(0.02), extra_rows=attack))[0]
    assert "+30.00 pts" in f.statistic
    # drop part: does not hold; variance part: equal variances (a shift per k) → not larger → does not hold
    assert f.verdict == F.FAILS


def test_pruning_and_sparse_from_extras(tmp_path: Path) -> None:
    def only_sparse(rows: list[EvalRow]) -> list[EvalRow]:
        return [r for r in extras(rows) if r.mixer.startswith("sparse")]

    study = _study(tmp_path, _linear(0.02), extra_rows=only_sparse)
    assert F.sparse_beats_upper(study).verdict == F.HOLDS
    assert F.pruning_keeps(study)[0].verdict == F.NOT_MEASURED


def test_sparse_below_the_upper_bound_does_not_hold(tmp_path: Path) -> None:
    def worse(rows: list[EvalRow]) -> list[EvalRow]:
        return [row(r.target, r.members, r.accuracy - 0.05, **mixer("sparse", sparsity=0.9, m=1))
                for r in rows if r.k >= 2]

    f = F.sparse_beats_upper(_study(tmp_path, _linear(0.0), extra_rows=worse))
    assert f.verdict == F.FAILS and f.statistic.startswith("sparse mixtures beat the dense upper bound in 0 of")


# -- uncertainty ------------------------------------------------------------------------------------------------


def test_paired_bootstrap_covers_the_true_difference() -> None:
    """Over 200 simulated test sets the 95 % interval should cover the true difference ≈ 95 % of the time."""
    rng = np.random.default_rng(1)
    n, p_a, p_b, covered = 300, 0.85, 0.80, 0
    for rep in range(200):
        # Correlated per-example outcomes, as two mixtures scored on the same examples are: b reuses a's
        # uniform draw on 90 % of the examples (still uniform), so P(a) − P(b) is exactly 0.05.
        u = rng.random(n)
        v = np.where(rng.random(n) < 0.1, rng.random(n), u)
        ci = paired_example_bootstrap({"t": [((u < p_a).astype(float), (v < p_b).astype(float))]}, n_boot=500,
                                      seed=rep)
        covered += ci.lo <= p_a - p_b <= ci.hi
    assert 0.90 <= covered / 200 <= 0.99, covered


def test_paired_is_narrower_than_unpaired_for_correlated_rows() -> None:
    rng = np.random.default_rng(2)
    u = rng.random(400)
    a, b = (u < 0.8).astype(float), (u < 0.75).astype(float)
    paired = paired_example_bootstrap({"t": [(a, b)]})
    independent = paired_example_bootstrap({"t": [(a, rng.permutation(b))]})
    assert paired.estimate == pytest.approx(a.mean() - b.mean()) and paired.method == PAIRED
    assert paired.hi - paired.lo < 0.5 * (independent.hi - independent.lo)


def test_difference_uses_examples_only_when_every_row_has_them() -> None:
    a, b = row("sst2", ["sst2"], 0.9, correct=correct_vector(0.9, 200, 0)), row("sst2", ["sst2", "ag"], 0.5)
    ci = F.difference({"sst2": [(a, b)]}, "targets")
    assert ci.method == "bootstrap over targets" and ci.estimate == pytest.approx(0.4)
    b = dataclasses.replace(b, correct=correct_vector(0.5, 200, 0))
    ci = F.difference({"sst2": [(a, b)]}, "targets")
    assert ci.method == PAIRED and ci.estimate == pytest.approx(0.4) and ci.lo < 0.4 < ci.hi


def test_findings_use_the_paired_bootstrap_when_rows_store_examples(tmp_path: Path) -> None:
    f = F.accuracy_falls(_study(tmp_path, _linear(0.02), examples=True))
    assert f.verdict == F.HOLDS and PAIRED in f.uncertainty and "n = 4" in f.uncertainty


def test_bootstrap_is_deterministic_and_refuses_nothing() -> None:
    assert bootstrap_mean([1.0, 2.0, 4.0], "targets") == bootstrap_mean([1.0, 2.0, 4.0], "targets")
    one = bootstrap_mean([0.3], "targets")
    assert (one.lo, one.estimate, one.hi, one.n) == (0.3, 0.3, 0.3, 1)
    with pytest.raises(ValueError, match="no values"):
        bootstrap_mean([], "targets")


def test_attack_is_compared_with_clean_accuracy_on_the_same_examples(tmp_path: Path) -> None:
    def attack(rows: list[EvalRow]) -> list[EvalRow]:
        # The attacked sample's clean accuracy falls 4 points per adapter (the full split's only 2); the attack
        # costs a flat 10 points. Against the same sample the drops agree; against the clean rows they would not.
        out = []
        for r in rows:
            same = BASE[r.target] - 0.04 * (r.k - 1)
            out.append(dataclasses.replace(r, condition=FGSM, accuracy=same - 0.1, metrics={"clean_accuracy": same}))
        return out

    f = F.adversarial_drops(_study(tmp_path, _linear(0.02), extra_rows=attack))[0]
    assert f.table is not None and {r[-1] for r in f.table.rows} == {"same examples"}
    assert "+0.00 pts over 4 targets" in f.statistic  # the drop part holds ...
    assert "larger under attack in 0 of 8" in f.statistic and f.verdict == F.MIXED  # ... equal variances do not


# -- the fourth verdict: undecided ------------------------------------------------------------------------------


def _pruned(drop: float):
    """Pruned single adapters (global, 90 %) that lose `drop` on every target, with per-example results."""
    def rows(clean: list[EvalRow]) -> list[EvalRow]:
        out = []
        for r in clean:
            if r.k == 1:
                acc = round((r.accuracy - drop) * 200) / 200
                out.append(row(r.target, [r.target], acc, correct=correct_vector(acc, 200, IDX[r.target]),
                               **mixer("prune", sparsity=0.9, scope="global")))
        return out
    return rows


def test_pruning_is_undecided_when_each_interval_spans_the_threshold(tmp_path: Path) -> None:
    # 1.5 points lost of 200 examples: above the 1-point threshold, but each paired interval reaches below it.
    (f,) = F.pruning_keeps(_study(tmp_path, _linear(0.02), examples=True, extra_rows=_pruned(0.015)))
    assert f.verdict == F.UNDECIDED and "4 undecided" in f.statistic, f.statistic
    assert f.table is not None and {r[-1] for r in f.table.rows} == {"undecided"}
    assert "test examples per target (now 200)" in f.to_decide
    assert "to decide:" in F.findings_table([f]).rows[0][-1]


def test_pruning_is_decided_when_the_intervals_clear_the_threshold(tmp_path: Path) -> None:
    (f,) = F.pruning_keeps(_study(tmp_path, _linear(0.02), examples=True, extra_rows=_pruned(0.20)))
    assert f.verdict == F.FAILS and f.to_decide == ""


def test_side_and_evidence_factor() -> None:
    from adaptermix.reporting.uncertainty import CI

    ci = CI(0.02, 0.0, 0.04, PAIRED, 10)
    assert F.side(ci, 0.01) == 0 and F.side(ci, -0.01) == 1 and F.side(ci, 0.04) == -1
    # half-width 0.02, margin 0.01: four times the evidence halves the interval to the margin
    assert F.evidence_factor(ci, 0.01) == pytest.approx(4.0)
    assert F.evidence_factor(CI(0.01, 0.0, 0.02, PAIRED, 10), 0.01) == float("inf")
