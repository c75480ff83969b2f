"""benchmarks/advisor_validation_floor.py: the advisor's choices made on every mixture's validation accuracy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adaptermix.advice.racing import RaceSpec
from adaptermix.advice.tables import by_name, table_from_rows
from test_advice_benchmark import write_store
from test_advice_core import fake_signals

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "advisor_validation_floor.py"
sys.path.insert(0, str(SCRIPT.parent))


def floor(tmp_path: Path, test: np.ndarray, val: np.ndarray, domains: tuple[str, ...]) -> dict:
    write_store(tmp_path / "test.sqlite", domains, test)
    # The validation store lists its domains in another order (a sweep of a folder lists them sorted): the same
    # mixtures must be compared.
    flipped = tuple(reversed(domains))
    val = table_from_rows(flipped, [(t, m, a) for (t, m), a in by_name(val, domains).items()])
    write_store(tmp_path / "val.sqlite", flipped, val, split="validation")
    out = tmp_path / "floor.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--store", str(tmp_path / "test.sqlite"), "--validation-store",
                          str(tmp_path / "val.sqlite"), "--json-out", str(out)], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "## Partitions" in run.stdout
    return json.loads(out.read_text())


def test_validation_equal_to_test_reaches_every_optimum(tmp_path: Path) -> None:
    signals, world = fake_signals(n=5, seed=3)
    doc = floor(tmp_path, world, world, signals.domains)
    row = doc["rows"]["every mixture on the whole validation split"]
    assert row["regret"] == pytest.approx(0.0, abs=1e-9) and row["mae"] == pytest.approx(0.0, abs=1e-9)
    assert row["partitions"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    assert doc["validation_as_prediction"]["mae"] == pytest.approx(0.0, abs=1e-12)


def test_a_constant_shift_per_target_changes_no_choice_and_shows_as_its_sign(tmp_path: Path) -> None:
    signals, world = fake_signals(n=5, seed=4)
    # Stored accuracies are whole examples out of 400: a shift of 8 examples stays exact after rounding.
    world = np.round(world * 400) / 400
    shifted = world.copy()
    shifted[1] = np.clip(world[1] + 8 / 400, 0, 1)  # target 1's validation runs 2 points above its test
    doc = floor(tmp_path, world, shifted, signals.domains)
    row = doc["rows"]["every mixture on the whole validation split"]
    assert row["regret"] == pytest.approx(0.0, abs=1e-9)
    assert row["partitions"] == pytest.approx([0.0, 0.0, 0.0], abs=1e-9)
    per = {p["target"]: p for p in doc["validation_as_prediction"]["per_target"]}
    assert per[signals.domains[1]]["signed"] == pytest.approx(0.02, abs=1e-9)
    assert all(per[d]["signed"] == pytest.approx(0.0, abs=1e-12) for d in signals.domains if d != signals.domains[1])


def test_a_store_of_the_wrong_split_is_refused(tmp_path: Path) -> None:
    signals, world = fake_signals(n=4, seed=5)
    write_store(tmp_path / "a.sqlite", signals.domains, world)
    write_store(tmp_path / "b.sqlite", signals.domains, world)  # the test split again
    run = subprocess.run([sys.executable, str(SCRIPT), "--store", str(tmp_path / "a.sqlite"), "--validation-store",
                          str(tmp_path / "b.sqlite")], capture_output=True, text=True, check=False)
    assert run.returncode != 0 and "must be the validation split's" in run.stderr


def test_the_replayed_partition_race_measures_what_the_validation_store_holds(tmp_path: Path) -> None:
    from advisor_validation_floor import replay_partition_races

    from adaptermix.advice.partition import best_partition, partition_value
    from adaptermix.advice.partition_race import top_partitions

    signals, world = fake_signals(n=5, seed=5)
    domains = signals.domains
    write_store(tmp_path / "test.sqlite", domains, world)
    write_store(tmp_path / "val.sqlite", domains, world, split="validation")  # validation bits = test bits
    test = table_from_rows(domains, [(t, m, a) for (t, m), a in by_name(world, domains).items()])
    test = np.round(test * 400) / 400  # the stored accuracies
    prior = np.asarray(world) + np.random.default_rng(0).normal(0, 0.05, np.shape(world))  # a noisy seed
    val = tmp_path / "val.sqlite"
    rich = replay_partition_races(val, list(domains), test, prior, [3], 10**9, RaceSpec(examples=4096))
    for cell in rich["top 3, measure all, best mean"]:
        # Measured on every example with validation = test, the best candidate on test wins.
        assert cell["regret"] == pytest.approx(cell["best_candidate"], abs=1e-9)
        assert cell["examples"] > 0
    poor = replay_partition_races(tmp_path / "val.sqlite", list(domains), test, prior, [3], 0, RaceSpec())
    for cell in poor["top 3, drop"] + poor["top 3, measure all, best mean"] + poor["top 3, evidence"]:
        g = int(cell["groups"])
        seed = top_partitions(prior, g, 3)[0][0]  # nothing affordable: the seed's first partition stands
        assert cell["tokens"] == 0 and cell["winner"] == 0
        assert cell["regret"] == pytest.approx(100 * (best_partition(test, g).value - partition_value(test, seed)))
