"""The documents of a domain and the one seeded sample every analysis of App. A.1–A.2 reads.

The paper (Sec. 3.1, Fig. 2a) embeds "1,000 sampled documents per dataset"; it does not say from
which split. We read the **train split** (what each adapter learns from) and draw one seeded sample
of at most `max_docs` documents per domain, shared by Table 3, Fig. 2a and the LDA of Tables 4–16,
so the three describe the same texts. A sentence-pair example (NLI, paraphrase) is one document:
its two texts joined by a newline, i.e. what the adapter reads as one input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from adaptermix.data.types import DomainData

DEFAULT_SPLIT = "train"


def domain_documents(data: DomainData, split: str = DEFAULT_SPLIT) -> tuple[str, ...]:
    """Every document of one split of a domain, in the split's order.

    Args:
        data: a loaded domain.
        split: "train" (the default), "validation" or "test".

    Returns:
        One string per example; pair examples are `text + "\\n" + text_pair`.

    Raises:
        DataError: for an unknown split name.
    """
    part = data.split(split)
    if part.text_pair is None:
        return part.text
    return tuple(f"{a}\n{b}" for a, b in zip(part.text, part.text_pair, strict=True))


def sample_documents(documents: Sequence[str], max_docs: int, seed: int, key: str = "") -> tuple[str, ...]:
    """A seeded sample of at most `max_docs` documents without replacement, in corpus order.

    The generator is seeded with `seed` and a stable hash of `key` (the domain name), so every domain
    gets its own reproducible draw and adding a domain does not change the others' samples.

    Args:
        documents: the corpus.
        max_docs: the sample size (all documents when the corpus is smaller).
        seed: the user's seed.
        key: a per-corpus salt, normally the domain name.

    Returns:
        The sampled documents.

    Raises:
        ValueError: if `max_docs` < 1 or `seed` < 0.
    """
    if max_docs < 1:
        raise ValueError(f"max_docs must be >= 1, got {max_docs}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if len(documents) <= max_docs:
        return tuple(documents)
    salt = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")
    rng = np.random.default_rng([seed, salt])
    index = np.sort(rng.choice(len(documents), size=max_docs, replace=False))
    return tuple(documents[int(i)] for i in index)
