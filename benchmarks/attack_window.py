"""TextFooler on long texts: only the words inside the model's window vs every word of the text.

A word that starts past the `max_length` tokens the model keeps cannot change its input
(`ModelWrapper.visible_words`), so the attack ranks and swaps only the words inside the window.
This times the batched attack both ways on the same examples of a long-text domain with a trained
checkpoint (default: the committed converged bbc_news adapter, 217–2,336 words per article, 64
tokens kept), each with fresh resources, and prints seconds, queries, statuses, the number of swaps
past the window, and the ratio. The all-words side is stopped at `--limit` seconds (a lower bound
then).

    python benchmarks/attack_window.py [--checkpoint studies/offline-converged/pfeiffer/adapters/bbc_news]
                                       [--n 4] [--max-length 64] [--limit 900]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_throughput import processor  # noqa: E402  (one CPU/GPU name for every benchmark)


def attack(checkpoint: str, n: int, max_length: int, all_words: bool) -> dict[str, Any]:
    """One side: the batched attack on the first `n` seeded test examples, as a JSON-ready dict."""
    from adaptermix.attacks import ModelWrapper, TextFoolerConfig, textfooler_attack
    from adaptermix.attacks.api import load_resources, sample_examples
    from adaptermix.attacks.tokens import Words
    from adaptermix.checkpoints import read_checkpoint
    from adaptermix.data import get_domain
    from adaptermix.data.cache import resolve_cache_dir
    from adaptermix.evaluation.evaluator import Evaluator

    ckpt = read_checkpoint(checkpoint)
    evaluator = Evaluator.for_checkpoint(ckpt, max_length)
    target = evaluator.target(ckpt.domain, "test", 1)
    evaluator.evaluate(ckpt.adapter, ckpt.head, target, head_key=ckpt.domain)  # load adapter and head
    examples = sample_examples(get_domain(ckpt.domain).load(resolve_cache_dir(None)).test, n, 0)
    wrapper = ModelWrapper.from_evaluator(evaluator)
    visible = [wrapper.visible_words(Words.from_text(e.text_pair or e.text)) for e in examples]
    if all_words:
        ModelWrapper.visible_words = lambda self, words, first=None: len(words)  # type: ignore[method-assign]
    resources = load_resources()
    start = time.perf_counter()
    records = textfooler_attack(wrapper, examples, resources, TextFoolerConfig())
    seconds = time.perf_counter() - start
    past = sum(d["index"] >= v for r, v in zip(records, visible, strict=True) for d in r.swap_details)
    return {"seconds": seconds, "queries": sum(r.queries for r in records), "status": [r.status for r in records],
            "swaps": [len(r.swaps) for r in records], "words": [r.words for r in records], "visible": visible,
            "past_window": past}


def run(args: argparse.Namespace, all_words: bool, limit: float | None) -> dict[str, Any] | None:
    """One side in a fresh process (fresh caches); None when it ran past `limit` seconds."""
    cmd = [sys.executable, __file__, "--side", "all" if all_words else "window", "--checkpoint", args.checkpoint,
           "--n", str(args.n), "--max-length", str(args.max_length)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="studies/offline-converged/pfeiffer/adapters/bbc_news")
    parser.add_argument("--n", type=int, default=4, help="examples attacked")
    parser.add_argument("--max-length", type=int, default=64, help="tokens the model keeps (the study's)")
    parser.add_argument("--limit", type=float, default=900.0, help="seconds allowed to the all-words side")
    parser.add_argument("--side", choices=("window", "all"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side is not None:  # a child: one side, one JSON line
        print(json.dumps(attack(args.checkpoint, args.n, args.max_length, args.side == "all")))
        return
    print(f"processor: {processor()}; threads {os.environ.get('OMP_NUM_THREADS', 'torch default')}; "
          f"{args.checkpoint}, {args.n} examples, max_length {args.max_length}")
    ours = run(args, False, None)
    assert ours is not None
    print(f"window only: {ours['seconds']:.1f} s, {ours['queries']:,} queries; words {ours['words']}, inside the "
          f"window {ours['visible']}; status {ours['status']}, swaps {ours['swaps']}")
    every = run(args, True, args.limit)
    if every is None:
        print(f"every word: stopped after {args.limit:.0f} s: at least {args.limit / ours['seconds']:.1f}× slower")
        return
    print(f"every word: {every['seconds']:.1f} s, {every['queries']:,} queries; status {every['status']}, swaps "
          f"{every['swaps']} ({every['past_window']} past the window)")
    print(f"ratio: {every['seconds'] / ours['seconds']:.1f}× the time, {every['queries'] / ours['queries']:.1f}× "
          "the queries")


if __name__ == "__main__":
    main()
