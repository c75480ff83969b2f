"""benchmarks/advisor_regret.py on a synthetic exhaustive store whose optimum is known."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from adaptermix.advice import STRATEGIES
from adaptermix.advice.partition import best_partition, random_partition_mean
from adaptermix.advice.regret import evaluate_strategies, partition_half_split_floor
from adaptermix.advice.tables import by_name, sets_with
from adaptermix.store import AdapterRef, EvalRow, Store, StudyMeta
from adaptermix.store.schema import pack_correct
from test_advice_core import fake_signals

N_TEST = 400


def bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "advisor_regret.py"
    spec = importlib.util.spec_from_file_location("advisor_regret", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_store(path: Path, domains: tuple[str, ...], truth: np.ndarray, split: str = "test") -> None:
    meta = StudyMeta(adapters=tuple(AdapterRef(d, f"{i:064x}", f"adapters/{d}") for i, d in enumerate(domains)),
                     eval_config={"split": split, "max_examples": N_TEST, "max_length": 32},
                     base_fingerprint="synthetic", method="pfeiffer")
    rows = []
    for i, ((target, members), acc) in enumerate(by_name(truth, domains).items()):
        hits = np.zeros(N_TEST, dtype=bool)
        hits[np.random.default_rng(i).permutation(N_TEST)[: round(acc * N_TEST)]] = True
        rows.append(EvalRow(target=target, members=members, condition="clean", accuracy=float(hits.mean()),
                            macro_f1=0.5, n_examples=N_TEST, pair_fsd=None, flip_fraction=None,
                            mean_pairwise_fsd=None, seconds=0.1, tokens=N_TEST * 10, correct=pack_correct(hits)))
    with Store.open(path, meta) as store:
        store.upsert(rows)


def test_benchmark_on_a_store_with_a_known_optimum(tmp_path: Path) -> None:
    signals, world = fake_signals(n=5, seed=7)
    write_store(tmp_path / "study.sqlite", signals.domains, world)
    domains, truth, correct, exhaustive, n_test = bench().load_truth(tmp_path / "study.sqlite", "average")
    assert tuple(domains) == signals.domains and n_test == dict.fromkeys(domains, N_TEST)
    assert exhaustive == 5 * 16 * N_TEST * 10
    assert np.nanmax(np.abs(truth - world)) <= 0.5 / N_TEST + 1e-12  # the stored rows are the world, rounded
    reports = {r.strategy: r for r in evaluate_strategies(truth, signals, STRATEGIES.names(),
                                                          {"validation": exhaustive // 20}, exhaustive)}
    best = reports["surrogate"]
    assert best.partners.regret == pytest.approx(0.0, abs=0.3)  # rounding to 1/400 can swap near-ties
    assert best.partners.hit_rate >= 0.9 and best.cost_fraction == pytest.approx(0.05)
    for p in best.partitions:
        assert 100 * (p.optimum - p.reached) <= 0.3
        assert p.optimum == pytest.approx(best_partition(truth, p.groups).value)
    rnd = reports["random"]
    for c in rnd.partners.cells:  # random = the exact mean over its cell, never one draw
        assert c.picked == pytest.approx(np.mean(truth[c.target, list(sets_with(c.target, c.k, 5))]))
    for p in rnd.partitions:
        assert p.reached == pytest.approx(random_partition_mean(truth, p.groups))
    assert rnd.partners.regret > best.partners.regret
    floor = bench().half_split_floor(correct, 5, splits=3)
    assert 0 <= floor < rnd.partners.regret
    table = bench().partners_table(list(reports.values()), floor)
    assert len(table) == 2 + len(reports) + 1 and "choose on half" in table[-1]
    part_floor = partition_half_split_floor(correct, 5, splits=3)
    assert set(part_floor) == {2, 3, 4} and all(v >= 0 for v in part_floor.values())
    lines = bench().partitions_table(list(reports.values()), None, part_floor)
    assert "choose on half" in lines[-1] and lines[-1].count("|") == lines[0].count("|")


def test_partition_floor_is_zero_without_noise_and_positive_with_it() -> None:
    """Mixtures right or wrong on every example leave no floor; coin flips alike in expectation leave one."""
    n, size = 4, 200
    rng = np.random.default_rng(0)
    clean, noisy = {}, {}
    for t in range(n):
        for mask in range(1, 1 << n):
            if mask >> t & 1:
                clean[(t, mask)] = np.full(size, float((mask * 7 + t) % 3 == 0))  # every half: the same table
                noisy[(t, mask)] = (rng.random(size) < 0.7).astype(float)
    assert partition_half_split_floor(clean, n, splits=2) == {2: 0.0, 3: 0.0}
    assert np.mean(list(partition_half_split_floor(noisy, n, splits=4).values())) > 0.5


def weights_module() -> ModuleType:
    bench()  # puts benchmarks/ on sys.path
    import advisor_weights

    return advisor_weights


def test_paired_bootstrap_and_the_weights_table() -> None:
    module = weights_module()
    a = np.array([1, 1, 1, 0] * 50, dtype=bool)
    mean, low, high = module.paired_bootstrap(a, a)
    assert mean == low == high == 0.0
    better = np.ones(200, dtype=bool)
    mean, low, high = module.paired_bootstrap(better, a)
    assert mean == pytest.approx(25.0) and 0 < low <= mean <= high
    row = module.WeightRow("d0", 2, ("d0", "d1"), (0.8, 0.2), 0.5, 0.4, 0.75, 1.0, 0.8, ("d0", "d2"),
                           (mean, low, high), (20.0, 15.0, 25.0), 0.9, (10.0, -1.0, 20.0), 1.0, 100, 1.0)
    table = module.weights_table([row])
    assert len(table) == 4 and "better" in table[2] and "tie" in table[2] and "1 better, 0 worse" in table[3]


def test_stratified_bootstrap_and_the_partition_weights_table() -> None:
    bench()  # puts benchmarks/ on sys.path
    import advisor_partition_weights as module

    same = np.array([1, 0] * 40, dtype=bool)
    assert module.stratified_bootstrap([(same, same), (same[:20], same[:20])]) == (0.0, 0.0, 0.0)
    # Domains weigh equally however many examples each has: +50 points on one, 0 on the other → +25.
    mean, low, high = module.stratified_bootstrap([(np.ones(80, dtype=bool), same), (same[:20], same[:20])])
    assert mean == pytest.approx(25.0) and 0 < low <= mean <= high < 50
    row = module.PartitionWeightRow(2, (("a", "b"), ("c",)), ((0.7, 0.3), (1.0,)), 0.80, 0.82, 0.85,
                                    (2.0, 0.5, 3.5), (("a", 80.0, 84.0), ("b", 70.0, 72.0), ("c", 90.0, 90.0)), 10, 1.0)
    table = module.partition_weights_table([row])
    assert len(table) == 4 and "a 0.70 + b 0.30 \\| c" in table[2] and "better" in table[2]
    assert "-3.00" in table[2] and "1 better, 0 worse" in table[3]


def test_partitions_table_holds_the_clustering_baselines() -> None:
    from adaptermix.advice.clustering import PARTITIONERS
    from adaptermix.advice.regret import evaluate_partitioners

    signals, world = fake_signals(n=5, seed=7)
    reports = evaluate_strategies(world, signals, STRATEGIES.names(), {}, 1000)
    clusters = evaluate_partitioners(world, signals, PARTITIONERS.names(), {"text": 10}, 1000)
    table = bench().partitions_table(reports, clusters)
    assert len(table) == 3 + len(reports) + len(clusters)
    row = next(line for line in table if line.startswith("| kmeans_text |"))
    assert "mean of 5 seeds" in row and "| text | 1.00 |" in row
    assert any(line.startswith("| fsd_clustering | its clusters | weights |") for line in table)


def test_race_table_compares_the_race_with_its_seed() -> None:
    bench()  # puts benchmarks/ on sys.path
    import advisor_racing

    rows = [advisor_racing.RaceCell("surrogate", t, 2, 4, seed, won, rank, 1, 3, 10, 300, 3000, 1.0)
            for t, seed, won, rank in (("a", 1.0, 0.0, 2), ("b", 0.5, 0.5, 0), ("c", 0.0, 2.0, 1))]
    table = advisor_racing.race_table(rows, {"surrogate": 1000}, 100_000)
    assert len(table) == 3
    row = table[2]
    assert row.startswith("| surrogate + race | 3 | 0.83 |") and "| 0.50 |" in row  # race vs the seed's own pick
    assert "| 2 | 1 / 1 |" in row and "| 75 | 10.00 |" in row  # changed 2 picks; (1,000 + 9,000) / 100,000


def test_the_scale_benchmark_times_every_step_on_signals_every_strategy_reads(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    root = Path(__file__).resolve().parents[1] / "benchmarks"
    monkeypatch.syspath_prepend(str(root))
    spec = importlib.util.spec_from_file_location("advisor_scale", root / "advisor_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    signals = module.synthetic_signals(5)
    for name in STRATEGIES.names():  # every strategy scores the synthetic signals
        assert STRATEGIES.get(name).scores(signals).score.shape == (5, 1 << 5)
    monkeypatch.setattr(sys, "argv", ["advisor_scale.py", "--n", "5"])
    module.main()
    out = capsys.readouterr().out
    assert out.count("score table:") == len(STRATEGIES.names()) and "G = 4: exact DP" in out
    monkeypatch.setattr(sys, "argv", ["advisor_scale.py", "--n", "40"])
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    assert exit_info.value.code == 2
