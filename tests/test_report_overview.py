"""The recipe overview: several studies side by side, each linking to its own report."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from adaptermix.reporting.html import _prose
from adaptermix.reporting.overview import OVERVIEW_IDS, write_overview
from adaptermix.reporting.report import INDEX
from adaptermix.store.synthetic import DEFAULT_DOMAINS
from conftest import one_line_error, run_cli
from test_report_fixtures import shaped_study
from test_report_html import _probe, chromium  # noqa: F401 - the fixture, shared

N = len(DEFAULT_DOMAINS)
BASE = {d: 0.9 - 0.02 * i for i, d in enumerate(DEFAULT_DOMAINS)}


def _studies(root: Path) -> list[tuple[str, Path]]:
    """Two studies whose accuracy falls 3 and 1 points per added adapter (exhaustive, every target)."""
    out = []
    for name, slope in (("houlsby", 0.03), ("lora", 0.01)):
        folder = root / f"minilm-{name}"
        folder.mkdir(parents=True)
        out.append((f"minilm/{name}", shaped_study(folder / "study.sqlite",
                                                   lambda t, m, s=slope: BASE[t] - s * (len(m) - 1))))
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def overview(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipe")
    return write_overview(_studies(root), root)


def test_overview_states_each_studys_numbers(overview: Path) -> None:
    out = overview.parent
    studies = {r["study"]: r for r in _csv(out / "overview_studies.csv")}
    assert set(studies) == {"minilm/houlsby", "minilm/lora"}
    for label, slope in (("minilm/houlsby", 3.0), ("minilm/lora", 1.0)):
        assert float(studies[label]["drop_pts"]) == pytest.approx(slope * (N - 1))
        assert float(studies[label]["single_pct"]) == pytest.approx(100 * sum(BASE.values()) / N)
    by_k = _csv(out / "overview_by_k.csv")
    assert [int(r["k"]) for r in by_k] == list(range(1, N + 1))
    for r in by_k:
        k = int(r["k"])
        assert float(r["minilm/houlsby"]) == pytest.approx(100 * sum(BASE.values()) / N - 3.0 * (k - 1))
        assert float(r["minilm/lora"]) == pytest.approx(100 * sum(BASE.values()) / N - 1.0 * (k - 1))
    verdicts = _csv(out / "overview_verdicts.csv")
    assert list(verdicts[0]) == ["finding", "verdict: minilm/houlsby", "verdict: minilm/lora"]
    falls = next(r for r in verdicts if r["finding"].startswith("Accuracy of every target falls"))
    assert falls["verdict: minilm/houlsby"] == falls["verdict: minilm/lora"] == "holds"
    evidence = _csv(out / "overview_evidence.csv")
    cell = next(r for r in evidence if r["finding"] == falls["finding"])["minilm/houlsby"]
    low, high = map(float, re.fullmatch(r"\+[\d.]+ pts \[\+([\d.]+), \+([\d.]+)\]", cell).groups())
    assert low <= 3.0 * (N - 1) <= high  # the interval holds the synthetic study's true drop
    assert (out / "overview_by_k.png").read_bytes()[:4] == b"\x89PNG"


def test_overview_page_links_each_study_report_by_a_relative_path(overview: Path) -> None:
    page = overview.read_text()
    assert re.findall(r'<section id="([a-z0-9-]+)">', page) == list(OVERVIEW_IDS)
    links = re.findall(r'<a href="([^"#]+)">', page)
    assert links == [f"minilm-houlsby/report/{INDEX}", f"minilm-lora/report/{INDEX}"]
    assert 'class="verdict v-holds"' in page
    assert "http" not in page.replace("http-equiv", "")


def test_only_relative_links_become_anchors() -> None:
    assert _prose("see [a](x/index.html)") == 'see <a href="x/index.html">a</a>'
    for text in ("[a](https://example.org)", "[a](/etc/passwd)", "[a](javascript:alert(1))"):
        assert "<a " not in _prose(text)
    assert "<a " not in _prose("k in [2, 13] (the paper)")


def test_report_cli_with_several_stores_writes_each_report_and_the_overview(tmp_path: Path, capsys) -> None:
    studies = _studies(tmp_path)
    stores = [str(p) for _, p in studies]
    code, out, err = run_cli(["report", *stores], capsys)
    assert code == 0, err
    assert (tmp_path / INDEX).is_file()
    for _, store in studies:
        assert (store.parent / "report" / INDEX).is_file()
    assert str(tmp_path / INDEX) in out
    code, _, err = run_cli(["report", stores[0], stores[0]], capsys)
    one_line_error(code, err, "named twice")


def test_report_with_out_writes_everything_under_it(tmp_path: Path, capsys) -> None:
    """`--out DIR` with several stores: the overview and each study's report under DIR, nothing beside the stores."""
    studies = _studies(tmp_path / "stores")
    before = sorted(p for p in (tmp_path / "stores").rglob("*"))
    out = tmp_path / "published"
    code, printed, err = run_cli(["report", *(str(p) for _, p in studies), "--out", str(out)], capsys)
    assert code == 0, err
    assert sorted(p for p in (tmp_path / "stores").rglob("*")) == before
    page = (out / INDEX).read_text()
    links = re.findall(r'<a href="([^"#]+)">', page)
    assert links == [f"minilm-houlsby/{INDEX}", f"minilm-lora/{INDEX}"]
    assert all((out / link).is_file() for link in links)
    assert str(out / INDEX) in printed


