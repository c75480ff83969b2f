"""The paper's findings, re-measured from the stored rows, each with our statistic and a verdict (issue 9).

Nothing here is hand-written about the outcome: every sentence is formatted from numbers computed
on the store. A finding whose rows are not in the study says "not measured" and which rows it needs.
The verdict thresholds are declared once (`THRESHOLDS`) and documented in docs/report.md.

Verdicts: `holds`, `does not hold`, `mixed` (some targets/cells agree, others do not, or the parts of
a two-part finding disagree), `undecided` (the interval of the finding's statistic spans its threshold,
or the verdict would change with units whose own interval does: then the finding says how much more
evidence would decide it), `not measured`. A verdict is never stronger than its evidence: `holds` and
`does not hold` only where the interval lies on one side. Accuracy differences carry a 95 % bootstrap interval,
paired over test examples when the rows store per-example correctness, else over the units
(targets, member sets, cells); each says which (`reporting.uncertainty`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from adaptermix.analysis.correlation import correlate
from adaptermix.reporting.robustness import clean_on_sample, describe_label
from adaptermix.reporting.sec7 import dense_upper_rows, prune_points, sparse_points
from adaptermix.reporting.study import Study
from adaptermix.reporting.sweep_tables import SweepData, Table
from adaptermix.reporting.sweep_tables import greedy_table as _greedy_table
from adaptermix.reporting.uncertainty import CI, bootstrap_mean
from adaptermix.reporting.verdicts import (
    FAILS,
    HOLDS,
    MIXED,
    NOT_MEASURED,
    THRESHOLDS,
    UNDECIDED,
    VERDICTS,
    Finding,
    Thresholds,
    by_share,
    ci_text,
    difference,
    evidence_factor,
    examples_behind,
    robust,
    share_of,
    side,
    to_decide,
)
from adaptermix.store import EvalRow


def accuracy_falls(study: Study, th: Thresholds = THRESHOLDS) -> Finding:
    """PAPER.md §10 item 1 (Sec. 3.4, Fig. 3): every target's accuracy falls as k grows; ≈ 12 points at k = 13."""
    claim = "Accuracy of every target falls as more adapters are mixed (≈ 12 points at k = 13) — Sec. 3.4, Fig. 3"
    data = study.sweep()
    t = Table("finding_slope", "Accuracy vs k per target (clean, average)",
              ("target", "ks", "slope_pts_per_adapter", "acc_k1_pct", "acc_kn_pct", "drop_pts", "falls"))
    slopes: list[float] = []
    pairs: dict[str, list[tuple[EvalRow, EvalRow]]] = {}
    for target in data.targets:
        aggs = sorted((a for a in data.aggs if a.target == target), key=lambda a: a.k)
        single, full = data.ends(target)
        drop = None if single is None or full is None else 100 * (single.accuracy - full.accuracy)
        if single is not None and full is not None:
            pairs[target] = [(single, full)]
        if len(aggs) < 2:
            t.rows.append((target, ",".join(str(a.k) for a in aggs), None, None, None, drop, "–"))
            continue
        slope = 100 * float(np.polyfit([a.k for a in aggs], [a.mean for a in aggs], 1)[0])
        slopes.append(slope)
        t.rows.append((target, f"{aggs[0].k}–{aggs[-1].k}", slope, 100 * aggs[0].mean, 100 * aggs[-1].mean, drop,
                       "yes" if slope < th.slope_pts else "no"))
    falls = sum(s < th.slope_pts for s in slopes)
    if not slopes:
        return Finding("accuracy-falls-with-k", claim, "needs clean rows of at least two mixture sizes per target",
                       NOT_MEASURED, table=t)
    p = float(stats.binomtest(falls, len(slopes), 0.5, alternative="greater").pvalue)
    stat = (f"accuracy falls (slope < {th.slope_pts:g} pts per adapter) on {falls} of {len(slopes)} targets "
            f"(one-sided sign test p = {p:.2g}); median slope {float(np.median(slopes)):+.2f} pts per adapter")
    unc = ""
    if pairs:
        ci = difference(pairs, "targets")
        stat += f"; mean drop k = 1 → {data.n}: {100 * ci.estimate:.2f} pts over {len(pairs)} targets"
        unc = f"drop k = 1 → {data.n}: {ci_text(ci)}"
    t.notes.append("slope: least-squares fit of the mean accuracy per k on k; drop = acc(k = 1) − acc(k = n)")
    return Finding("accuracy-falls-with-k", claim, stat, by_share(falls, len(slopes), th), unc, t)


