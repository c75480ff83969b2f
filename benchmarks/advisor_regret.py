"""The mixture advisor against exhaustive ground truth (issue 17): regret, ranking, coverage, partitions, cost.

    nice -n 5 .venv/bin/python benchmarks/advisor_regret.py --store runs/advisor-dev/study.sqlite

Reads an exhaustive store (every in-domain mixture of one mixer, condition `clean`) as ground truth
and the checkpoints next to it (`<store folder>/adapters/<domain>/`, or `--adapters`) for the
signals: adapter weights, each domain's train text, and validation evaluations (singles, pairs, the
all-mixture) within `--budget` of the sweep's forward tokens. The test split is read only through the
store. Prints Markdown tables: partners (regret vs the best stored set of each size, regret@3, hit
rate, Spearman ρ, 90 % interval coverage, MAE, cost) beside the choose-on-half-of-test floor,
partitions (regret vs the exact optimum for every G from 2 to N−1, beside a random partition's
exact expectation), and the surrogate's leave-one-target-out predictions (MAE, interval coverage,
`adaptermix.advice.loto`). `--weights` adds the CMA-ES weighted mixtures scored on test
(`advisor_weights.py`; real forward passes, bounded by `--weights-targets` and `--weights-k`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from advisor_partition_weights import partition_weight_rows, partition_weights_table  # noqa: E402
from advisor_racing import RULE_WORDS, partition_race_rows, partition_race_table, race_rows, race_table  # noqa: E402
from advisor_soup import soup_rows, soup_table  # noqa: E402
from advisor_weights import weight_rows, weights_table  # noqa: E402
from sweep_throughput import processor  # noqa: E402  (one CPU/GPU name for every benchmark)

from adaptermix.advice import STRATEGIES, Signals
from adaptermix.advice.clustering import PARTITIONERS
from adaptermix.advice.collect import (
    VALIDATION_FIELDS,
    soup_validation_examples,
    text_signals,
    validation_evaluations,
    validation_examples,
    validation_signals,
    weight_signals,
)
from adaptermix.advice.loto import LotoReport, loto_report
from adaptermix.advice.racing import PARTITION_RULES, RaceSpec
from adaptermix.advice.regret import (
    ClusterReport,
    PartitionResult,
    StrategyReport,
    evaluate_partitioners,
    evaluate_strategies,
    half_split_floor,
    partition_half_split_floor,
)
from adaptermix.advice.signals import TEXT, UNLABELED, VALIDATION, WEIGHTS
from adaptermix.advice.soup import soup_evaluations
from adaptermix.advice.spec import DEFAULTS
from adaptermix.advice.tables import mask_of, missing_entries, table_from_rows
from adaptermix.advice.weights import WeightSearchSpec
from adaptermix.store import Store


def load_truth(path: Path, mixer: str) -> tuple[list[str], np.ndarray, dict[tuple[int, int], np.ndarray], int,
                                                dict[str, int]]:
    """(domains, truth table, correctness bits by (t, mask), exhaustive tokens, test examples per target)."""
    with Store.read(path) as store:
        domains = list(store.meta.domains)
        rows = store.rows("clean", mixer)
    if not rows:
        raise SystemExit(f"{path} has no clean rows of mixer {mixer!r}")
    known = set(domains)
    truth = table_from_rows(domains, [(r.target, r.members, r.accuracy) for r in rows if set(r.members) <= known])
    missing = missing_entries(truth)
    if missing:
        raise SystemExit(f"{path} is not exhaustive for mixer {mixer!r}: {missing} of the "
                         f"{len(domains) * 2 ** (len(domains) - 1)} in-domain mixtures are missing")
    index = {d: i for i, d in enumerate(domains)}
    correct = {}
    for r in rows:
        bits = r.correctness
        if bits is not None:
            correct[(index[r.target], mask_of(index[m] for m in r.members))] = bits
    exhaustive = sum(int(r.tokens or 0) for r in rows)
    return domains, truth, correct, exhaustive, {r.target: int(r.n_examples) for r in rows}


def gather_signals(adapters: Path, domains: list[str], budget: float, test_examples: int, max_length: int,
                   mixer: str) -> tuple[Signals, dict[str, int]]:
    """Every signal, with the forward tokens each kind cost."""
    from adaptermix.checkpoints import read_mixable
    from adaptermix.evaluation.evaluator import Evaluator

    ckpts = read_mixable([adapters / d for d in domains])
    names = [c.name for c in ckpts]
    if names != domains:
        raise SystemExit(f"the checkpoints in {adapters} are {names}, the store's domains {domains}")
    evaluator = Evaluator.for_checkpoint(ckpts[0], max_length)
    signals = Signals(tuple(domains), test_examples=test_examples)
    signals = replace(signals, **weight_signals(ckpts, evaluator.base))
    sim, text_tokens = text_signals(ckpts, None)
    n_val = validation_examples(len(domains), budget, test_examples)
    print(f"validation: {validation_evaluations(len(domains))} evaluations of up to {n_val} examples", file=sys.stderr)
    got = validation_signals(ckpts, domains, evaluator, n_val, mixer,
                             progress=lambda line: print(line, file=sys.stderr))
    # The label-free strategies read the very passes the surrogate runs: the same cost.
    tokens = {WEIGHTS: 0, TEXT: text_tokens, VALIDATION: got["tokens"], UNLABELED: got["tokens"], "none": 0}
    signals = replace(signals, text=sim, **{k: got[k] for k in VALIDATION_FIELDS}, tokens=tokens,
                      n_validation=got["n_validation"], evaluations=got["evaluations"])
    return signals, tokens


def save_signals(path: Path, signals: Signals, tokens: dict[str, int], budget: float) -> None:
    """Signals and their token costs as JSON (`Signals.to_json`), so a re-run scores without forward passes."""
    path.write_text(json.dumps({"signals": signals.to_json(), "tokens": tokens, "budget": budget}))


def load_signals(path: Path) -> tuple[Signals, dict[str, int], float]:
    doc = json.loads(path.read_text())
    signals = Signals.from_json(doc["signals"])
    tokens = doc["tokens"]
    if signals.agreement is None:  # cached before the label-free signals existed: gather again for them
        tokens.pop(UNLABELED, None)
    else:
        tokens.setdefault(UNLABELED, tokens.get(VALIDATION, 0))
    return replace(signals, tokens=tokens), tokens, float(doc["budget"])


def _sizes(sizes: dict[str, int] | int) -> str:
    if isinstance(sizes, int):
        return str(sizes)
    low, high = min(sizes.values()), max(sizes.values())
    return str(low) if low == high else f"{low}–{high}"


def _f(x: float | None, digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def partners_table(reports: list[StrategyReport], floor: float | None) -> list[str]:
    lines = ["| strategy | reads | regret (pts) | 90 % CI over targets | regret@3 | hit top 10 % | Spearman ρ | "
             "90 % coverage | MAE (pts) | cost (% of exhaustive) |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(reports, key=lambda r: r.partners.regret):
        p = r.partners
        lines.append(f"| {r.strategy} | {r.needs} | {p.regret:.2f} | [{p.regret_ci[0]:.2f}, {p.regret_ci[1]:.2f}] | "
                     f"{p.regret_at_3:.2f} | {100 * p.hit_rate:.0f} % | {_f(p.spearman)} | "
                     f"{_f(None if p.coverage is None else 100 * p.coverage, 0)}{'' if p.coverage is None else ' %'} | "
                     f"{_f(p.mae)} | {100 * r.cost_fraction:.2f} |")
    if floor is not None:
        lines.append(f"| *choose on half of test, score on the other half* | test | {floor:.2f} | | | | | | | |")
    return lines


def partitions_table(reports: list[StrategyReport], clusters: list[ClusterReport] | None = None,
                     floor: dict[int, float] | None = None) -> list[str]:
    """Markdown: regret vs the exact optimum per G, for the score strategies (DP on their scores) and the
    partitioners (k-means on text, clustering on FSD: their own groups; seeded ones averaged over seeds),
    and the choose-on-half-of-test floor per G when given."""
    gs = [p.groups for p in reports[0].partitions]
    lines = ["| strategy | partition by | reads | cost (% of exhaustive) | " + " | ".join(f"G={g}" for g in gs)
             + " | mean |", "|---|---|---|---:|" + "---:|" * (len(gs) + 1)]
    opt = reports[0].partitions
    lines.append("| *optimum (mean acc %)* | | | | " + " | ".join(f"{100 * p.optimum:.2f}" for p in opt) + " | |")
    rows: list[tuple[str, str, str, float, tuple[PartitionResult, ...]]] = [
        (r.strategy, "exact expectation" if r.strategy == "random" else "DP on its scores", r.needs,
         r.cost_fraction, r.partitions) for r in reports]
    for c in clusters or []:
        how = f"its clusters (mean of {c.seeds} seeds)" if c.seeds > 1 else "its clusters"
        rows.append((c.strategy, how, c.needs, c.cost_fraction, c.partitions))
    for name, how, needs, frac, parts in sorted(rows, key=lambda r: np.mean([p.optimum - p.reached for p in r[4]])):
        regrets = [100 * (p.optimum - p.reached) for p in parts]
        lines.append(f"| {name} | {how} | {needs} | {100 * frac:.2f} | " + " | ".join(f"{x:.2f}" for x in regrets)
                     + f" | {np.mean(regrets):.2f} |")
    if floor:
        values = [floor[g] for g in gs]
        lines.append("| *choose on half of test, score on the other half* | the optimum on one half | test | | "
                     + " | ".join(f"{x:.2f}" for x in values) + f" | {np.mean(values):.2f} |")
    return lines


def loto_table(r: LotoReport, domains: list[str]) -> list[str]:
    """Markdown: the surrogate's leave-one-target-out prediction quality, overall and per target."""
    lines = [f"MAE {r.mae:.2f} points over {r.mixtures} mixtures (noise floor of a perfect predictor "
             f"{r.noise_floor:.2f}; per-k meta-regression on the other targets {r.fitted_mae:.2f}); 90 % intervals: "
             f"the strategy's own cover {100 * r.coverage:.1f} % (mean half-width {r.half_width:.2f} points), "
             f"conformal from the other targets' residuals {100 * r.conformal_coverage:.1f} % "
             f"(half-width {r.conformal_half_width:.2f})  ",
             "MAE by k: " + ", ".join(f"k={k + 1} {m:.2f}" for k, m in enumerate(r.mae_by_k)) + "\n",
             "| held-out target | MAE (pts) | coverage, own | coverage, conformal |", "|---|---:|---:|---:|"]
    for t, d in enumerate(domains):
        lines.append(f"| {d} | {r.mae_by_target[t]:.2f} | {100 * r.coverage_by_target[t]:.0f} % | "
                     f"{100 * r.conformal_coverage_by_target[t]:.0f} % |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True, help="an exhaustive study store")
    ap.add_argument("--adapters", type=Path, default=None, help="default: <store folder>/adapters")
    ap.add_argument("--mixer", default="average")
    ap.add_argument("--budget", type=float, default=0.1, help="validation share of the exhaustive tokens")
    ap.add_argument("--max-length", type=int, default=None, help="default: the store's eval max_length")
    ap.add_argument("--floor-splits", type=int, default=20)
    ap.add_argument("--json-out", type=Path, default=None)
    ap.add_argument("--signals", type=Path, default=None,
                    help="JSON file of gathered signals: read if it exists, else written after gathering")
    ap.add_argument("--gather-only", action="store_true",
                    help="gather the signals into --signals and stop (the store need not be complete yet)")
    search = WeightSearchSpec()
    ap.add_argument("--weights", action="store_true",
                    help="also score the CMA-ES weighted mixture of the surrogate's pick on test (forward passes)")
    ap.add_argument("--weights-targets", type=int, default=2, help="--weights: the first N targets only")
    ap.add_argument("--weights-k", default="2,3", help="--weights: the sizes k (comma-separated)")
    ap.add_argument("--weight-evaluations", type=int, default=search.evaluations)
    ap.add_argument("--weight-examples", type=int, default=search.examples)
    ap.add_argument("--partition-weights", action="store_true",
                    help="also search CMA-ES weights for each group of the surrogate's partition at every G and "
                         "score them on test (forward passes; advisor_partition_weights.py)")
    race = RaceSpec()
    ap.add_argument("--race", action="store_true",
                    help="also race each seed strategy's top sets on validation examples (forward passes)")
    ap.add_argument("--race-seeds", default="surrogate,task_cosine", help="--race: the seed strategies")
    ap.add_argument("--race-targets", type=int, default=None, help="--race: the first N targets only (default all)")
    ap.add_argument("--race-k", default=None, help="--race: the sizes k (default 2..N−1)")
    ap.add_argument("--race-candidates", type=int, default=race.candidates)
    ap.add_argument("--race-examples", type=int, default=race.examples,
                    help="--race: the budget, validation examples per candidate at most")
    ap.add_argument("--race-unbudgeted", action="store_true",
                    help="--race: bound each race by --race-examples only, not by what --budget leaves (as before "
                         "2026-12-06 11:00)")
    ap.add_argument("--race-partitions", action="store_true",
                    help="also race the seed's top partitions for every G on validation examples (forward "
                         "passes), within --budget together with the signals' own tokens")
    ap.add_argument("--partition-seed", default=DEFAULTS.strategy,
                    help="--race-partitions: the strategy whose best partitions are raced (default: the advisor's "
                         "default, as `advise --groups G` races them)")
    ap.add_argument("--partition-rule", default=race.partition_rule,
                    help=f"--race-partitions: the race's rule(s), comma-separated ({', '.join(PARTITION_RULES)})")
    ap.add_argument("--partition-examples", type=int, default=race.partition_examples,
                    help="--race-partitions: validation examples per domain at most (the budget bounds it too)")
    ap.add_argument("--partition-candidates", type=int, default=race.partitions,
                    help="--race-partitions: the seed's best partitions raced per G")
    ap.add_argument("--greedy-soup", action="store_true",
                    help="also grow each target's member sets greedily on validation accuracy (forward passes; "
                         "advisor_soup.py), within --budget")
    ap.add_argument("--soup-k-max", type=int, default=None, help="--greedy-soup: the largest size grown (default N−1)")
    args = ap.parse_args()
    rules = [r.strip() for r in args.partition_rule.split(",") if r.strip()]
    for rule in rules:
        if rule not in PARTITION_RULES:
            ap.error(f"--partition-rule: unknown rule {rule!r}; choose from {', '.join(PARTITION_RULES)}")
    start = time.time()
    with Store.read(args.store) as store:
        max_length = args.max_length or int(store.meta.eval_config.get("max_length", 64))
        domains = list(store.meta.domains)
        n_test = int(store.meta.eval_config.get("max_examples") or 0)
    test_sizes: dict[str, int] | int = n_test
    if not args.gather_only:
        domains, truth, correct, exhaustive, test_sizes = load_truth(args.store, args.mixer)
    adapters = args.adapters or args.store.parent / "adapters"
    if args.signals is not None and args.signals.exists():
        signals, tokens, args.budget = load_signals(args.signals)
        if signals.domains != tuple(domains):
            raise SystemExit(f"{args.signals} holds signals of {signals.domains}, the store {domains}")
        signals = replace(signals, test_examples=test_sizes)
    else:
        signals, tokens = gather_signals(adapters, domains, args.budget, n_test, max_length, args.mixer)
        signals = replace(signals, test_examples=test_sizes)
        if args.signals is not None:
            save_signals(args.signals, signals, tokens, args.budget)
    gathered = time.time() - start
    if args.gather_only:
        print(f"signals gathered in {gathered:.0f} s into {args.signals}")
        return
    names = [s for s in STRATEGIES.names() if signals.has(STRATEGIES.get(s).needs)]
    skipped = sorted(set(STRATEGIES.names()) - set(names))
    if skipped:
        print(f"{args.signals} lacks the signals of {', '.join(skipped)}: gather again (a new --signals file) to score "
              "them", file=sys.stderr)
    reports = evaluate_strategies(truth, signals, names, tokens, exhaustive)
    clusters = evaluate_partitioners(truth, signals, PARTITIONERS.names(), tokens, exhaustive)
    n = len(domains)
    floor = half_split_floor(correct, n, splits=args.floor_splits) if len(correct) == len(truth[~np.isnan(truth)]) \
        else None
    single = np.mean([truth[t, 1 << t] for t in range(n)])
    allmix = np.mean([truth[t, (1 << n) - 1] for t in range(n)])
    print(f"# advisor regret: {args.store} ({n} domains, {n * 2 ** (n - 1)} mixtures of {args.mixer}, "
          f"{_sizes(test_sizes)} test examples per target)\n")
    print(f"command: {' '.join(sys.argv)}  ")
    print(f"processor: {processor()}; signals gathered in {gathered:.0f} s; scoring every strategy took "
          f"{sum(r.seconds for r in reports):.1f} s  ")
    print(f"exhaustive sweep: {exhaustive:,} forward tokens; validation: {signals.evaluations} evaluations, "
          f"{tokens[VALIDATION]:,} tokens (budget {args.budget:g}); text: {tokens[TEXT]:,} tokens  ")
    print(f"reference: single adapters {100 * single:.2f} %, all {n} mixed {100 * allmix:.2f} % (mean over targets)\n")
    print("## Partners (cells: every target × k = 2..N−1; regret in accuracy points vs the best stored set)\n")
    print("\n".join(partners_table(reports, floor)))
    print("\n## Partitions (regret in points vs the exact optimum; random = exact expectation)\n")
    part_floor = partition_half_split_floor(correct, n) if floor is not None else None
    print("\n".join(partitions_table(reports, clusters, part_floor)))
    loto = loto_report(truth, signals) if signals.full is not None and n >= 3 else None
    if loto is not None:
        print("\n## Predict: the surrogate, leave one target out (every mixture of the held-out target)\n")
        print("\n".join(loto_table(loto, domains)))
    weighted = []
    if args.weights:
        with Store.read(args.store) as store:
            precision = next((r.precision for r in store.rows("clean", args.mixer) if r.precision), "fp32")
        spec = WeightSearchSpec(evaluations=args.weight_evaluations, examples=args.weight_examples).check()
        sizes = [int(k) for k in args.weights_k.split(",") if k.strip()]
        adapters = args.adapters or args.store.parent / "adapters"
        started = time.time()
        weighted = weight_rows(adapters, domains, truth, correct, signals, args.weights_targets, sizes, spec,
                               max_length, test_sizes, precision, progress=lambda line: print(line, file=sys.stderr))
        print(f"\n## Weights, not only members: CMA-ES ({spec.evaluations} losses on {spec.examples} validation "
              f"examples) on the surrogate's pick, scored on test ({precision}; {time.time() - started:.0f} s, "
              f"{sum(r.tokens for r in weighted):,} tokens)\n")
        print("\n".join(weights_table(weighted)))
    part_weighted = []
    if args.partition_weights:
        with Store.read(args.store) as store:
            precision = next((r.precision for r in store.rows("clean", args.mixer) if r.precision), "fp32")
        spec = WeightSearchSpec(evaluations=args.weight_evaluations, examples=args.weight_examples).check()
        started = time.time()
        part_weighted = partition_weight_rows(args.adapters or args.store.parent / "adapters", domains, truth,
                                              correct, signals, list(range(2, n)), spec, max_length, test_sizes,
                                              precision, progress=lambda line: print(line, file=sys.stderr))
        print(f"\n## Weights for a partition's groups: CMA-ES ({spec.evaluations} losses, each the mean over a "
              f"group's domains of {spec.examples} validation examples) on the surrogate's partition, scored on "
              f"test ({precision}; {time.time() - started:.0f} s, {sum(r.tokens for r in part_weighted):,} tokens)\n")
        print("\n".join(partition_weights_table(part_weighted)))
    raced = []
    if args.race:
        spec = RaceSpec(candidates=args.race_candidates, examples=args.race_examples).check()
        seeds = [x for x in args.race_seeds.split(",") if x.strip()]
        sizes = [int(k) for k in args.race_k.split(",")] if args.race_k else list(range(2, n))
        started = time.time()
        seed_tokens = {s: int(tokens.get(STRATEGIES.get(s).needs, 0)) for s in seeds}
        raced = race_rows(args.adapters or args.store.parent / "adapters", domains, truth, signals, seeds,
                          args.race_targets or n, sizes, spec, max_length,
                          progress=lambda line: print(line, file=sys.stderr, flush=True),
                          budget=None if args.race_unbudgeted else args.budget, seed_tokens=seed_tokens,
                          exhaustive=exhaustive)
        print(f"\n## Racing: the seed's top {spec.candidates} sets per (target, k) on at most {spec.examples} "
              f"validation examples each (batches from {spec.first}, doubling; dropped at a 95 % paired interval "
              f"below the leader; {time.time() - started:.0f} s, {sum(r.tokens for r in raced):,} tokens)\n")
        print("\n".join(race_table(raced, seed_tokens, exhaustive)))
    part_raced = []
    if args.race_partitions:
        seed_tokens = int(tokens.get(VALIDATION, 0))
        left = max(0, int(args.budget * exhaustive) - seed_tokens)
        memo: dict = {}  # one memo: a (domain, group, window) both rules run is evaluated once
        for rule in rules:
            started = time.time()
            spec = RaceSpec(partitions=args.partition_candidates, partition_examples=args.partition_examples,
                            partition_rule=rule).check().for_partitions()
            rows = partition_race_rows(args.adapters or args.store.parent / "adapters", domains, truth, signals,
                                       args.partition_seed, list(range(2, n)), spec, max_length, left,
                                       progress=lambda line: print(line, file=sys.stderr, flush=True), memo=memo)
            part_raced += rows
            how = RULE_WORDS[rule]
            print(f"\n## Partition racing ({rule}): {args.partition_seed}'s top {spec.candidates} partitions per G on "
                  f"at most {spec.examples} validation examples per domain (batches from {spec.first}, doubling; "
                  f"{how}; race budget {left:,} tokens = {args.budget:g} of the sweep less the signals'; "
                  f"{time.time() - started:.0f} s, {sum(r.tokens for r in rows):,} tokens)\n")
            print("\n".join(partition_race_table(rows, seed_tokens, exhaustive)))
    souped = []
    if args.greedy_soup:
        k_max = args.soup_k_max or n - 1
        # The sweep's examples per row as stored (test splits smaller than max_examples count as they are).
        mean_test = round(np.mean(list(test_sizes.values()))) if isinstance(test_sizes, dict) else test_sizes
        per_eval = soup_validation_examples(n, k_max, args.budget, mean_test or 300)
        started = time.time()
        souped = soup_rows(args.adapters or args.store.parent / "adapters", domains, truth, signals, k_max, per_eval,
                           max_length, progress=lambda line: print(line, file=sys.stderr, flush=True))
        print(f"\n## Greedy soup: forward selection on validation accuracy to k = {k_max} "
              f"({soup_evaluations(n, k_max)} evaluations per target, at most {per_eval} validation examples each, "
              f"from --budget {args.budget:g}; "
              f"{time.time() - started:.0f} s, {sum(r.tokens for r in souped):,} tokens)\n")
        print("\n".join(soup_table(souped, exhaustive, int(tokens.get(VALIDATION, 0)))))
    if args.json_out is not None:
        doc = {"store": str(args.store), "processor": processor(), "budget": args.budget, "floor": floor,
               "exhaustive_tokens": exhaustive, "partition_floor": part_floor,
               "strategies": [{**asdict(r), "partners": {k: v for k, v in asdict(r.partners).items() if k != "cells"}}
                              for r in reports],
               "clusters": [asdict(c) for c in clusters],
               "loto": None if loto is None else asdict(loto), "weights": [asdict(r) for r in weighted],
               "race": [asdict(r) for r in raced], "partition_race": [asdict(r) for r in part_raced],
               "partition_weights": [asdict(r) for r in part_weighted], "greedy_soup": [asdict(r) for r in souped]}
        args.json_out.write_text(json.dumps(doc, indent=2, default=float))


if __name__ == "__main__":
    main()
