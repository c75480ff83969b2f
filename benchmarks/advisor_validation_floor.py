"""The validation floor: what an advisor that knew every mixture's validation accuracy would reach on test.

Every strategy of the advisor chooses from the training and validation splits (the leak rule); the test
split only scores. This benchmark asks how far that rule alone keeps any advisor from the test optimum: it
reads a second exhaustive store of the same adapters swept on the validation split, takes the validation
accuracy of every in-domain mixture as the advisor's scores (an oracle no budget could afford: every
mixture, the whole split) and scores its choices on the test store exactly as `advisor_regret.py` scores a
strategy. Where this floor misses a goal, no validation-based advisor can be expected to meet it on that
store; where the floor meets it, the strategies' miss is theirs.

It also splits the validation-to-test error of each mixture into what sampling alone would give
(√(2/π)·√(p(1 − p)·(1/n_val + 1/n_test)), both splits drawn from one distribution) and the rest, which is a
shift between the splits: a predictor of validation accuracy inherits it whatever its model.

    adaptermix sweep --adapters runs/quickstart/adapters --store runs/valfloor/qs-val.sqlite \\
        --split validation --mode exhaustive --max-length 64 --mixers average --conditions clean
    .venv/bin/python benchmarks/advisor_validation_floor.py --store runs/quickstart/study.sqlite \\
        --validation-store runs/valfloor/qs-val.sqlite --signals runs/advisor-qs/signals-lf-b0.1.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from advisor_regret import load_signals, load_truth  # noqa: E402
from sweep_throughput import processor  # noqa: E402

from adaptermix.advice import Scores, get_strategy  # noqa: E402
from adaptermix.advice.partition import best_partition, partition_value  # noqa: E402
from adaptermix.advice.partition_race import race_partitions, top_partitions  # noqa: E402
from adaptermix.advice.racing import BEST_MEAN, ELIMINATE, EVIDENCE, RaceSpec  # noqa: E402
from adaptermix.advice.regret import partition_half_split_floor, partition_results, partner_metrics  # noqa: E402
from adaptermix.advice.spec import DEFAULTS  # noqa: E402
from adaptermix.advice.tables import by_name, mask_of, members_of, table_from_rows  # noqa: E402
from adaptermix.store import Store  # noqa: E402


def sampling_mae(val: np.ndarray, test: np.ndarray, n_val: np.ndarray, n_test: np.ndarray) -> np.ndarray:
    """Per mixture, E|v − t| if validation and test were independent samples of one accuracy p (normal approx.)."""
    p = np.clip((val + test) / 2, 0.0, 1.0)
    return math.sqrt(2 / math.pi) * np.sqrt(p * (1 - p) * (1 / n_val + 1 / n_test))


SURROGATE = "surrogate (its budget's validation pairs)"


def replay_partition_races(path: Path, domains: list[str], test: np.ndarray, scores: np.ndarray, counts: list[int],
                           max_tokens: int, spec: RaceSpec, mixer: str = "average",
                           ) -> dict[str, list[dict[str, float]]]:
    """Race the seed's top partitions for every G with each (domain, group)'s bits read from a validation store.

    The store holds every mixture's correctness on every validation example, in the split's order: the very
    bits `advise --groups G --race` computes on the first examples (no forward pass here). A window's
    tokens are the domain's mean tokens per example times its length (the store keeps tokens per row).
    Each race runs three ways: successive elimination (`eliminate`, `spec.z`); measuring every candidate
    to the end of the budget, the best measured mean winning; and `evidence` (every candidate measured to
    the end, the seed's first partition kept unless another's gain over it is shown at one-sided 95 %).
    """
    with Store.read(path) as store:
        vdomains = list(store.meta.domains)
        rows = store.rows("clean", mixer)
    index = {d: i for i, d in enumerate(domains)}
    bits: dict[tuple[int, int], np.ndarray] = {}
    per_example: dict[int, list[float]] = {}
    for r in rows:
        if r.correctness is None:
            raise SystemExit(f"{path} stores no per-example correctness: sweep it again with the current code")
        t = index[r.target]
        bits[(t, mask_of(index[m] for m in r.members))] = np.asarray(r.correctness, dtype=bool)
        per_example.setdefault(t, []).append(float(r.tokens or 0) / max(1, r.n_examples))
    assert sorted(vdomains) == sorted(domains)
    mean_tokens = {t: float(np.mean(v)) for t, v in per_example.items()}
    n = len(domains)
    available = [len(bits[(t, 1 << t)]) for t in range(n)]

    def evaluate(t: int, mask: int, start: int, stop: int) -> tuple[np.ndarray, int]:
        return bits[(t, mask)][start:stop], round(mean_tokens[t] * (stop - start))

    def window_tokens(t: int, start: int, stop: int) -> int:
        return round(mean_tokens[t] * (stop - start))

    out: dict[str, list[dict[str, float]]] = {}
    for count in counts:
        for label, rule in (("drop", ELIMINATE), ("measure all, best mean", BEST_MEAN), ("evidence", EVIDENCE)):
            cells = []
            for g in range(2, n):
                cands = [p for p, _ in top_partitions(scores, g, count)]
                got = race_partitions(cands, n, evaluate, available, dataclasses.replace(spec, partition_rule=rule),
                                      max_tokens=max_tokens, window_tokens=window_tokens)
                optimum = best_partition(test, g).value
                cells.append({"groups": g, "regret": 100 * (optimum - partition_value(test, cands[got.winner])),
                              "best_candidate": 100 * (optimum - max(partition_value(test, p) for p in cands)),
                              "winner": got.winner, "tokens": got.tokens, "examples": max(got.seen)})
            out[f"top {count}, {label}"] = cells
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True, help="the exhaustive store on the test split")
    ap.add_argument("--validation-store", type=Path, required=True,
                    help="an exhaustive store of the same adapters on the validation split (adaptermix sweep --split "
                         "validation --mode exhaustive)")
    ap.add_argument("--signals", type=Path, default=None,
                    help="an advisor_regret.py --signals file: the surrogate's row beside the floor")
    ap.add_argument("--mixer", default="average")
    ap.add_argument("--partition-race", default=None, metavar="M[,M...]",
                    help="with --signals: replay the race of the seed's top M partitions for every G on the "
                         "validation store's bits, within --budget (no forward pass)")
    ap.add_argument("--partition-seed", default=DEFAULTS.strategy,
                    help="--partition-race: the strategy whose best partitions are raced (default: the advisor's "
                         "default, as `advise --groups G` races them)")
    ap.add_argument("--race-examples", type=int, default=RaceSpec().examples,
                    help="--partition-race: validation examples per domain at most (the race's own cap)")
    ap.add_argument("--budget", type=float, default=0.1,
                    help="--partition-race: each G's race may spend this share of the test sweep's tokens less the "
                         "signals' validation tokens")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    for path, split in ((args.store, "test"), (args.validation_store, "validation")):
        with Store.read(path) as store:
            got = store.meta.eval_config.get("split")
        if got != split:
            raise SystemExit(f"{path} was swept on the {got!r} split; it must be the {split} split's")
    domains, test, correct, exhaustive, n_test = load_truth(args.store, args.mixer)
    vdomains, val, _, _, n_val = load_truth(args.validation_store, args.mixer)
    if sorted(vdomains) != sorted(domains):
        raise SystemExit(f"{args.validation_store} holds {sorted(vdomains)}, {args.store} holds {sorted(domains)}: "
                         "sweep the same adapters on the validation split")
    # The same mixtures, in the test store's domain order.
    val = table_from_rows(domains, [(t, m, a) for (t, m), a in by_name(val, vdomains).items()])
    n = len(domains)
    rows: dict[str, Scores] = {"every mixture on the whole validation split": Scores(val, val)}
    if args.partition_race and args.signals is None:
        raise SystemExit("--partition-race replays a race seeded by the signals: give --signals too")
    seed_tokens = 0
    if args.signals is not None:
        signals, tokens, _ = load_signals(args.signals)
        seed_tokens = int(tokens.get("validation", 0))
        signals = dataclasses.replace(signals, test_examples=n_test)
        rows[SURROGATE] = get_strategy("surrogate").scores(signals)
    print(f"# the validation floor: {args.store} ({n} domains) against {args.validation_store}\n")
    print(f"command: {' '.join(sys.argv)}  ")
    print(f"processor: {processor()}; no forward pass (two stored sweeps)  ")
    print("examples per target, validation / test: "
          + ", ".join(f"{d} {n_val[d]} / {n_test[d]}" for d in domains) + "\n")
    print("## Partners (every target × k = 2..N−1; regret in points vs the best set on test)\n")
    print("| chosen by | regret (pts) | 90 % CI over targets | regret@3 | hit top 10 % | Spearman ρ | "
          "MAE vs test (pts) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    doc: dict[str, object] = {"store": str(args.store), "validation_store": str(args.validation_store),
                              "processor": processor(), "rows": {}}
    parts: dict[str, list[float]] = {}
    for name, sc in rows.items():
        p = partner_metrics(test, sc)
        rho = "—" if p.spearman is None else f"{p.spearman:.2f}"
        mae = "—" if p.mae is None else f"{p.mae:.2f}"
        print(f"| {name} | {p.regret:.2f} | [{p.regret_ci[0]:.2f}, {p.regret_ci[1]:.2f}] | {p.regret_at_3:.2f} | "
              f"{100 * p.hit_rate:.0f} % | {rho} | {mae} |")
        parts[name] = [100 * (r.optimum - r.reached) for r in partition_results(test, sc)]
        doc["rows"][name] = {"regret": p.regret, "regret_ci": p.regret_ci, "regret_at_3": p.regret_at_3,  # type: ignore[index]
                             "spearman": p.spearman, "mae": p.mae, "partitions": parts[name]}
    floor = partition_half_split_floor(correct, n) if correct else None
    gs = list(range(2, n))
    print("\n## Partitions (points below the exact optimum on test)\n")
    print("| chosen by | " + " | ".join(f"G={g}" for g in gs) + " | mean |")
    print("|---|" + "---:|" * (len(gs) + 1))
    for name, regrets in parts.items():
        print(f"| {name} | " + " | ".join(f"{x:.2f}" for x in regrets) + f" | {np.mean(regrets):.2f} |")
    if floor:
        print("| *the optimum on half of test, scored on the other half* | "
              + " | ".join(f"{floor[g]:.2f}" for g in gs) + f" | {np.mean(list(floor.values())):.2f} |")
    doc["partition_half_test_floor"] = floor
    # Validation accuracy as a predictor of test accuracy, mixture by mixture: sampling and shift.
    nv = np.zeros_like(test)
    nt = np.zeros_like(test)
    for t, d in enumerate(domains):
        nv[t], nt[t] = n_val[d], n_test[d]
    defined = ~np.isnan(test)
    err = np.abs(val - test)
    noise = sampling_mae(val, test, nv, nt)
    sizes = np.array([[bin(m).count("1") for m in range(1 << n)]] * n)
    print("\n## Validation accuracy as the prediction of test accuracy (every in-domain mixture)\n")
    print(f"MAE {100 * err[defined].mean():.2f} points over {int(defined.sum())} mixtures; sampling alone "
          f"would give {100 * noise[defined].mean():.2f} (both splits from one distribution)  ")
    print("MAE by k: " + ", ".join(f"k={k} {100 * err[defined & (sizes == k)].mean():.2f}" for k in range(1, n + 1))
          + "\n")
    print("| target | MAE (pts) | sampling alone (pts) | mean validation − test (pts) | its sampling SE (pts) |")
    print("|---|---:|---:|---:|---:|")
    per_target = []
    for t, d in enumerate(domains):
        masks = [m for m in range(1, 1 << n) if t in members_of(m)]
        e, s = err[t, masks], noise[t, masks]
        signed = float(np.mean(val[t, masks] - test[t, masks]))
        p = float(np.mean(test[t, masks]))
        se = math.sqrt(p * (1 - p) * (1 / n_val[d] + 1 / n_test[d]))
        per_target.append({"target": d, "mae": float(e.mean()), "sampling": float(s.mean()), "signed": signed,
                           "se": se})
        print(f"| {d} | {100 * e.mean():.2f} | {100 * s.mean():.2f} | {100 * signed:+.2f} | {100 * se:.2f} |")
    doc["validation_as_prediction"] = {"mae": float(err[defined].mean()), "sampling": float(noise[defined].mean()),
                                       "per_target": per_target}
    if args.partition_race:
        counts = [int(x) for x in args.partition_race.split(",") if x.strip()]
        left = max(0, int(args.budget * exhaustive) - seed_tokens)
        seed = get_strategy(args.partition_seed).scores(signals).score
        races = replay_partition_races(args.validation_store, domains, test, seed, counts, left,
                                       RaceSpec(examples=args.race_examples).check(), args.mixer)
        print(f"\n## Racing {args.partition_seed}'s top partitions, replayed on the validation store\n\n"
              f"each G's race may spend {left:,} tokens and {args.race_examples} examples per domain "
              f"({args.budget:g} × {exhaustive:,} − the signals' {seed_tokens:,}); points below the test optimum; "
              "the race's tokens in % of the sweep\n")
        print("| race | " + " | ".join(f"G={g}" for g in gs) + " | mean | max | cost per G (%) |")
        print("|---|" + "---:|" * (len(gs) + 3))
        for name, cells in races.items():
            reg = [c["regret"] for c in cells]
            print(f"| {name} | " + " | ".join(f"{x:.2f}" for x in reg) + f" | {np.mean(reg):.2f} | {max(reg):.2f} | "
                  f"{100 * np.mean([c['tokens'] for c in cells]) / exhaustive:.2f} |")
        doc["partition_races"] = races
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(doc, indent=2, default=float))


if __name__ == "__main__":
    main()
