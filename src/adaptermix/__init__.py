"""adaptermix: train, mix, analyse and prune domain-specific adapters on one frozen encoder.

Implements Nguyen & Le (2024), "Generalizability of Mixture of Domain-Specific Adapters from the
Lens of Signed Weight Directions and its Application to Effective Model Pruning" (ACL 2024).

The public API is one function per CLI command, each taking the same frozen spec the command builds
from its flags (or that spec's fields as keywords) and calling the same function the command calls:

    load(path)                        a checkpoint of any format        (adaptermix.checkpoints)
    train(TrainConfig | **fields)     `adaptermix train`                (adaptermix.training)
    mix(paths, head_from, out, MixSpec | **fields)   `adaptermix mix`   (adaptermix.mixing)
    evaluate(path, EvalSpec | **fields)              `adaptermix evaluate`
    sweep(SweepConfig | **fields)     `adaptermix sweep`                (adaptermix.pipeline)
    run(recipe)                       `adaptermix run`
    advise(paths, target=...)         `adaptermix advise`               (adaptermix.advice)
    report(store, out)                `adaptermix report`               (adaptermix.reporting)

Importing `adaptermix` stays light: torch, transformers and the stages load only when a function is
called. The science itself (mixers, FSD, Alg. 1–4) is pure functions in the subpackages.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from adaptermix._version import __version__ as __version__  # a leaf module: readers import it from there

if TYPE_CHECKING:
    from pydantic import BaseModel

    from adaptermix.advice import Advice
    from adaptermix.checkpoints import Checkpoint
    from adaptermix.evaluation.spec import EvalSpec
    from adaptermix.methods.inference import Metrics
    from adaptermix.mixing.spec import MixSpec
    from adaptermix.pipeline import Recipe, RecipeResult, SweepConfig, SweepSummary
    from adaptermix.training.config import TrainConfig
    from adaptermix.training.train import TrainResult

__all__ = ["advise", "evaluate", "load", "mix", "report", "run", "sweep", "train"]

_Spec = TypeVar("_Spec", bound="BaseModel")


def _spec(cls: type[_Spec], given: object, fields: dict[str, Any]) -> _Spec:
    """`given` when it is a `cls`, else `cls(**fields)`; a bad argument is one `ConfigError` line.

    Pydantic's multi-line `ValidationError` is a `ValueError` but not ours: the CLI would print it as
    a traceback, and a notebook user would have to read five lines to find the field.
    """
    from pydantic import ValidationError

    from adaptermix.errors import ConfigError

    name = cls.__name__
    if given is not None:
        if fields:
            raise ConfigError(f"pass a {name} or its fields as keywords ({', '.join(sorted(fields))}), not both")
        if not isinstance(given, cls):
            raise ConfigError(f"expected a {name}, got {type(given).__name__}: pass a {name} or its fields as "
                              "keywords")
        return given
    try:
        return cls(**fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        if err["type"] == "extra_forbidden":
            raise ConfigError(f"{name} has no field {where!r}: its fields are "
                              f"{', '.join(cls.model_fields)}") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {where}: {msg}" if where else f"{name}: {msg}") from None


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


def train(config: TrainConfig | None = None, /, **fields: Any) -> TrainResult:
    """Train one adapter and its head on a domain, keep the best validation step, write a checkpoint.

    `adaptermix train`: the same `TrainConfig` its flags build, passed to
    `adaptermix.training.train.train`.

    Args:
        config: the run's `adaptermix.training.config.TrainConfig`; or None, and its fields instead.
        **fields: `TrainConfig` fields: `domain=` and `out=` (required), `method=`, `encoder=`,
            `preset=`, `seed=`, any knob of the preset (`max_steps=`, `learning_rate=`,
            `adapter_size=`, ...), `cache_dir=`, `overwrite=`, `progress=`.

    Returns:
        The `TrainResult`: checkpoint path, validation and test metrics, steps, losses.

    Raises:
        ConfigError: an unknown field or preset, a bad value, or both `config` and fields.
        DataError / CheckpointError: unreadable data; an existing `out` without `overwrite=True`.
    """
    from adaptermix.training.config import TrainConfig
    from adaptermix.training.train import train as run_train

    return run_train(_spec(TrainConfig, config, fields))


def mix(
    checkpoints: Sequence[str | Path],
    head_from: str | Path,
    out: str | Path,
    spec: MixSpec | None = None,
    *,
    weights: Sequence[float] | None = None,
    rank: int | None = None,
    domain: str | None = None,
    encoder: str | None = None,
    overwrite: bool = False,
    **fields: Any,
) -> Path:
    """Mix checkpoint directories with any mixer (Eq. 1 by default) and write them with one target's head.

    `adaptermix mix`: the same `MixSpec` its flags build, passed to
    `adaptermix.mixing.checkpoints.mix_checkpoints`. Heads are never mixed (label sets differ).
    The pure mixers on state dicts are `adaptermix.mixing.mix` and `average`.

    Args:
        checkpoints: the adapters to mix (ours, PEFT LoRA or AdapterHub directories).
        head_from: the checkpoint whose head, domain and labels the mixture carries (the target).
        out: the checkpoint directory to write (atomically).
        spec: an `adaptermix.mixing.spec.MixSpec`; or None, and its fields instead.
        weights: one weight per checkpoint (normalised only by `average` and `sparse`).
        rank: ΔW space with a non-linear mixer: the truncated-SVD rank (default: the members').
        domain, encoder: for PEFT or AdapterHub inputs, as in `load`.
        overwrite: replace an existing `out`.
        **fields: `MixSpec` fields: `mixer=` (a `adaptermix.mixing.MIXERS` name), `reference=`
            (`raw` or `init`), `space=` (`factors` or `delta`), and the mixer's parameters beside
            them (`density=0.2`), as in a recipe's `mixers:` list.

    Returns:
        The path of the written checkpoint.

    Raises:
        ConfigError: an unknown mixer or parameter, or both `spec` and fields.
        CheckpointError: unreadable or mismatched checkpoints; an existing `out`.
    """
    from adaptermix.mixing.checkpoints import mix_checkpoints
    from adaptermix.mixing.spec import MixSpec

    if fields:  # the recipe's shorthand: parameters beside the mixer's name
        own = {k: v for k, v in fields.items() if k in MixSpec.model_fields}
        params = {k: v for k, v in fields.items() if k not in MixSpec.model_fields}
        fields = {**own, "params": {**(own.get("params") or {}), **params}}
    return mix_checkpoints(checkpoints, head_from, out, weights=weights, overwrite=overwrite,
                           spec=_spec(MixSpec, spec, fields), rank=rank, domain=domain, encoder=encoder)


def evaluate(
    checkpoint: str | Path | Checkpoint,
    spec: EvalSpec | None = None,
    *,
    domain: str | None = None,
    encoder: str | None = None,
    labels: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    **fields: Any,
) -> Metrics:
    """Accuracy and macro-F1 of one checkpoint (an adapter or a mixture) on a domain split.

    `adaptermix evaluate`: the sweep's own `EvalSpec`, so a checkpoint scores exactly as a sweep
    row would; passed to `adaptermix.evaluation.evaluator.evaluate_checkpoint`.

    Args:
        checkpoint: a checkpoint directory of any format, or a `Checkpoint` from `load`.
        spec: an `adaptermix.evaluation.spec.EvalSpec` (its split, `max_examples`, `max_length` and
            `precision`; mixers and conditions are the sweep's); or None, and its fields instead.
        domain: the domain to score on (default: the checkpoint's own; required for PEFT and
            AdapterHub directories, which record none).
        encoder, labels: for PEFT or AdapterHub directories, as in `load`.
        cache_dir: the corpus/token cache (default `$ADAPTERMIX_CACHE` or ~/.cache/adaptermix).
        **fields: `EvalSpec` fields: `split=`, `max_examples=`, `max_length=`, `precision=`.

    Returns:
        The `adaptermix.methods.inference.Metrics` (`accuracy`, `macro_f1`, `n`, ...).

    Raises:
        ConfigError: a bad field, a spec with mixers or conditions, `encoder`/`labels` with a `Checkpoint`,
            or labels that differ from the domain's.
        CheckpointError / DataError: an unreadable checkpoint or data; a foreign one without `domain`.
    """
    from adaptermix.checkpoints import Checkpoint, read_checkpoint
    from adaptermix.checkpoints.resolve import require_domain
    from adaptermix.errors import ConfigError
    from adaptermix.evaluation.evaluator import evaluate_checkpoint
    from adaptermix.evaluation.spec import EvalSpec

    spec = _spec(EvalSpec, spec, fields)
    default = EvalSpec()
    if spec.mixers != default.mixers or spec.conditions != default.conditions:
        raise ConfigError("evaluate scores one checkpoint as it is: its EvalSpec takes no mixers or conditions "
                          "(mix first with adaptermix.mix, or run adaptermix.sweep)")
    if isinstance(checkpoint, Checkpoint):
        if encoder is not None or labels is not None:
            raise ConfigError("encoder= and labels= say how to read a PEFT or AdapterHub directory: pass them to "
                              "adaptermix.load, or pass the directory here")
        ckpt = checkpoint
    else:
        ckpt = read_checkpoint(checkpoint, domain, encoder, labels)
    if domain is None:
        require_domain(ckpt, "domain=")
    return evaluate_checkpoint(ckpt, domain, spec.split, spec.max_examples, spec.max_length,
                               None if cache_dir is None else Path(cache_dir), spec.precision)


def sweep(config: SweepConfig | None = None, /, **fields: Any) -> SweepSummary:
    """Evaluate each target with every subset of the other adapters (Sec. 3.4) into a SQLite store, resumably.

    `adaptermix sweep`: the same `SweepConfig` its flags build, passed to
    `adaptermix.pipeline.run_sweep`. Rows already in the store are reused.

    Args:
        config: an `adaptermix.pipeline.SweepConfig`; or None, and its fields instead.
        **fields: `SweepConfig` fields: `adapters=` (a folder of checkpoints, or a list of them) and
            `store=` (required), `spec=` (an `EvalSpec`, or its fields as a dict:
            `{"max_examples": 300, "mixers": "average,ties"}`), `targets=`, `k_min=`, `k_max=`,
            `mode=` (`exhaustive` or `sampled`), `ci=`, `draw_seed=`, `backend=`, `workers=`,
            `progress=`, `label=`, `domains=` (`{"trec": "peft_dir/"}`: PEFT or AdapterHub directories,
            which do not record their domain, as `--domain NAME=DIR`), ...

    Returns:
        The `SweepSummary`: planned, reused and evaluated rows, throughput, `interrupted`.

    Raises:
        ConfigError: a bad field, or both `config` and fields.
        CheckpointError / StoreError: unreadable or mismatched adapters; a store of another study.
    """
    from adaptermix.pipeline import SweepConfig, run_sweep

    if isinstance(fields.get("adapters"), str | Path):  # one folder, as `--adapters DIR`
        fields["adapters"] = (fields["adapters"],)
    return run_sweep(_spec(SweepConfig, config, fields))


def run(recipe: str | Path | Recipe, *, out: str | Path | None = None, progress: bool = True) -> RecipeResult:
    """Run a whole study from a recipe: train (or reuse) adapters, sweep, Sec. 7 stages, dataset analysis, report.

    `adaptermix run`: the recipe YAML read by `adaptermix.pipeline.load_recipe` (or a `Recipe`
    already built), passed to `adaptermix.pipeline.run_recipe`.

    Args:
        recipe: a recipe YAML file (e.g. recipes/quickstart.yaml), or an `adaptermix.pipeline.Recipe`.
        out: the output folder instead of the recipe's `out`.
        progress: show the progress display.

    Returns:
        The `RecipeResult` of the first study (`others`: the rest; `store`, `index_html`, `rows`).

    Raises:
        ConfigError: a missing or invalid recipe, a store of adapters about to be retrained, or an
            `out` that cannot be written.
    """
    from adaptermix.fileio import check_writable
    from adaptermix.pipeline import Recipe, load_recipe, run_recipe

    if isinstance(recipe, Recipe):
        spec = recipe if out is None else recipe.model_copy(update={"out": Path(out)})
    else:
        spec = load_recipe(recipe, out=out)
    check_writable(spec.out, "folder", "out")
    return run_recipe(spec, progress=progress)


def report(stores: str | Path | Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Write a study's self-contained HTML report (every section its store has rows for) from its store.

    `adaptermix report`: `adaptermix.reporting.report.write_html_report`; with several stores (the
    studies of one recipe), each study's report and an overview page comparing them
    (`adaptermix.reporting.overview.write_overview`). Reads only the stores.

    Args:
        stores: the study .sqlite file a sweep or `run` wrote, or several.
        out: the report folder (default: report/ beside the store); with several stores, the folder of
            the overview and of each study's report, in a subfolder named after the study (default:
            the overview in the stores' common parent folder, each report beside its store).

    Returns:
        The path of the index.html written: the report's, or with several stores the overview's.

    Raises:
        StoreError: a missing file, a file that is not a store, or a store named twice.
        ConfigError: an output folder that cannot be written.
    """
    from adaptermix.reporting.publish import write_reports

    return write_reports([stores] if isinstance(stores, str | Path) else list(stores), out, "out")[-1]


def advise(checkpoints: Sequence[str | Path], **kwargs: Any) -> Advice:
    """Which adapters to mix with a target, or how to split them into G mixtures (issue 17).

    `adaptermix advise`: `adaptermix.advice.advise`: `target=` and `sizes=`, or `groups=`; how to advise
    as one frozen `adaptermix.advice.AdviceSpec` (`spec=`) or as its fields (`strategy=`, `budget=`,
    `mixer=`, `race=`, ...; an unknown one is a ConfigError naming the known ones). Reads weights,
    train text and validation examples only.

    Args:
        checkpoints: one checkpoint directory per domain.
        **kwargs: the arguments of `adaptermix.advice.advise`.

    Returns:
        The `adaptermix.advice.Advice` (`.to_json()` is the `adaptermix advise --json` object).

    Raises:
        ConfigError / CheckpointError: a bad setting; unreadable or mismatched checkpoints.
    """
    from adaptermix.advice import advise as run_advise

    return run_advise(checkpoints, **kwargs)
