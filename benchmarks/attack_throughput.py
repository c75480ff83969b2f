"""Attack throughput: TextFooler batched across examples vs the one-query-per-forward loop; FGSM.

Both TextFooler runs attack the same examples with the same model (MiniLM + a random Pfeiffer
adapter and head, as a sweep worker holds it), each with fresh resources (no warm encoder or
neighbour cache), and must produce identical records. Prints, with the processor and threads:
queries/s and attacked examples per minute of each, their ratio, and utilization = FLOPs of every
forward (model queries and the similarity windows through the sentence encoder; no padding is
computed, so every token counts) over the matmul peak of the precision used, probed in the same
run. Then FGSM: examples per second, one batched forward + backward per chunk vs one example per pass.

    python benchmarks/attack_throughput.py [--domain rotten_tomatoes] [--n 30] [--slice 10] [--fgsm-n 200]
                                           [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_throughput import processor  # noqa: E402  (one CPU/GPU name for every benchmark)

from adaptermix.attacks import AttackRecord, AttackSpec, ModelWrapper, attack_examples, sample_examples  # noqa: E402
from adaptermix.attacks.fgsm import fgsm_attack  # noqa: E402
from adaptermix.attacks.resources import load_wordnet  # noqa: E402
from adaptermix.attacks.similarity import MiniLMEncoder  # noqa: E402
from adaptermix.attacks.textfooler import Resources  # noqa: E402
from adaptermix.attacks.textfooler_reference import textfooler_reference  # noqa: E402
from adaptermix.attacks.vectors import WordVectors, counterfitted_glove  # noqa: E402
from adaptermix.data import get_domain  # noqa: E402
from adaptermix.evaluation.evaluator import Evaluator  # noqa: E402
from adaptermix.methods.model import head_state  # noqa: E402
from adaptermix.methods.precision import autocast  # noqa: E402

ADAPTER_SIZE = 64




def matmul_peak(dtype: torch.dtype) -> float:
    """Best matmul FLOP/s at this thread count: a square GEMM and the attack's own shapes
    (a round's tokens × hidden 384 × FFN 1536, both ways), best of 10 after a warm-up."""
    best = 0.0
    for m, k, n in ((1024, 1024, 1024), (4096, 384, 1536), (4096, 1536, 384), (4096, 384, 384)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        torch.mm(a, b)
        for _ in range(10):
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - t))
    return best


def forward_flops(tokens: int, tokens_sq: int, config, adapter_size: int = 0) -> float:
    """FLOPs of BERT-style forwards over `tokens` tokens (sum of squared lengths `tokens_sq`):
    projections and FFN, a bottleneck adapter per layer, attention scores and values."""
    d, ff, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = layers * 2 * (4 * d * d + 2 * d * ff + 2 * d * adapter_size)
    return float(per_token * tokens + layers * 4 * d * tokens_sq)


def fresh_resources(fitted: WordVectors, wordnet) -> Resources:
    res = Resources(WordVectors(fitted.words, fitted.matrix.numpy(), fitted.name), wordnet, MiniLMEncoder())
    res.encoder.encode(["warm up"])
    return res


