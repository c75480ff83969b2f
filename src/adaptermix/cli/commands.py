"""Commands of the spine: domains, train, mix, evaluate, run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from adaptermix.cli import options
from adaptermix.errors import ConfigError


def domains(
    kind: str = typer.Option(None, help="Only this kind: hub, offline or local."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every domain with its kind, labels, sizes (when cached) and availability."""
    from adaptermix.data import list_domains
    from adaptermix.data.domains import cached_sizes

    specs = [s for s in list_domains() if kind is None or s.kind == kind]
    rows: list[dict[str, Any]] = []
    for spec in specs:
        ok, why = spec.available()
        rows.append({"name": spec.name, "kind": spec.kind, "labels": list(spec.label_names), "pair": spec.is_pair,
                     "stands_in_for": spec.stands_in_for, "available": ok, "status": why,
                     "sizes": cached_sizes(spec)})
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(f"{'domain':<16} {'kind':<8} {'avail':<5} {'train/val/test':<20} {'labels':<40} status")
    for r in rows:
        labels = ",".join(r["labels"])
        labels = labels if len(labels) <= 38 else labels[:35] + "..."
        sizes = "/".join(map(str, r["sizes"])) if r["sizes"] else "-"
        typer.echo(f"{r['name']:<16} {r['kind']:<8} {'yes' if r['available'] else 'no':<5} {sizes:<20} "
                   f"{labels:<40} {r['status']}")


