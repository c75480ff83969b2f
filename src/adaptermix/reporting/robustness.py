"""Robustness under attack (PAPER.md §5, §10): Table 1's three columns, Fig. 3's adversarial panels,
Findings #2 and #3 as statistics. Reads only the store.

Attack rows (conditions `fgsm`, `textfooler`) score a seeded sample of each target's test examples
and carry, in their metrics, the clean accuracy on that same sample. Two comparisons follow:
- Table 1 puts the drop from k = 1 to k = n under each attack beside the clean drop of the clean
  rows (the paper's layout: 11.91 / 12.03 / 10.30 points on average over its 13 domains);
- Findings #2 and #3 compare each attack with clean accuracy *on the same sample*, so a difference
  in sample size (e.g. 300 clean vs 100 attacked examples) cannot pass for an effect of the attack:
  the variance of an accuracy over member sets grows as the sample shrinks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from adaptermix.reporting.document import Figure, Section
from adaptermix.reporting.sweep_figures import Axes, _grid, _note, k_axes
from adaptermix.reporting.sweep_tables import SweepData, Table, load
from adaptermix.store import EvalRow, Store

#: The paper's average drops (points, k = 1 → k = 13, 13 domains), Table 1.
PAPER_DROPS = {"clean": 11.91, "textfooler": 12.03, "fgsm": 10.30}
KIND = {"clean": "clean", "textfooler": "black-box", "fgsm": "white-box"}
TITLE = "Robustness under attack (Sec. 4.1, Table 1, Fig. 3)"


def condition_name(label: str) -> str:
    """`fgsm(epsilon=0.01,...)` → `fgsm`."""
    return label.split("(", 1)[0]


def label_params(label: str) -> dict[str, str]:
    """The parameters written in a row label: `fgsm(epsilon=0.01,n=50)` → {"epsilon": "0.01", "n": "50"}."""
    _, _, rest = label.partition("(")
    out: dict[str, str] = {}
    for part in filter(None, rest.rstrip(")").split(",")):
        key, _, value = part.partition("=")
        out[key] = value
    return out


def describe_label(label: str) -> str:
    """A reader's name for a condition label: `FGSM (white-box, ε = 0.01, 50 ex.)`,
    `TextFooler (black-box, transfer, 40 ex.)`; other labels as they are."""
    name, params = condition_name(label), label_params(label)
    n = f", {params['n']} ex." if "n" in params else ""
    if name == "fgsm":
        return f"FGSM (white-box, ε = {params.get('epsilon', '0.01')}{n})"
    if name == "textfooler":
        return f"TextFooler (black-box, {params.get('mode', 'adaptive')}{n})"
    return label


def describe(data: SweepData, label: str) -> str:
    """`describe_label` of a condition (kept for callers holding the condition's rows)."""
    del data
    return describe_label(label)


def load_conditions(store_path: str | Path, mixer: str = "average") -> dict[str, SweepData]:
    """condition label → its `SweepData` for one mixer: clean first, then attacks in first-stored order."""
    with Store.read(store_path) as store:
        labels = [c for m, c in store.labels() if m == mixer]
    labels.sort(key=lambda c: c != "clean")
    return {c: load(store_path, c, mixer) for c in labels}


def clean_on_sample(row: EvalRow | None) -> float | None:
    """The clean accuracy an attack row measured on its own (sampled) examples, if it stored one."""
    if row is None or not row.metrics or "clean_accuracy" not in row.metrics:
        return None
    return float(row.metrics["clean_accuracy"])


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None


def table1_robustness(datas: Mapping[str, SweepData]) -> Table:
    """Table 1: the drop (points) from the target's adapter alone to the mixture of all n, per condition.

    One column per stored condition; an `average` row over the targets that have both ends under
    every condition; the paper's averages in the last row.
    """
    labels = list(datas)
    first = next(iter(datas.values()))
    n = first.n
    cols = tuple(f"{condition_name(c)}_{i}_drop_pts" if condition_name(c) != "clean" else "clean_drop_pts"
                 for i, c in enumerate(labels))
    t = Table("table1_robustness", f"Table 1: accuracy drop from k = 1 to k = {n} (points), clean and under attack",
              ("target", *cols))
    per_col: list[list[float]] = [[] for _ in labels]
    for target in first.meta.domains:
        cells: list[float | None] = []
        for c in labels:
            single, full = datas[c].ends(target)
            cells.append(None if single is None or full is None else 100.0 * (single.accuracy - full.accuracy))
        if all(x is None for x in cells):
            continue
        t.rows.append((target, *cells))
        if all(x is not None for x in cells):
            for i, x in enumerate(cells):
                per_col[i].append(float(x))  # type: ignore[arg-type]
    if per_col and per_col[0]:
        t.rows.append(("average", *(float(np.mean(v)) for v in per_col)))
    t.rows.append(("paper (13 domains, k = 1 → 13)", *(PAPER_DROPS.get(condition_name(c)) for c in labels)))
    for i, c in enumerate(labels):
        t.notes.append(f"column {i + 1}: {describe(datas[c], c)}" if condition_name(c) != "clean"
                       else f"column {i + 1}: clean (all scored test examples)")
    t.notes.append("average over targets with both ends stored under every condition; drops in accuracy points "
                   "(single − mixture of all); a negative drop means the mixture did better")
    return t


def table1_detail(datas: Mapping[str, SweepData]) -> Table:
    """Per target and attack: accuracies at both ends, the drop, and the clean drop on the same sample."""
    first = next(iter(datas.values()))
    n = first.n
    t = Table("table1_detail", "Table 1 in detail: each attack against clean accuracy on the same examples",
              ("target", "condition", "n_examples", "acc_k1_pct", f"acc_k{n}_pct", "drop_pts",
               "clean_same_sample_drop_pts", "attack_success_rate_k1", f"attack_success_rate_k{n}"))
    for c, data in datas.items():
        if condition_name(c) == "clean":
            continue
        for target in data.targets:
            single, full = data.ends(target)
            cs, cf = clean_on_sample(single), clean_on_sample(full)
            either = single or full
            t.rows.append((
                target, describe(data, c), None if either is None else either.n_examples,
                None if single is None else 100 * single.accuracy, None if full is None else 100 * full.accuracy,
                None if single is None or full is None else 100 * (single.accuracy - full.accuracy),
                None if cs is None or cf is None else 100 * (cs - cf),
                None if single is None or not single.metrics else single.metrics.get("attack_success_rate"),
                None if full is None or not full.metrics else full.metrics.get("attack_success_rate"),
            ))
    t.formats = {"attack_success_rate_k1": ".3f", f"attack_success_rate_k{n}": ".3f"}
    t.notes.append("clean_same_sample_drop_pts: the clean drop measured on the attacked examples themselves "
                   "(the rows' `clean_accuracy` metric); compare drop_pts with it, not with the clean column, "
                   "to separate the attack from the smaller sample")
    return t


def finding2(datas: Mapping[str, SweepData]) -> Table:
    """Finding #2: the average drop under each attack minus the clean drop on the same examples."""
    t = Table("finding2", "Finding #2: do attacks change the drop from k = 1 to k = n?",
              ("condition", "targets", "attack_drop_pts", "clean_same_sample_drop_pts", "difference_pts",
               "paper_difference_pts"))
    for c, data in datas.items():
        name = condition_name(c)
        if name == "clean":
            continue
        adv, cln = [], []
        for target in data.targets:
            single, full = data.ends(target)
            cs, cf = clean_on_sample(single), clean_on_sample(full)
            if single is None or full is None or cs is None or cf is None:
                continue
            adv.append(100 * (single.accuracy - full.accuracy))
            cln.append(100 * (cs - cf))
        a, b = _mean(adv), _mean(cln)
        paper = None if name not in PAPER_DROPS else round(PAPER_DROPS[name] - PAPER_DROPS["clean"], 2)
        t.rows.append((describe(data, c), len(adv), a, b, None if a is None or b is None else a - b, paper))
    t.notes.append("the paper: 12.03 − 11.91 = +0.12 (black-box) and 10.30 − 11.91 = −1.61 (white-box) points, "
                   "i.e. drops similar in size to the clean drop")
    return t


def finding3(datas: Mapping[str, SweepData]) -> Table:
    """Finding #3: variance over member sets of adversarial vs clean accuracy, per (target, k), same examples.

    Only sizes with at least two member sets stored under the attack count (k = 1 and k = n have one).
    """
    t = Table("finding3", "Finding #3: is accuracy under attack more variable across member sets?",
              ("condition", "target", "k", "member_sets", "var_attack_pts2", "var_clean_same_sample_pts2",
               "ratio"))
    for c, data in datas.items():
        if condition_name(c) == "clean":
            continue
        for target in data.targets:
            for k in sorted({r.k for r in data.target_rows(target)}):
                rows = [r for r in data.target_rows(target, k) if clean_on_sample(r) is not None]
                if len(rows) < 2:
                    continue
                va = float(np.var([100 * r.accuracy for r in rows], ddof=1))
                vc = float(np.var([100 * float(clean_on_sample(r)) for r in rows], ddof=1))  # type: ignore[arg-type]
                t.rows.append((describe(data, c), target, k, len(rows), va, vc, va / vc if vc > 0 else None))
    t.formats = {"ratio": ".2f"}
    return t


def finding3_summary(table: Table) -> dict[str, tuple[int, int]]:
    """condition → (cells where the attack's variance is larger, cells compared)."""
    out: dict[str, tuple[int, int]] = {}
    for cond, _, _, _, va, vc, _ in table.rows:
        larger, total = out.get(cond, (0, 0))
        out[cond] = (larger + int(va > vc), total + 1)
    return out


def fig3_adversarial(datas: Mapping[str, SweepData]) -> bytes:
    """Fig. 3 with adversarial panels: mean accuracy vs k per target, clean and under each attack."""
    first = next(iter(datas.values()))
    targets = [d for d in first.meta.domains if any(d in data.targets for data in datas.values())]

    def draw(ax: Axes, target: str) -> None:
        drawn = False
        ks_all: set[int] = set()
        for i, (c, data) in enumerate(datas.items()):
            aggs = sorted((a for a in data.aggs if a.target == target), key=lambda a: a.k)
            if not aggs:
                continue
            ks = [a.k for a in aggs]
            ks_all.update(ks)
            style = "o-" if condition_name(c) == "clean" else "s--"
            label = "clean" if condition_name(c) == "clean" else describe(data, c)
            if len(aggs) > 1 and any(a.count > 1 for a in aggs) and condition_name(c) != "clean":
                ax.fill_between(ks, [100 * a.min for a in aggs], [100 * a.max for a in aggs], color=f"C{i}",
                                alpha=0.12)
            ax.plot(ks, [100 * a.mean for a in aggs], style, color=f"C{i}", ms=3, label=label)
            drawn = True
        if not drawn:
            return _note(ax, "no rows")
        k_axes(ax, sorted(ks_all))

    return _grid("Fig. 3 (adversarial panels): accuracy vs k, clean and under attack", targets, draw)


def robustness_section(store_path: str | Path, mixer: str = "average") -> Section | None:
    """The report section, or None when the store holds no attack rows for `mixer`."""
    datas = load_conditions(store_path, mixer)
    if not any(condition_name(c) != "clean" for c in datas):
        return None
    t1, detail, f2, f3 = table1_robustness(datas), table1_detail(datas), finding2(datas), finding3(datas)
    sec = Section("robustness", TITLE, intro=(
        "Each attack row scores a seeded sample of the target's test examples (the same sample for every mixture "
        "of that target) and stores the clean accuracy on that sample beside the accuracy under attack. "
        "TextFooler here uses GloVe 6B 50d counter-fitted to WordNet 3.0 for synonyms and MiniLM (all-MiniLM-L6-v2) "
        "as the sentence encoder, a stand-in for the Universal Sentence Encoder of the paper; docs/attacks.md lists "
        "every departure from the paper and from TextAttack's recipe."))
    sec.figures.append(Figure(fig3_adversarial(datas), "Mean accuracy over member sets against the number of mixed "
                              "adapters, clean (solid) and under each attack (dashed; band: min–max over member "
                              "sets where more than one is stored).", table=t1.name,
                              name="fig3_adversarial.png"))
    sec.tables += [t1, detail, f2, f3]
    for cond, (larger, total) in finding3_summary(f3).items():
        sec.notes.append(f"{cond}: the variance over member sets under attack exceeds the clean variance on the "
                         f"same examples in {larger} of {total} (target, k) cells")
    if not f3.rows:
        sec.notes.append("Finding #3 needs attack rows for at least two member sets of one size (k between 2 and "
                         "n − 1): run an attack on every mixture (FGSM, or TextFooler in transfer mode)")
    return sec
