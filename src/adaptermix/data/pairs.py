"""The derived `same_author` sentence-pair task, built from the election-tweets domain.

No sentence-pair corpus ships offline (DATA.md), yet the paper's GLUE pair tasks (MRPC, QQP, RTE,
...) exercise the `text_pair` code paths. This task fills that gap on real text, and is clearly
DERIVED: each example is two tweets, labelled "same" when one account wrote both and "different"
otherwise, from the true authors. Pairs are formed inside each split of `election_tweets`, so no
tweet of a test pair was ever seen in training; each split is balanced 50/50 by construction.
With two authors it measures writing style, not meaning: it is no paraphrase or NLI task.
"""

from __future__ import annotations

from adaptermix.data.splits import Pool, permutation
from adaptermix.data.types import SPLIT_NAMES, DomainData, Split

PAIR_LABELS: tuple[str, ...] = ("different", "same")


def _pairs_for_split(split: Split, seed: int, salt: str, rounds: int = 2) -> Pool:
    """Balanced same/different-author pairs over the tweets of one split.

    Each round shuffles the split and pairs neighbours (0 with 1, 2 with 3, ...), so every tweet
    sits in `rounds` pairs and the order inside a pair is random. With two near-equal authors
    about half the pairs are "same"; the larger class is then cut to the size of the smaller.
    """
    same: list[tuple[int, int]] = []
    different: list[tuple[int, int]] = []
    taken: set[frozenset[int]] = set()
    for r in range(rounds):
        order = permutation(len(split), seed, f"{salt}:round{r}")
        for i, j in zip(order[0::2], order[1::2], strict=False):
            if frozenset((i, j)) in taken:
                continue
            taken.add(frozenset((i, j)))
            (same if split.label[i] == split.label[j] else different).append((i, j))
    k = min(len(same), len(different))
    pool = Pool(text_pair=[])
    for label, chosen in ((1, same[:k]), (0, different[:k])):
        for i, j in chosen:
            pool.add(split.text[i], label, split.text[j])
    return pool


def same_author_pairs(source: DomainData, name: str, seed: int) -> DomainData:
    """Build the derived pair domain from an authorship `source` domain (one pool per split).

    Args:
        source: a loaded authorship domain (labels are authors), already split.
        name: the derived domain's name.
        seed: shuffle seed.

    Returns:
        A balanced "same author?" pair domain with labels `PAIR_LABELS`.
    """
    parts = {}
    for split_name in SPLIT_NAMES:
        pool = _pairs_for_split(source.split(split_name), seed, split_name)
        parts[split_name] = pool.select(permutation(len(pool), seed, f"{split_name}:pairs"))
    return DomainData(name=name, label_names=PAIR_LABELS, train=parts["train"], validation=parts["validation"],
                      test=parts["test"])
