"""The one resolver: any supported checkpoint directory → a `Checkpoint`, told apart by its files.

| files                                                             | format      |
|-------------------------------------------------------------------|-------------|
| manifest.json (+ AdapterHub files)                                | adaptermix  |
| adapter_config.json with `peft_type` + adapter_model.safetensors/.bin | PEFT    |
| adapter_config.json with `config` + `name` + adapter.safetensors / pytorch_adapter.bin | AdapterHub |

Detection is by content, never by trust: a complete directory in a format we read is never
called incomplete, and anything else gets one line naming what was found and what is expected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from adaptermix.checkpoints.adapterhub import is_adapterhub, read_adapterhub
from adaptermix.checkpoints.foreign import UNKNOWN_DOMAIN, ImportOptions
from adaptermix.checkpoints.manifest import MANIFEST_NAME
from adaptermix.checkpoints.ours import ADAPTER_CONFIG, Checkpoint, read_ours
from adaptermix.checkpoints.peft import is_peft, read_peft
from adaptermix.errors import CheckpointError

Format = Literal["adaptermix", "peft", "adapterhub"]
EXPECTED = ("manifest.json (adaptermix), adapter_config.json with peft_type + adapter_model.safetensors (PEFT), "
            "or adapter_config.json + adapter.safetensors/pytorch_adapter.bin (AdapterHub save_adapter)")


def _found(path: Path) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir() if not p.name.startswith("."))
    if not names:
        return "an empty folder"
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def detect_format(path: str | Path) -> Format:
    """Which format the directory `path` holds, by its files (see the module docstring).

    Raises:
        CheckpointError: no such directory, or no format we read (naming what was found).
    """
    path = Path(path)
    if not path.is_dir():
        what = "is a file, not a checkpoint directory" if path.exists() else "does not exist"
        raise CheckpointError(f"checkpoint {path} {what}: train one with `adaptermix train` or check the path")
    if (path / MANIFEST_NAME).is_file():
        return "adaptermix"
    if (path / ADAPTER_CONFIG).is_file():
        try:
            config = json.loads((path / ADAPTER_CONFIG).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            config = None
        if isinstance(config, dict) and is_peft(config):
            return "peft"
        if isinstance(config, dict) and is_adapterhub(config):
            return "adapterhub"
    raise CheckpointError(f"{path} is no checkpoint adaptermix reads (found {_found(path)}): expected {EXPECTED}")


def read_checkpoint(
    path: str | Path,
    domain: str | None = None,
    encoder: str | None = None,
    labels: Sequence[str] | None = None,
) -> Checkpoint:
    """Read a checkpoint directory in any supported format (ours, PEFT LoRA, AdapterHub).

    Args:
        path: the directory.
        domain, encoder, labels: for a PEFT or AdapterHub directory only (ours records all three):
            the domain of its head, the base encoder (overriding the one its config names) and the
            head's label names (see `adaptermix.checkpoints.foreign.ImportOptions`).

    Returns:
        The `Checkpoint`; a foreign one carries a manifest built from its files (`source_format`
        says which format it was).

    Raises:
        CheckpointError: an unknown or incomplete directory, or a foreign adapter adaptermix cannot
            represent exactly (one line naming the reason and the fix).
    """
    path = Path(path)
    fmt = detect_format(path)
    if fmt == "adaptermix":
        return read_ours(path)
    options = ImportOptions(domain, encoder, tuple(labels) if labels is not None else None)
    return read_peft(path, options) if fmt == "peft" else read_adapterhub(path, options)


def require_domain(ckpt: Checkpoint, flag: str = "--domain") -> str:
    """The checkpoint's domain; for a foreign one read without a domain, an error naming `flag`.

    Raises:
        CheckpointError: the domain is unknown.
    """
    if ckpt.domain == UNKNOWN_DOMAIN and ckpt.source_format != "adaptermix":
        raise CheckpointError(f"{ckpt.path} is a {ckpt.source_format} checkpoint, which records no domain: "
                              f"pass {flag} with the domain of its head")
    return ckpt.domain


def require_head(ckpt: Checkpoint, what: str = "this command") -> None:
    """Refuse a checkpoint saved without a classification head where `what` needs one.

    Raises:
        CheckpointError: `ckpt.head` is empty.
    """
    if not ckpt.head:
        raise CheckpointError(f"{ckpt.path} was saved without a classification head, which {what} needs: "
                              "re-save it with its head (PEFT modules_to_save, AdapterHub with_head=True)")
