"""Paper scale: a BERT-base-shaped encoder with 13 adapters per method, timed on the sweep's own code path.

The paper (PAPER.md §4) evaluates 4,096 mixtures per target for 13 targets: 53,248 evaluations per
adapter method, each on the target's whole test split (Table 2). No BERT-base weights exist offline, so
the encoder here is `BertModel` with BERT-base's shape (12 layers, hidden 768, 12 heads, FFN 3072,
vocab 30,522) and random weights, saved as a model folder with MiniLM's uncased tokenizer (the same
30,522-token vocabulary); the 13 adapters per method have Table 17's sizes (Houlsby and Pfeiffer
bottleneck 256, LoRA rank 4 on q and v), random. Speed does not depend on the weights' values.

For each method, `SweepWorker` (the engine a sweep runs, stacking included) scores `--mixtures`
mixtures of one target on `--examples` examples of an offline corpus, after a warm-up chunk. The
projection scales the measured seconds per example-evaluation to the paper's test sets (sum of Table
2's test sizes = 165,844 examples, each scored by 4,096 mixtures) at two lengths: the measured mean
length of the examples timed here, and 128 tokens for every example (the upper bound at max_length
128). Cost is taken as linear in tokens: at 128 tokens attention scores are < 3 % of BERT-base's
FLOPs. The sampled mode's evaluations (pipeline/sweep.py: draws per (target, k) until the 95 %
half-width is ≤ `--ci` points) depend on how much accuracy varies between mixtures of one size; they
are given for a few spreads, since no paper-scale run exists to measure it.

    python benchmarks/paper_scale.py [--examples 64] [--mixtures 8] [--precision auto] [--methods houlsby,pfeiffer,lora]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_throughput import forward_flops, load, matmul_peak, processor, random_adapters  # noqa: E402

from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig  # noqa: E402
from adaptermix.evaluation.spec import EvalSpec  # noqa: E402
from adaptermix.methods.encoder import resolve_encoder  # noqa: E402
from adaptermix.methods.model import set_threads  # noqa: E402
from adaptermix.pipeline.sweep import half_width  # noqa: E402

# Table 2 test sizes (GLUE validation as test; 8:1:1 splits for the rest).
PAPER_TEST = {"mnli": 9815, "mrpc": 408, "sst2": 872, "rte": 277, "qnli": 5463, "qqp": 40430, "rct": 30135,
              "ag": 7600, "authorship": 686, "financial": 484, "imdb": 2500, "tweets": 3196, "wiki": 63978}
N_ADAPTERS = 13
PER_TARGET = 2 ** (N_ADAPTERS - 1)  # 4,096 mixtures of each target
SIZES = {"houlsby": 256, "pfeiffer": 256, "lora": 4}  # Table 17, BERT-base; LoRA rank 4
# Offline corpora as the 13 domains (12 exist; the first comes twice). The target is the first one.
DOMAINS = ("trec", "rotten_tomatoes", "movie_snippets", "sms_spam", "bbc_news", "reuters8", "newsgroups20",
           "election_tweets", "tweet_sentiment", "amazon_snippets", "nyt_snippets", "same_author", "trec")


def bert_base_folder(out: Path) -> str:
    """A BERT-base-shaped model folder with random weights and MiniLM's tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512)
    BertModel(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(resolve_encoder("minilm")).save_pretrained(out)
    return str(out)


def sampled_draws(sd: float, ci: float, min_samples: int = 3) -> int:
    """Draws the sampled mode makes over the 13 × 13 (target, k) groups when accuracies within a group
    spread with standard deviation `sd` points: the first m ≥ min_samples whose half-width ≤ ci."""
    total = 0
    for k in range(1, N_ADAPTERS + 1):
        population = math.comb(N_ADAPTERS - 1, k - 1)
        m = min(min_samples, population)
        while m < population:
            acc = np.linspace(-1.0, 1.0, m)
            acc = acc / np.std(acc, ddof=1) * sd / 100  # accuracies as fractions, ci in points
            if half_width(acc.tolist(), population) * 100 <= ci:
                break
            m += 1
        total += m
    return N_ADAPTERS * total


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds < 86400 * 3 else f"{seconds / 86400:,.1f} days"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=64, help="examples of the target scored per mixture")
    ap.add_argument("--mixtures", type=int, default=8, help="mixtures timed per method (one chunk of one target)")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    ap.add_argument("--methods", default="houlsby,pfeiffer,lora")
    ap.add_argument("--ci", type=float, default=1.0, help="sampled mode: half-width goal in points")
    args = ap.parse_args()
    set_threads()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"device: {processor()} ({device}, {torch.get_num_threads()} CPU threads), torch {torch.__version__}; "
          f"start: {load()}", flush=True)
    total_examples = PER_TARGET * sum(PAPER_TEST.values())
    rng = np.random.default_rng(0)
    subsets = sorted({tuple(sorted({0, *rng.choice(range(1, N_ADAPTERS), size=k - 1, replace=False).tolist()}))
                      for k in rng.integers(1, N_ADAPTERS + 1, size=4 * args.mixtures)}, key=len)
    picked = tuple(subsets[i] for i in np.linspace(0, len(subsets) - 1, args.mixtures).round().astype(int))
    rows = []
    peaks: dict[torch.dtype, float] = {torch.float32: 0.0, torch.bfloat16: 0.0}

    def probe() -> None:  # between methods too: a probe hit by a burst of load from others is not the peak
        for dtype in peaks:
            peaks[dtype] = max(peaks[dtype], matmul_peak(dtype, 768, 3072))

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        encoder = bert_base_folder(Path(tmp) / "bert-base-random")
        print(f"built the BERT-base-shaped encoder in {time.perf_counter() - start:.0f} s", flush=True)
        for method in args.methods.split(","):
            start = time.perf_counter()
            paths = random_adapters(Path(tmp) / method, DOMAINS, SIZES[method], method, encoder)
            spec = EvalSpec(max_examples=args.examples, max_length=128, precision=args.precision)
            worker = SweepWorker(WorkerConfig(paths=tuple(map(str, paths)), spec=spec))
            params = worker.stacked.shape[1]
            worker.run(Chunk(0, picked[: worker.stack]))  # warm-up: tokenize, head, slots, first-call costs
            print(f"{method}: 13 adapters of {params:,} parameters ready in {time.perf_counter() - start:.0f} s",
                  flush=True)
            start, on_cpu = time.perf_counter(), time.process_time()
            results = worker.run(Chunk(0, picked))
            seconds = time.perf_counter() - start
            # CPU time ÷ threads: what the wall clock would be without other processes taking the cores
            # (at 1 thread exactly that; with more it also counts spin-waits, so it is an upper bound).
            cpu_s = (time.process_time() - on_cpu) / torch.get_num_threads()
            lengths = worker.target(0).encoded.lengths
            rows.append((method, params, worker.precision, worker.stack, seconds, cpu_s, results, lengths))
            del worker
            probe()
    probe()
    print(f"end: {load()}; matmul peak (best probe between methods) fp32 {peaks[torch.float32] / 1e9:.1f}, "
          f"bf16 {peaks[torch.bfloat16] / 1e9:.1f} GFLOP/s")
    print(f"paper sweep: {N_ADAPTERS} targets × {PER_TARGET:,} mixtures = {N_ADAPTERS * PER_TARGET:,} evaluations per "
          f"method, on {sum(PAPER_TEST.values()):,} test examples in all (Table 2) = {total_examples:,} "
          f"example-evaluations")
    draws = {sd: sampled_draws(sd, args.ci) for sd in (1, 2, 4, 8)}
    print(f"sampled mode (±{args.ci:g} points, 95 %, ≥ 3 draws per (target, k)): evaluations needed if accuracies "
          f"within a (target, k) spread with sd 1 / 2 / 4 / 8 points: "
          + " / ".join(f"{d:,}" for d in draws.values()) + f" of {N_ADAPTERS * PER_TARGET:,}")
    print("per method: wall clock, then [CPU time ÷ threads] (the machine without other processes):")
    for method, params, precision, stack, seconds, cpu_s, results, lengths in rows:
        peak = peaks[torch.bfloat16 if precision == "bf16" else torch.float32]
        n_eval = len(results) * len(lengths)
        mean_len = float(lengths.mean())
        useful = forward_flops(np.tile(lengths, len(results)), _Shape(), _adapter_flops(method, SIZES[method]))
        print(f"{method:8s} ({SIZES[method]:3d}, {params / 1e6:.2f} M params, {precision}, stack {stack}): "
              f"{len(results)} mixtures × {len(lengths)} examples (mean {mean_len:.1f} tokens) in {seconds:.2f} s "
              f"[{cpu_s:.2f} s]: {n_eval / seconds:.1f} [{n_eval / cpu_s:.1f}] examples/s, "
              f"{lengths.sum() * len(results) / seconds:,.0f} [{lengths.sum() * len(results) / cpu_s:,.0f}] tokens/s, "
              f"utilization {100 * useful / seconds / peak:.1f} [{100 * useful / cpu_s / peak:.1f}] % of the "
              f"{precision} peak")
        for label, s in (("wall", seconds), ("cpu", cpu_s)):
            at_mean = total_examples * s / n_eval  # every example-evaluation of the paper at the measured cost
            sampled = " / ".join(hours(at_mean * d / (N_ADAPTERS * PER_TARGET)) for d in draws.values())
            print(f"{'':8s} [{label}] 53,248-evaluation sweep: {hours(at_mean)} at {mean_len:.0f} tokens an example, "
                  f"{hours(at_mean * 128 / mean_len)} at 128; sampled (sd 1/2/4/8): {sampled} at {mean_len:.0f} "
                  f"tokens, {hours(at_mean * 128 / mean_len * draws[2] / (N_ADAPTERS * PER_TARGET))} at 128 (sd 2)")


class _Shape:
    """BERT-base's dimensions for `forward_flops`."""

    hidden_size, intermediate_size, num_hidden_layers = 768, 3072, 12


def _adapter_flops(method: str, size: int) -> float:
    """Adapter FLOPs per token: bottlenecks (2 per layer for Houlsby, 1 for Pfeiffer) or LoRA on q and v."""
    per = 2 * 2 * 768 * size
    return 12 * per * {"houlsby": 2, "pfeiffer": 1, "lora": 2}[method]


if __name__ == "__main__":
    main()
