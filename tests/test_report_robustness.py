"""Table 1 (three columns), Findings #2/#3 and the robustness section on a store whose truth is known."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest

from adaptermix.reporting.robustness import (
    finding2,
    finding3,
    finding3_summary,
    load_conditions,
    robustness_section,
    table1_robustness,
)
from adaptermix.store import Store
from adaptermix.store.synthetic import synthetic_study

FGSM = "fgsm(batch_size=32,epsilon=0.01,n=100,seed=0)"
SLOPE = 0.05  # the attack costs 5 more points per added adapter
SPREAD = 2.0  # and doubles every deviation from the (target, k) mean: variance × 4


@pytest.fixture
def store(tmp_path):
    meta, rows, _ = synthetic_study(("a", "b", "c", "d"), seed=3)
    means: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        means[(r.target, r.k)].append(r.accuracy)
    attacked = []
    for r in rows:
        mean = float(np.mean(means[(r.target, r.k)]))
        acc = r.accuracy - SLOPE * (r.k - 1) + (SPREAD - 1) * (r.accuracy - mean)
        attacked.append(replace(r, condition=FGSM, accuracy=acc,
                                condition_params='{"condition":"fgsm","params":{"epsilon":0.01,"n":100}}',
                                metrics={"clean_accuracy": r.accuracy, "accuracy_under_attack": acc}))
    path = tmp_path / "s.sqlite"
    with Store.open(path, meta) as s:
        s.upsert(rows)
        s.upsert(attacked)
    return path


def test_table1_has_clean_and_attack_columns_with_the_known_gap(store):
    t = table1_robustness(load_conditions(store))
    assert t.columns[1] == "clean_drop_pts" and t.columns[2].startswith("fgsm")
    body = [r for r in t.rows if r[0] in ("a", "b", "c", "d")]
    assert len(body) == 4
    for _, clean, attack in body:
        assert attack - clean == pytest.approx(100 * SLOPE * 3)  # k = 1 → 4
    avg = next(r for r in t.rows if r[0] == "average")
    assert avg[2] - avg[1] == pytest.approx(15.0)
    paper = t.rows[-1]
    assert paper[1:] == (11.91, 10.30)


def test_finding2_compares_on_the_same_sample(store):
    t = finding2(load_conditions(store))
    (row,) = t.rows
    assert row[1] == 4 and row[4] == pytest.approx(15.0)
    assert row[5] == pytest.approx(10.30 - 11.91)


def test_finding3_variance_ratio_is_the_known_factor(store):
    t = finding3(load_conditions(store))
    assert t.rows and {r[2] for r in t.rows} == {2, 3}  # k = 1 and k = 4 have one member set each
    for r in t.rows:
        assert r[6] == pytest.approx(SPREAD**2)
    ((larger, total),) = finding3_summary(t).values()
    assert larger == total == len(t.rows)


def test_section_only_when_attack_rows_exist(store, tmp_path):
    sec = robustness_section(store)
    assert sec is not None and sec.id == "robustness"
    assert {t.name for t in sec.tables} >= {"table1_robustness", "finding2", "finding3"}
    assert sec.figures and sec.figures[0].png.startswith(b"\x89PNG")
    meta, rows, _ = synthetic_study(("a", "b"), seed=1)
    clean_only = tmp_path / "clean.sqlite"
    with Store.open(clean_only, meta) as s:
        s.upsert(rows)
    assert robustness_section(clean_only) is None
