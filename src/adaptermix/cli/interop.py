"""Commands that convert between formats: `import` (PEFT / AdapterHub → ours) and `export-adapter` (→ them)."""

from __future__ import annotations

from pathlib import Path

import typer

from adaptermix.cli.commands import split_labels


def import_(
    source: Path = typer.Argument(..., help="A PEFT LoRA or AdapterHub (save_adapter) directory."),
    out: Path = typer.Option(..., help="Checkpoint directory to write (ours: AdapterHub files + manifest.json)."),
    domain: str = typer.Option(None, help="The domain of its head (required: neither format records one)."),
    encoder: str = typer.Option(None, help="Its base encoder (default: base_model_name_or_path / model_name)."),
    labels: str = typer.Option(None, help="The head's label names in index order, comma-separated "
                                          "(default: the AdapterHub head's, else the domain's)."),
    name: str = typer.Option(None, help="Its name (default: the AdapterHub adapter's, or the folder's); "
                                        "the advisor tells adapters apart by name."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Convert a PEFT LoRA or AdapterHub adapter into an adaptermix checkpoint (exactly: same logits)."""
    from adaptermix.checkpoints import import_checkpoint, read_checkpoint

    path = import_checkpoint(source, out, domain, encoder, split_labels(labels), overwrite, name)
    m = read_checkpoint(path).manifest
    typer.echo(f"wrote {path} ({m.name}: {m.method}, size {m.adapter_size}, domain {m.domain}, "
               f"base {m.base.fingerprint}, labels {','.join(m.label_names) or '-'})")


def export_adapter(
    checkpoint: Path = typer.Argument(..., help="Checkpoint directory (any format adaptermix reads)."),
    format: str = typer.Option(..., "--format", help="peft (LoRA only) or adapterhub."),
    out: Path = typer.Option(..., help="Directory to write."),
    overwrite: bool = typer.Option(False),
) -> None:
    """Write a checkpoint (e.g. a mixture) as a directory PEFT (`PeftModel.from_pretrained`) or AdapterHub
    (`load_adapter`) loads."""
    from adaptermix.checkpoints import export_adapter as run_export

    path = run_export(checkpoint, format, out, overwrite)
    typer.echo(f"wrote {path} ({format}; see {path / 'README.md'})" if format == "peft" else f"wrote {path} ({format})")


def register(app: typer.Typer) -> None:
    """Attach `import` and `export-adapter` to `app`."""
    app.command("import")(import_)
    app.command("export-adapter")(export_adapter)
