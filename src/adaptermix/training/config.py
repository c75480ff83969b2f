"""The frozen configuration of one training run (CLI flags / recipe → this → `train`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from adaptermix.methods.presets import Preset, get_preset
from adaptermix.methods.registry import get_method


class TrainConfig(BaseModel):
    """What to train and how. Unset hyper-parameters come from the preset.

    Attributes:
        domain: a registered domain name or a path to a local data file/folder.
        method: houlsby, pfeiffer or lora.
        encoder: `minilm` (default, offline), a local model folder or a hub id.
        preset: bert-base / roberta-large (Table 17) or quickstart (CPU).
        max_train_examples: use only the first N training examples (they are pre-shuffled).
        max_eval_examples: validation/test examples scored for model selection and the manifest.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    domain: str
    out: Path
    method: str = "pfeiffer"
    encoder: str = "minilm"
    preset: str = "bert-base"
    seed: int = 42
    adapter_size: int | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    max_steps: int | None = Field(default=None, gt=0)
    max_length: int | None = Field(default=None, ge=8)
    eval_every: int | None = Field(default=None, gt=0)
    max_train_examples: int | None = Field(default=None, gt=0)
    max_eval_examples: int | None = Field(default=None, gt=0)
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
    epochs: int
    max_steps: int | None
    max_length: int
    eval_every: int | None
    max_eval_examples: int | None


def resolve(cfg: TrainConfig, domain_name: str) -> Hyper:
    """Merge the preset with the explicit overrides of `cfg`."""
    preset: Preset = get_preset(cfg.preset)
    method = get_method(cfg.method)
    # LoRA's size is its rank (4 in the paper) whatever the preset's bottleneck width says.
    default_size = preset.adapter_size if method.bottleneck else method.default_size
    return Hyper(
        adapter_size=cfg.adapter_size or default_size,
        learning_rate=cfg.learning_rate or preset.learning_rate,
        batch_size=cfg.batch_size or preset.batch_size,
        warmup_ratio=preset.warmup_ratio,
        weight_decay=preset.weight_decay,
        epochs=cfg.epochs or preset.epochs_for(domain_name),
        max_steps=cfg.max_steps or preset.max_steps,
        max_length=cfg.max_length or preset.max_length,
        eval_every=cfg.eval_every or preset.eval_every,
        max_eval_examples=cfg.max_eval_examples or preset.max_eval_examples,
    )
