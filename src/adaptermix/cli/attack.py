"""`adaptermix attack`: FGSM or TextFooler against one checkpoint (a single adapter or a mixture)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import typer

from adaptermix.cli import options
from adaptermix.errors import ConfigError


def _check_out(path: Path | None) -> None:
    """Refuse an existing or unwritable --examples-out before any work is done."""
    if path is None:
        return
    if path.exists():
        raise ConfigError(f"--examples-out {path} already exists: choose a new file name or delete it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise ConfigError(f"--examples-out {path}: folder {parent} does not exist or is not writable")


def attack(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory (single adapter or mixture)."),
    attack_name: str = typer.Option(..., "--attack", help="fgsm (white-box) or textfooler (black-box)."),
    domain: str = typer.Option(None, help="Domain to attack on (default: the checkpoint's own)."),
    split: str = typer.Option("test", help="train, validation or test."),
    epsilon: float = options.EPSILON,
    attack_examples: int = options.ATTACK_EXAMPLES,
    attack_seed: int = options.ATTACK_SEED,
    query_budget: int = options.QUERY_BUDGET,
    max_length: int = typer.Option(128),
    precision: str = options.PRECISION,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    examples_out: Path = typer.Option(None, help="Write one JSON line per example to this new file."),
    vectors: Path = typer.Option(None, help="TextFooler: word2vec text file (default: counter-fitted GloVe)."),
    cache_dir: Path = typer.Option(None, help="Corpus/resource cache (default $ADAPTERMIX_CACHE)."),
    old_max_examples: int = options.old("--max-examples"),
    old_seed: int = options.old("--seed"),
) -> None:
    """Attack a checkpoint on a seeded sample of a split; clean and attacked scores use the same examples."""
    from adaptermix.attacks.api import ATTACKS, AttackSpec, finite_or_none, load_resources, sample_examples
    from adaptermix.attacks.api import attack_examples as run_attack
    from adaptermix.attacks.fgsm import check_epsilon
    from adaptermix.attacks.results import summarize
    from adaptermix.attacks.vectors import read_word2vec_text
    from adaptermix.attacks.wrapper import ModelWrapper
    from adaptermix.checkpoints import read_checkpoint
    from adaptermix.data import get_domain
    from adaptermix.evaluation.evaluator import SLOT, Evaluator
    from adaptermix.evaluation.spec import EvalSpec, condition_specs
    from adaptermix.fileio import atomic_write_bytes
    from adaptermix.methods.model import load_state
    from adaptermix.methods.precision import autocast, resolve_precision

    examples_n = options.renamed(attack_examples, old_max_examples, "--attack-examples", "--max-examples")
    sample_seed = options.renamed(attack_seed, old_seed, "--attack-seed", "--seed")
    # Checked before the spec so the user sees our one-line messages, not pydantic's wording.
    name = ATTACKS.canonical(attack_name)
    if epsilon is not None:
        check_epsilon(epsilon)
    # The sweep's own specs: the condition a recipe's `{condition: fgsm, ...}` or `sweep --conditions` builds.
    (condition,) = condition_specs(name, epsilon=epsilon, attack_examples=examples_n, query_budget=query_budget,
                                   attack_seed=sample_seed, vectors=None if vectors is None else str(vectors.resolve()))
    eval_spec = EvalSpec(split=split, max_length=max_length, precision=precision,  # type: ignore[arg-type]
                         conditions=(condition,))
    spec = AttackSpec(attack=condition.condition, **condition.params)
    _check_out(examples_out)
    user_vectors = read_word2vec_text(vectors) if vectors is not None else None
    ckpt = read_checkpoint(checkpoint, domain=domain)  # a PEFT/AdapterHub dir takes its head's domain from --domain
    data = get_domain(domain or ckpt.domain).load(cache_dir)
    if tuple(data.label_names) != tuple(ckpt.manifest.label_names):
        raise ConfigError(f"{checkpoint} has labels {list(ckpt.manifest.label_names)} but {data.name} has "
                          f"{list(data.label_names)}: attack on the domain of its head")
    examples = sample_examples(data.split(eval_spec.split), spec.attack_examples, spec.attack_seed)
    evaluator = Evaluator.for_checkpoint(ckpt, eval_spec.max_length, cache_dir)
    evaluator.check(ckpt)
    load_state(evaluator.base.model, SLOT, ckpt.adapter)
    evaluator.use_head(ckpt.name, ckpt.head, data.label_names)
    # Fetched only now, after every cheap check has passed; a user's file was read (and checked) above.
    resources = load_resources(cache_dir, vectors=user_vectors) if spec.attack == "textfooler" else None
    wrapper = ModelWrapper.from_evaluator(evaluator)
    used = resolve_precision(eval_spec.precision)  # as a sweep worker resolves it
    start = time.perf_counter()
    with autocast(used):
        records = run_attack(wrapper, examples, spec, resources)
    seconds = time.perf_counter() - start
    summary: dict[str, Any] = summarize(spec.attack, records, spec.params())
    summary.update({"checkpoint": str(checkpoint), "domain": data.name, "split": split,
                    "attack_seed": spec.attack_seed, "precision": used, "seconds": round(seconds, 3)})
    if resources is not None:
        summary["params"]["vectors"] = resources.vectors.name
    summary = {k: finite_or_none(v) for k, v in summary.items()}
    if examples_out is not None:
        lines = "".join(json.dumps(r.as_dict(), ensure_ascii=False) + "\n" for r in records)
        atomic_write_bytes(examples_out, lines.encode("utf-8"))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}"

    typer.echo(f"{spec.attack} on {data.name}/{split} (n={summary['n_examples']}): "
               f"clean acc {pct(summary['clean_accuracy'])}, under attack {pct(summary['accuracy_under_attack'])}, "
               f"success rate {pct(summary['attack_success_rate'])}, skipped {summary['n_skipped']}, {seconds:.1f} s")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command()(attack)
