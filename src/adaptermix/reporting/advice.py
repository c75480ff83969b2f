"""The report's "Which adapters to mix" section (issue 17), from the stored advice and the stored sweep rows.

The `advise:` stage stores the advisor's answer as an artifact (`ADVICE_KIND`): per target and size k the
recommended member set, per G a serving partition, and the output ensemble of each recommended set on the
sweep's test examples. This module sets them against the stored sweep of the advised mixer:

- per (target, k): the advisor's pick and its stored accuracy, the oracle (the best stored member set of
  that size), random (the exact expectation: the mean over the cell's member sets), Alg. 1's min-FSD pick
  (on the stored FSD matrix), each one's regret in points against the oracle, and the ensemble;
- per G: the advised partition's stored mean accuracy over the N domains, the optimum (the exact DP of
  `adaptermix.advice.partition` on the stored rows) and a random partition's exact expectation;
- every registered strategy on the signals the stage stored, as the advisor benchmark scores them
  (`adaptermix.reporting.advice_strategies`).

Reporting reads only the store: nothing here runs a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from adaptermix.advice.partition import best_partition, partition_value, random_partition_mean
from adaptermix.advice.tables import cell, mask_of, missing_entries, names_of, table_from_rows
from adaptermix.reporting.advice_strategies import strategy_tables
from adaptermix.reporting.document import Section
from adaptermix.reporting.study import Study
from adaptermix.reporting.sweep_tables import Table, greedy_members

#: The version of the `advise:` stage's JSON (stored under `ADVICE_KIND`, docs/store.md).
ADVICE_VERSION = 1
TITLE = "Which adapters to mix (the advisor, issue 17)"
GROUP_SEP = " / "  # between the groups of a partition (a "|" would split a Markdown table's cell)
HOW = "add an `advise:` section to the recipe (docs/advisor.md) and re-run `adaptermix run RECIPE`"


@dataclass(frozen=True)
class PartnerCell:
    """One (target, k) cell of the stored sweep with every strategy's pick in it (accuracies as fractions).

    `stored` of `possible` member sets of the cell are in the store; the oracle and random are over the
    stored ones (exact when they are all there). A pick that is not stored has accuracy None.
    """

    target: str
    k: int
    pick: tuple[str, ...]
    predicted: float | None
    interval: tuple[float, float] | None
    pick_acc: float | None
    oracle: tuple[str, ...]
    oracle_acc: float
    random_acc: float
    alg1: tuple[str, ...] | None
    alg1_acc: float | None
    ensemble_acc: float | None
    stored: int
    possible: int


def _points(best: float, x: float | None) -> float | None:
    return None if x is None else 100.0 * (best - x)


def _pct(x: float | None) -> float | None:
    return None if x is None else 100.0 * x


def _truth(study: Study, mixer: str) -> tuple[tuple[str, ...], np.ndarray]:
    domains = study.meta.domains
    rows = study.sweep(mixer=mixer).rows
    return domains, table_from_rows(domains, ((r.target, r.members, r.accuracy) for r in rows))


def _ensembles(advice: dict[str, Any]) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(e["target"], tuple(e["members"])): float(e["accuracy"]) for e in advice.get("ensembles", [])}


def partner_cells(study: Study, advice: dict[str, Any]) -> list[PartnerCell]:
    """Every (target, k) the advisor answered, with the oracle, random, Alg. 1 and the ensemble beside it."""
    domains, truth = _truth(study, advice["mixer"])
    ens = _ensembles(advice)
    fsd = study.fsd
    out = []
    for adv in advice["partners"]:
        target = adv["target"]
        t = domains.index(target)
        for rec in adv["recommendations"]:
            k, pick = int(rec["k"]), tuple(rec["members"])
            masks, acc = cell(truth, t, k)
            have = ~np.isnan(acc)
            if not have.any():
                continue
            best = int(np.nanargmax(acc))
            alg1 = None
            if fsd is not None and target in fsd[0]:
                alg1 = (target,) if k == 1 else greedy_members(target, fsd[0], fsd[1], k, maximize=False)

            def stored(members: tuple[str, ...] | None, t: int = t) -> float | None:
                if members is None:
                    return None
                v = truth[t, mask_of(domains.index(m) for m in members)]
                return None if np.isnan(v) else float(v)

            interval = rec.get("interval")
            out.append(PartnerCell(
                target, k, pick, rec.get("predicted_accuracy"), None if interval is None else tuple(interval),
                stored(pick), names_of(masks[best], domains), float(acc[best]), float(np.nanmean(acc)), alg1,
                stored(alg1), ens.get((target, pick)), int(have.sum()), len(masks)))
    return out


def partners_table(cells: list[PartnerCell]) -> Table:
    """Per (target, k): the advisor's pick, the oracle, random, Alg. 1, their regrets, and the ensemble."""
    t = Table("advice_partners", "Partners per target: the advisor's pick against the oracle, random and Alg. 1",
              ("target", "k", "advisor_members", "predicted_pct", "advisor_pct", "oracle_members", "oracle_pct",
               "random_pct", "alg1_members", "alg1_pct", "regret_advisor", "regret_random", "regret_alg1",
               "ensemble_pct", "ensemble_minus_mix"))
    for c in cells:
        t.rows.append((c.target, c.k, "+".join(c.pick), _pct(c.predicted), _pct(c.pick_acc), "+".join(c.oracle),
                       100 * c.oracle_acc, 100 * c.random_acc, "+".join(c.alg1) if c.alg1 else None, _pct(c.alg1_acc),
                       _points(c.oracle_acc, c.pick_acc), _points(c.oracle_acc, c.random_acc),
                       _points(c.oracle_acc, c.alg1_acc),
                       _pct(c.ensemble_acc), None if c.ensemble_acc is None or c.pick_acc is None
                       else 100 * (c.ensemble_acc - c.pick_acc)))
    t.notes += ["accuracy in % on the sweep's stored test rows; regret = oracle − pick, in points",
                "oracle: the best stored member set of that size; random: the mean over the cell's member sets "
                "(the exact expectation of a uniformly random pick, not one draw)",
                "ensemble: the mean of the members' predicted probabilities (each with the target's head, k forward "
                "passes) on the same test examples; ensemble_minus_mix > 0: serving the members separately wins"]
    if any(c.stored < c.possible for c in cells):
        t.notes.append("some cells are not fully stored (a sampled sweep): oracle and random are over the stored "
                       "member sets only; – : a pick that is not stored")
    return t


