"""Training throughput: adaptermix's training loop vs a plain Hugging Face loop, same steps, one run.

Plain = what a first fine-tuning script does: the AdapterHub model with the same adapter and head,
every example padded to max_length, random batches, fp32, AdamW with a linear schedule, clipping.
Ours = `adaptermix.training.train`: length-bucketed batches padded to their longest example, bf16
autocast where the start-up probe favours it (`--precision auto`), tokenized once (cached).

Both run the same number of optimizer steps at the same batch size; the two are interleaved in
`--rounds` blocks so that load on the machine falls on both alike. Prints useful (non-pad) training
tokens per second of each and the ratio (goal ≥ 3×).

`--converge` also trains the adapter to convergence twice with early stopping, in bf16 and fp32
(same seed, same batches), and prints the test accuracy of each with the paired difference over the
same test examples and its 95 % interval (goal: within 0.5 points).

    python benchmarks/train_throughput.py [--domain trec] [--steps 30] [--max-length 128] [--converge]
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
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_throughput import processor  # noqa: E402  (one CPU/GPU name for every benchmark)

from adaptermix.checkpoints import read_checkpoint  # noqa: E402
from adaptermix.data import get_domain  # noqa: E402
from adaptermix.evaluation.evaluator import Evaluator  # noqa: E402
from adaptermix.methods.model import attach, freeze_all_but, load_base, set_threads  # noqa: E402
from adaptermix.methods.precision import cpu_bf16_speedup, resolve_precision  # noqa: E402
from adaptermix.training.config import TrainConfig  # noqa: E402
from adaptermix.training.train import train  # noqa: E402


def plain_loop(domain: str, method: str, size: int, lr: float, batch: int, max_length: int, steps: int,
               seed: int) -> tuple[int, float]:
    """Useful tokens and seconds of `steps` optimizer steps of the plain loop."""
    data = get_domain(domain).load()
    base = load_base("minilm")
    attach(base, "plain", method, size, data.label_names, seed=seed)
    model = base.model
    params = freeze_all_but(model, "plain")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / max(steps, 1)))
    texts, pairs = list(data.train.text), list(data.train.text_pair) if data.train.text_pair else None
    labels = torch.as_tensor(np.asarray(data.train.label, dtype=np.int64))
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(texts), generator=gen)
    model.train()
    useful, start = 0, time.perf_counter()
    for step in range(steps):
        idx = order[(step * batch) % len(texts):][:batch].tolist()
        if len(idx) < batch:  # wrapped around: take from the start
            idx += order[: batch - len(idx)].tolist()
        enc = base.tokenizer([texts[i] for i in idx], [pairs[i] for i in idx] if pairs else None,
                             padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        useful += int(enc["attention_mask"].sum())
        loss = nn.functional.cross_entropy(model(**enc).logits, labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
    return useful, time.perf_counter() - start


def ours(domain: str, method: str, size: int, lr: float, batch: int, max_length: int, steps: int, seed: int,
         precision: str, out: Path) -> tuple[int, float]:
    """Useful tokens and seconds of `steps` steps of our loop (its timer covers the loop and one small
    validation pass, not model loading)."""
    result = train(TrainConfig(domain=domain, out=out, method=method, preset="quickstart", seed=seed,
                               adapter_size=size, learning_rate=lr, batch_size=batch, max_steps=steps,
                               max_length=max_length, max_eval_examples=64, precision=precision,  # type: ignore[arg-type]
                               overwrite=True, progress=False))
    assert result.run is not None
    return result.run.tokens, result.run.seconds


def converge(args: argparse.Namespace, root: Path) -> None:
    """Train to convergence in bf16 and fp32; compare test accuracy, paired over the same examples."""
    preds: dict[str, np.ndarray] = {}
    labels = np.zeros(0)
    for prec in ("bf16", "fp32"):
        out = root / f"conv-{prec}"
        start = time.perf_counter()
        result = train(TrainConfig(domain=args.domain, out=out, method=args.method, preset="quickstart",
                                   seed=args.seed, adapter_size=args.size, learning_rate=args.lr,
                                   batch_size=args.batch_size, epochs=args.epochs, eval_every=args.eval_every,
                                   patience=args.patience, max_length=args.max_length,
                                   max_eval_examples=args.eval_examples, precision=prec,  # type: ignore[arg-type]
                                   overwrite=True, progress=False))
        wall = time.perf_counter() - start
        assert result.run is not None
        ckpt = read_checkpoint(out)
        ev = Evaluator.for_checkpoint(ckpt, max_length=args.max_length)
        target = ev.target(args.domain, "test")
        ev.evaluate(ckpt.adapter, ckpt.head, target, head_key=ckpt.name)  # loads the adapter and head (fp32)
        _, p = ev.predictions(target)
        preds[prec], labels = p, target.encoded.labels
        print(f"converge {prec}: {result.run.describe()}; test acc {100 * (p == labels).mean():.2f} "
              f"(n={len(labels)}), {wall:.0f} s wall")
    d = (preds["bf16"] == labels).astype(float) - (preds["fp32"] == labels).astype(float)
    half = 1.96 * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    print(f"bf16 − fp32 test accuracy: {100 * d.mean():+.2f} points, 95 % CI [{100 * (d.mean() - half):+.2f}, "
          f"{100 * (d.mean() + half):+.2f}] (paired over {len(d)} examples; goal: within ±0.5)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="trec")
    ap.add_argument("--method", default="pfeiffer")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128, help="the plain loop pads every example to this")
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per block")
    ap.add_argument("--rounds", type=int, default=2, help="interleaved blocks of each loop")
    ap.add_argument("--precision", default="auto", help="ours: auto, fp32 or bf16")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--converge", action="store_true", help="also train to convergence in bf16 and fp32")
    ap.add_argument("--epochs", type=int, default=5, help="--converge: the budget early stopping works within")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--eval-examples", type=int, default=500, help="--converge: validation examples")
    args = ap.parse_args()
    set_threads()

    used = resolve_precision(args.precision)
    print(f"processor: {processor()}; {torch.get_num_threads()} threads; torch {torch.__version__}; "
          f"bf16/fp32 matmul probe {cpu_bf16_speedup():.2f}x → ours runs {used}")
    print(f"domain {args.domain}, {args.method} size {args.size}, batch {args.batch_size}, max_length "
          f"{args.max_length}, {args.rounds} × {args.steps} steps each")
    root = Path(tempfile.mkdtemp(prefix="adaptermix-train-bench-"))
    totals = {"plain": [0, 0.0], "ours": [0, 0.0]}
    common = (args.domain, args.method, args.size, args.lr, args.batch_size, args.max_length, args.steps)
    ours(*common[:-1], 2, args.seed, args.precision, root / "warm")  # warm-up: caches, first-call kernels
    for r in range(args.rounds):
        for name in ("plain", "ours") if r % 2 == 0 else ("ours", "plain"):
            if name == "plain":
                tokens, seconds = plain_loop(*common, args.seed + r)
            else:
                tokens, seconds = ours(*common, args.seed + r, args.precision, root / f"ours-{r}")
            totals[name][0] += tokens
            totals[name][1] += seconds
            print(f"  round {r} {name:<5}: {tokens / seconds:8.0f} useful tokens/s ({seconds:6.1f} s)")
    rate = {k: v[0] / v[1] for k, v in totals.items()}
    print(f"plain (fp32, padded to {args.max_length}): {rate['plain']:8.0f} useful tokens/s")
    print(f"ours  ({used}, length-bucketed)   : {rate['ours']:8.0f} useful tokens/s")
    print(f"ratio: {rate['ours'] / rate['plain']:.2f}x (goal ≥ 3x)")
    if args.converge:
        converge(args, root)


if __name__ == "__main__":
    main()
