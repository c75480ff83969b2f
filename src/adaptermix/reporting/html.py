"""Render report `Section`s as one self-contained HTML page (standard library only).

Figures are embedded as `data:image/png;base64,...` URIs and the stylesheet is inline, so the file
can be mailed or opened offline. A Content-Security-Policy meta tag forbids every network fetch and
every script but one: the few lines that sort a table by a click, allowed by their sha256 alone
(`script-src 'sha256-…'`), so an injected or edited script never runs. Every text that comes from the
store (domain names, labels, notes) goes through `html.escape`.

Layout rules a reader relies on (checked in headless Chromium by tests/test_report_html.py):
identifiers never break inside a word (member sets break only after `+`, labels after `,`); numeric
columns are right-aligned with fixed decimals; a wide table scrolls inside its own box; a table of
more than `COLLAPSE_ROWS` rows opens collapsed under a one-line summary; a figure sits beside the
table it was drawn from where the page is wide enough.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Sequence

from adaptermix.reporting.document import Figure, Section
from adaptermix.reporting.sweep_tables import Table

#: Click a column head to sort its table (numbers as numbers, `–` last); again to reverse.
SORT_SCRIPT = r"""
document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], col = th.cellIndex, up = th.dataset.dir !== 'asc';
  th.closest('tr').querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = up ? 'asc' : 'desc';
  const key = td => { const t = td.textContent.trim().replace(/\u2212/g, '-').replace(/,/g, '');
    return /^[+-]?\d/.test(t) && !isNaN(parseFloat(t)) ? parseFloat(t) : (t === '\u2013' ? null : t); };
  const rank = v => v === null ? 2 : typeof v === 'number' ? 0 : 1;
  Array.from(body.rows).sort((a, b) => {
    const x = key(a.cells[col]), y = key(b.cells[col]);
    if (rank(x) !== rank(y) || x === null) return rank(x) - rank(y);
    return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
  }).forEach(r => body.appendChild(r));
}));
"""
_SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode()
CSP = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src '{_SCRIPT_HASH}'"
#: Tables longer than this open collapsed under a one-line summary.
COLLAPSE_ROWS = 12

_CSS = """
:root { --fg: #1d2125; --muted: #5b6570; --line: #d9dee3; --bg-alt: #f5f7f9; --accent: #2459a6; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; line-height: 1.5;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 1.2rem 1.2rem 4rem; }
h1 { font-size: 1.6rem; margin: 0.4rem 0 0.2rem; }
h2 { font-size: 1.3rem; margin-top: 2.4rem; padding-top: 0.6rem; border-top: 2px solid var(--line); }
h3 { font-size: 1.1rem; margin-top: 1.8rem; }
h4 { font-size: 1rem; margin-top: 1.4rem; }
p.sub { color: var(--muted); margin-top: 0; }
nav.toc { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px; padding: 0.6rem 1rem; }
nav.toc ol { margin: 0.2rem 0; padding-left: 1.6rem; columns: 2 24rem; column-gap: 2.5rem; }
nav.toc li { break-inside: avoid; }
a { color: var(--accent); }
figure { margin: 1.2rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 0.92rem; margin-top: 0.3rem; }
.table-wrap { overflow-x: auto; margin: 0.8rem 0 1.2rem; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.86rem; min-width: 40%; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border-bottom: 1px solid var(--line); padding: 0.25rem 0.6rem; vertical-align: top; }
td { overflow-wrap: normal; word-break: keep-all; }
td.id { min-width: 6rem; }
td.prose { min-width: 16rem; }
th { background: var(--bg-alt); text-align: left; white-space: nowrap; }
table.sortable th { cursor: pointer; }
table.sortable th::after { content: " ↕"; color: var(--muted); font-weight: 400; }
table.sortable th[data-dir="asc"]::after { content: " ↑"; }
table.sortable th[data-dir="desc"]::after { content: " ↓"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
details.long { margin: 0.8rem 0 1.2rem; }
details.long > summary { cursor: pointer; color: var(--accent); }
details.long > summary .rows { color: var(--muted); }
.pair { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.2rem; align-items: start; }
.pair > * { min-width: 0; }
@media (max-width: 1000px) { .pair { grid-template-columns: minmax(0, 1fr); } }
tbody tr:nth-child(even) { background: #fafbfc; }
ul.notes { color: var(--muted); font-size: 0.85rem; margin: 0.3rem 0; }
p.not-run { color: var(--muted); font-style: italic; }
.verdict { display: inline-block; padding: 0 0.45rem; border-radius: 3px; font-weight: 600; white-space: nowrap; }
.v-holds { background: #dcf2e0; color: #17612a; }
.v-does-not-hold { background: #fbe0e0; color: #8a1c1c; }
.v-mixed { background: #fdf0d2; color: #7a5200; }
.v-undecided { background: #e4ecfb; color: #1f4a8a; }
.v-not-measured { background: #eceff2; color: #5b6570; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em;
       background: var(--bg-alt); padding: 0 0.2em; border-radius: 3px; }
footer { color: var(--muted); font-size: 0.8rem; margin-top: 3rem; }
@media (max-width: 700px) { body { font-size: 14px; } main { padding: 0.8rem; } nav.toc ol { columns: 1; } }
"""

_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_NUMERIC = re.compile(r"^[+\-−]?\d[\d,]*(\.\d+)?(e[+\-]?\d+)?%?$")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _prose(text: object) -> str:
    """Escaped text with Markdown-style `code` spans (commands, file names) set as <code>, and Markdown links
    `[text](path)` to relative paths (another report beside this one) set as <a>; a link with a scheme or an
    absolute path stays text, so a page never points off the folder it was sent in."""
    return _LINK.sub(_link, _CODE.sub(r"<code>\1</code>", _e(text)))


def _link(m: re.Match[str]) -> str:
    text, href = m.group(1), m.group(2)
    if ":" in href or href.startswith(("/", "\\")):
        return m.group(0)
    return f'<a href="{href}">{text}</a>'


def data_uri(png: bytes) -> str:
    """A PNG as a `data:` URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _paragraphs(text: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return "".join(f"<p{attr}>{_prose(p.strip())}</p>" for p in text.split("\n\n") if p.strip())


def _identifier(text: str) -> str:
    """An escaped identifier that may break only after `+` (member sets) or `,` (labels), never inside a word."""
    return _e(text).replace("+", "+<wbr>").replace(",", ",<wbr>")


def _cell(table: Table, column: str, value: object, link: str | None = None) -> str:
    text = table.cell(column, value)
    if column == "verdict" or column.startswith("verdict: "):
        slug = re.sub(r"[^a-z]+", "-", text.lower()).strip("-")
        badge = f'<span class="verdict v-{slug}">{_e(text)}</span>'
        return f'<td><a href="{_e(link)}">{badge}</a></td>' if link else f"<td>{badge}</td>"
    numeric = isinstance(value, int | float) and not isinstance(value, bool) or bool(_NUMERIC.match(text))
    if numeric:
        return f'<td class="num">{_e(text)}</td>'
    if " " not in text:  # a domain, a member set, a mixer or condition label
        return f'<td class="id">{_identifier(text)}</td>'
    return f'<td class="prose">{_e(text)}</td>' if len(text) > 60 else f"<td>{_e(text)}</td>"


def render_table(table: Table) -> str:
    """One `Table` as a sortable HTML table (caption = its title), its notes below; a long one collapsed
    under a one-line summary."""
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in table.columns)
    body = []
    links: list[str | None] = [*table.row_links] or [None] * len(table.rows)
    for row, link in zip(table.rows, links, strict=True):
        body.append("<tr>" + "".join(_cell(table, c, v, link) for c, v in zip(table.columns, row, strict=True))
                    + "</tr>")
    if not table.rows:
        body.append(f'<tr><td colspan="{len(table.columns)}">no rows</td></tr>')
    notes = "".join(f"<li>{_prose(n)}</li>" for n in table.notes)
    sortable = ' class="sortable"' if len(table.rows) > 1 else ""
    inner = (f"<table{sortable}><caption>{_e(table.title)}</caption>"
             f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
             + (f'<ul class="notes">{notes}</ul>' if notes else ""))
    if len(table.rows) > COLLAPSE_ROWS:
        return (f'<details class="long" id="table-{_e(table.name)}"><summary>{_e(table.title)} '
                f'<span class="rows">({len(table.rows)} rows: click to open)</span></summary>'
                f'<div class="table-wrap">{inner}</div></details>')
    return f'<div class="table-wrap" id="table-{_e(table.name)}">{inner}</div>'


def render_figure(figure: Figure) -> str:
    """A figure with its caption (the alt text is the caption's first sentence unless given)."""
    alt = figure.alt or figure.caption.split(". ")[0]
    return (f'<figure><img src="{data_uri(figure.png)}" alt="{_e(alt)}" loading="eager">'
            f"<figcaption>{_prose(figure.caption)}</figcaption></figure>")


def render_section(section: Section, level: int = 2) -> str:
    """A section: heading, intro, each figure followed by its table, the other tables, notes, children."""
    h = min(level, 6)
    parts = [f'<section id="{_e(section.id)}"><h{h}>{_e(section.title)}</h{h}>']
    if section.not_run:
        parts.append(f'<p class="not-run">Not run in this study: {_prose(section.not_run)}</p>')
    parts.append(_paragraphs(section.intro))
    shown: set[str] = set()
    for fig in section.figures:
        table = section.table(fig.table) if fig.table else None
        if table is not None:  # the figure beside the numbers it was drawn from
            parts.append(f'<div class="pair">{render_figure(fig)}<div>{render_table(table)}</div></div>')
            shown.add(table.name)
        else:
            parts.append(render_figure(fig))
    parts += [render_table(t) for t in section.tables if t.name not in shown]
    if section.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_prose(n)}</li>" for n in section.notes) + "</ul>")
    parts += [render_section(child, level + 1) for child in section.children]
    parts.append("</section>")
    return "".join(parts)


def render_document(title: str, subtitle: str, sections: Sequence[Section], footer: str = "") -> str:
    """The whole page: head with inline CSS and a no-network CSP, a table of contents, the sections."""
    toc = "".join(f'<li><a href="#{_e(s.id)}">{_e(s.title)}</a>' + (" <small>(not run)</small>" if s.not_run else "")
                  + "</li>" for s in sections)
    body = "\n".join(render_section(s) for s in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body><main>"
        f'<h1>{_e(title)}</h1><p class="sub">{_e(subtitle)}</p>'
        f'<nav class="toc" aria-label="Contents"><strong>Contents</strong><ol>{toc}</ol></nav>\n'
        f"{body}\n<footer>{_e(footer)}</footer></main><script>{SORT_SCRIPT}</script></body></html>\n"
    )