def regret_table(cells: list[PartnerCell]) -> Table:
    """Mean regret per k over targets: the advisor, random, Alg. 1; and the ensemble against the mixture."""
    t = Table("advice_regret", "Mean regret per k (points against the oracle, over targets)",
              ("k", "targets", "advisor", "random", "alg1", "ensemble_minus_mix"))
    for k in sorted({c.k for c in cells}):
        here = [c for c in cells if c.k == k]

        def mean(values: list[float | None]) -> float | None:
            kept = [v for v in values if v is not None]
            return float(np.mean(kept)) if kept else None

        t.rows.append((k, len(here), mean([_points(c.oracle_acc, c.pick_acc) for c in here]),
                       mean([_points(c.oracle_acc, c.random_acc) for c in here]),
                       mean([_points(c.oracle_acc, c.alg1_acc) for c in here]),
                       mean([None if c.ensemble_acc is None or c.pick_acc is None
                             else 100 * (c.ensemble_acc - c.pick_acc) for c in here])))
    return t


def partition_table(study: Study, advice: dict[str, Any]) -> Table:
    """Per G: the advised partition's stored mean accuracy, the optimum (exact DP) and a random partition's mean."""
    domains, truth = _truth(study, advice["mixer"])
    ens = _ensembles(advice)
    t = Table("advice_partitions", "Serving partitions: N adapters as G mixtures (mean accuracy over the N domains)",
              ("G", "advisor_groups", "predicted_pct", "advisor_pct", "optimum_pct", "random_pct", "regret_advisor",
               "regret_random", "optimal_groups", "ensemble_pct"))
    complete = missing_entries(truth) == 0
    for part in advice["partitions"]:
        groups = [tuple(r["members"]) for r in part["recommendations"]]
        masks = tuple(mask_of(domains.index(m) for m in g) for g in groups)
        shown = GROUP_SEP.join("+".join(g) for g in groups)
        per_domain = [ens.get((d, g)) for g in groups for d in g]
        ensemble = None if None in per_domain or not per_domain else float(np.mean(per_domain))  # type: ignore[arg-type]
        pred = part.get("predicted_objective")
        if not complete:
            t.rows.append((part["groups"], shown, _pct(pred), None, None, None, None, None, None, _pct(ensemble)))
            continue
        reached = partition_value(truth, masks)
        best = best_partition(truth, int(part["groups"]))
        rnd = random_partition_mean(truth, int(part["groups"]))
        t.rows.append((part["groups"], shown, _pct(pred), 100 * reached, 100 * best.value, 100 * rnd,
                       100 * (best.value - reached), 100 * (best.value - rnd),
                       GROUP_SEP.join("+".join(names_of(m, domains)) for m in best.groups), _pct(ensemble)))
    t.notes.append("each domain is served by the mixture of its group with its own head; optimum: the exact DP "
                   "over the stored rows; random: the exact expectation over partitions into G groups")
    if not complete:
        t.notes.append("the sweep is not exhaustive: stored accuracy, optimum and random need every in-domain "
                       "mixture (– where they are missing)")
    return t


