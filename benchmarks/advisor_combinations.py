"""Which combination of signals the default strategy should be: every candidate against exhaustive stores.

Issue 17 asks for a default that combines the strategies. Each candidate below reads only signals the
surrogate's validation passes, the weights and the train text already give (no forward pass here: the
signals come from `advisor_regret.py --signals` files), and is scored against each store's test table:

- `surrogate`: the labelled validation pairs and the all-mixture, interpolated in 1/k;
- `combined`: the surrogate, its ties broken by agreement (the registered default; its race is measured
  by `advisor_regret.py --race --race-seeds combined`);
- `surrogate + w·agreement`: a weighted sum of the two interpolated scores (w = 0.1, 0.3);
- `shrunk toward F`: each pair drop shrunk toward a regression of the pair drops on weight/text features F
  (empirical Bayes: the noise variance of a paired drop from its measured disagreement, (δ − d²)/n_val;
  the prior's variance from the residuals), "What the Weight?!"'s meta-regression as a prior.

Run it on every store at once; a candidate that wins on one store and loses on another is not a default:

    .venv/bin/python benchmarks/advisor_combinations.py \
        --pair runs/quickstart/study.sqlite runs/advisor-qs/signals-lf-b0.1.json \
        --pair studies/offline-converged/pfeiffer/study.sqlite runs/advisor-weights/conv-signals-lf-b0.1.json \
        --pair studies/offline-converged/lora/study.sqlite runs/advisor-lora/signals-lf-b0.1.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from advisor_regret import load_signals, load_truth  # noqa: E402
from sweep_throughput import processor  # noqa: E402

from adaptermix.advice import Scores, Signals, get_strategy  # noqa: E402
from adaptermix.advice.regret import partition_results, partner_metrics  # noqa: E402

FEATURES = (("cosine",), ("fsd",), ("text",), ("cosine", "fsd", "text"))


def shrunk_pairs(s: Signals, features: tuple[str, ...]) -> np.ndarray:
    """The pair accuracies with each drop shrunk toward a weighted regression on `features` (within-target)."""
    n = s.n
    assert s.single is not None and s.pair is not None and s.agreement is not None  # noqa: S101
    a, d = s.single, s.single[:, None] - s.pair
    nval = np.array([s.n_validation[x] for x in s.domains], dtype=float)[:, None]
    var = np.maximum((1 - s.agreement) - d**2, 1 / nval) / nval  # a paired drop's variance, from disagreement
    off = ~np.eye(n, dtype=bool)

    def centred(m: np.ndarray) -> np.ndarray:
        return m - np.array([m[t][off[t]].mean() for t in range(n)])[:, None]

    x = np.stack([centred(getattr(s, f))[off] for f in features], axis=1)
    y, w = centred(d)[off], 1 / var[off]
    coef = np.linalg.lstsq(x * np.sqrt(w)[:, None], y * np.sqrt(w), rcond=None)[0]
    tau2 = max(float(np.mean((y - x @ coef) ** 2 - var[off])), 1e-6)  # the prior's variance (moments)
    prior = np.zeros((n, n))
    prior[off] = x @ coef
    prior += (d - centred(d))  # back to each target's mean drop
    keep = tau2 / (tau2 + var)
    out = a[:, None] - (keep * d + (1 - keep) * prior)
    np.fill_diagonal(out, a)
    return out


def candidates(s: Signals) -> dict[str, Callable[[], Scores]]:
    sur, agree = get_strategy("surrogate").scores, get_strategy("agreement").scores
    out: dict[str, Callable[[], Scores]] = {
        "surrogate": lambda: sur(s), "combined": lambda: get_strategy("combined").scores(s)}
    for w in (0.1, 0.3):
        out[f"surrogate + {w}·agreement"] = lambda w=w: dataclasses.replace(sur(s), score=sur(s).score
                                                                            + w * agree(s).score)
    for f in FEATURES:
        out[f"shrunk toward {'+'.join(f)}"] = lambda f=f: sur(dataclasses.replace(s, pair=shrunk_pairs(s, f)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", nargs=2, action="append", metavar=("STORE", "SIGNALS"), required=True,
                    help="an exhaustive store and its advisor_regret.py --signals file (repeat per store)")
    ap.add_argument("--mixer", default="average")
    args = ap.parse_args()
    print(f"processor: {processor()}; no forward pass (cached signals)\n")
    print("| store | candidate | partners regret (pts) | regret@3 | Spearman ρ | partitions G=2.. (pts) | mean |")
    print("|---|---|---:|---:|---:|---|---:|")
    for store, sig in args.pair:
        _, truth, _, _, n_test = load_truth(Path(store), args.mixer)
        signals, _, _ = load_signals(Path(sig))
        signals = dataclasses.replace(signals, test_examples=n_test)
        for name, scores in candidates(signals).items():
            sc = scores()
            p = partner_metrics(truth, sc)
            parts = [100 * (r.optimum - r.reached) for r in partition_results(truth, sc)]
            rho = "—" if p.spearman is None else f"{p.spearman:.2f}"
            print(f"| {Path(store).parent.name} | {name} | {p.regret:.2f} | {p.regret_at_3:.2f} | {rho} | "
                  f"{' / '.join(f'{v:.2f}' for v in parts)} | {np.mean(parts):.2f} |")


if __name__ == "__main__":
    main()
