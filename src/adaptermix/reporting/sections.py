"""Report sections of the clean sweep: mixing (Sec. 3.4), signs (Sec. 5) and Alg. 1 (Sec. 6), from the store.

Each builder takes a loaded `Study` and returns a `Section` whose figures and tables are the very
objects the PNG/CSV/Markdown writer (`reporting.sweep`) saves, plus the small tables behind Figs. 4–6.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from adaptermix.reporting.document import Figure, Section
from adaptermix.reporting.heatmap import fsd_heatmap
from adaptermix.reporting.mixers import fig3_by_mixer, mixer_drop_table, mixer_k_table
from adaptermix.reporting.sec7 import STAGE_MIXERS
from adaptermix.reporting.study import Study
from adaptermix.reporting.sweep import FIG3_MIXERS, FIG4, FIGURES
from adaptermix.reporting.sweep_figures import fig3_accuracy_vs_k, fig5_pair_fsd, fig6_flip_fraction, fig7_greedy
from adaptermix.reporting.sweep_tables import (
    SweepData,
    Table,
    aggregates_table,
    correlation_table,
    greedy_table,
    table1,
)

HOW_SWEEP = "run the clean sweep: `adaptermix run RECIPE` (or `adaptermix sweep`) with this store"


Fill = Callable[[Section, Study, SweepData], None]


def _sweep_section(study: Study, id: str, title: str, intro: str, fill: Fill) -> Section:  # noqa: A002
    """A section of the clean `average` sweep filled by `fill`, or its "not run" line when there are no such rows."""
    data = study.sweep()
    if not data.rows:
        return Section.missing(id, title, HOW_SWEEP)
    sec = Section(id, title, intro=intro)
    fill(sec, study, data)
    return sec


def mixing_section(study: Study) -> Section:
    """Sec. 3.4 and Table 1 (clean): Fig. 3, the drop k = 1 → n, aggregates per k; Fig. 3 per mixer."""
    return _sweep_section(study, "mixing", "Mixing adapters (Sec. 3.4, Fig. 3, Table 1)", (
        f"Each target is evaluated with its own head on the uniform average (Eq. 1) of its adapter and every "
        f"stored subset of the other {study.n - 1} adapters. Accuracy in %, drops in points."), _fill_mixing)


def _fill_mixing(sec: Section, study: Study, data: SweepData) -> None:
    agg, t1 = aggregates_table(data), table1(data)
    sec.figures.append(Figure(fig3_accuracy_vs_k(data), "Fig. 3: mean in-domain accuracy against the number of mixed "
                              "adapters k; the band spans the worst and best stored member set (the empirical lower "
                              "and upper bounds).", agg.name, name=FIGURES[0]))
    sec.tables += [agg, t1]
    # Sec. 7's stage mixers (pruned single adapters, sparse mixtures of Alg. 1 sets) have their own section.
    mixers = [m for m in study.mixer_labels() if m.split("(")[0] not in STAGE_MIXERS]
    if len(mixers) > 1:
        datas = {m: study.sweep(mixer=m) for m in mixers}
        drop, by_k = mixer_drop_table(datas), mixer_k_table(datas)
        child = Section("mixing-mixers", "Mixers compared (clean)", tables=[drop, by_k])
        child.figures.append(Figure(fig3_by_mixer(datas), "Fig. 3 per mixer: mean in-domain accuracy against k, one "
                                    "curve per stored mixer.", by_k.name, name=FIG3_MIXERS))
        sec.children.append(child)


def _fsd_table(names: list[str], S: np.ndarray) -> Table:
    t = Table("fig4_fsd", "Fig. 4: pairwise FSD between adapters (%)", ("adapter", *names))
    t.rows = [(a, *(100 * float(v) for v in row)) for a, row in zip(names, S, strict=True)]
    return t


def _pair_table(data: SweepData) -> Table:
    t = Table("fig5_pairs", "Fig. 5 data: k = 2 mixtures", ("target", "partner", "pair_fsd_pct", "accuracy_pct",
                                                            "single_pct"))
    for target in data.targets:
        single = data.lookup(target, [target])
        for r in sorted(data.target_rows(target, 2), key=lambda r: (r.pair_fsd is None, r.pair_fsd or 0.0)):
            partner = next(m for m in r.members if m != target)
            t.rows.append((target, partner, None if r.pair_fsd is None else 100 * r.pair_fsd, 100 * r.accuracy,
                           None if single is None else 100 * single.accuracy))
    return t


def _flip_table(data: SweepData) -> Table:
    t = Table("fig6_flips", "Fig. 6 data: sign flips of the target adapter per k (k > 2)",
              ("target", "k", "mixtures", "flip_fraction_pct", "mean_accuracy_pct"))
    for target in data.targets:
        for k in sorted({r.k for r in data.target_rows(target) if r.k > 2}):
            rows = data.target_rows(target, k)
            flips = [r.flip_fraction for r in rows if r.flip_fraction is not None]
            t.rows.append((target, k, len(rows), 100 * float(np.mean(flips)) if flips else None,
                           100 * float(np.mean([r.accuracy for r in rows]))))
    return t


def signs_section(study: Study) -> Section:
    """Sec. 5: Fig. 4 (pairwise FSD), Fig. 5 (pair FSD at k = 2), Fig. 6 (flip fraction), correlations."""
    return _sweep_section(study, "signs", "Signed weight directions (Sec. 5, Figs. 4–6)", (
        "FSD (Alg. 3) is the share of weights whose signs disagree between two adapters. The paper finds that the "
        "more a mixture reverses the signs of the target's adapter, the lower its accuracy."), _fill_signs)


def _fill_signs(sec: Section, study: Study, data: SweepData) -> None:
    if study.fsd is not None:
        names, S = study.fsd
        t4 = _fsd_table(names, S)
        sec.figures.append(Figure(fsd_heatmap(names, S, title="FSD between adapters (%), Fig. 4"),
                                  "Fig. 4: FSD between every pair of adapters, in %.", t4.name, name=FIG4))
        sec.tables.append(t4)
    else:
        sec.notes.append("Fig. 4 not shown: the store holds no FSD matrix (the sweep stores it)")
    t5, t6, corr = _pair_table(data), _flip_table(data), correlation_table(data)
    sec.figures.append(Figure(fig5_pair_fsd(data), "Fig. 5: mixtures of two adapters; bars: FSD between the target "
                              "and its partner, sorted; line: accuracy of the pair on the target; dashed: the target's "
                              "adapter alone.", t5.name, name=FIGURES[1]))
    sec.figures.append(Figure(fig6_flip_fraction(data), "Fig. 6: mixtures of more than two adapters; bars: mean share "
                              "of the target adapter's weights whose sign the mixture reverses; line: mean accuracy.",
                              t6.name, name=FIGURES[2]))
    sec.tables += [t5, t6, corr]


def greedy_section(study: Study) -> Section:
    """Sec. 6: Alg. 1's min-FSD pick and its max-FSD twin against the empirical bounds (Fig. 7)."""
    return _sweep_section(study, "greedy", "Greedy adapter mixing (Sec. 6, Alg. 1, Fig. 7)", (
        "Alg. 1 picks the l adapters with the smallest mean FSD to the others (for an in-domain target: the target "
        "plus l − 1 others); its max-FSD twin picks the largest. Both are looked up among the stored mixtures."),
        _fill_greedy)


def _fill_greedy(sec: Section, study: Study, data: SweepData) -> None:
    if study.fsd is None:
        sec.not_run = "no FSD matrix in the store: the sweep stores it (`Store.set_fsd_matrix`); re-run the sweep"
        return
    g = greedy_table(data)
    sec.figures.append(Figure(fig7_greedy(data, g), "Fig. 7: accuracy of the greedy min-FSD and max-FSD mixtures of "
                              "l adapters against the best and worst stored mixture of that size.", g.name,
                              name=FIGURES[3]))
    sec.tables.append(g)
