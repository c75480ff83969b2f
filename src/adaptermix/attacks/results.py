"""Attack inputs and results: one record per example and a summary in TextAttack's vocabulary.

Status follows TextAttack: an example the model already gets wrong is `skipped` (it counts
neither as a success nor as a failure); otherwise the attack is `successful` when the prediction
on the perturbed input differs from the label, else `failed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from adaptermix.errors import DataError

Status = Literal["successful", "failed", "skipped"]


@dataclass(frozen=True)
class Example:
    """One labelled input; `text_pair` is the second text of a sentence-pair task."""

    text: str
    label: int
    text_pair: str | None = None


@dataclass(frozen=True)
class AttackRecord:
    """The outcome of attacking one example.

    Attributes:
        text, text_pair, label: the example.
        perturbed_text: the attacked text (the second one for pairs); None for FGSM, which
            perturbs embeddings, not words.
        prediction, perturbed_prediction: the model's label on the clean and perturbed input.
        swaps: [original word, replacement] per accepted word swap, in order.
        queries: texts (or forward passes, FGSM) the model scored for this example.
        words: words in the attacked text; perturbed_words: how many were changed.
        status: successful, failed or skipped.
        swap_details: per swap, the word index and its constraint scores (`cos`, `similarity`).
    """

    text: str
    text_pair: str | None
    perturbed_text: str | None
    label: int
    prediction: int
    perturbed_prediction: int
    swaps: list[list[str]] = field(default_factory=list)
    queries: int = 0
    words: int = 0
    perturbed_words: int = 0
    status: Status = "failed"
    swap_details: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (one line of `--examples-out`)."""
        return asdict(self)


def status_of(label: int, prediction: int, perturbed_prediction: int) -> Status:
    """TextAttack's result type: skipped if already wrong, successful if the attack flipped it."""
    if prediction != label:
        return "skipped"
    return "successful" if perturbed_prediction != label else "failed"


def check_examples(examples: Sequence[Example]) -> None:
    """Refuse a batch that mixes single texts and pairs (a pair task needs every second text).

    Raises:
        DataError: naming the first example that lacks its second text.
    """
    has_pair = [e.text_pair is not None and e.text_pair.strip() != "" for e in examples]
    if any(has_pair) and not all(has_pair):
        i = has_pair.index(False)
        raise DataError(f"example {i} of a sentence-pair task has no second text (text_pair); "
                        "every example of a pair task needs both texts")


def summarize(attack: str, records: Sequence[AttackRecord], params: Mapping[str, Any]) -> dict[str, Any]:
    """Aggregate records into TextAttack's summary metrics, plus the attack's parameters.

    Returns:
        attack, n_examples, clean_accuracy, accuracy_under_attack, attack_success_rate
        (successful / (successful + failed); NaN when there is neither), n_successful, n_failed,
        n_skipped, avg_perturbed_words_pct (over successful attacks), avg_queries (over attacked,
        i.e. non-skipped, examples), and `params`.
    """
    n = len(records)
    succ = [r for r in records if r.status == "successful"]
    failed = [r for r in records if r.status == "failed"]
    attacked = succ + failed
    nan = float("nan")
    return {
        "attack": attack,
        "n_examples": n,
        "clean_accuracy": float(np.mean([r.prediction == r.label for r in records])) if n else nan,
        "accuracy_under_attack": float(np.mean([r.status == "failed" for r in records])) if n else nan,
        "attack_success_rate": len(succ) / len(attacked) if attacked else nan,
        "n_successful": len(succ),
        "n_failed": len(failed),
        "n_skipped": n - len(attacked),
        "avg_perturbed_words_pct": float(np.mean([100 * r.perturbed_words / max(r.words, 1) for r in succ]))
        if succ else nan,
        "avg_queries": float(np.mean([r.queries for r in attacked])) if attacked else nan,
        "params": dict(params),
    }
