"""TextFooler throughput: ours (all candidates of a position in one batch) vs one query per forward.

Both runs attack the same examples with the same model (MiniLM + a random Pfeiffer adapter and
head, as a sweep worker holds it) and must produce identical records; each gets a fresh sentence-
encoder cache. Prints model queries/s of each and their ratio, with the processor.

    python benchmarks/attack_throughput.py [--domain rotten_tomatoes] [--n 10] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from adaptermix.attacks import AttackSpec, ModelWrapper, attack_examples, sample_examples  # noqa: E402
from adaptermix.attacks.resources import load_wordnet  # noqa: E402
from adaptermix.attacks.similarity import MiniLMEncoder  # noqa: E402
from adaptermix.attacks.textfooler import Resources  # noqa: E402
from adaptermix.attacks.vectors import WordVectors, counterfitted_glove  # noqa: E402
from adaptermix.data import get_domain  # noqa: E402
from adaptermix.evaluation.evaluator import Evaluator  # noqa: E402
from adaptermix.methods.model import head_state  # noqa: E402


def processor() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="rotten_tomatoes")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    data = get_domain(args.domain).load(args.cache_dir)
    ev = Evaluator("minilm", "pfeiffer", 64, max_length=128, cache_dir=args.cache_dir)
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
    results = {}
    for label, batch in (("ours (batched)", 64), ("one query per forward", 1)):
        res = Resources(WordVectors(fitted.words, fitted.matrix.numpy(), fitted.name), wordnet, MiniLMEncoder())
        res.encoder.encode(["warm up"])
        wrapper = ModelWrapper.from_evaluator(ev, batch_size=batch)
        start = time.perf_counter()
        records = attack_examples(wrapper, examples, spec, res)
        seconds = time.perf_counter() - start
        results[label] = (records, wrapper.queries, seconds)
        print(f"{label:<24} {wrapper.queries:>6} queries {wrapper.forwards:>6} forwards {seconds:8.1f} s "
              f"{wrapper.queries / seconds:8.1f} queries/s")
    (a, qa, sa), (b, qb, sb) = results.values()
    assert a == b, "batched and one-by-one attacks must give the same records"
    print(f"ratio {qa / sa / (qb / sb):.2f}x  ({args.n} examples of {args.domain}, {torch.get_num_threads()} threads, "
          f"{processor()})")


if __name__ == "__main__":
    main()
