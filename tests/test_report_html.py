"""The HTML report: self-contained, every section in the paper's order, the CLI, and a headless-Chromium check."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adaptermix.reporting.html import CSP, SORT_SCRIPT
from adaptermix.reporting.report import INDEX, SECTION_IDS, write_html_report
from adaptermix.store.synthetic import write_synthetic_store
from conftest import one_line_error, run_cli
from test_report_fixtures import full_study, shaped_study


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("html")
    return write_html_report(full_study(tmp / "study.sqlite"), tmp / "report")


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z0-9-]+)">', page)


def test_sections_in_the_papers_order_and_every_kind_present(full_report: Path) -> None:
    page = full_report.read_text()
    top = [s for s in _sections(page) if s in SECTION_IDS]
    assert top == list(SECTION_IDS)
    # Every section with rows in the full study is rendered, not replaced by a "not run" line.
    not_run = re.findall(r'<section id="([a-z0-9-]+)"><h\d>[^<]*</h\d><p class="not-run">', page)
    assert not_run == [], not_run
    for needle in ("Fig. 3", "Fig. 4", "Fig. 5", "Fig. 6", "Fig. 7", "Fig. 8a", "Fig. 8b", "Table 1", "Table 3",
                   "Fig. 2a", "Fig. 2b", "Table 7", "Sec. 5.2", "The paper&#x27;s findings, re-measured",
                   "FGSM (white-box, ε = 0.01)", "global scope"):
        assert needle in page, needle


def test_page_is_self_contained(full_report: Path) -> None:
    page = full_report.read_text()
    assert not re.search(r"https?://", page)
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"<link|<iframe|@import|url\(", page, re.IGNORECASE)
    # One script, the table sorter, allowed by its hash alone: an edited or injected script never runs.
    assert re.findall(r"<script>(.*?)</script>", page, re.S) == [SORT_SCRIPT]
    assert f'content="{CSP}"' in page and "default-src 'none'" in CSP and "script-src 'sha256-" in CSP
    assert "unsafe-inline" not in CSP.split("script-src")[1]
    # Each figure has a caption; each figure with numbers is followed by its table.
    assert page.count("<figure>") == page.count("<figcaption>") >= 8


def test_side_files_are_written_and_nothing_half_written(full_report: Path) -> None:
    out = full_report.parent
    names = {p.name for p in out.iterdir()}
    for name in ("fig3_accuracy_vs_k.png", "fig8a_pruning.csv", "fig8b_sparse.md", "findings.csv", "findings.md",
                 "table1_clean.csv", INDEX):
        assert name in names, name
    assert not [n for n in names if n.endswith(".tmp")]
    assert "holds" in (out / "findings.csv").read_text()


def test_missing_sections_say_how_to_run_them(tmp_path: Path) -> None:
    store = write_synthetic_store(tmp_path / "s.sqlite", with_fsd=False)
    page = write_html_report(store, tmp_path / "r").read_text()
    assert [s for s in _sections(page) if s in SECTION_IDS] == list(SECTION_IDS)
    found = re.findall(r'<section id="([a-z0-9-]+)"><h\d>[^<]*</h\d><p class="not-run">(.*?)</p>', page)
    lines = {sid: re.sub(r"<[^>]+>", "", text) for sid, text in found}
    assert {"dataset", "robustness", "greedy", "sec7"} <= set(lines), lines
    assert all(text.startswith("Not run in this study: ") and len(text) > 40 for text in lines.values())
    assert "not measured" in page and "<code>adaptermix run RECIPE</code>" in page


def test_text_from_the_store_is_escaped(tmp_path: Path) -> None:
    store = shaped_study(tmp_path / "s.sqlite", lambda t, m: 0.9 - 0.01 * len(m), domains=("x<i>", "y&z", "w"))
    page = write_html_report(store, tmp_path / "r").read_text()
    assert "x&lt;i&gt;" in page and "y&amp;z" in page and "<i>" not in page


def test_cli_writes_the_report_and_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = write_synthetic_store(tmp_path / "study.sqlite", max_k=2)
    code, out, err = run_cli(["report", str(store)], capsys)
    assert code == 0, err
    assert out.strip() == str(tmp_path / "report" / INDEX) and (tmp_path / "report" / INDEX).is_file()

    code, _, err = run_cli(["report", str(tmp_path / "nope.sqlite")], capsys)
    one_line_error(code, err, "nope.sqlite", "adaptermix run")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.sqlite").write_text("not a database")
    code, _, err = run_cli(["report", str(tmp_path / "junk" / "notes.sqlite")], capsys)
    one_line_error(code, err, "not an adaptermix study store")
    assert not (tmp_path / "junk" / "report").exists()  # nothing half-written
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["report", str(store), "--out", str(blocker / "r")], capsys)
    one_line_error(code, err, "--out", "choose another path")
    assert blocker.read_text() == "x"


# -- headless Chromium ----------------------------------------------------------------------------------------

# Injected as the first element of <head> in a copy of the page only (the report itself has no script). It runs
# before the page's Content-Security-Policy meta is parsed, so the copy keeps the report's CSP unchanged. It records
# console errors, failed loads and CSP violations from the start, then, after load, which images decoded, which
# sections exist, and whether the page is wider than the window (unreadable on a laptop).
_PROBE = """<head><script>
const found = [];
const error = console.error;
console.error = (...args) => { found.push('console.error: ' + args.join(' ')); error.apply(console, args); };
window.addEventListener('error', e => found.push('error: ' + (e.message || (e.target && e.target.outerHTML))), true);
window.addEventListener('unhandledrejection', e => found.push('rejection: ' + e.reason));
document.addEventListener('securitypolicyviolation',
                          e => found.push('csp: ' + e.violatedDirective + ' ' + e.blockedURI));
