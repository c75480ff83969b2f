"""The study's one HTML report, `index.html`, and the files beside it (issue 9).

`write_html_report(store, out)` reads the store once, builds the sections in the paper's order —
summary (setup, headline numbers, the findings' verdicts), dataset analysis (Sec. 3.1), mixing
(Sec. 3.4), robustness (Sec. 4), signs (Sec. 5), Alg. 1 (Sec. 6), pruning and sparse mixing (Sec. 7),
which adapters to mix (the advisor, issue 17), findings — renders them into one self-contained
page, and writes every figure (PNG) and table (CSV, Markdown) of those sections beside it.
Reporting reads only the store, never a model.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from adaptermix.fileio import atomic_write_bytes
from adaptermix.reporting.advice import advice_section, advice_sentence
from adaptermix.reporting.dataset import dataset_section
from adaptermix.reporting.document import Section
from adaptermix.reporting.findings import Finding, compute_findings, findings_table
from adaptermix.reporting.html import render_document
from adaptermix.reporting.robustness import describe_label, robustness_section
from adaptermix.reporting.sec7 import sec7_section
from adaptermix.reporting.sections import greedy_section, mixing_section, signs_section
from adaptermix.reporting.study import Study, load_study, mixer_spec
from adaptermix.reporting.sweep_tables import Table

INDEX = "index.html"
ROBUSTNESS_TITLE = "Robustness under attack (Sec. 4, Table 1)"
ROBUSTNESS_HOW = ("add attack conditions (e.g. `fgsm`, `textfooler`) to the recipe's eval section and re-run "
                  "`adaptermix run RECIPE`")
#: Section ids in report order; tests and scripts may rely on them.
SECTION_IDS = ("summary", "dataset", "mixing", "robustness", "signs", "greedy", "sec7", "advice", "findings")


def _setup_table(study: Study) -> Table:
    m = study.meta
    cfg = m.eval_config
    rows = Counter((mixer_spec(r)[0], r.condition) for r in study.rows)
    labels = {key: len({r.mixer for r in study.rows if (mixer_spec(r)[0], r.condition) == key}) for key in rows}
    t = Table("setup", "Setup (from the store)", ("item", "value"))
    t.rows = [
        ("store", study.path.name),
        ("base encoder (fingerprint)", m.base_fingerprint),
        ("adapter method", m.method),
        (f"domains (n = {study.n})", ", ".join(m.domains)),
        ("test budget", f"split {cfg.get('split', '?')}, at most {cfg.get('max_examples', 'all')} examples, "
                        f"max length {cfg.get('max_length', '?')} tokens"),
        ("precision", f"requested {cfg.get('precision', 'not recorded')}; used {', '.join(study.precisions) or '–'}"),
        ("code version", ", ".join(study.code_versions) or "–"),
        ("eval config hash", m.eval_config_hash),
        ("rows stored", "; ".join(f"{mx} / {describe_label(c)}: {n}"
                                  + (f" ({labels[mx, c]} settings)" if labels[mx, c] > 1 else "")
                                  for (mx, c), n in sorted(rows.items())) or "none"),
        ("FSD matrix stored", "yes" if study.fsd is not None else "no"),
        ("dataset analysis stored", "yes" if study.corpus_json is not None else "no"),
    ]
    return t


def end_means(study: Study) -> tuple[float, float, int] | None:
    """(mean accuracy % alone, mean accuracy % of the all-adapter mixture, targets) over the targets with both
    ends stored (clean, average mixer), or None when no target has both."""
    data = study.sweep()
    pairs = [data.ends(t) for t in data.targets]
    ends = [(a.accuracy, b.accuracy) for a, b in pairs if a is not None and b is not None]
    if not ends:
        return None
    return 100 * sum(a for a, _ in ends) / len(ends), 100 * sum(b for _, b in ends) / len(ends), len(ends)


def _headline_table(study: Study) -> Table:
    t = Table("headline", "Headline numbers (clean, average mixer)", ("measure", "value"))
    t.rows.append(("clean evaluations stored",
                   f"{len(study.sweep().rows)} of {study.n * 2 ** (study.n - 1)} (n·2^(n−1))"))
    ends = end_means(study)
    if ends is not None:
        single, mixed, targets = ends
        t.rows += [("mean accuracy, single adapter (k = 1)", f"{single:.2f} %"),
                   (f"mean accuracy, all {study.n} adapters mixed", f"{mixed:.2f} %"),
                   ("mean drop (paper: 11.91 points over 13 domains)", f"{single - mixed:.2f} points "
                                                                       f"over {targets} targets")]
    return t


def summary_section(study: Study, findings: list[Finding]) -> Section:
    """The top of the report: setup, headline numbers, what to mix (when advised), and every finding's verdict."""
    advice = advice_sentence(study)
    sec = Section("summary", "Summary", intro=(
        "Everything below is computed from the study store alone; the verdicts are formatted from the stored rows "
        "with the thresholds of docs/report.md." + (f"\n\n{advice}" if advice else "")))
    verdicts = findings_table(findings)
    verdicts.row_links = [f"#finding-{i + 1}" for i in range(len(findings))]  # the ids `findings_section` gives
    sec.tables += [_setup_table(study), _headline_table(study), verdicts]
    return sec