def test_overview_in_headless_chromium(chromium: str, overview: Path, tmp_path: Path) -> None:  # noqa: F811
    result = _probe(chromium, overview, tmp_path)
    assert result["errors"] == [] and result["undecoded"] == [] and result["images"] == 1, result
    assert result["sections"] == list(OVERVIEW_IDS)
    assert result["overflow"] <= 0


def _relabel(store: Path, label: str) -> None:
    """Give a store's meta a label, as a recipe's sweep records it."""
    import dataclasses
    import sqlite3

    from adaptermix.store.schema import StudyMeta

    con = sqlite3.connect(store)
    with con:
        [(text,)] = con.execute("SELECT value FROM meta WHERE key = 'study'")
        meta = dataclasses.replace(StudyMeta.from_json(text), label=label)
        con.execute("UPDATE meta SET value = ? WHERE key = 'study'", (meta.to_json(),))
    con.close()


def test_report_names_studies_from_their_stores(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 19: `adaptermix report A B` labels studies as `run` did, from the stores, not from folder names
    (both stores here sit in folders called `study`)."""
    stores = []
    for cell, slope in (("width=w64", 0.03), ("width=w256", 0.01)):
        folder = tmp_path / cell.replace("=", "-") / "study"
        folder.mkdir(parents=True)
        store = shaped_study(folder / "study.sqlite", lambda t, m, s=slope: BASE[t] - s * (len(m) - 1))
        _relabel(store, f"{cell} minilm/pfeiffer")
        stores.append(store)
    code, out, err = run_cli(["report", *map(str, stores), "--out", str(tmp_path / "ov")], capsys)
    assert code == 0, err
    labels = [r["study"] for r in _csv(tmp_path / "ov" / "overview_studies.csv")]
    assert labels == ["width=w64 minilm/pfeiffer", "width=w256 minilm/pfeiffer"]
    _relabel(stores[1], "width=w64 minilm/pfeiffer")  # two stores calling themselves the same: paths instead
    code, out, err = run_cli(["report", *map(str, stores), "--out", str(tmp_path / "ov2")], capsys)
    assert code == 0, err
    assert [r["study"] for r in _csv(tmp_path / "ov2" / "overview_studies.csv")] == list(map(str, stores))


def test_a_study_report_is_titled_by_its_stores_name(tmp_path: Path) -> None:
    from adaptermix.reporting.report import write_html_report

    folder = tmp_path / "study"
    folder.mkdir()
    store = shaped_study(folder / "study.sqlite", lambda t, m: BASE[t] - 0.02 * (len(m) - 1))
    untitled = write_html_report(store, tmp_path / "r0").read_text()
    assert "<h1>adaptermix study report: study/study.sqlite</h1>" in untitled  # no label: the folder
    _relabel(store, "width=w64 minilm/pfeiffer")
    page = write_html_report(store, tmp_path / "r1").read_text()
    assert "<h1>adaptermix study report: width=w64 minilm/pfeiffer</h1>" in page
