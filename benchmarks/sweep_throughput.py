"""Sweep throughput: the engine vs the naive way, on the same mixtures, in one run.

Naive = AdapterHub `average_adapter` for every mixture, inputs re-tokenized for every mixture and
padded to max_length, batches in corpus order, `torch.no_grad`. Ours = `SweepWorker` (stacked
adapters mixed in place, splits tokenized once, length-bucketed dynamic padding, inference_mode).

Prints useful (non-pad) tokens/s of the naive way, of ours in fp32 and of ours under bf16 autocast,
their ratios, the fp32-vs-bf16 prediction agreement (accuracy differences over the same mixtures),
the processor, what `--precision auto` picks here, and utilization = useful-token FLOP/s ÷ the
matmul FLOP/s of this machine measured in the same run.

    python benchmarks/sweep_throughput.py [--adapters runs/quickstart/adapters] [--mixtures 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from adaptermix.checkpoints import read_checkpoint, write_checkpoint  # noqa: E402
from adaptermix.checkpoints.manifest import BaseInfo, Manifest, state_sha256  # noqa: E402
from adaptermix.data import get_domain  # noqa: E402
from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig  # noqa: E402
from adaptermix.evaluation.precision import cpu_bf16_speedup, resolve_precision  # noqa: E402
from adaptermix.evaluation.spec import EvalSpec  # noqa: E402
from adaptermix.methods.model import adapter_state, attach, head_state, load_base, set_threads  # noqa: E402

DEFAULT_DOMAINS = ("sms_spam", "trec", "movie_snippets", "rotten_tomatoes", "election_tweets", "tweet_sentiment")


def random_adapters(out: Path, domains: tuple[str, ...], size: int) -> list[Path]:
    """Freshly initialised Pfeiffer adapters + heads (throughput does not depend on training)."""
    base = load_base("minilm")
    paths = []
    for i, domain in enumerate(domains):
        labels = get_domain(domain).load().label_names
        attach(base, domain, "pfeiffer", size, labels, seed=i)
        adapter, head = adapter_state(base.model, domain), head_state(base.model, domain)
        # Fresh bottleneck adapters start near zero; spread them so mixtures differ like trained ones.
        adapter = {k: v + 0.02 * torch.randn_like(v) for k, v in adapter.items()}
        with tempfile.TemporaryDirectory() as tmp:
            base.model.save_adapter(tmp, domain, with_head=True, use_safetensors=True)
            acfg = json.loads((Path(tmp) / "adapter_config.json").read_text())
            hcfg = json.loads((Path(tmp) / "head_config.json").read_text())
        manifest = Manifest(kind="single", name=domain, domain=domain, method="pfeiffer", adapter_size=size,
                            label_names=labels, base=BaseInfo(encoder="minilm", fingerprint=base.fingerprint,
                                                              model_type=base.model_type, hidden_size=base.hidden_size,
                                                              num_layers=base.num_layers),
                            adapter_sha256=state_sha256(adapter))
        paths.append(write_checkpoint(out / domain, manifest, adapter, head, acfg, hcfg))
    return paths


def matmul_flops(threads: int) -> float:
    """Peak fp32 matmul FLOP/s with the same thread count: the best over a square GEMM and the
    encoder's own GEMM shapes (tokens × hidden × FFN), best of 15 runs each after a warm-up."""
    torch.set_num_threads(threads)
    best = 0.0
    for m, k, n in ((1024, 1024, 1024), (2048, 2048, 2048), (2048, 384, 1536), (2048, 1536, 384)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        torch.mm(a, b)
        for _ in range(15):
            t = time.perf_counter()
            torch.mm(a, b)
            best = max(best, 2 * m * k * n / (time.perf_counter() - t))
    return best


def useful_flops(lengths: np.ndarray, cfg, adapter_size: int) -> float:
    """Forward FLOPs of the useful tokens: dense layers, adapter, and attention scores/values."""
    d, ff, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    per_token = layers * (2 * (4 * d * d + 2 * d * ff) + 2 * (2 * d * adapter_size))
    attention = layers * 4 * d * (lengths.astype(np.float64) ** 2).sum()
    return float(per_token * lengths.sum() + attention)


def naive(paths: list[Path], mixtures: list[tuple[int, tuple[int, ...]]], max_examples: int, max_length: int):
    """AdapterHub the straightforward way. Returns (seconds, useful tokens, accuracies)."""
    base = load_base("minilm")
    model, tok = base.model, base.tokenizer
    names = [model.load_adapter(str(p), with_head=True, use_safetensors=True) for p in paths]
    data = {i: get_domain(read_checkpoint(p).domain).load().test.take(max_examples) for i, p in enumerate(paths)}
    useful, accs = 0, []
    start = time.perf_counter()
    for target, members in mixtures:
        model.average_adapter("mix", [names[i] for i in members], overwrite_ok=True, combine_strategy="linear")
        model.set_active_adapters("mix")
        model.active_head = names[target]
        split, preds = data[target], []
        with torch.no_grad():
            for i in range(0, len(split), 32):
                enc = tok(list(split.text[i : i + 32]), padding="max_length", truncation=True,
                          max_length=max_length, return_tensors="pt")
                useful += int(enc["attention_mask"].sum())
                preds.append(model(**enc).logits.argmax(-1).numpy())
        accs.append(float((np.concatenate(preds) == np.asarray(split.label)).mean()))
    return time.perf_counter() - start, useful, accs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapters", type=Path, default=None, help="folder of trained checkpoints (default: random)")
    ap.add_argument("--mixtures", type=int, default=12)
    ap.add_argument("--max-examples", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    set_threads()
    threads = torch.get_num_threads()

    tmp = tempfile.TemporaryDirectory()
    if args.adapters:
        paths = sorted(p for p in args.adapters.iterdir() if (p / "manifest.json").is_file())
    else:
        paths = random_adapters(Path(tmp.name), DEFAULT_DOMAINS, 64)
    n = len(paths)
    every = [(t, tuple(sorted((t, *rest)))) for k in range(1, n + 1) for t in range(n)
             for rest in itertools.combinations([i for i in range(n) if i != t], k - 1)]
    rng = np.random.default_rng(0)
    mixtures = [every[i] for i in sorted(rng.choice(len(every), size=min(args.mixtures, len(every)), replace=False))]

    def engine(precision: str) -> tuple[SweepWorker, float, list]:
        spec = EvalSpec(max_examples=args.max_examples, max_length=args.max_length, precision=precision)
        worker = SweepWorker(WorkerConfig(paths=tuple(map(str, paths)), spec=spec, compile=args.compile))
        for t in {t for t, _ in mixtures}:  # tokenize + build heads outside the timing, like a long sweep
            worker.run(Chunk(t, ((t,),)))
        start = time.perf_counter()
        results = [r for t, m in mixtures for r in worker.run(Chunk(t, (m,)))]
        return worker, time.perf_counter() - start, results

    worker, ours_s, ours = engine("fp32")
    _, bf16_s, bf16 = engine("bf16")
    ours_tokens = sum(r.tokens for r in ours)
    padded = sum(r.padded_tokens for r in ours)

    naive_s, naive_tokens, naive_acc = naive(paths, mixtures, args.max_examples, args.max_length)
    assert naive_tokens == ours_tokens, (naive_tokens, ours_tokens)

    cfg = worker.evaluator.base.model.config
    lengths = np.concatenate([worker.target(t).encoded.lengths for t, _ in mixtures])
    flops = useful_flops(lengths, cfg, read_checkpoint(paths[0]).manifest.adapter_size)
    peak = matmul_flops(threads)
    agree = max(abs(a - r.accuracy) for a, r in zip(naive_acc, ours, strict=True))
    diffs = [abs(a.accuracy - b.accuracy) for a, b in zip(ours, bf16, strict=True)]
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown") if Path("/proc/cpuinfo").exists() else "unknown"
    print(f"{len(mixtures)} mixtures of {n} Pfeiffer adapters on MiniLM, {args.max_examples} examples each, "
          f"max_length {args.max_length}, {threads} threads, torch {torch.__version__}")
    print(f"processor: {cpu}; bf16 matmul probe {cpu_bf16_speedup():.2f}x fp32 -> --precision auto = "
          f"{resolve_precision('auto')}")
    print(f"naive      : {naive_tokens / naive_s:8.0f} useful tokens/s  ({naive_s:7.2f} s)")
    print(f"ours fp32  : {ours_tokens / ours_s:8.0f} useful tokens/s  ({ours_s:7.2f} s; padding "
          f"{100 * (1 - ours_tokens / padded):.1f} % of tokens)")
    print(f"ours bf16  : {ours_tokens / bf16_s:8.0f} useful tokens/s  ({bf16_s:7.2f} s)")
    print(f"ratio      : ours fp32 {naive_s / ours_s:.2f}x naive; ours bf16 {naive_s / bf16_s:.2f}x naive, "
          f"{ours_s / bf16_s:.2f}x ours fp32")
    print(f"fp32 vs bf16: largest accuracy difference {100 * max(diffs):.2f} points, mean {100 * np.mean(diffs):.3f} "
          f"over {len(diffs)} mixtures")
    print(f"matmul: {peak / 1e9:.1f} GFLOP/s; ours fp32: {flops / ours_s / 1e9:.1f} useful GFLOP/s; "
          f"utilization {100 * flops / ours_s / peak:.1f} %")
    print(f"max accuracy difference naive vs ours fp32: {agree:.4f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
