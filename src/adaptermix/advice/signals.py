"""What the advisor may look at, gathered once: weights, unlabeled text, validation evaluations.

`Signals` holds every signal a strategy reads, all from the adapters' weights and the domains'
train/validation splits. **The test split is ground truth only** (issue 17): nothing here reads it,
and `tests/test_advice_leak.py` fails any code path that does. The functions that need checkpoints,
an encoder or data live in `adaptermix.advice.collect`; this module is pure.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

WEIGHTS = "weights"  # adapter weights only: zero forward passes
TEXT = "text"  # unlabeled train text of each domain: an embedding pass over a sample
VALIDATION = "validation"  # labelled validation examples: forward passes of mixtures
UNLABELED = "unlabeled"  # validation text without its labels: the same forward passes, labels unread
FORWARD = (VALIDATION, UNLABELED)  # the needs that run mixtures on validation examples (one shared pass)


@dataclass(frozen=True)
class Signals:
    """Every advisor signal over n domains (indices follow `domains`).

    Attributes:
        domains: the adapters' domains, in the order of every matrix.
        fsd: n×n raw-weight FSD (Alg. 3), or None when not gathered.
        cosine: n×n cosine similarity of the task vectors (θ_i − θ_0 from the shared init; of the raw
            weights when no init can be rebuilt: `cosine_reference` says which), or None.
        cosine_reference: "init" or "raw".
        text: n×n cosine similarity of the domains' train-text embedding centroids (Fig. 2a), or None.
        single: (n,) validation accuracy of each adapter alone, or None.
        pair: n×n validation accuracy, pair[t, j] = acc(t, {t, j}) with t's head; diagonal = single.
        full: (n,) validation accuracy of the mixture of all n with each target's head, or None.
        agreement: n×n label-free: agreement[t, j] = the share of t's validation examples on which the
            mixture {t, j} with t's head predicts what t's adapter alone predicts (diagonal 1), or None.
        agreement_full: (n,) the same for the mixture of all n, or None.
        entropy: n×n label-free: mean predictive entropy (nats) of the mixture {t, j} with t's head on
            t's validation text (diagonal: t's adapter alone), or None (AdaMerging's objective).
        entropy_full: (n,) the same for the mixture of all n, or None.
        n_validation: validation examples per evaluation (per target: the same first examples).
        forward_tokens: tokens run through an encoder to gather these signals.
        tokens: forward tokens by need (`weights`, `text`, `validation`, `unlabeled`: the last two are
            the same passes, each strategy's cost), for the needs gathered.
        evaluations: validation evaluations of mixtures run.
        test_examples: the size of the evaluation a prediction will be compared with, one for all
            targets or one per domain (stores whose test splits differ in size) (widens the
            surrogate's interval by its sampling error); None: intervals for the accuracy itself.
    """

    domains: tuple[str, ...]
    fsd: np.ndarray | None = None
    cosine: np.ndarray | None = None
    cosine_reference: str = "init"
    text: np.ndarray | None = None
    single: np.ndarray | None = None
    pair: np.ndarray | None = None
    full: np.ndarray | None = None
    agreement: np.ndarray | None = None
    agreement_full: np.ndarray | None = None
    entropy: np.ndarray | None = None
    entropy_full: np.ndarray | None = None
    n_validation: dict[str, int] = field(default_factory=dict)
    forward_tokens: int = 0
    tokens: dict[str, int] = field(default_factory=dict)
    evaluations: int = 0
    test_examples: int | dict[str, int] | None = None

    @property
    def n(self) -> int:
        return len(self.domains)

    def index(self, domain: str) -> int:
        """The index of `domain`. Raises ValueError naming the known domains."""
        if domain not in self.domains:
            raise ValueError(f"unknown target {domain!r}: the adapters' domains are {', '.join(self.domains)}")
        return self.domains.index(domain)

    def n_test(self, target: int) -> int | None:
        """The size of the evaluation target `target`'s predictions are compared with, or None."""
        if isinstance(self.test_examples, dict):
            return self.test_examples.get(self.domains[target]) or None
        return self.test_examples or None

    def to_json(self) -> dict[str, Any]:
        """Every field as JSON (matrices as nested lists, NaN as null): what the `advise:` stage stores."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = [_plain(v) for v in value.tolist()]
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Signals:
        """The inverse of `to_json` (fields it does not know, from a later version, are ignored)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in doc.items():
            if name not in known:
                continue
            if name in MATRICES and value is not None:
                value = np.asarray(_nan(value), dtype=np.float64)
            values[name] = value
        values["domains"] = tuple(values["domains"])
        return cls(**values)

    def spent(self, needs: Collection[str]) -> int:
        """Forward tokens of the signals `needs` read (validation and unlabeled: the same passes, counted once)."""
        total = self.tokens.get(TEXT, 0) if TEXT in needs else 0
        if any(n in needs for n in FORWARD):
            total += max(self.tokens.get(n, 0) for n in FORWARD)
        return total

    def has(self, need: str) -> bool:
        """Whether the signals a strategy with this need reads were gathered."""
        if need == WEIGHTS:
            return self.fsd is not None and self.cosine is not None
        if need == TEXT:
            return self.text is not None
        if need == VALIDATION:
            return self.single is not None and self.pair is not None
        if need == UNLABELED:
            return self.agreement is not None and self.entropy is not None
        return True


#: The array fields of `Signals` (JSON: nested lists, NaN as null).
MATRICES = ("fsd", "cosine", "text", "single", "pair", "full", "agreement", "agreement_full", "entropy", "entropy_full")


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _nan(value: Any) -> Any:
    if isinstance(value, list):
        return [_nan(v) for v in value]
    return math.nan if value is None else value


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of a (n, P) matrix (unit diagonal; a zero row gives 0).

    Task-vector similarity as in model-kinship studies: how alike two adapters' updates are.
    """
    x = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    unit = x / np.where(norms > 0, norms, 1.0)[:, None]
    sim = np.clip(unit @ unit.T, -1.0, 1.0)
    sim = (sim + sim.T) / 2
    np.fill_diagonal(sim, 1.0)
    return sim
