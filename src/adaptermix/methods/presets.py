"""Training presets: the paper's Table 17 and a CPU quickstart.

A preset fixes the hyper-parameters a user would otherwise have to look up; every field can still
be overridden from the CLI or a recipe.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from adaptermix.registry import Registry

# Table 17: 20 epochs for the large corpora, 10 for SST-2, 5 for the rest.
_PAPER_EPOCHS: Mapping[str, int] = MappingProxyType(
    {"mnli": 20, "qnli": 20, "qqp": 20, "rct": 20, "ag": 20, "sst2": 10}
)


@dataclass(frozen=True)
class Preset:
    """Hyper-parameters for training one adapter and its head.

    Attributes:
        adapter_size: bottleneck width (houlsby, pfeiffer); LoRA always uses its own rank (4).
        epochs: default number of epochs; `epochs_by_domain` overrides it per domain.
        max_steps: optional cap on optimizer steps (None: train all epochs).
        eval_every: steps between validation passes used for model selection (None: once per epoch).
        max_eval_examples: validation examples used for model selection (None: all).
    """

    name: str
    description: str
    adapter_size: int
    learning_rate: float
    batch_size: int
    warmup_ratio: float
    weight_decay: float
    epochs: int
    max_length: int
    epochs_by_domain: Mapping[str, int] = field(default_factory=dict)
    max_steps: int | None = None
    eval_every: int | None = None
    max_eval_examples: int | None = None

    def epochs_for(self, domain: str) -> int:
        """Epochs for `domain` (Table 17's per-domain counts where the preset has them)."""
        return self.epochs_by_domain.get(domain, self.epochs)


PRESETS: Registry[Preset] = Registry("preset")
PRESETS.register(
    "bert-base",
    Preset(
        name="bert-base",
        description="Table 17, BERT-base: size 256, lr 4e-4, batch 32, warmup 0.06, wd 0.1",
        adapter_size=256,
        learning_rate=4e-4,
        batch_size=32,
        warmup_ratio=0.06,
        weight_decay=0.1,
        epochs=5,
        max_length=128,
        epochs_by_domain=_PAPER_EPOCHS,
    ),
)
PRESETS.register(
    "roberta-large",
    Preset(
        name="roberta-large",
        # The paper prints warmup 0.6 for RoBERTa-large; with 0.06 for BERT-base next to it, we read
        # it as a typo for 0.06 (PAPER.md §3).
        description="Table 17, RoBERTa-large: size 64, lr 3e-4, batch 64, warmup 0.06, wd 0.1",
        adapter_size=64,
        learning_rate=3e-4,
        batch_size=64,
        warmup_ratio=0.06,
        weight_decay=0.1,
        epochs=5,
        max_length=128,
        epochs_by_domain=_PAPER_EPOCHS,
    ),
)
PRESETS.register(
    "quickstart",
    Preset(
        name="quickstart",
        # A CPU budget: a few hundred steps on short texts reach useful accuracy on MiniLM; a larger
        # learning rate than the paper's compensates for the short schedule.
        description="CPU quickstart: size 64, lr 1e-3, batch 16, 64 tokens, ≤ 150 steps",
        adapter_size=64,
        learning_rate=1e-3,
        batch_size=16,
        warmup_ratio=0.06,
        weight_decay=0.01,
        epochs=1,
        max_length=64,
        max_steps=150,
        eval_every=50,
        max_eval_examples=400,
    ),
)


def get_preset(name: str) -> Preset:
    """The registered preset `name`. Raises ConfigError listing the known ones."""
    return PRESETS.get(name)
