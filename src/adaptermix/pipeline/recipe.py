"""The recipe format and its runner.

A recipe names the encoder, method, preset, domains and budgets of a study. `run_recipe` trains
one adapter per domain (reusing checkpoints already trained with the same settings), evaluates
each adapter alone and the uniform mixture of all of them on every domain (Eq. 1, the target's
head), stores the results as JSON and writes the table and figure. A second run reuses everything
already there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tqdm.auto import tqdm

from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.evaluation.evaluator import Evaluator
from adaptermix.mixing.average import average
from adaptermix.reporting.quickstart import Row, write_report
from adaptermix.training.checkpoint import Checkpoint, check_mixable, read_checkpoint
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import adapter_name, train

RESULTS_NAME = "results.json"


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


class EvalSection(BaseModel):
    """How mixtures are scored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    split: str = "test"
    max_examples: int | None = Field(default=None, gt=0)
    max_length: int = Field(default=128, ge=8)


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
    eval: EvalSection = EvalSection()
    cache_dir: Path | None = None


@dataclass(frozen=True)
class RecipeResult:
    """What a recipe run produced."""

    recipe: Recipe
    rows: tuple[Row, ...]
    results_path: Path
    report_paths: tuple[Path, ...]
    trained: tuple[str, ...]  # domains trained in this run (the rest were reused)


def load_recipe(path: str | Path, **overrides: Any) -> Recipe:
    """Read a recipe YAML (safe_load), apply overrides, validate.

    Relative `out`/`cache_dir` are taken relative to the current directory.

    Raises:
        ConfigError: missing file, bad YAML, or a field that fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist: pass a YAML file such as recipes/quickstart.yaml")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {path} must be a mapping of fields")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"recipe {path}: field {where!r}: {err['msg']}") from exc


def _train_config(recipe: Recipe, domain: str, out: Path) -> TrainConfig:
    return TrainConfig(
        domain=domain, out=out, method=recipe.method, encoder=recipe.encoder, preset=recipe.preset,
        seed=recipe.seed, cache_dir=recipe.cache_dir, overwrite=True,
        **recipe.train.model_dump(),
    )


def _reusable(path: Path, cfg: TrainConfig) -> Checkpoint | None:
    """An existing checkpoint trained with exactly these settings, else None."""
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError:
        return None
    stored = {k: v for k, v in ckpt.manifest.config.items() if k not in ("effective", "steps", "data_fingerprint")}
    keep = cfg.model_dump(mode="json", exclude={"out", "overwrite", "progress", "cache_dir"})
    return ckpt if stored == keep else None


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _result_key(adapter_shas: list[str], target: str, head_sha: str, ev: EvalSection) -> str:
    spec = {"members": sorted(adapter_shas), "target": target, "head": head_sha, **ev.model_dump()}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def run_recipe(recipe: Recipe, progress: bool = True) -> RecipeResult:
    """Train (or reuse) every adapter, evaluate singles and the all-mixture, store and report.

    Returns:
        The table rows, and where the results were stored.
    """
    out = Path(recipe.out)
    adapters_dir = out / "adapters"
    ckpts: dict[str, Checkpoint] = {}
    trained: list[str] = []
    for domain in recipe.domains:
        path = adapters_dir / adapter_name(domain)
        cfg = _train_config(recipe, domain, path).model_copy(update={"progress": progress})
        ckpt = _reusable(path, cfg)
        if ckpt is None:
            train(cfg)
            trained.append(domain)
            ckpt = read_checkpoint(path)
        ckpts[domain] = ckpt
    members = list(ckpts.values())
    check_mixable(members)

    results_path = out / RESULTS_NAME
    stored: dict[str, Any] = json.loads(results_path.read_text()) if results_path.is_file() else {}
    evaluations: dict[str, Any] = stored.get("evaluations", {})
    all_shas = [c.manifest.adapter_sha256 for c in members]
    mixture = None
    evaluator: Evaluator | None = None
    rows: list[Row] = []
    bar = tqdm(total=2 * len(members), desc="evaluate", unit="eval", disable=not progress, dynamic_ncols=True)
    for domain, ckpt in ckpts.items():
        scores = {}
        for label, shas in (("single", [ckpt.manifest.adapter_sha256]), ("all_mix", all_shas)):
            key = _result_key(shas, domain, ckpt.manifest.adapter_sha256, recipe.eval)
            if key not in evaluations:
                if evaluator is None:
                    evaluator = Evaluator.for_checkpoint(ckpt, recipe.eval.max_length, recipe.cache_dir)
                if label == "all_mix" and mixture is None:
                    mixture = average([c.adapter for c in members])
                adapter = ckpt.adapter if label == "single" else mixture
                target = evaluator.target(domain, recipe.eval.split, recipe.eval.max_examples)
                metrics = evaluator.evaluate(adapter, ckpt.head, target, head_key=ckpt.name)
                evaluations[key] = {"target": domain, "kind": label, "members": sorted(ckpts) if label == "all_mix"
                                    else [domain], **metrics.as_dict(), **recipe.eval.model_dump()}
                _write_json_atomic(results_path, {"recipe": recipe.model_dump(mode="json"), "evaluations": evaluations})
            scores[label] = evaluations[key]
            bar.update(1)
        single, mix = scores["single"], scores["all_mix"]
        rows.append(Row(domain, single["accuracy"], mix["accuracy"], int(single["n"])))
    bar.close()
    _write_json_atomic(results_path, {"recipe": recipe.model_dump(mode="json"), "evaluations": evaluations})
    report = write_report(results_path, out)
    return RecipeResult(recipe, tuple(rows), results_path, report, tuple(trained))
