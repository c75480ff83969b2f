"""Model selection and early stopping on the validation split, as a small pure state machine.

The paper trains each adapter for a fixed number of epochs and keeps the best validation
checkpoint (PAPER.md §3). Converging on a CPU budget needs the loop to end by itself once the
validation accuracy stops rising: `patience` passes in a row without a gain of at least
`min_delta` end training, and the best pass is what the checkpoint keeps either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ValidationPoint:
    """One validation pass: after `step` optimizer steps, this accuracy (a fraction)."""

    step: int
    accuracy: float


@dataclass
class EarlyStopping:
    """Tracks the best validation pass and says when patience has run out.

    Attributes:
        patience: passes in a row without improvement that end training (None: never stop early).
        min_delta: the least accuracy gain over the best so far that counts as an improvement.
        curve: every pass so far, in order.
        best: the best pass so far (the first of equals: an equal later pass is no improvement).
    """

    patience: int | None = None
    min_delta: float = 0.0
    curve: list[ValidationPoint] = field(default_factory=list)
    best: ValidationPoint | None = None
    _stale: int = 0

    def update(self, step: int, accuracy: float) -> bool:
        """Record a pass; True when it is the new best (so the caller keeps these weights)."""
        point = ValidationPoint(step, accuracy)
        self.curve.append(point)
        if self.best is None or accuracy > self.best.accuracy:
            # Any gain makes a better checkpoint; only a gain of min_delta resets patience, so tiny
            # upward drifts cannot keep a converged run alive.
            gained = self.best is None or accuracy - self.best.accuracy >= self.min_delta
            self.best = point
            self._stale = 0 if gained else self._stale + 1
            return True
        self._stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        """Patience has run out."""
        return self.patience is not None and self._stale >= self.patience

    def as_dict(self) -> dict[str, object]:
        """For the manifest: the best step and the whole curve."""
        return {
            "best_step": self.best.step if self.best else None,
            "best_accuracy": self.best.accuracy if self.best else None,
            "curve": [[p.step, p.accuracy] for p in self.curve],
            "patience": self.patience,
            "min_delta": self.min_delta,
        }
