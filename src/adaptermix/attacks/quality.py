"""Print the neighbour quality of plain vs counter-fitted GloVe (the measurement in docs/attacks.md).

    python -m adaptermix.attacks.quality [--cache-dir DIR] [--vocab 65536] [--n-words 20000]

Builds (or reads from the cache) the counter-fitted vectors, then reports for both spaces the
share of WordNet antonym and synonym pairs among neighbour pairs with cos >= 0.8 (top 50 per
word, TextFooler's candidate rule) and the neighbours of a few probe words.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from adaptermix.attacks.counterfit import neighbour_quality
from adaptermix.attacks.resources import load_wordnet
from adaptermix.attacks.vectors import DEFAULT_VOCAB, counterfitted_glove, plain_glove


def measure(cache_dir: Path | None = None, vocab: int = DEFAULT_VOCAB, n_words: int = 20000) -> dict[str, Any]:
    """Neighbour quality before and after counter-fitting, with the build time of each resource."""
    t0 = time.perf_counter()
    wordnet = load_wordnet(cache_dir)
    t1 = time.perf_counter()
    fitted = counterfitted_glove(cache_dir, vocab)
    t2 = time.perf_counter()
    plain = plain_glove(cache_dir, vocab)
    out: dict[str, Any] = {"vocab": vocab, "wordnet_seconds": round(t1 - t0, 2),
                           "counterfit_seconds": round(t2 - t1, 2)}
    for name, space in (("glove", plain), ("counterfitted", fitted)):
        q = neighbour_quality(space.words, space.matrix.numpy(), wordnet.synonyms, wordnet.antonyms, n_words=n_words)
        out[name] = asdict(q)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--vocab", type=int, default=DEFAULT_VOCAB)
    parser.add_argument("--n-words", type=int, default=20000)
    args = parser.parse_args()
    result = measure(args.cache_dir, args.vocab, args.n_words)
    result["processor"] = platform.processor() or platform.machine()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