def small_mixtures(study: Study, th: Thresholds = THRESHOLDS) -> Finding:
    """PAPER.md §10 item 3 (Sec. 4.1): mixing ≤ 3 adapters stays within 3 points in many domains."""
    claim = f"Mixing up to 3 adapters stays within {th.within_pts:g} points in many domains — Sec. 4.1"
    data = study.sweep()
    t = Table("finding_small_mixtures", "Drop from the single adapter to mixtures of k ≤ 3 (clean, average)",
              ("target", "drop_k2_pts", "drop_k3_pts", "worst_pts", "worst_ci", "within"))
    within: list[str] = []
    open_: list[tuple[str, CI]] = []  # targets whose interval spans the threshold
    measured = 0
    all_pairs: dict[str, list[tuple[EvalRow, EvalRow]]] = {}
    for target in data.targets:
        single = data.lookup(target, [target])
        if single is None:
            continue
        drops: dict[int, float] = {}
        by_k: dict[int, list[tuple[EvalRow, EvalRow]]] = {}
        for k in (2, 3):
            rows = data.target_rows(target, k)
            if rows:
                by_k[k] = [(single, r) for r in rows]
                drops[k] = 100 * (single.accuracy - float(np.mean([r.accuracy for r in rows])))
        if not drops:
            continue
        measured += 1
        worst_k = max(drops, key=lambda k: drops[k])
        ci = difference({target: by_k[worst_k]}, "member sets")
        where = side(ci, th.within_pts / 100)
        within += [target] if where < 0 else []
        open_ += [(target, ci)] if where == 0 else []
        all_pairs[target] = [p for ps in by_k.values() for p in ps]
        t.rows.append((target, drops.get(2), drops.get(3), drops[worst_k], ci.text(),
                       {-1: "yes", 0: "undecided", 1: "no"}[where]))
    if measured == 0:
        return Finding("small-mixtures-within-3", claim, "needs clean rows at k = 1 and k = 2 or 3", NOT_MEASURED,
                       table=t)
    def rule(agree: int) -> str:
        return HOLDS if agree / measured >= th.many_share else (FAILS if not agree else MIXED)

    verdict = robust(rule, len(within), len(open_))
    stat = (f"{len(within)} of {measured} targets stay within {th.within_pts:g} points at every k ≤ 3"
            + (f" ({', '.join(within)})" if within else "")
            + (f"; {len(open_)} undecided ({', '.join(x for x, _ in open_)})" if open_ else ""))
    ci = difference(all_pairs, "member sets")
    t.notes.append("drop = acc(k = 1) − mean acc over the stored member sets of size k; worst = the larger of the "
                   "two; within: yes / no where the worst drop's 95 % interval lies on one side of the threshold")
    decide = ""
    if verdict == UNDECIDED:
        hardest = max(open_, key=lambda x: evidence_factor(x[1], th.within_pts / 100))
        decide = f"{hardest[0]}: " + to_decide(hardest[1], th.within_pts / 100,
                                                examples_behind({hardest[0]: all_pairs[hardest[0]]}), "member sets")
    return Finding("small-mixtures-within-3", claim, stat, verdict, f"mean drop at k ≤ 3: {ci_text(ci)}", t, decide)


def _drops(clean: SweepData, adv: SweepData, target: str) -> tuple[float, float, str] | None:
    """(attack drop, clean drop, which clean) from k = 1 to n; the clean drop on the attacked examples if stored.

    Attack rows may score a sample of the test split; comparing them with clean rows on the whole split
    would mix the attack's effect with the sample's (a smaller sample varies more), so the clean accuracy
    on the same examples (`metrics["clean_accuracy"]`) is preferred, as `reporting.robustness` does.
    """
    a1, an = adv.ends(target)
    if a1 is None or an is None:
        return None
    s1, sn = clean_on_sample(a1), clean_on_sample(an)
    if s1 is not None and sn is not None:
        return a1.accuracy - an.accuracy, s1 - sn, "same examples"
    c1, cn = clean.ends(target)
    if c1 is None or cn is None:
        return None
    return a1.accuracy - an.accuracy, c1.accuracy - cn.accuracy, "clean rows"


