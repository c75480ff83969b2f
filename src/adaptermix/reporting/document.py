"""A small document model for the study report: sections with figures and tables (issue 9).

Section builders (`reporting.report_sections`, `reporting.robustness`, ...) return `Section`s built
from the store alone; renderers turn them into HTML (`reporting.html`) — the figures and tables are
the same objects the PNG/CSV/Markdown writers use, so the formats cannot disagree.

A section whose rows are not in the store is still listed, as a one-line `Section.not_run(...)`
saying how to run it, so a reader of a partial study sees what is missing and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from adaptermix.reporting.sweep_tables import Table

__all__ = ["Figure", "Section", "Table"]


@dataclass(frozen=True)
class Figure:
    """One PNG figure with its caption; `table` names the table (by `Table.name`) that holds its numbers.

    Attributes:
        png: the PNG bytes (embedded as a data URI in HTML).
        caption: one or two sentences: what is shown, and how to read it.
        table: `Table.name` of the table beside it, or "" when the figure has none.
        alt: short alternative text; the caption's first sentence when empty.
        name: file name of the PNG beside the report (e.g. "fig3_accuracy_vs_k.png"), or "" for none.
    """

    png: bytes
    caption: str
    table: str = ""
    alt: str = ""
    name: str = ""


@dataclass
class Section:
    """A report section in the paper's order: an intro paragraph, figures, tables, subsections.

    Attributes:
        id: a stable HTML anchor (lower case letters, digits and '-'), e.g. "mixing", "sec7".
        title: the heading, e.g. "Mixing adapters (Sec. 3.4, Fig. 3, Table 1)".
        intro: plain-text paragraphs (separated by blank lines) before the figures.
        figures: the section's figures, each with its caption.
        tables: the section's tables (`reporting.sweep_tables.Table`, also written as CSV/Markdown).
        children: subsections, rendered after this section's own tables.
        not_run: when non-empty the section has no rows: one line saying how to run it, shown instead.
        notes: short bullet points after the tables (interpretations, missing data).
    """

    id: str
    title: str
    intro: str = ""
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    not_run: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", self.id):
            raise ValueError(f"section id {self.id!r} must be lower-case letters, digits and '-': rename it")

    @classmethod
    def missing(cls, id: str, title: str, how: str) -> Section:  # noqa: A002 - mirrors the field name
        """A section whose rows are not in this study: `how` says how to run it (one line)."""
        return cls(id=id, title=title, not_run=how)

    def walk(self) -> list[Section]:
        """This section and all its descendants, depth first (for a table of contents or tests)."""
        out = [self]
        for child in self.children:
            out += child.walk()
        return out

    def table(self, name: str) -> Table | None:
        """The table of this section (not its children) named `name`, or None."""
        return next((t for t in self.tables if t.name == name), None)