@dataclass
class Tally:
    """What one side of the comparison did, summed over the slices."""

    records: list[AttackRecord] = field(default_factory=list)
    queries: int = 0
    forwards: int = 0
    tokens: int = 0
    tokens_sq: int = 0
    windows: int = 0
    enc_forwards: int = 0
    enc_tokens: int = 0
    enc_tokens_sq: int = 0
    seconds: float = 0.0

    @property
    def attacked(self) -> int:
        return sum(r.status != "skipped" for r in self.records)

    def add(self, records: list[AttackRecord], wrapper: ModelWrapper, enc: Any, seconds: float) -> None:
        self.records += records
        self.queries += wrapper.queries
        self.forwards += wrapper.forwards
        self.tokens += wrapper.tokens
        self.tokens_sq += wrapper.tokens_sq
        self.windows += enc.computed
        self.enc_forwards += enc.forwards
        self.enc_tokens += enc.tokens
        self.enc_tokens_sq += enc.tokens_sq
        self.seconds += seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="rotten_tomatoes")
    parser.add_argument("--n", type=int, default=30, help="TextFooler examples")
    parser.add_argument("--fgsm-n", type=int, default=200, help="FGSM examples")
    parser.add_argument("--slice", type=int, default=10, help="examples per slice (ours batches a slice at once)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="both sides run in it (bf16: autocast, as a sweep's --precision bf16)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    data = get_domain(args.domain).load(args.cache_dir)
    ev = Evaluator("minilm", "pfeiffer", ADAPTER_SIZE, max_length=128, cache_dir=args.cache_dir, threads=args.threads)
    model = ev.base.model
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".slot." in name:
                p.normal_(0, 0.05)
    model.add_classification_head("tmp", num_labels=len(data.label_names))
    ev.use_head(args.domain, head_state(model, "tmp"), data.label_names)
    examples = sample_examples(data.split("test"), args.n, seed=0)
    fitted = counterfitted_glove(args.cache_dir)
    wordnet = load_wordnet(args.cache_dir)
    spec = AttackSpec(attack="textfooler")
    enc_config = MiniLMEncoder().model.config
    peak = matmul_peak(torch.bfloat16 if args.precision == "bf16" else torch.float32)
    print(f"{processor()}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"{args.precision} matmul peak {peak / 1e9:.1f} GFLOP/s")
    # The machine may be shared: run the two attacks slice by slice, alternating which goes first,
    # so that a change of load lands on both sides of the ratio.
    slices = [examples[i : i + args.slice] for i in range(0, len(examples), args.slice)]
    runs = {
        "ours (batched)": (64, lambda w, r, ex: attack_examples(w, ex, spec, r)),
        "one query per forward": (1, lambda w, r, ex: textfooler_reference(w, ex, r, spec.textfooler())),
    }
    totals = {label: Tally() for label in runs}
    for k, part in enumerate(slices):
        for label in list(runs)[:: 1 if k % 2 == 0 else -1]:
            batch, attack = runs[label]
            res = fresh_resources(fitted, wordnet)
            wrapper = ModelWrapper.from_evaluator(ev, batch_size=batch)
            start = time.perf_counter()
            with autocast(args.precision):
                records = attack(wrapper, res, part)
            totals[label].add(records, wrapper, res.encoder, time.perf_counter() - start)
    for label, t in totals.items():
        flops = (forward_flops(t.tokens, t.tokens_sq, model.config, ADAPTER_SIZE)
                 + forward_flops(t.enc_tokens, t.enc_tokens_sq, enc_config))
        print(f"{label:<22} {t.queries:>6} queries {t.forwards:>5} forwards {t.windows:>6} windows "
              f"{t.enc_forwards:>4} encoder forwards {t.seconds:7.1f} s {t.queries / t.seconds:7.1f} queries/s "
              f"{60 * t.attacked / t.seconds:6.1f} attacked examples/min "
              f"utilization {100 * flops / t.seconds / peak:5.1f} %")
    ours, ref = totals.values()
    assert ours.records == ref.records, "batched and one-by-one attacks must give the same records"
    print(f"TextFooler ratio {ours.queries / ours.seconds / (ref.queries / ref.seconds):.2f}x, identical records "
          f"({args.n} examples of {args.domain} in slices of {args.slice}, {ours.attacked} attacked)")
    fgsm_examples = sample_examples(data.split("test"), args.fgsm_n, seed=0)
    rates = {}
    for batch in (32, 1):
        wrapper = ModelWrapper.from_evaluator(ev, batch_size=batch)
        start = time.perf_counter()
        with autocast(args.precision):
            fgsm = fgsm_attack(wrapper, fgsm_examples, batch_size=batch)
        rates[batch] = len(fgsm) / (time.perf_counter() - start)
        print(f"FGSM batch {batch:>3}: {rates[batch]:7.1f} examples/s ({len(fgsm)} examples, "
              f"{wrapper.forwards} passes)")
    print(f"FGSM ratio {rates[32] / rates[1]:.2f}x; load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