def _variance_cells(clean: SweepData, adv: SweepData) -> tuple[int, int]:
    """(cells where the accuracy variance over member sets is larger under attack, cells compared)."""
    larger = total = 0
    for target in adv.targets:
        for k in sorted({r.k for r in adv.target_rows(target)}):
            rows = adv.target_rows(target, k)
            if len(rows) < 2:
                continue
            same = [clean_on_sample(r) for r in rows]
            ref = [x for x in same if x is not None]
            if len(ref) != len(rows):  # no same-sample clean accuracy: the clean rows of that size
                ref = [r.accuracy for r in clean.target_rows(target, k)]
            if len(ref) < 2:
                continue
            total += 1
            larger += float(np.var([r.accuracy for r in rows], ddof=1)) > float(np.var(ref, ddof=1))
    return larger, total


def adversarial_drops(study: Study, th: Thresholds = THRESHOLDS) -> list[Finding]:
    """PAPER.md §10 item 2 (Sec. 4.1, Table 1): adversarial drops ≈ clean drops; variance is larger.

    (`reporting.robustness` tabulates the two parts as the paper's Findings #2 and #3.) One finding per
    stored attack condition (average mixer): the difference of the average drops
    (k = 1 → n) with a bootstrap over targets, and the share of (target, k) cells whose accuracy
    variance across member sets (ddof = 1) is larger under attack. Both compare with clean accuracy on
    the attacked examples where the rows store it.
    """
    claim = "Adversarial drops are similar in size to clean drops; variance across mixtures is larger — Sec. 4.1"
    conditions = [c for c in study.conditions() if c != "clean"]
    if not conditions:
        return [Finding("adversarial-vs-clean", claim, "no rows of an attack condition in this study",
                        NOT_MEASURED)]
    clean = study.sweep()
    out: list[Finding] = []
    for cond in conditions:
        adv = study.sweep(cond)
        t = Table(f"finding_adv_{len(out) + 1}", f"Drops from k = 1 to k = {study.n}: {describe_label(cond)} vs clean",
                  ("target", "drop_attack_pts", "drop_clean_pts", "difference_pts", "clean_reference"))
        diffs: list[float] = []
        for target in adv.targets:
            found = _drops(clean, adv, target)
            if found is not None:
                da, dc, ref = found
                diffs.append(da - dc)
                t.rows.append((target, 100 * da, 100 * dc, 100 * (da - dc), ref))
        larger, cells = _variance_cells(clean, adv)
        parts, words, unc, decide = [], [], "", ""
        if diffs:
            ci = bootstrap_mean(diffs, "targets")
            band = th.similar_pts / 100
            if -band <= ci.lo and ci.hi <= band:
                parts.append(HOLDS)
            elif ci.lo > band or ci.hi < -band:
                parts.append(FAILS)
            else:  # the interval reaches both inside and outside ±similar_pts
                parts.append(UNDECIDED)
                edge = band if ci.estimate >= 0 else -band
                decide = f"difference of drops: {to_decide(ci, edge, None, 'targets')}"
            words.append(f"average drop under attack − clean = {100 * ci.estimate:+.2f} pts over {len(diffs)} "
                         f"targets (similar if within ±{th.similar_pts:g})")
            unc = f"difference of average drops: {ci_text(ci)}"
        else:
            words.append("no target has k = 1 and k = n rows under both conditions")
        if cells:
            parts.append(by_share(larger, cells, th))
            words.append(f"variance across member sets larger under attack in {larger} of {cells} (target, k) cells")
        else:
            words.append("variance not compared: fewer than two member sets of any size under attack")
        if not parts:
            verdict = NOT_MEASURED
        elif UNDECIDED in parts:
            verdict = UNDECIDED
        else:
            verdict = parts[0] if len(set(parts)) == 1 else MIXED
        out.append(Finding(f"adversarial-vs-clean-{len(out) + 1}", f"{claim} [{describe_label(cond)}]",
                           "; ".join(words), verdict, unc, t, decide if verdict == UNDECIDED else ""))
    return out


#: x variables of the FSD–accuracy finding, in order of preference: (attribute, rows kept, description).
_CORR_X: tuple[tuple[str, Callable[[EvalRow], bool], str], ...] = (
    ("mixture_fsd", lambda r: r.k >= 2, "mean FSD between the mixture and its members, k ≥ 2"),
    ("flip_fraction", lambda r: r.k >= 2, "flip fraction of the target, k ≥ 2"),
    ("pair_fsd", lambda r: r.k == 2, "pair FSD, k = 2"),
)


