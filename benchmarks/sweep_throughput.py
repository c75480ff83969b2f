"""Sweep throughput: the engine vs the naive way, on the same mixtures, interleaved in one run.

Naive = AdapterHub `average_adapter` for every mixture, inputs re-tokenized for every mixture and
padded to max_length, batches in corpus order, `torch.no_grad`. Ours = `SweepWorker` (stacked
adapters mixed in place, splits tokenized once, length-bucketed dynamic padding, inference_mode,
`--stack` mixtures per forward) in fp32 and under bf16 autocast, plus ours one mixture at a time
(`stack=1`, the engine's previous shape) in both precisions.

The mixtures come as a sweep hands them out: chunks of `--chunk` subsets of one target. Every chunk
is run by every side in turn (naive, then each engine), so a burst of load from other processes hits
all sides alike; the matmul peak is probed between chunks too (best of all probes). Prints useful
(non-pad) tokens/s, ratios, the fp32-vs-bf16 agreement, the processor and load, and utilization =
useful-token FLOP/s ÷ the measured matmul peak of the precision used.

    python benchmarks/sweep_throughput.py [--adapters runs/quickstart/adapters] [--chunks 3] [--chunk 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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
from adaptermix.evaluation.engine import Chunk, MixResult, SweepWorker, WorkerConfig  # noqa: E402
from adaptermix.evaluation.spec import EvalSpec  # noqa: E402
from adaptermix.methods.model import adapter_state, attach, head_state, load_base, set_threads  # noqa: E402

DEFAULT_DOMAINS = ("sms_spam", "trec", "movie_snippets", "rotten_tomatoes", "election_tweets", "tweet_sentiment")


def processor() -> str:
    """The CPU's model name (lscpu), or the GPU's name when one is used."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return "unknown"


def load() -> str:
    """1-minute load average and core count: how busy the machine was (other processes included)."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"


def matmul_peak(dtype: torch.dtype, hidden: int, ffn: int, tokens: int = 2048, reps: int = 15) -> float:
    """Best matmul FLOP/s at this thread count over the encoder's own GEMM shapes (tokens × hidden × FFN
    both ways, tokens × hidden × hidden) and a square one; best of `reps` after a warm-up."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    best = 0.0
    for m, k, n in ((1024, 1024, 1024), (tokens, hidden, ffn), (tokens, ffn, hidden), (tokens, hidden, hidden)):
        a = torch.randn(m, k, device=device, dtype=dtype)
        b = torch.randn(k, n, device=device, dtype=dtype)
        torch.mm(a, b)
        for _ in range(reps):
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            torch.mm(a, b)
            if device == "cuda":
                torch.cuda.synchronize()
            best = max(best, 2 * m * k * n / (time.perf_counter() - t))
    return best


def forward_flops(lengths: np.ndarray, cfg, adapter_flops_per_token: float) -> float:
    """Forward FLOPs of the useful tokens: dense layers, adapter, and attention scores/values."""
    d, ff, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    per_token = layers * 2 * (4 * d * d + 2 * d * ff) + adapter_flops_per_token
    attention = layers * 4 * d * (lengths.astype(np.float64) ** 2).sum()
    return float(per_token * lengths.sum() + attention)


def random_adapters(out: Path, domains: tuple[str, ...], size: int, method: str = "pfeiffer",
                    encoder: str = "minilm") -> list[Path]:
    """Freshly initialised adapters + heads, one per entry of `domains` (throughput does not depend on
    training); a domain named twice gets a second checkpoint under another name."""
    base = load_base(encoder)
    paths = []
    for i, domain in enumerate(domains):
        name = domain if domain not in domains[:i] else f"{domain}_{i}"
        labels = get_domain(domain).load().label_names
        attach(base, name, method, size, labels, seed=i)
        adapter, head = adapter_state(base.model, name), head_state(base.model, name)
        # Fresh adapters start near zero (LoRA's B at zero); spread them so mixtures differ like trained ones.
        adapter = {k: v + 0.02 * torch.randn_like(v) for k, v in adapter.items()}
        with tempfile.TemporaryDirectory() as tmp:
            base.model.save_adapter(tmp, name, with_head=True, use_safetensors=True)
            acfg = json.loads((Path(tmp) / "adapter_config.json").read_text())
            hcfg = json.loads((Path(tmp) / "head_config.json").read_text())
        base.model.delete_adapter(name)
        base.model.delete_head(name)
        manifest = Manifest(kind="single", name=name, domain=domain, method=method, adapter_size=size,
                            label_names=labels, base=BaseInfo(encoder=encoder, fingerprint=base.fingerprint,
                                                              model_type=base.model_type, hidden_size=base.hidden_size,
                                                              num_layers=base.num_layers),
                            adapter_sha256=state_sha256(adapter))
        paths.append(write_checkpoint(out / name, manifest, adapter, head, acfg, hcfg))
    return paths