def train(
    domain: str = typer.Option(..., help="Domain name (see `adaptermix domains`) or a local data file/folder."),
    method: str = typer.Option("pfeiffer", help="houlsby, pfeiffer or lora."),
    out: Path = typer.Option(..., help="Checkpoint directory to write."),
    encoder: str = typer.Option("minilm", help="'minilm' (embedded), a local model folder, or a hub id."),
    preset: str = typer.Option("bert-base", help="bert-base, roberta-large (Table 17) or quickstart."),
    seed: int = typer.Option(42),
    adapter_size: int = typer.Option(None, help="Bottleneck width (LoRA: rank). Default: the preset's."),
    lr: float = typer.Option(None, help="Learning rate. Default: the preset's."),
    batch_size: int = typer.Option(None),
    epochs: int = typer.Option(None, help="Train this many epochs (an explicit budget replaces the preset's)."),
    max_steps: int = typer.Option(None, help="Train this many optimizer steps (with --epochs: whichever ends first)."),
    max_length: int = typer.Option(None, help="Truncate inputs to this many tokens."),
    eval_every: int = typer.Option(None, help="Steps between validation passes (default: each epoch)."),
    patience: int = typer.Option(None, help="Early stopping: end after this many validation passes without a gain "
                                            "of --min-delta (needs --epochs or --max-steps)."),
    min_delta: float = typer.Option(0.0, help="Early stopping: the least validation-accuracy gain that counts "
                                              "(a fraction: 0.002 = 0.2 points)."),
    precision: str = typer.Option("auto", help="auto (bf16 autocast where the CPU's probe favours it), fp32 or bf16."),
    max_train_examples: int = typer.Option(None),
    max_eval_examples: int = typer.Option(None),
    cache_dir: Path = typer.Option(None, help="Corpus/token cache (default $ADAPTERMIX_CACHE or ~/.cache/adaptermix)."),
    overwrite: bool = typer.Option(False, help="Replace an existing --out."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Train one adapter and its head on a domain; select on validation; write a checkpoint."""
    from adaptermix.training.config import TrainConfig
    from adaptermix.training.train import train as run_train

    cfg = TrainConfig(
        domain=domain, out=out, method=method, encoder=encoder, preset=preset, seed=seed, adapter_size=adapter_size,
        learning_rate=lr, batch_size=batch_size, epochs=epochs, max_steps=max_steps, max_length=max_length,
        eval_every=eval_every, patience=patience, min_delta=min_delta, precision=precision,  # type: ignore[arg-type]
        max_train_examples=max_train_examples, max_eval_examples=max_eval_examples,
        cache_dir=cache_dir, overwrite=overwrite, progress=not quiet,
    )
    result = run_train(cfg)
    typer.echo(f"{result.path}: validation acc {100 * result.validation.accuracy:.2f}, "
               f"test acc {100 * result.test.accuracy:.2f} (n={result.test.n}), {result.steps} steps, "
               f"{result.seconds:.0f} s")
    if result.run is not None:
        typer.echo(f"  {result.run.describe()}")


def mix(
    checkpoints: list[Path] = typer.Argument(..., help="Checkpoint directories to mix."),
    head_from: Path = typer.Option(..., help="Checkpoint whose head (target domain) the mixture uses."),
    out: Path = typer.Option(..., help="Checkpoint directory to write."),
    mixer: str = typer.Option("average", help="average (Eq. 1), task_arithmetic, ties, dare_linear, dare_ties, "
                                              "magnitude or sparse."),
    weights: str = typer.Option(None, help="Comma-separated weights, one per checkpoint (normalised only for "
                                           "average and sparse)."),
    density: float = options.DENSITY,
    majority_sign: str = options.MAJORITY_SIGN,
    dare_seed: int = options.DARE_SEED,
    scope: str = options.SCOPE,
    reference: str = options.REFERENCE,
    space: str = typer.Option("factors", help="LoRA: factors (A, B separately) or delta (ΔW = B·A)."),
    rank: int = typer.Option(None, help="space=delta, non-linear mixer: truncated-SVD rank (default: r)."),
    domain: str = typer.Option(None, help="PEFT/AdapterHub --head-from: the domain of its head (see docs/formats.md)."),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub inputs: their base encoder (default: their config's)."),
    overwrite: bool = typer.Option(False),
    old_seed: int = options.old("--seed"),
) -> None:
    """Mix adapters (Eq. 1 by default; ours, PEFT LoRA or AdapterHub) and write them with the target's head."""
    from adaptermix.evaluation.spec import mix_specs
    from adaptermix.mixing.checkpoints import mix_checkpoints

    dare = options.renamed(dare_seed, old_seed, "--dare-seed", "--seed")
    w = None
    if weights is not None:
        try:
            w = [float(x) for x in weights.split(",")]
        except ValueError as exc:
            raise ConfigError(f"--weights {weights!r} must be comma-separated numbers") from exc
    if reference not in ("raw", "init") or space not in ("factors", "delta"):
        raise ConfigError(f"--reference {reference!r} / --space {space!r}: use raw|init and factors|delta")
    (spec,) = mix_specs(mixer, density, majority_sign, dare, scope, reference, space)
    path = mix_checkpoints(checkpoints, head_from, out, w, overwrite, spec=spec, rank=rank, domain=domain,
                           encoder=encoder)
    typer.echo(f"wrote {path} (mixture of {len(checkpoints)}: {spec.label}, {spec.space} space, head of {head_from})")


def evaluate(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory (ours, PEFT LoRA or AdapterHub)."),
    domain: str = typer.Option(None, help="Domain to score on (default: the checkpoint's own; required for PEFT "
                                          "and AdapterHub directories, which record none)."),
    split: str = typer.Option("test", help="train, validation or test."),
    max_examples: int = typer.Option(None, help="Score only the first N examples."),
    max_length: int = typer.Option(128),
    precision: str = options.PRECISION,
    cache_dir: Path = typer.Option(None),
    as_json: bool = typer.Option(False, "--json"),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub: the base encoder (default: their config's)."),
    labels: str = typer.Option(None, help="PEFT/AdapterHub: the head's label names in index order, comma-separated "
                                          "(default: the domain's)."),
) -> None:
    """Accuracy and macro-F1 of a checkpoint (single adapter or mixture) on a domain split."""
    from adaptermix.checkpoints import detect_format, read_checkpoint
    from adaptermix.evaluation.evaluator import evaluate_checkpoint
    from adaptermix.evaluation.spec import EvalSpec
    from adaptermix.methods.precision import resolve_precision

    # The sweep's own spec, so `evaluate` scores a checkpoint exactly as a sweep row would be scored.
    spec = EvalSpec(split=split, max_examples=max_examples, max_length=max_length,
                    precision=precision)  # type: ignore[arg-type]

    fmt = detect_format(checkpoint)
    if domain is None and fmt != "adaptermix":
        raise ConfigError(f"{checkpoint} is a {fmt} checkpoint, which records no domain: pass --domain with the "
                          "domain of its head")
    ckpt = read_checkpoint(checkpoint, domain, encoder, split_labels(labels))
    m = evaluate_checkpoint(ckpt, domain, spec.split, spec.max_examples, spec.max_length, cache_dir, spec.precision)
    used = resolve_precision(spec.precision)
    if as_json:
        typer.echo(json.dumps({**m.as_dict(), "precision": used}, indent=2))
    else:
        typer.echo(f"accuracy {100 * m.accuracy:.2f}  macro-F1 {100 * m.macro_f1:.2f}  n={m.n}  "
                   f"{m.tokens_per_s:.0f} tokens/s  {used}")


def split_labels(labels: str | None) -> tuple[str, ...] | None:
    """`--labels a,b,c` as a tuple (None when not given)."""
    if labels is None:
        return None
    names = tuple(x.strip() for x in labels.split(","))
    if not all(names):
        raise ConfigError(f"--labels {labels!r} has an empty name: give comma-separated label names")
    return names


def register(app: typer.Typer) -> None:
    """Attach every command to `app`."""
    for fn in (domains, train, mix, evaluate):
        app.command()(fn)
