"""Explicit conversion: `adaptermix import` (any format → ours) and `export-adapter` (ours → PEFT / AdapterHub)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from adaptermix.checkpoints.adapterhub import write_adapterhub
from adaptermix.checkpoints.ours import refuse_existing, write_checkpoint
from adaptermix.checkpoints.peft import write_peft
from adaptermix.checkpoints.resolve import read_checkpoint, require_domain
from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.fileio import check_writable

EXPORT_FORMATS = ("peft", "adapterhub")


def import_checkpoint(
    src: str | Path,
    out: str | Path,
    domain: str | None = None,
    encoder: str | None = None,
    labels: Sequence[str] | None = None,
    overwrite: bool = False,
    name: str | None = None,
) -> Path:
    """Convert a PEFT LoRA or AdapterHub directory into our checkpoint format (writes manifest.json).

    Args:
        src: the foreign directory.
        out: the checkpoint directory to write (atomically).
        domain: the domain of its head (required: no foreign format records one).
        encoder: the base encoder, overriding the one its config names.
        labels: the head's label names in index order (see `ImportOptions`).
        overwrite: replace an existing `out`.
        name: the checkpoint's name (default: the source's: its AdapterHub adapter name, or its folder).

    Returns:
        `out`.

    Raises:
        CheckpointError: `src` is already ours, unreadable, or not representable; no domain; `out` exists;
            an empty name.
        ConfigError: `out` cannot be written.
    """
    out = check_writable(out, "folder")
    refuse_existing(out, overwrite)
    ckpt = read_checkpoint(src, domain, encoder, labels)
    if ckpt.source_format == "adaptermix":
        raise CheckpointError(f"{src} is already an adaptermix checkpoint: use it as it is (nothing to import)")
    require_domain(ckpt)
    manifest = ckpt.manifest
    if name is not None:
        if not name.strip():
            raise CheckpointError("--name is empty: give the imported adapter a name, or leave --name out")
        manifest = manifest.model_copy(update={"name": name.strip()})
    return write_checkpoint(out, manifest, ckpt.adapter, ckpt.head, ckpt.adapter_config, ckpt.head_config, overwrite)


def export_adapter(
    src: str | Path,
    fmt: Literal["peft", "adapterhub"] | str,
    out: str | Path,
    overwrite: bool = False,
    domain: str | None = None,
    encoder: str | None = None,
) -> Path:
    """Write checkpoint `src` (any readable format) as a directory PEFT or AdapterHub loads.

    `peft`: `PeftModel.from_pretrained(AutoModelForSequenceClassification.from_pretrained(base,
    num_labels=n), out)` (LoRA only). `adapterhub`: `model.load_adapter(out, with_head=True,
    use_safetensors=True)` on `adapters.AutoAdapterModel.from_pretrained(base)`.

    Raises:
        ConfigError: an unknown format or an `out` that cannot be written.
        CheckpointError: unreadable `src`, a bottleneck adapter for PEFT, or `out` exists.
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}: use {' or '.join(EXPORT_FORMATS)}")
    out = check_writable(out, "folder")
    refuse_existing(out, overwrite)
    ckpt = read_checkpoint(src, domain, encoder)
    writer = write_peft if fmt == "peft" else write_adapterhub
    return writer(ckpt, out, overwrite)