class Naive:
    """AdapterHub the straightforward way, one mixture at a time."""

    def __init__(self, paths: list[Path], max_examples: int, max_length: int) -> None:
        base = load_base("minilm")
        self.model, self.tok, self.max_length = base.model, base.tokenizer, max_length
        self.names = [self.model.load_adapter(str(p), with_head=True, use_safetensors=True) for p in paths]
        self.data = {i: get_domain(read_checkpoint(p).domain).load().test.take(max_examples)
                     for i, p in enumerate(paths)}

    def run(self, target: int, members: tuple[int, ...]) -> tuple[float, int]:
        """(accuracy, useful tokens) of one mixture."""
        model = self.model
        model.average_adapter("mix", [self.names[i] for i in members], overwrite_ok=True, combine_strategy="linear")
        model.set_active_adapters("mix")
        model.active_head = self.names[target]
        split, preds, useful = self.data[target], [], 0
        with torch.no_grad():
            for i in range(0, len(split), 32):
                enc = self.tok(list(split.text[i : i + 32]), padding="max_length", truncation=True,
                               max_length=self.max_length, return_tensors="pt")
                useful += int(enc["attention_mask"].sum())
                preds.append(model(**enc).logits.argmax(-1).numpy())
        return float((np.concatenate(preds) == np.asarray(split.label)).mean()), useful


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--adapters", type=Path, default=None, help="folder of trained checkpoints (default: random)")
    ap.add_argument("--chunks", type=int, default=3, help="chunks (one target each) to run")
    ap.add_argument("--chunk", type=int, default=8, help="mixtures per chunk")
    ap.add_argument("--stack", type=int, default=None, help="mixtures per forward (default: the engine's)")
    ap.add_argument("--max-examples", type=int, default=256)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--compile", action="store_true", help="torch.compile the stacked engines' model")
    args = ap.parse_args()
    set_threads()
    threads = torch.get_num_threads()
    print(f"start: {load()}", flush=True)

    tmp = tempfile.TemporaryDirectory()
    if args.adapters:
        paths = sorted(p for p in args.adapters.iterdir() if (p / "manifest.json").is_file())
    else:
        paths = random_adapters(Path(tmp.name), DEFAULT_DOMAINS, 64)
    n = len(paths)
    rng = np.random.default_rng(0)
    chunks = []
    for c in range(args.chunks):
        t = c % n
        others = [i for i in range(n) if i != t]
        subsets = {tuple(sorted({t, *rng.choice(others, size=rng.integers(0, n), replace=False).tolist()}))
                   for _ in range(4 * args.chunk)}
        chunks.append(Chunk(t, tuple(sorted(subsets, key=lambda s: (len(s), s)))[: args.chunk]))

    def worker(precision: str, stack: int | None) -> SweepWorker:
        spec = EvalSpec(max_examples=args.max_examples, max_length=args.max_length, precision=precision)
        w = SweepWorker(WorkerConfig(paths=tuple(map(str, paths)), spec=spec, stack=stack,
                                     compile=args.compile and stack != 1))
        for chunk in chunks:  # tokenize, build heads and slots outside the timing, like a long sweep
            w.run(Chunk(chunk.target, chunk.subsets[: w.stack]))
        return w

    sides = {"ours fp32": worker("fp32", args.stack), "ours bf16": worker("bf16", args.stack),
             "one-at-a-time fp32": worker("fp32", 1), "one-at-a-time bf16": worker("bf16", 1)}
    naive = Naive(paths, args.max_examples, args.max_length)
    cfg = sides["ours fp32"].evaluator.base.model.config
    seconds = {name: 0.0 for name in ("naive", *sides)}
    # CPU time of this process per side: under load from other processes the wall clock also counts
    # the time the process waited for a core, which CPU time leaves out (with several threads it
    # also counts their spin-waits, so it is the fairer clock only at 1 thread).
    cpu = {name: 0.0 for name in seconds}
    results: dict[str, list[MixResult]] = {name: [] for name in sides}
    naive_acc, naive_tokens = [], 0
    peaks = {torch.float32: 0.0, torch.bfloat16: 0.0}
    for chunk in chunks:  # interleaved: every side runs this chunk before any side runs the next
        for dtype in peaks:
            peaks[dtype] = max(peaks[dtype], matmul_peak(dtype, cfg.hidden_size, cfg.intermediate_size))
        for members in chunk.subsets:
            start, on_cpu = time.perf_counter(), time.process_time()
            acc, useful = naive.run(chunk.target, members)
            seconds["naive"] += time.perf_counter() - start
            cpu["naive"] += time.process_time() - on_cpu
            naive_acc.append(acc)
            naive_tokens += useful
        for name, w in sides.items():
            start, on_cpu = time.perf_counter(), time.process_time()
            results[name].extend(w.run(chunk))
            seconds[name] += time.perf_counter() - start
            cpu[name] += time.process_time() - on_cpu
        print(f"chunk of target {chunk.target} done: {load()}", flush=True)
    for dtype in peaks:  # once more after the last chunk: a probe hit by a burst of load is not the peak
        peaks[dtype] = max(peaks[dtype], matmul_peak(dtype, cfg.hidden_size, cfg.intermediate_size))

    ours = results["ours fp32"]
    tokens = sum(r.tokens for r in ours)
    if naive_tokens != tokens:
        raise SystemExit(f"useful tokens differ: naive {naive_tokens}, ours {tokens}")
    lengths = np.concatenate([sides["ours fp32"].target(c.target).encoded.lengths for c in chunks
                              for _ in c.subsets])
    size = read_checkpoint(paths[0]).manifest.adapter_size
    flops = forward_flops(lengths, cfg, cfg.num_hidden_layers * 2 * 2 * cfg.hidden_size * size)
    stack = sides["ours fp32"].stack
    print(f"{len(ours)} mixtures ({len(chunks)} chunks of {args.chunk}, one target each) of {n} Pfeiffer adapters "
          f"(size {size}) on MiniLM, {args.max_examples} examples each, max_length {args.max_length}, {threads} "
          f"threads, torch {torch.__version__}; ours stacks {stack} mixtures per forward")
    print(f"processor: {processor()}; end: {load()}")
    print(f"matmul peak (best probe between chunks): fp32 {peaks[torch.float32] / 1e9:.1f} GFLOP/s, "
          f"bf16 {peaks[torch.bfloat16] / 1e9:.1f} GFLOP/s ({peaks[torch.bfloat16] / peaks[torch.float32]:.2f}x)")
    print("wall clock, then CPU time of this process (÷ threads) in brackets:")
    print(f"{'naive':20s}: {tokens / seconds['naive']:8.0f} useful tokens/s  ({seconds['naive']:7.2f} s)  "
          f"[{tokens * threads / cpu['naive']:8.0f} tokens/s]")
    for name in sides:
        rows = results[name]
        peak = peaks[torch.bfloat16 if "bf16" in name else torch.float32]
        padding = 1 - tokens / sum(r.padded_tokens for r in rows)
        util, util_cpu = 100 * flops / seconds[name] / peak, 100 * flops * threads / cpu[name] / peak
        print(f"{name:20s}: {tokens / seconds[name]:8.0f} useful tokens/s  ({seconds[name]:7.2f} s)  "
              f"{seconds['naive'] / seconds[name]:5.2f}x naive  utilization {util:5.1f} % "
              f"of the {'bf16' if 'bf16' in name else 'fp32'} peak  (padding {100 * padding:.1f} %)  "
              f"[{tokens * threads / cpu[name]:8.0f} tokens/s, {cpu['naive'] / cpu[name]:5.2f}x naive, "
              f"utilization {util_cpu:5.1f} %]")
    print(f"stacking: fp32 {seconds['one-at-a-time fp32'] / seconds['ours fp32']:.2f}x, "
          f"bf16 {seconds['one-at-a-time bf16'] / seconds['ours bf16']:.2f}x one mixture at a time")
    diffs = [abs(a.accuracy - b.accuracy) for a, b in zip(ours, results["ours bf16"], strict=True)]
    agree = [float((a.correct == b.correct).mean()) for a, b in zip(ours, results["ours bf16"], strict=True)
             if a.correct is not None and b.correct is not None]
    print(f"fp32 vs bf16: largest accuracy difference {100 * max(diffs):.2f} points, mean {100 * np.mean(diffs):.3f}; "
          f"predictions equal on {100 * min(agree):.2f} % of examples at worst, over {len(diffs)} mixtures")
    same = all(np.array_equal(a.correct, b.correct) for a, b in  # type: ignore[arg-type]
               zip(ours, results["one-at-a-time fp32"], strict=True))
    worst = max(abs(a - r.accuracy) for a, r in zip(naive_acc, ours, strict=True))
    print(f"fp32 stacked vs one at a time: identical predictions {same}; "
          f"max accuracy difference naive vs ours fp32: {worst:.4f}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