def fsd_correlation(study: Study, th: Thresholds = THRESHOLDS) -> Finding:
    """PAPER.md §10 item 4, first part (Sec. 5, Figs. 5–6): FSD correlates strongly and negatively with accuracy."""
    claim = "FSD correlates negatively with in-domain accuracy — Sec. 5, Figs. 5–6"
    data = study.sweep()
    usable = [(a, keep, d) for a, keep, d in _CORR_X
              if sum(getattr(r, a) is not None and keep(r) for r in data.rows) >= 3]
    if not usable:
        return Finding("fsd-accuracy-correlation", claim, "needs clean rows at k ≥ 2 with an FSD statistic",
                       NOT_MEASURED)
    attr, keep, desc = usable[0]
    t = Table("finding_correlation", f"Correlation of accuracy with the {desc}",
              ("scope", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p", "negative_significant"),
              formats={"pearson_p": ".2g", "spearman_p": ".2g", "pearson_r": ".3f", "spearman_rho": ".3f"})
    negative = measured = 0
    px: list[float] = []
    py: list[float] = []
    for scope in [*data.targets, "pooled"]:
        if scope == "pooled":
            x, y = px, py
        else:
            pts = [(getattr(r, attr), r.accuracy) for r in data.target_rows(scope) if keep(r)]
            x, y = [p[0] for p in pts if p[0] is not None], [p[1] for p in pts if p[0] is not None]
            px, py = px + x, py + y
        try:
            c = correlate(x, y)
        except ValueError:
            t.rows.append((scope, len(x), None, None, None, None, "–"))
            continue
        sig = c.pearson_r < 0 and c.pearson_p < th.alpha
        if scope != "pooled":
            measured += 1
            negative += sig
        t.rows.append((scope, c.n, c.pearson_r, c.pearson_p, c.spearman_rho, c.spearman_p, "yes" if sig else "no"))
    pooled = t.rows[-1]
    stat = (f"x = {desc}: r < 0 with p < {th.alpha:g} on {negative} of {measured} targets; pooled r = "
            + ("–" if pooled[2] is None else f"{pooled[2]:.3f} (p = {pooled[3]:.2g}), ρ = {pooled[4]:.3f}"))
    t.notes.append("pooled mixes targets whose accuracy levels differ; the per-target rows are the cleaner test")
    return Finding("fsd-accuracy-correlation", claim, stat, by_share(negative, measured, th), table=t)


def _bounds_note(study: Study) -> str:
    """What the empirical bounds are taken over when the sweep did not store every member set."""
    stored, every = len(study.sweep().rows), study.n * 2 ** (study.n - 1)
    return "" if stored >= every else (f"; the empirical bounds are over the {stored:,} stored member sets (of "
                                       f"{every:,}: a sampled sweep), so the true upper bound can only be higher")


def greedy_vs_twin(study: Study, th: Thresholds = THRESHOLDS) -> Finding:
    """PAPER.md §10 item 4, second part (Sec. 6, Fig. 7): Alg. 1 ≈ upper bound, its max-FSD twin ≈ lower bound."""
    claim = "Greedy min-FSD selection (Alg. 1) is near the empirical upper bound; max-FSD near the lower — Sec. 6"
    data = study.sweep()
    g = _greedy_table(data)
    col = {c: i for i, c in enumerate(g.columns)}
    wins = losses = ties = same = 0
    pairs: dict[str, list[tuple[EvalRow, EvalRow]]] = {}
    gaps_up: list[float] = []
    for row in g.rows:
        lo_acc, hi_acc = row[col["min_fsd_acc_pct"]], row[col["max_fsd_acc_pct"]]
        if lo_acc is None or hi_acc is None:
            continue
        if row[col["min_fsd_members"]] == row[col["max_fsd_members"]]:
            same += 1  # l = n, or both picks coincide: not a contest
            continue
        target = row[col["target"]]
        lo = data.lookup(target, row[col["min_fsd_members"]].split("+"))
        hi = data.lookup(target, row[col["max_fsd_members"]].split("+"))
        if lo is None or hi is None:  # cannot happen: both accuracies were read from these rows
            continue
        pairs.setdefault(target, []).append((lo, hi))
        wins += lo.accuracy > hi.accuracy
        losses += lo.accuracy < hi.accuracy
        ties += lo.accuracy == hi.accuracy
        if row[col["upper_pct"]] is not None:
            gaps_up.append(row[col["upper_pct"]] - lo_acc)
    cells = wins + losses + ties
    if cells == 0:
        why = "no FSD matrix in the store" if data.fsd is None else "no stored rows for the greedy member sets"
        return Finding("greedy-vs-max-fsd", claim, why, NOT_MEASURED, table=g)
    p = float(stats.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue) if wins + losses else 1.0
    gap = float(np.mean(gaps_up)) if gaps_up else float("nan")
    stat = (f"min-FSD pick beat its max-FSD twin in {wins} of {cells} (target, l) cells, lost {losses}, tied {ties}"
            f" (sign test p = {p:.2g}); mean gap to the empirical upper bound {gap:.2f} pts"
            + (f"; {same} cells where both picks are the same set left out" if same else "") + _bounds_note(study))
    # The verdict rests on the paired difference over the same test examples (the sign test over cells is
    # reported beside it): min-FSD must beat its twin with an interval above 0, and be near the upper bound.
    ci = difference(pairs, "cells")
    decide = ""
    where = side(ci, 0.0)
    if where > 0:
        verdict = HOLDS if gap <= th.near_upper_pts else MIXED
    elif where < 0 and ci.hi < 0:
        verdict = FAILS
    else:  # the interval spans 0 (or sits on it)
        verdict = UNDECIDED
        decide = to_decide(ci, 0.0, examples_behind(pairs), "cells")
    return Finding("greedy-vs-max-fsd", claim, stat, verdict, f"min-FSD − max-FSD accuracy: {ci_text(ci)}", g,
                   decide)


def pruning_keeps(study: Study, th: Thresholds = THRESHOLDS) -> list[Finding]:
    """Sec. 7 (Alg. 2, Fig. 8a): pruning a single adapter to 90 % sparsity keeps its accuracy; one finding per scope."""
    pct = round(100 * th.prune_sparsity)
    claim = f"Magnitude pruning to {pct} % sparsity keeps single-adapter accuracy — Sec. 7, Fig. 8a"
    points = [p for p in prune_points(study) if abs(p.sparsity - th.prune_sparsity) < 1e-9]
    dense = study.sweep()
    scopes = sorted({p.scope for p in points})
    if not scopes:
        return [Finding("pruning-keeps-accuracy", claim, f"no pruned single adapters at {pct} % sparsity stored",
                        NOT_MEASURED)]
    out = []
    for scope in scopes:
        t = Table(f"finding_pruning_{scope}", f"Pruned to {pct} % ({scope} scope) vs dense",
                  ("target", "dense_pct", "pruned_pct", "drop_pts", "kept"))
        pairs: dict[str, list[tuple[EvalRow, EvalRow]]] = {}
        kept = 0
        open_: list[tuple[str, CI]] = []
        order = {d: i for i, d in enumerate(study.meta.domains)}
        for p in sorted((p for p in points if p.scope == scope), key=lambda p: order.get(p.row.target, -1)):
            base = dense.lookup(p.row.target, [p.row.target])
            if base is None:
                continue
            drop = 100 * (base.accuracy - p.row.accuracy)
            pairs[p.row.target] = [(base, p.row)]
            one = difference({p.row.target: pairs[p.row.target]}, "targets")
            where = side(one, th.keep_pts / 100)
            kept += where < 0
            open_ += [(p.row.target, one)] if where == 0 else []
            t.rows.append((p.row.target, 100 * base.accuracy, 100 * p.row.accuracy, drop,
                           {-1: "yes", 0: "undecided", 1: "no"}[where]))
        if not pairs:
            out.append(Finding(f"pruning-keeps-{scope}", f"{claim} [{scope}]",
                               "no dense single-adapter rows to compare with", NOT_MEASURED, table=t))
            continue
        ci = difference(pairs, "targets")
        stat = (f"{kept} of {len(pairs)} targets lose at most {th.keep_pts:g} point(s) at {pct} % ({scope} scope)"
                + (f", {len(open_)} undecided" if open_ else "") + f"; mean drop {100 * ci.estimate:.2f} pts")
        verdict = robust(functools.partial(share_of, total=len(pairs), th=th), kept, len(open_))
        decide = ""
        if verdict == UNDECIDED:
            hardest = max(open_, key=lambda x: evidence_factor(x[1], th.keep_pts / 100))
            decide = f"{hardest[0]}: " + to_decide(hardest[1], th.keep_pts / 100,
                                                    examples_behind({hardest[0]: pairs[hardest[0]]}))
        t.notes.append(f"kept: yes / no where the drop's 95 % interval lies on one side of {th.keep_pts:g} point(s)")
        out.append(Finding(f"pruning-keeps-{scope}", f"{claim} [{scope}]", stat, verdict,
                           f"mean drop: {ci_text(ci)}", t, decide))
    return out


def sparse_beats_upper(study: Study, th: Thresholds = THRESHOLDS) -> Finding:
    """Sec. 7 (Alg. 4, Fig. 8b): sparse mixing at 80/90 % beats the dense mixtures' empirical upper bound."""
    claim = "Sparse mixing (Alg. 4, 80/90 %) beats the dense mixtures' empirical upper bound — Sec. 7, Fig. 8b"
    points = [p for p in sparse_points(study) if p.row.k >= 2]
    if not points:
        return Finding("sparse-beats-upper", claim, "no sparse-mixing rows (Alg. 4) stored", NOT_MEASURED)
    upper = dense_upper_rows(study)
    t = Table("finding_sparse", "Sparse mixing vs the dense upper bound, per sparsity",
              ("sparsity_pct", "cells", "beats_upper", "mean_vs_upper_pts", "beats_dense_pick"))
    pairs: dict[str, list[tuple[EvalRow, EvalRow]]] = {}
    beats = cells = 0
    open_: list[tuple[str, CI, list[tuple[EvalRow, EvalRow]]]] = []
    dense = study.sweep()
    for s in sorted({p.sparsity for p in points}):
        n = b = bd = 0
        diffs = []
        for p in (p for p in points if p.sparsity == s):
            up = upper.get((p.row.target, p.row.k))
            if up is None:
                continue
            n += 1
            one = difference({p.row.target: [(p.row, up)]}, "cells")  # the cell's own paired interval
            where = side(one, 0.0)
            b += where > 0
            if where == 0:
                open_.append((f"{p.row.target} l = {p.row.k} at {round(100 * s)} %", one, [(p.row, up)]))
            pick = dense.lookup(p.row.target, p.row.members)
            bd += pick is not None and p.row.accuracy > pick.accuracy
            diffs.append(100 * (p.row.accuracy - up.accuracy))
            pairs.setdefault(p.row.target, []).append((p.row, up))
        t.rows.append((round(100 * s), n, b, float(np.mean(diffs)) if diffs else None, bd))
        beats, cells = beats + b, cells + n
    if cells == 0:
        return Finding("sparse-beats-upper", claim, "no dense rows of the same sizes to bound the sparse mixtures",
                       NOT_MEASURED, table=t)
    ci = difference(pairs, "cells")
    stat = (f"sparse mixtures beat the dense upper bound in {beats} of {cells} (target, l) cells"
            + (f", {len(open_)} undecided" if open_ else "") + _bounds_note(study))
    t.notes.append("upper bound: the best stored dense (average) mixture of the same size on the same target")
    t.notes.append("beats: the cell's paired 95 % interval of sparse − upper bound lies above 0 (undecided cells "
                   "span 0)")
    verdict = robust(functools.partial(share_of, total=cells, th=th), beats, len(open_))
    decide = ""
    if verdict == UNDECIDED:
        hardest = max(open_, key=lambda x: evidence_factor(x[1], 0.0))
        decide = f"{hardest[0]}: " + to_decide(hardest[1], 0.0, examples_behind({"cell": hardest[2]}), "cells")
    return Finding("sparse-beats-upper", claim, stat, verdict, f"sparse − dense upper bound: {ci_text(ci)}", t,
                   decide)


def compute_findings(study: Study, th: Thresholds = THRESHOLDS) -> list[Finding]:
    """Every finding, in the order of the paper (Sec. 3.4, 4.1, 5, 6, 7)."""
    return [accuracy_falls(study, th), small_mixtures(study, th), *adversarial_drops(study, th),
            fsd_correlation(study, th), greedy_vs_twin(study, th), *pruning_keeps(study, th),
            sparse_beats_upper(study, th)]


def findings_table(findings: Sequence[Finding]) -> Table:
    """One row per finding: the claim, our statistic, the verdict and the interval (the summary's table)."""
    t = Table("findings", "The paper's findings, re-measured on this study",
              ("finding", "our statistic", "verdict", "uncertainty"))
    for f in findings:
        unc = "; ".join(x for x in (f.uncertainty, f"to decide: {f.to_decide}" if f.to_decide else "") if x)
        t.rows.append((f.claim, f.statistic, f.verdict, unc or "–"))
    return t


__all__ = ["FAILS", "HOLDS", "MIXED", "NOT_MEASURED", "THRESHOLDS", "UNDECIDED", "VERDICTS", "Finding", "Thresholds",
           "difference", "evidence_factor", "side",
           "compute_findings", "findings_table"]