function lines(el) {  // distinct line boxes of an element's text (its text nodes', not its badges' boxes)
  const tops = new Set(), walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    const r = document.createRange(); r.selectNodeContents(node);
    Array.from(r.getClientRects()).filter(x => x.width > 0).forEach(x => tops.add(Math.round(x.top)));
  }
  return tops.size;
}
function column(table, i) { return Array.from(table.tBodies[0].rows).map(r => r.cells[i].textContent.trim()); }
function sorts() {  // click the first numeric column head of a long sortable table: do its rows come out in order?
  for (const table of document.querySelectorAll('table.sortable')) {
    if (table.tBodies[0].rows.length < 4) continue;
    const num = t => parseFloat(t.replace(/\u2212/g, '-').replace(/,/g, ''));
    const cells = Array.from(table.tBodies[0].rows[0].cells);
    const i = cells.findIndex((c, k) => c.classList.contains('num') && new Set(column(table, k)).size >= 3);
    if (i < 0) continue;
    table.tHead.rows[0].cells[i].click();
    const up = column(table, i).filter(t => !isNaN(num(t))).map(num);
    table.tHead.rows[0].cells[i].click();
    const down = column(table, i).filter(t => !isNaN(num(t))).map(num);
    const asc = up.every((v, k) => k === 0 || up[k - 1] <= v), desc = down.every((v, k) => k === 0 || down[k - 1] >= v);
    return {table: table.closest('[id]').id, asc: asc, desc: desc, reversed: up.join() !== down.join()};
  }
  return null;
}
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const details = Array.from(document.querySelectorAll('details'));
  details.forEach(d => { d.open = true; });
  const cells = Array.from(document.querySelectorAll('td')).filter(td => !/[\\s+,]/.test(td.textContent.trim()));
  const out = {images: imgs.length, errors: found,
               undecoded: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
               sections: Array.from(document.querySelectorAll('main > section')).map(s => s.id),
               overflow: document.documentElement.scrollWidth - window.innerWidth,
               details: details.length,
               opened: details.filter(d => d.open && d.querySelector('table').offsetHeight > 0).length,
               identifiers: cells.length,
               broken: cells.filter(td => lines(td) > 1 || td.scrollWidth > td.clientWidth + 1)
                            .map(td => td.textContent.trim()),
               sorted: sorts()};
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _run_chromium(exe: str, page: Path, tmp: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    home = tmp / "home"  # Chromium writes a profile and crash files: keep them out of the real home folder
    home.mkdir(exist_ok=True)
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_CACHE_HOME": str(home / ".cache")}
    argv = [exe, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={home / 'profile'}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=5000", *flags, page.as_uri()]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)


def _console(res: subprocess.CompletedProcess[str]) -> list[str]:
    """Console messages Chromium logged (it logs every level as INFO:CONSOLE with --enable-logging=stderr)."""
    return [ln for ln in res.stderr.splitlines() if ":CONSOLE" in ln]


def _probe(exe: str, page: Path, tmp: Path, width: int = 1366) -> dict[str, Any]:
    """What the probe saw on `page`, loaded in headless Chromium at `width` pixels."""
    probed = tmp / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("<head>", _PROBE, 1))
    res = _run_chromium(exe, probed, tmp, f"--window-size={width},900", "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, f"probe did not run: {res.stderr[-2000:]}"
    return dict(json.loads(html.unescape(found.group(1))))


@pytest.fixture(scope="module")
def chromium() -> str:
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install -y chromium; .ci/run installs it where apt "
                    "works)")
    return exe


def test_probe_catches_broken_images_and_console_errors(chromium: str, tmp_path: Path) -> None:
    """Negative controls: pages with a remote image or a failing script must make the checks below complain."""
    page = tmp_path / "remote.html"
    page.write_text(f'<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="{CSP}"></head>'
                    '<body><main><section id="x"><img alt="remote" src="https://example.invalid/a.png"></section>'
                    "</main><script>console.error('not allowed to run');</script></body></html>")
    result = _probe(chromium, page, tmp_path)
    assert result["undecoded"] == ["remote"] and result["sections"] == ["x"]
    assert any("csp: img-src" in e and "example.invalid" in e for e in result["errors"]), result["errors"]
    assert not any("not allowed to run" in e for e in result["errors"])  # the report's CSP blocks every script
    assert _console(_run_chromium(chromium, page, tmp_path, "--dump-dom")), "Chromium logged no console message"
    page = tmp_path / "script.html"
    page.write_text("<!DOCTYPE html><html><head></head><body><main></main>"
                    "<script>console.error('boom'); undefinedFunction();</script></body></html>")
    errors = _probe(chromium, page, tmp_path)["errors"]
    assert "console.error: boom" in errors and any("undefinedFunction" in e for e in errors), errors


def test_report_in_headless_chromium(chromium: str, full_report: Path, tmp_path: Path) -> None:
    result = _probe(chromium, full_report, tmp_path)
    assert result["errors"] == []
    assert result["images"] >= 8 and result["undecoded"] == [], result
    assert result["sections"] == list(SECTION_IDS)
    assert result["overflow"] <= 0, "the page is wider than a 1366-pixel window"
    # Identifiers (domains, labels, numbers) never wrap or spill out of their cell; every collapsed table opens;
    # a click on a column head sorts its rows, a second click reverses them.
    assert result["identifiers"] > 100 and result["broken"] == [], result["broken"]
    assert result["details"] >= 3 and result["opened"] == result["details"], result
    assert result["sorted"] is not None and result["sorted"]["asc"] and result["sorted"]["desc"], result["sorted"]
    assert result["sorted"]["reversed"], result["sorted"]
    narrow = _probe(chromium, full_report, tmp_path, width=800)
    assert narrow["overflow"] <= 0, "wider than an 800-pixel window"
    assert narrow["broken"] == [], narrow["broken"]
    # The page as a reader sees it, without the probe: Chromium logs no console message at all (the page has
    # no script, so any message would be the browser's: a refused load, a parse error).
    shot = tmp_path / "report.png"
    res = _run_chromium(chromium, full_report, tmp_path, "--window-size=1366,2200", "--hide-scrollbars",
                        f"--screenshot={shot}")
    assert _console(res) == [], _console(res)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    if os.environ.get("ADAPTERMIX_REPORT_SCREENSHOT"):  # refresh the README's picture: set it to a file path
        shutil.copyfile(shot, os.environ["ADAPTERMIX_REPORT_SCREENSHOT"])
    # And a long table, opened, as a reader who clicked its summary sees it: the page's head and that table alone.
    page = full_report.read_text()
    long = re.search(r'<details class="long" id="[^"]+">.*?</details>', page, re.S)
    assert long, "no collapsed table in the full study"
    opened = tmp_path / "long-table.html"
    opened.write_text(page.split("<body>")[0] + "<body><main>" + long.group(0).replace("<details ", "<details open ", 1)
                      + "</main></body></html>")
    table_shot = tmp_path / "table.png"
    _run_chromium(chromium, opened, tmp_path, "--window-size=1366,900", "--hide-scrollbars",
                  f"--screenshot={table_shot}")
    assert table_shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("ADAPTERMIX_REPORT_TABLE_SCREENSHOT"):
        shutil.copyfile(table_shot, os.environ["ADAPTERMIX_REPORT_TABLE_SCREENSHOT"])
