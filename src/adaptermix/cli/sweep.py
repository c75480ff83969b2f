"""`adaptermix sweep`: every in-domain mixture of a set of adapters, into a SQLite store."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from adaptermix.cli import options
from adaptermix.errors import ConfigError


def parse_k(spec: str | None) -> tuple[int, int | None]:
    """'3' → (3, 3); '2..5' → (2, 5); '1..n' or None → (1, None)."""
    if spec is None:
        return 1, None
    lo, sep, hi = spec.partition("..")
    try:
        k_min = int(lo)
        k_max = (None if hi in ("n", "") else int(hi)) if sep else k_min
    except ValueError as exc:
        raise ConfigError(f"--k {spec!r} must look like 3, 2..5 or 1..n") from exc
    if k_min < 1 or (k_max is not None and k_max < k_min):
        raise ConfigError(f"--k {spec!r} is empty: use 1 ≤ low ≤ high")
    return k_min, k_max


def parse_domains(given: list[str] | None) -> dict[str, Path] | None:
    """['trec=lora/', ...] → {'trec': Path('lora/'), ...}; None when no --domain is given.

    Raises:
        ConfigError: an entry that is not NAME=DIR, or a domain named twice.
    """
    out: dict[str, Path] = {}
    for item in given or []:
        name, sep, folder = item.partition("=")
        if not sep or not name.strip() or not folder.strip():
            raise ConfigError(f"--domain {item!r} must look like NAME=DIR: the domain of a PEFT or AdapterHub "
                              "adapter directory, e.g. --domain trec=my-peft-lora/")
        if name.strip() in out:
            raise ConfigError(f"--domain {name.strip()} is given twice: a sweep takes one adapter per domain")
        out[name.strip()] = Path(folder.strip())
    return out or None


def sweep(
    adapters: list[Path] = typer.Option(None, help="A folder of checkpoints (or checkpoint dirs; repeatable)."),
    domain: list[str] = typer.Option(
        None, "--domain", metavar="NAME=DIR",
        help="A PEFT or AdapterHub adapter directory and its domain, which those formats do not record "
             "(repeatable; no `adaptermix import` needed).",
    ),
    store: Path = typer.Option(..., help="The study's SQLite file (created, or resumed)."),
    targets: str = typer.Option(None, help="Comma-separated target domains (default: all)."),
    k: str = typer.Option(None, help="Mixture sizes: 3, 2..5 or 1..n (default: all)."),
    mode: str = typer.Option("exhaustive", help="exhaustive or sampled."),
    ci: float = typer.Option(1.0, help="sampled: stop at this 95 % CI half-width of mean accuracy (points)."),
    draw_seed: int = typer.Option(None, help="sampled: seed of the draw order (default 0)."),
    split: str = typer.Option("test"),
    max_examples: int = typer.Option(None, help="Score only the first N examples of each target."),
    max_length: int = typer.Option(128),
    precision: str = options.PRECISION,
    mixers: str = typer.Option("average", help="Comma-separated mixers: average,ties,dare_ties,... (one store)."),
    density: float = options.DENSITY,
    majority_sign: str = options.MAJORITY_SIGN,
    dare_seed: int = options.DARE_SEED,
    scope: str = options.SCOPE,
    reference: str = options.REFERENCE,
    conditions: str = typer.Option("clean", help="Comma-separated conditions: clean, fgsm, textfooler."),
    epsilon: float = options.EPSILON,
    attack_mode: str = typer.Option(None, help="textfooler: adaptive (attack every mixture; default) or transfer "
                                               "(craft once on each target's adapter, score every mixture)."),
    attack_examples: int = options.ATTACK_EXAMPLES,
    attack_seed: int = options.ATTACK_SEED,
    query_budget: int = options.QUERY_BUDGET,
    vectors: Path = typer.Option(None, help="textfooler: word vectors in word2vec text format (default: "
                                            "GloVe counter-fitted to WordNet, built offline)."),
    backend: str = typer.Option("local", help="local or ray (RAY_ADDRESS joins a cluster)."),
    workers: int = typer.Option(1, help="Worker processes / Ray actors, one model each."),
    gpus_per_worker: float = typer.Option(0.0, help="Ray: GPUs each actor reserves (1 = one worker per GPU)."),
    chunk_size: int = typer.Option(16, help="Mixtures per task and per store transaction."),
    compile: bool = typer.Option(
        False, "--compile",
        help="torch.compile the model (experimental: on CPU it recompiles per batch shape and was slower).",
    ),
    cache_dir: Path = typer.Option(None),
    quiet: bool = typer.Option(False),
    old_seed: int = options.old("--seed"),
    old_mix_seed: int = options.old("--mix-seed"),
) -> None:
    """Evaluate each target with every subset of the other adapters (Sec. 3.4), resumably."""
    from adaptermix.evaluation.spec import EvalSpec, condition_specs, mix_specs
    from adaptermix.pipeline.sweep import SweepConfig, run_sweep

    draw = options.renamed(draw_seed, old_seed, "--draw-seed", "--seed")
    dare = options.renamed(dare_seed, old_mix_seed, "--dare-seed", "--mix-seed")
    if mode not in ("exhaustive", "sampled"):
        raise ConfigError(f"--mode {mode!r}: use exhaustive or sampled")
    k_min, k_max = parse_k(k)
    domains = parse_domains(domain)
    if not adapters and not domains:
        raise ConfigError("no adapters given: pass --adapters DIR (ours) or --domain NAME=DIR (PEFT, AdapterHub)")
    if precision not in ("auto", "fp32", "bf16"):
        raise ConfigError(f"--precision {precision!r}: use auto, fp32 or bf16")
    if reference not in ("raw", "init"):
        raise ConfigError(f"--reference {reference!r}: use raw or init")
    spec = EvalSpec(split=split, max_examples=max_examples, max_length=max_length, precision=precision,  # type: ignore[arg-type]
                    mixers=mix_specs(mixers, density, majority_sign, dare, scope, reference),
                    conditions=condition_specs(conditions, epsilon=epsilon, attack_mode=attack_mode,
                                               attack_examples=attack_examples, query_budget=query_budget,
                                               attack_seed=attack_seed,
                                               vectors=None if vectors is None else str(vectors.resolve())))
    cfg = SweepConfig(
        adapters=tuple(adapters or ()), domains=domains, store=store,
        targets=tuple(targets.split(",")) if targets else None,
        k_min=k_min, k_max=k_max, mode=mode, ci=ci, spec=spec,  # type: ignore[arg-type]
        draw_seed=SweepConfig.model_fields["draw_seed"].default if draw is None else draw,
        backend=backend, workers=workers, gpus_per_worker=gpus_per_worker,
        chunk_size=chunk_size, compile=compile,
        cache_dir=cache_dir, progress=not quiet,
    )
    s = run_sweep(cfg)
    speed = f"; {s.tokens_per_s:.0f} tokens/s over {s.seconds:.1f} s" if s.evaluated else ""
    typer.echo(f"{s.store}: {s.evaluated} evaluated now, {s.reused} already stored, {s.planned} planned "
               f"of {s.exhaustive_count} exhaustive{speed}")
    if s.per_group:
        typer.echo(f"sampled: {s.planned} evaluations instead of {s.exhaustive_count} "
                   f"({100 * s.planned / s.exhaustive_count:.1f} %)")
    if s.interrupted:
        typer.echo("interrupted: finished chunks are stored; run the same command again to resume", err=True)
        sys.exit(130)
