"""The recipe format and its runner.

A recipe names the encoder, method, preset, domains and budgets of a study. `run_recipe` trains
one adapter per domain (reusing checkpoints already trained with the same settings), sweeps their
in-domain mixtures into the study's SQLite store (exhaustively by default: every subset, PAPER.md
§4), and writes the report (tables and figures) from the store. A second run reuses everything
already there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.pipeline.sweep import SweepConfig, SweepSummary, run_sweep
from adaptermix.reporting.quickstart import Row, rows_from_store, write_report
from adaptermix.reporting.sweep import write_sweep_report
from adaptermix.training.checkpoint import Checkpoint, read_checkpoint
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import adapter_name, train

STORE_NAME = "study.sqlite"


class TrainSection(BaseModel):
    """Training overrides on top of the preset (see `TrainConfig`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    max_steps: int | None = Field(default=None, gt=0)
    epochs: int | None = Field(default=None, gt=0)
    max_train_examples: int | None = Field(default=None, gt=0)
    max_eval_examples: int | None = Field(default=None, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    adapter_size: int | None = Field(default=None, gt=0)
    max_length: int | None = Field(default=None, ge=8)
    eval_every: int | None = Field(default=None, gt=0)


class SweepSection(BaseModel):
    """Which mixtures to evaluate: `exhaustive` (every subset), `sampled` (to a CI), or `ends`
    (only k = 1 and k = n: each adapter alone and the mixture of all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: Literal["exhaustive", "sampled", "ends"] = "exhaustive"
    ci: float = Field(default=1.0, gt=0)
    backend: str = "local"
    workers: int = Field(default=1, ge=1)
    chunk_size: int = Field(default=16, ge=1)


class Recipe(BaseModel):
    """A study: which adapters to train and how to evaluate their mixtures."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    out: Path
    domains: tuple[str, ...] = Field(min_length=1)
    encoder: str = "minilm"
    method: str = "pfeiffer"
    preset: str = "quickstart"
    seed: int = 42
    train: TrainSection = TrainSection()
    eval: EvalSpec = EvalSpec()  # the one eval spec: split, budget, precision, mixers, conditions
    sweep: SweepSection = SweepSection()
    cache_dir: Path | None = None


@dataclass(frozen=True)
class RecipeResult:
    """What a recipe run produced."""

    recipe: Recipe
    rows: tuple[Row, ...]
    store: Path
    report_paths: tuple[Path, ...]
    trained: tuple[str, ...]  # domains trained in this run (the rest were reused)
    sweep: SweepSummary


def load_recipe(path: str | Path, **overrides: Any) -> Recipe:
    """Read a recipe YAML (safe_load), apply overrides, validate.

    Raises:
        ConfigError: missing file, bad YAML, or a field that fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist: pass a YAML file such as recipes/quickstart.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"recipe {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: a date like 2024-13-01
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise ConfigError(f"recipe {path} is not valid YAML: {first}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {path} must be a mapping of fields")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"recipe {path}: field {where!r}: {msg}") from exc


def _train_config(recipe: Recipe, domain: str, out: Path, progress: bool) -> TrainConfig:
    return TrainConfig(
        domain=domain, out=out, method=recipe.method, encoder=recipe.encoder, preset=recipe.preset,
        seed=recipe.seed, cache_dir=recipe.cache_dir, overwrite=True, progress=progress,
        **recipe.train.model_dump(),
    )


def _reusable(path: Path, cfg: TrainConfig) -> Checkpoint | None:
    """An existing checkpoint trained with exactly these settings, else None."""
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError:
        return None
    derived = ("effective", "steps", "data_fingerprint")
    stored = {k: v for k, v in ckpt.manifest.config.items() if k not in derived}
    keep = cfg.model_dump(mode="json", exclude={"out", "overwrite", "progress", "cache_dir"})
    return ckpt if stored == keep else None


def run_recipe(recipe: Recipe, progress: bool = True) -> RecipeResult:
    """Train (or reuse) every adapter, sweep their mixtures into the store, write the report."""
    out = Path(recipe.out)
    store = out / STORE_NAME
    plans = [(domain, _train_config(recipe, domain, out / "adapters" / adapter_name(domain), progress))
             for domain in recipe.domains]
    stale = [domain for domain, cfg in plans if _reusable(cfg.out, cfg) is None]
    if stale and store.exists():
        # Fail before hours of training: the store holds results of the adapters about to be replaced.
        raise ConfigError(
            f"{store} holds results for the previous adapters, and {', '.join(stale)} must be (re)trained "
            "with the recipe's new settings: delete the store, or set a new `out` in the recipe"
        )
    trained: list[str] = []
    for domain, cfg in plans:
        if domain in stale:
            train(cfg)
            trained.append(domain)
    paths = [cfg.out for _, cfg in plans]
    n = len(paths)
    sw = recipe.sweep
    summary = run_sweep(SweepConfig(
        adapters=tuple(paths), store=store, mode="sampled" if sw.mode == "sampled" else "exhaustive", ci=sw.ci,
        sizes=(1, n) if sw.mode == "ends" else None, spec=recipe.eval,
        backend=sw.backend, workers=sw.workers, chunk_size=sw.chunk_size,
        cache_dir=recipe.cache_dir, progress=progress,
    ))
    if summary.interrupted:
        raise KeyboardInterrupt
    report = [*write_report(store, out), *write_sweep_report(store, out / "report")]
    return RecipeResult(recipe, rows_from_store(store), store, tuple(report), tuple(trained), summary)
