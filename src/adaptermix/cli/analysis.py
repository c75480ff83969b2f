"""Commands of sign analysis and pruning: `fsd` (Alg. 3), `greedy` (Alg. 1), `prune` (Alg. 2), `sparse-mix` (Alg. 4).

Each takes checkpoints in any format adaptermix reads (ours, PEFT LoRA, AdapterHub; docs/formats.md).
"""

from __future__ import annotations

from pathlib import Path

import typer


def fsd(
    checkpoints: list[Path] = typer.Argument(..., help="Checkpoint directories to compare (same base and method)."),
    out: Path = typer.Option(..., help="Folder for fsd.csv, fsd.json and the fsd.png heatmap."),
    per_layer: bool = typer.Option(False, "--per-layer", help="Also FSD per layer: fsd_layers.csv/.json/.png."),
    space: str = typer.Option("factors", help="factors (the paper's: LoRA A and B as they are) or delta (ΔW = B·A)."),
    reference: str = typer.Option("raw", help="raw (the paper's) or init (task vectors: minus the shared init)."),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub inputs: their base encoder (default: their config's)."),
) -> None:
    """Pairwise fraction of sign difference of adapters (Alg. 3) and its heatmap (Fig. 4)."""
    from adaptermix.analysis.checkpoints import fsd_report
    from adaptermix.reporting.heatmap import write_fsd_report

    report = fsd_report(checkpoints, per_layer, space, reference, encoder)
    for path in write_fsd_report(report, out):
        typer.echo(str(path))


def greedy(
    checkpoints: list[Path] = typer.Argument(..., help="The k candidate checkpoint directories."),
    l: int = typer.Option(..., "--l", help="How many adapters to mix (1 ≤ l ≤ k)."),  # noqa: E741
    maximize: bool = typer.Option(False, "--maximize", help="Take the largest mean FSD (the paper's contrast)."),
    head_from: Path = typer.Option(..., help="Checkpoint whose head (target domain) the mixture uses."),
    out: Path = typer.Option(..., help="Checkpoint directory to write."),
    domain: str = typer.Option(None, help="PEFT/AdapterHub --head-from: the domain of its head."),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub inputs: their base encoder (default: their config's)."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Greedy Adapter Mixing (Alg. 1): average the l adapters with the smallest mean FSD."""
    from adaptermix.analysis.checkpoints import greedy_mix_checkpoints

    chosen = greedy_mix_checkpoints(checkpoints, l, maximize, head_from, out, overwrite, domain, encoder)
    typer.echo(f"chosen ({'largest' if maximize else 'smallest'} mean FSD first): {', '.join(chosen)}")
    typer.echo(f"wrote {out} (mixture of {len(chosen)}, head of {head_from})")


def prune(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory to prune."),
    sparsity: float = typer.Option(..., help="Share of adapter entries to zero, in [0, 1] (e.g. 0.9)."),
    scope: str = typer.Option("global", help="global (all tensors together), layer (per layer) or tensor."),
    dense: bool = typer.Option(
        False, "--dense",
        help="Write AdapterHub's dense adapter.safetensors (for `load_adapter` outside adaptermix) instead of "
             "the compact adapter.sparse.safetensors (the default: size on disk shrinks with the sparsity; "
             "every adaptermix command reads it).",
    ),
    out: Path = typer.Option(..., help="Checkpoint directory to write."),
    domain: str = typer.Option(None, help="PEFT/AdapterHub input: the domain of its head."),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub input: its base encoder (default: its config's)."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Magnitude pruning (Alg. 2): zero exactly floor(s·n) smallest-|w| adapter entries per scope; heads are kept."""
    from adaptermix.pruning.checkpoints import prune_checkpoint

    r = prune_checkpoint(checkpoint, sparsity, scope, out, dense, overwrite, domain, encoder)
    typer.echo(f"wrote {r.path}: sparsity {r.achieved:.4f} achieved (requested {r.requested:g}, scope {r.scope})")
    what = "compact adapter.sparse.safetensors" if r.storage == "compact" else "dense adapter.safetensors"
    typer.echo(f"adapter weights on disk: {r.adapter_bytes:,} bytes ({what}; the tensors hold {r.dense_bytes:,} "
               "bytes dense)")


def sparse_mix(
    checkpoints: list[Path] = typer.Argument(..., help="The k checkpoint directories."),
    l: int = typer.Option(..., "--l", help="Number of candidates (1 ≤ l ≤ k)."),  # noqa: E741
    m: int = typer.Option(..., "--m", help="Layer groups to prune per candidate (0 ≤ m ≤ layers)."),
    sparsity: float = typer.Option(..., help="Share of entries to zero in each pruned layer, in [0, 1]."),
    head_from: Path = typer.Option(..., help="Checkpoint whose head (target domain) the mixture uses."),
    out: Path = typer.Option(..., help="Checkpoint directory to write."),
    domain: str = typer.Option(None, help="PEFT/AdapterHub --head-from: the domain of its head."),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub inputs: their base encoder (default: their config's)."),
    overwrite: bool = typer.Option(False),
) -> None:
    """FSD-guided sparse mixing (Alg. 4): prune each candidate's top-m conflicting layers, then average."""
    from adaptermix.pruning.checkpoints import sparse_mix_checkpoints

    r = sparse_mix_checkpoints(checkpoints, l, m, sparsity, head_from, out, overwrite, domain, encoder)
    typer.echo("candidate        mean FSD  pruned layers (score)")
    for name in r.candidates:
        layers = ", ".join(f"{g} ({100 * r.scores[name][g]:.1f} %)" for g in r.pruned[name]) or "-"
        typer.echo(f"{name:<16} {100 * r.mean_fsd[name]:7.2f} %  {layers}")
    typer.echo(f"wrote {r.path} (sparse mixture of {len(r.candidates)}, head of {head_from})")


def register(app: typer.Typer) -> None:
    """Attach `fsd`, `greedy`, `prune` and `sparse-mix` to `app`."""
    for fn in (fsd, greedy, prune):
        app.command()(fn)
    app.command("sparse-mix")(sparse_mix)
