"""What the advisor may look at, gathered once: weights, unlabeled text, validation evaluations.

`Signals` holds every signal a strategy reads, all from the adapters' weights and the domains'
train/validation splits. **The test split is ground truth only** (issue 17): nothing here reads it,
and `tests/test_advice_leak.py` fails any code path that does. The functions that need checkpoints,
an encoder or data live in `adaptermix.advice.collect`; this module is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WEIGHTS = "weights"  # adapter weights only: zero forward passes
TEXT = "text"  # unlabeled train text of each domain: an embedding pass over a sample
VALIDATION = "validation"  # labelled validation examples: forward passes of mixtures


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
        n_validation: validation examples per evaluation (per target: the same first examples).
        forward_tokens: tokens run through an encoder to gather these signals.
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
    n_validation: dict[str, int] = field(default_factory=dict)
    forward_tokens: int = 0
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

    def has(self, need: str) -> bool:
        """Whether the signals a strategy with this need reads were gathered."""
        if need == WEIGHTS:
            return self.fsd is not None and self.cosine is not None
        if need == TEXT:
            return self.text is not None
        if need == VALIDATION:
            return self.single is not None and self.pair is not None
        return True


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
