"""The sweep report (Figs. 3, 5, 6, 7; Table 1; correlations), from synthetic stores only."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from adaptermix.analysis import correlate, greedy_selection
from adaptermix.cli.study import register
from adaptermix.reporting.sweep import FIG4, FIGURES, write_sweep_report
from adaptermix.store import Store, StoreError
from adaptermix.store.synthetic import DEFAULT_DOMAINS, synthetic_study, write_synthetic_store

TABLES = ("table1_clean", "aggregates", "fsd_correlation", "fig7_greedy")


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Path]]:
    tmp = tmp_path_factory.mktemp("sweep")
    store = write_synthetic_store(tmp / "study.sqlite", seed=3)
    return store, tmp / "report", write_sweep_report(store, tmp / "report")


def test_every_file_is_written(full_report) -> None:
    _, out, paths = full_report
    # The synthetic store has an FSD matrix, so Fig. 4 (its heatmap) is written too.
    expected = {*FIGURES, FIG4, *(f"{t}{s}" for t in TABLES for s in (".csv", ".md")), "report.md"}
    assert {p.name for p in paths} == expected
    for p in paths:
        assert p.parent == out and p.stat().st_size > 0, p
    for name in (*FIGURES, FIG4):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert "32 of 32" in report and all(f"]({name})" in report for name in FIGURES)
    assert not list(out.glob("*.tmp"))


def test_table1_equals_hand_computed_drops(full_report) -> None:
    store, out, _ = full_report
    _, rows, _ = synthetic_study(seed=3)
    acc = {(r.target, r.members_key): 100 * r.accuracy for r in rows}
    every = "+".join(sorted(DEFAULT_DOMAINS))
    table = _csv(out / "table1_clean.csv")
    assert [r["target"] for r in table] == [*DEFAULT_DOMAINS, "average"]
    drops = []
    for rec in table[:-1]:
        t = rec["target"]
        assert float(rec["acc_k1_pct"]) == pytest.approx(acc[(t, t)], abs=1e-4)
        assert float(rec["acc_k4_pct"]) == pytest.approx(acc[(t, every)], abs=1e-4)
        drops.append(acc[(t, t)] - acc[(t, every)])
        assert float(rec["drop_pts"]) == pytest.approx(drops[-1], abs=1e-4)
    assert float(table[-1]["drop_pts"]) == pytest.approx(np.mean(drops), abs=1e-4)
    assert "| average |" in (out / "table1_clean.md").read_text()


def test_fig7_greedy_picks_match_greedy_selection(full_report) -> None:
    store, out, _ = full_report
    with Store.read(store) as s:
        names, S = s.fsd_matrix()  # type: ignore[misc]
        acc = {r.key: 100 * r.accuracy for r in s.rows()}
    table = _csv(out / "fig7_greedy.csv")
    assert len(table) == len(DEFAULT_DOMAINS) * (len(DEFAULT_DOMAINS) - 1)  # l = 2..n per target
    for rec in table:
        t, l = rec["target"], int(rec["l"])  # noqa: E741
        others = [i for i, d in enumerate(names) if d != t]
        sub = S[np.ix_(others, others)]
        for col, maximize in (("min_fsd", False), ("max_fsd", True)):
            picks = [names[others[i]] for i in greedy_selection(sub, l - 1, maximize=maximize)]
            members = "+".join(sorted([t, *picks]))
            assert rec[f"{col}_members"] == members
            assert float(rec[f"{col}_acc_pct"]) == pytest.approx(acc[f"{t}|{members}"], abs=1e-4)
        same_size = [v for k, v in acc.items() if k.startswith(f"{t}|") and k.count("+") == l - 1]
        assert float(rec["upper_pct"]) == pytest.approx(max(same_size), abs=1e-4)
        assert float(rec["lower_pct"]) == pytest.approx(min(same_size), abs=1e-4)
        assert float(rec["lower_pct"]) <= float(rec["min_fsd_acc_pct"]) <= float(rec["upper_pct"])


def test_correlations_match_correlate(full_report) -> None:
    _, out, _ = full_report
    _, rows, _ = synthetic_study(seed=3)
    table = {(r["scope"], r["x"]): r for r in _csv(out / "fsd_correlation.csv")}
    assert {s for s, _ in table} == {*DEFAULT_DOMAINS, "pooled"}
    pooled = [r for r in rows if r.k >= 2]
    c = correlate([r.flip_fraction for r in pooled], [r.accuracy for r in pooled])
    got = table[("pooled", "flip_fraction")]
    assert int(got["n"]) == c.n == 4 * 7
    assert float(got["pearson_r"]) == pytest.approx(c.pearson_r, abs=1e-5)
    assert float(got["spearman_rho"]) == pytest.approx(c.spearman_rho, abs=1e-5)
    pair = [r for r in rows if r.target == "imdb" and r.k == 2]
    c2 = correlate([r.pair_fsd for r in pair], [r.accuracy for r in pair])
    assert float(table[("imdb", "pair_fsd")]["pearson_r"]) == pytest.approx(c2.pearson_r, abs=1e-5)


def test_partial_store_still_reports(tmp_path: Path) -> None:
    # Only k ≤ 2 rows and no FSD matrix: Fig. 6 and 7 panels and the k = n column degrade to notes.
    store = write_synthetic_store(tmp_path / "partial.sqlite", domains=("sst2", "imdb", "rte"), max_k=2,
                                  with_fsd=False)
    paths = write_sweep_report(store, tmp_path / "out")
    assert all(p.stat().st_size > 0 for p in paths)
    t1 = _csv(tmp_path / "out" / "table1_clean.csv")
    assert [r["acc_k3_pct"] for r in t1] == ["", "", ""] and all(r["acc_k1_pct"] for r in t1)
    assert "left out of the average" in (tmp_path / "out" / "table1_clean.md").read_text()
    assert _csv(tmp_path / "out" / "fig7_greedy.csv") == []
    assert "no FSD matrix" in (tmp_path / "out" / "fig7_greedy.md").read_text()
    corr = _csv(tmp_path / "out" / "fsd_correlation.csv")
    per_target_pairs = [r for r in corr if r["x"] == "pair_fsd" and r["scope"] != "pooled"]
    assert all(r["note"].startswith("skipped") and r["pearson_r"] == "" for r in per_target_pairs)
    assert "possible" in (tmp_path / "out" / "aggregates.md").read_text()


def test_sampled_store_marks_missing_greedy_sets(tmp_path: Path) -> None:
    meta, rows, S = synthetic_study(seed=5)
    with Store.open(tmp_path / "s.sqlite", meta) as s:
        s.upsert([r for i, r in enumerate(rows) if r.k in (1, 4) or i % 2 == 0])  # a "sampled" sweep
        s.set_fsd_matrix(list(meta.domains), S)
    write_sweep_report(tmp_path / "s.sqlite", tmp_path / "out")
    md = (tmp_path / "out" / "fig7_greedy.md").read_text()
    assert "not in the store" in md
    assert "count < possible" in (tmp_path / "out" / "aggregates.md").read_text()


def test_report_of_a_non_store_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no study store"):
        write_sweep_report(tmp_path / "nope.sqlite", tmp_path / "out")


def test_cli_export_and_plot(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    store = write_synthetic_store(tmp_path / "study.sqlite")
    runner = CliRunner()
    res = runner.invoke(app, ["export", str(store), "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "study.csv").is_file() and (tmp_path / "study_aggregates.csv").is_file()
    res = runner.invoke(app, ["plot", str(store), "--out", str(tmp_path / "figs")])
    assert res.exit_code == 0, res.output
    assert "fig3_accuracy_vs_k.png" in res.output and "| average |" in res.output
    res = runner.invoke(app, ["export", str(store), "--format", "xlsx"])
    assert isinstance(res.exception, StoreError)
