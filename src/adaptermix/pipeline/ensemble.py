"""Output ensembles: the other answer to "merge or serve separately?" (issue 17).

A weight mixture of k adapters is one model; serving the k adapters separately and averaging their
predicted class probabilities (an output ensemble) costs k forward passes per example instead of one.
"What the Weight?!" (Holtermann et al. 2024) found ensembling ahead of weight averaging; the report
shows both for every recommended member set, each scored on the same test examples with the target's
own head. This module scores ensembles only: the advisor never reads the test split, this does, and
nothing here chooses anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from adaptermix.checkpoints import Checkpoint
from adaptermix.evaluation.evaluator import SLOT, EvalTarget, Evaluator
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.methods.inference import Batches, prepare_batches
from adaptermix.methods.model import load_state
from adaptermix.methods.precision import autocast


@dataclass(frozen=True)
class EnsembleScore:
    """One output ensemble on one target's test examples.

    Attributes:
        target: the domain scored (its head is used for every member).
        members: the member adapters, sorted.
        accuracy: accuracy of the argmax of the members' mean predicted probabilities (a fraction).
        n_examples: test examples scored (the sweep's).
        forward_tokens: tokens of the k forward passes (what serving the ensemble costs per pass over the split).
    """

    target: str
    members: tuple[str, ...]
    accuracy: float
    n_examples: int
    forward_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "members": list(self.members), "accuracy": self.accuracy,
                "n_examples": self.n_examples, "forward_tokens": self.forward_tokens}


def ensemble_accuracy(probabilities: Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Accuracy of the mean of (n, C) probability matrices: the output ensemble's prediction is its argmax.

    Ties in the mean go to the lowest label, as `argmax` breaks them.
    """
    if not probabilities:
        raise ValueError("an ensemble needs at least one member")
    mean = np.mean(np.stack(probabilities), axis=0)
    return float((mean.argmax(-1) == labels).mean())


class EnsembleScorer:
    """Per-member class probabilities with a target's head, each member run once per target (cached).

    Args:
        checkpoints: the study's adapters, by name (domain labels as in the store's rows).
        spec: the study's eval spec: the split, example budget and truncation the sweep scored.
        precision: `fp32` or `bf16`, as the sweep's rows were scored.
        cache_dir: the data/token cache.
    """

    def __init__(self, checkpoints: Mapping[str, Checkpoint], spec: EvalSpec, precision: str,
                 cache_dir: Any = None) -> None:
        self.checkpoints = dict(checkpoints)
        first = next(iter(self.checkpoints.values()))
        self.evaluator = Evaluator.for_checkpoint(first, spec.max_length, cache_dir)
        self.spec = spec
        self.precision = precision
        self._targets: dict[str, tuple[EvalTarget, Batches]] = {}
        self._probs: dict[tuple[str, str], np.ndarray] = {}

    def _target(self, name: str) -> tuple[EvalTarget, Batches]:
        if name not in self._targets:
            ckpt = self.checkpoints[name]
            target = self.evaluator.target(ckpt.domain, self.spec.split, self.spec.max_examples)
            batches = prepare_batches(self.evaluator.base.model, target.encoded, self.evaluator.pad_id)
            self._targets[name] = (target, batches)
        return self._targets[name]

    def probabilities(self, target: str, member: str) -> np.ndarray:
        """(n, C) softmax probabilities of adapter `member` with `target`'s head on `target`'s test examples."""
        key = (target, member)
        if key not in self._probs:
            split, batches = self._target(target)
            model: Any = self.evaluator.base.model
            load_state(model, SLOT, self.checkpoints[member].adapter)
            self.evaluator.use_head(target, self.checkpoints[target].head, split.label_names)
            out = np.empty((len(split.encoded), len(split.label_names)), dtype=np.float64)
            was_training = model.training
            model.eval()
            with torch.inference_mode(), autocast(self.precision):
                for idx, inputs in batches:
                    out[idx] = torch.softmax(model(**inputs).logits.float(), dim=-1).cpu().numpy()
            model.train(was_training)
            self._probs[key] = out
        return self._probs[key]

    def score(self, target: str, members: Iterable[str]) -> EnsembleScore:
        """The output ensemble of `members` (each with `target`'s head) on `target`'s test examples."""
        names = tuple(sorted(set(members)))
        split, _ = self._target(target)
        probs = [self.probabilities(target, m) for m in names]
        tokens = int(split.encoded.lengths.sum()) * len(names)
        return EnsembleScore(target, names, ensemble_accuracy(probs, split.encoded.labels), len(split.encoded),
                             tokens)

    @property
    def forward_passes(self) -> int:
        """Member passes run so far (each (target, member) once)."""
        return len(self._probs)