def latest_advice(study: Study) -> dict[str, Any] | None:
    """The newest stored advice of this version, or None."""
    if study.advice_json is None:
        return None
    value = json.loads(study.advice_json)
    return value if value.get("version") == ADVICE_VERSION else None


def advice_section(study: Study) -> Section:
    """The "Which adapters to mix" section, or its one line saying how to run the stage."""
    advice = latest_advice(study)
    if advice is None:
        return Section.missing("advice", TITLE, HOW)
    cost = advice["cost"]
    cells = partner_cells(study, advice)
    sec = Section("advice", TITLE, intro=(
        f"The advisor (strategy `{advice['strategy']}`, mixer `{advice['mixer']}`) chose from the adapters' weights "
        "and the train and validation splits only; the test split never reaches it. Its advice cost "
        f"{cost['forward_tokens']:,} forward tokens, {100 * cost['fraction']:.1f} % of the exhaustive sweep's "
        f"{cost['exhaustive_forward_tokens']:,}. Below, each pick is looked up among the stored sweep rows and set "
        "against the oracle, random and Alg. 1 (regret in points), and against the output ensemble of the same "
        "members: merge them, or serve them separately?"))
    if not cells:
        sec.notes.append(f"no stored sweep rows of mixer {advice['mixer']!r} for the advised sizes")
    else:
        sec.tables += [regret_table(cells), partners_table(cells)]
    if advice["partitions"]:
        sec.tables.append(partition_table(study, advice))
    tables, notes = strategy_tables(study, advice)
    sec.tables += tables
    sec.notes += notes
    return sec


def advice_sentence(study: Study) -> str | None:
    """One summary sentence saying what to mix, from the stored advice (None when the stage did not run)."""
    advice = latest_advice(study)
    if advice is None:
        return None
    cells = partner_cells(study, advice)
    parts = []
    ks = sorted({c.k for c in cells if c.k > 1})
    if ks:
        k = ks[0]
        here = [c for c in cells if c.k == k and c.pick_acc is not None]
        if here:
            regret = float(np.mean([100 * (c.oracle_acc - c.pick_acc) for c in here]))  # type: ignore[operator]
            rnd = float(np.mean([100 * (c.oracle_acc - c.random_acc) for c in here]))
            parts.append(f"mix each target with the k = {k} partners the advisor names in \"Which adapters to mix\" "
                         f"({regret:.2f} points below the best stored set on average, random {rnd:.2f})")
    if advice["partitions"]:
        part = advice["partitions"][0]
        groups = GROUP_SEP.join("+".join(r["members"]) for r in part["recommendations"])
        parts.append(f"to serve the {study.n} domains with {part['groups']} models, mix {groups}")
    if not parts:
        return None
    return f"What to mix (advisor `{advice['strategy']}`): " + "; ".join(parts) + "."
