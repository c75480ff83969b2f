"""The frozen configuration of one training run (CLI flags / recipe → this → `train`).

`TrainOverrides` holds every knob a user may set on top of a preset; it is the recipe's `train:`
section and the CLI's flags alike, so each knob has one name and one check. `TrainConfig` adds what
to train (domain, method, encoder, preset, output). `resolve` applies the preset and decides the
step budget.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adaptermix.methods.presets import Preset, get_preset
from adaptermix.methods.registry import get_method

Precision = Literal["auto", "fp32", "bf16"]


class TrainOverrides(BaseModel):
    """Hyper-parameters that override the preset (None: the preset's value).

    Attributes:
        epochs / max_steps: the step budget. An explicit value wins over the preset's: `max_steps`
            alone trains exactly that many steps (cycling over the data), `epochs` alone that many
            epochs; both given, whichever ends first.
        eval_every: steps between validation passes (model selection and early stopping).
        patience: stop when this many validation passes in a row improve the best accuracy by
            less than `min_delta`; needs an explicit `epochs` or `max_steps` as the upper bound.
        min_delta: the least validation-accuracy gain (a fraction: 0.002 = 0.2 points) that counts
            as an improvement.
        precision: `auto` (bf16 autocast where the CPU's start-up probe favours it, and on GPU),
            `fp32` or `bf16`.
        max_train_examples: use only the first N training examples (they are pre-shuffled).
        max_eval_examples: validation/test examples scored for model selection and the manifest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    adapter_size: int | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, gt=0)
    max_length: int | None = Field(default=None, ge=8)
    eval_every: int | None = Field(default=None, gt=0)
    patience: int | None = Field(default=None, gt=0)
    min_delta: float = Field(default=0.0, ge=0.0, lt=1.0)
    precision: Precision = "auto"
    max_train_examples: int | None = Field(default=None, gt=0)
    max_eval_examples: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _patience_needs_a_budget(self) -> TrainOverrides:
        # Early stopping on a preset's budget would silently depend on the preset; ask for the bound.
        if self.patience is not None and self.epochs is None and self.max_steps is None:
            raise ValueError("patience needs an explicit budget to stop within: set epochs or max_steps too")
        return self


class TrainConfig(TrainOverrides):
    """What to train and how. Unset hyper-parameters come from the preset.

    Attributes:
        domain: a registered domain name or a path to a local data file/folder.
        method: houlsby, pfeiffer or lora.
        encoder: `minilm` (default, offline), a local model folder or a hub id.
        preset: bert-base / roberta-large (Table 17) or quickstart (CPU).
    """

    domain: str
    out: Path
    method: str = "pfeiffer"
    encoder: str = "minilm"
    preset: str = "bert-base"
    seed: int = 42
    cache_dir: Path | None = None
    overwrite: bool = False
    progress: bool = True


class Hyper(BaseModel):
    """The effective hyper-parameters after the preset is applied (logged in the manifest)."""

    model_config = ConfigDict(frozen=True)
    adapter_size: int
    learning_rate: float
    batch_size: int
    warmup_ratio: float
    weight_decay: float
    epochs: int | None
    max_steps: int | None
    max_length: int
    eval_every: int | None
    max_eval_examples: int | None
    patience: int | None = None
    min_delta: float = 0.0


def resolve(cfg: TrainConfig, domain_name: str) -> Hyper:
    """Merge the preset with the explicit overrides of `cfg`.

    The step budget: explicit `epochs`/`max_steps` replace the preset's pair as a whole, so an
    explicit `max_steps` is never cut short by the preset's epoch count (and vice versa).
    """
    preset: Preset = get_preset(cfg.preset)
    method = get_method(cfg.method)
    # LoRA's size is its rank (4 in the paper) whatever the preset's bottleneck width says.
    default_size = preset.adapter_size if method.bottleneck else method.default_size
    if cfg.epochs is not None or cfg.max_steps is not None:
        epochs, max_steps = cfg.epochs, cfg.max_steps
    else:
        epochs, max_steps = preset.epochs_for(domain_name), preset.max_steps
    return Hyper(
        adapter_size=cfg.adapter_size or default_size,
        learning_rate=cfg.learning_rate or preset.learning_rate,
        batch_size=cfg.batch_size or preset.batch_size,
        warmup_ratio=preset.warmup_ratio,
        weight_decay=preset.weight_decay,
        epochs=epochs,
        max_steps=max_steps,
        max_length=cfg.max_length or preset.max_length,
        eval_every=cfg.eval_every or preset.eval_every,
        max_eval_examples=cfg.max_eval_examples or preset.max_eval_examples,
        patience=cfg.patience,
        min_delta=cfg.min_delta,
    )


def step_budget(hyper: Hyper, steps_per_epoch: int) -> tuple[int, str]:
    """The most optimizer steps this run may take, and what sets that bound (`epochs` or `max_steps`)."""
    by_epochs = hyper.epochs * steps_per_epoch if hyper.epochs is not None else math.inf
    by_steps = hyper.max_steps if hyper.max_steps is not None else math.inf
    if by_steps < by_epochs:
        return int(by_steps), "max_steps"
    return int(by_epochs), "epochs"