def findings_section(findings: list[Finding]) -> Section:
    """One subsection per finding: the claim, our statistic, the interval, the verdict, the numbers behind it."""
    sec = Section("findings", "Findings, re-measured", intro=(
        "Verdicts: holds / does not hold (the interval lies on one side of the threshold) / mixed (the targets or "
        "the parts of the finding disagree) / undecided (the interval spans the threshold; the finding says how much "
        "more evidence would decide it) / not measured. "
        "Intervals are 95 % percentile bootstraps, paired over test examples where rows store per-example results, "
        "else over the units named."))
    for i, f in enumerate(findings):
        text = (f"Our statistic: {f.statistic}." + (f"\n\nUncertainty: {f.uncertainty}." if f.uncertainty else "")
                + (f"\n\nTo decide it: {f.to_decide}." if f.to_decide else ""))
        verdict = Table(f"verdict_{i + 1}", "Verdict", ("verdict",), [(f.verdict,)])
        child = Section(f"finding-{i + 1}", f"{i + 1}. {f.claim}", intro=text, tables=[verdict])
        if f.table is not None:
            child.tables.append(f.table)
        sec.children.append(child)
    return sec


def robustness(study: Study) -> Section:
    """Table 1's three columns, adversarial Fig. 3, Findings #2/#3 (`reporting.robustness`), when attack rows exist."""
    section = robustness_section(study.path)
    return section if section is not None else Section.missing("robustness", ROBUSTNESS_TITLE, ROBUSTNESS_HOW)


def build_sections(study: Study) -> list[Section]:
    """Every section in the paper's order (`SECTION_IDS`)."""
    findings = compute_findings(study)
    return [summary_section(study, findings), dataset_section(study.corpus_json), mixing_section(study),
            robustness(study), signs_section(study), greedy_section(study), sec7_section(study),
            advice_section(study), findings_section(findings)]


def side_files(sections: Sequence[Section]) -> dict[str, bytes]:
    """File name → bytes of every figure (PNG) and table (CSV, Markdown) of `sections`, to write beside a page."""
    files: dict[str, bytes] = {}
    for top in sections:
        for sec in top.walk():
            for fig in sec.figures:
                if fig.name:
                    files[fig.name] = fig.png
            for t in sec.tables:
                if not t.name.startswith("verdict_"):
                    files[f"{t.name}.csv"] = t.to_csv().encode()
                    files[f"{t.name}.md"] = t.to_markdown().encode()
    return files


def write_html_report(store_path: str | Path, out_dir: str | Path) -> Path:
    """Write `out_dir/index.html` (self-contained) and each section's PNG/CSV/Markdown files beside it.

    Args:
        store_path: the study .sqlite file (opened read-only).
        out_dir: the report folder (created); the recipe's is `<study>/report`.

    Returns:
        The path of index.html.

    Raises:
        StoreError: `store_path` is missing, not a store, or of another schema version.
    """
    study = load_study(store_path)
    sections = build_sections(study)
    out = Path(out_dir)
    # The store names its study (StudyMeta: the recipe's `minilm/pfeiffer`, an ablation cell); a store written
    # before studies named themselves falls back to its folder (a recipe names every store study.sqlite).
    name = study.meta.name or (f"{study.path.parent.name}/{study.path.name}" if study.path.parent.name
                               else study.path.name)
    page = render_document(f"adaptermix study report: {name}",
                           f"{study.meta.method} adapters on {study.meta.base_fingerprint}, {study.n} domains — "
                           "a reproduction of Nguyen & Le (2024)", sections,
                           footer=f"Written by adaptermix {', '.join(study.code_versions) or ''} from {study.path}.")
    out.mkdir(parents=True, exist_ok=True)
    for name, data in side_files(sections).items():
        atomic_write_bytes(out / name, data)
    # index.html last: a reader who sees it sees every file it refers to.
    atomic_write_bytes(out / INDEX, page.encode("utf-8"))
    return out / INDEX
