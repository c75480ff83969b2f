"""adaptermix: train, mix, analyse and prune domain-specific adapters on one frozen encoder.

Implements Nguyen & Le (2024), "Generalizability of Mixture of Domain-Specific Adapters from the
Lens of Signed Weight Directions and its Application to Effective Model Pruning" (ACL 2024).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptermix._version import __version__ as __version__  # a leaf module: readers import it from there

if TYPE_CHECKING:
    from adaptermix.advice import Advice
    from adaptermix.checkpoints import Checkpoint


def load(
    path: str | Path,
    domain: str | None = None,
    encoder: str | None = None,
    labels: Sequence[str] | None = None,
) -> Checkpoint:
    """A checkpoint from any supported format: ours, a PEFT LoRA or an AdapterHub directory.

    Importing `adaptermix` stays light: torch, transformers and AdapterHub load only when this is
    called.

    Args:
        path: the checkpoint directory.
        domain, encoder, labels: for PEFT or AdapterHub directories (ours record them): the domain
            of the head, the base encoder (overriding the one their config names), the label names.

    Returns:
        The `adaptermix.checkpoints.Checkpoint` (canonical adapter and head tensors, manifest).

    Raises:
        CheckpointError: an unknown, incomplete or unrepresentable directory (one-line message).
    """
    from adaptermix.checkpoints import read_checkpoint

    return read_checkpoint(path, domain, encoder, labels)


def advise(checkpoints: Sequence[str | Path], **kwargs: Any) -> Advice:
    """Which adapters to mix with a target, or how to split them into G mixtures (issue 17).

    Lazy, like `load`: see `adaptermix.advice.advise` for the arguments (`target=` and `sizes=`, or
    `groups=`; `strategy=`, `budget=`, ...). Reads weights, train text and validation examples only.

    Returns:
        The `adaptermix.advice.Advice` (`.to_json()` is the `adaptermix advise --json` object).
    """
    from adaptermix.advice import advise as run_advise

    return run_advise(checkpoints, **kwargs)
