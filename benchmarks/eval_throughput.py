"""Evaluator throughput: adaptermix's evaluator vs a naive evaluation loop, same examples, one run.

Naive = what a first script does: the HF/AdapterHub model, texts re-tokenized for every call,
padded to max_length, batches in corpus order, `torch.no_grad`. Ours = tokenized once (cached),
length-sorted batches with dynamic padding, `inference_mode`, model built once.

Both score the same adapter + head on the same examples and must agree on accuracy. Prints useful
(non-pad) tokens/s of each and their ratio.

    python benchmarks/eval_throughput.py [--domain trec] [--n 512] [--checkpoint DIR]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from adaptermix.checkpoints import read_checkpoint  # noqa: E402
from adaptermix.data import get_domain  # noqa: E402
from adaptermix.evaluation.evaluator import Evaluator  # noqa: E402
from adaptermix.methods.model import adapter_state, attach, head_state, load_base, set_threads  # noqa: E402


def naive(model, tokenizer, texts, pairs, labels, max_length: int, batch_size: int) -> tuple[float, float, int]:
    """Accuracy, seconds, useful tokens of the naive loop."""
    preds, useful = [], 0
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i : i + batch_size], pairs[i : i + batch_size] if pairs else None,
                            padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
            useful += int(enc["attention_mask"].sum())
            preds.append(model(**enc).logits.argmax(-1).numpy())
    seconds = time.perf_counter() - start
    return float((np.concatenate(preds) == np.asarray(labels)).mean()), seconds, useful


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", default="trec")
    ap.add_argument("--n", type=int, default=512, help="test examples")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32, help="naive loop batch size")
    ap.add_argument("--checkpoint", default=None, help="a trained checkpoint (default: a fresh Pfeiffer adapter)")
    args = ap.parse_args()
    set_threads()

    data = get_domain(args.domain).load()
    split = data.test.take(args.n)
    if args.checkpoint:
        ckpt = read_checkpoint(args.checkpoint)
        adapter, head, method, size = ckpt.adapter, ckpt.head, ckpt.manifest.method, ckpt.manifest.adapter_size
    else:
        ref = load_base("minilm")
        attach(ref, "bench", "pfeiffer", 64, data.label_names, seed=0)
        adapter, head, method, size = adapter_state(ref.model, "bench"), head_state(ref.model, "bench"), "pfeiffer", 64
        del ref

    # Ours.
    ev = Evaluator("minilm", method, size, max_length=args.max_length)
    target = ev.target(args.domain, "test", args.n)
    ev.evaluate(adapter, head, target, head_key="bench")  # warm-up: builds the head, first-call overheads
    ours = ev.evaluate(adapter, head, target, head_key="bench")

    # Naive: a separate model with the same adapter and head, loaded the AdapterHub way.
    base = load_base("minilm")
    attach(base, "bench", method, size, data.label_names, seed=0)
    from adaptermix.methods.model import load_state

    load_state(base.model, "bench", adapter)
    load_state(base.model, "bench", head, heads=True)
    base.model.eval()
    texts, pairs = list(split.text), list(split.text_pair) if split.text_pair else None
    naive(base.model, base.tokenizer, texts[:64], pairs[:64] if pairs else None, split.label[:64],
          args.max_length, args.batch_size)  # warm-up
    acc, seconds, useful = naive(base.model, base.tokenizer, texts, pairs, split.label, args.max_length,
                                 args.batch_size)

    print(f"domain {args.domain}: {len(split)} examples, {useful} useful tokens, max_length {args.max_length}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"naive   : {useful / seconds:8.0f} useful tokens/s  ({seconds:6.2f} s, accuracy {100 * acc:.2f})")
    print(f"ours    : {ours.tokens / ours.seconds:8.0f} useful tokens/s  ({ours.seconds:6.2f} s, accuracy "
          f"{100 * ours.accuracy:.2f}, padding {100 * (1 - ours.tokens / ours.padded_tokens):.1f} %)")
    print(f"ratio   : {seconds / ours.seconds:.2f}x")
    if abs(acc - ours.accuracy) > 1e-9:
        raise SystemExit(f"accuracy differs: naive {acc} vs ours {ours.accuracy}")


if __name__ == "__main__":
    main()
