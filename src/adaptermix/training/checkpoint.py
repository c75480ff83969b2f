"""Checkpoint directories: AdapterHub's files (loadable by `load_adapter` as is) + manifest.json.

Layout of DIR:
    adapter_config.json, adapter.safetensors      AdapterHub adapter (keys carry the adapter name)
    head_config.json, model_head.safetensors      AdapterHub classification head
    manifest.json                                 ours (see `adaptermix.training.manifest`)
A compact pruned checkpoint has `adapter.sparse.safetensors` instead of `adapter.safetensors`
(see `adaptermix.training.sparse`); `read_checkpoint` loads either to the same dense tensors.

Every write goes to a temporary sibling directory that is renamed into place at the end, so a
crash or Ctrl-C never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from adaptermix.errors import CheckpointError
from adaptermix.fileio import UMASK
from adaptermix.methods.model import canonicalize, named
from adaptermix.training.manifest import MANIFEST_NAME, Manifest, check_schema_version
from adaptermix.training.sparse import SPARSE_WEIGHTS, load_sparse

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter.safetensors"
HEAD_CONFIG = "head_config.json"
HEAD_WEIGHTS = "model_head.safetensors"
_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, HEAD_CONFIG, HEAD_WEIGHTS, MANIFEST_NAME)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: canonical adapter and head tensors plus their configs and manifest."""

    path: Path
    manifest: Manifest
    adapter: dict[str, Tensor]
    head: dict[str, Tensor]
    adapter_config: dict[str, Any]
    head_config: dict[str, Any]

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def domain(self) -> str:
        return self.manifest.domain


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is unreadable or not JSON ({exc}): re-create the checkpoint") from exc


def _read_tensors(path: Path) -> dict[str, Tensor]:
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc}): re-create the checkpoint") from exc
    for key, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: tensor {key!r} contains NaN/Inf: the adapter diverged; retrain it")
    return tensors


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint directory written by adaptermix.

    Raises:
        CheckpointError: missing directory or file, unreadable JSON/safetensors, NaN/Inf weights,
            or a manifest of an unknown schema.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path} does not exist: train one with `adaptermix train` or check the path")
    compact = not (path / ADAPTER_WEIGHTS).is_file() and (path / SPARSE_WEIGHTS).is_file()
    for fname in _FILES:
        if not (path / fname).is_file() and not (compact and fname == ADAPTER_WEIGHTS):
            raise CheckpointError(f"checkpoint {path} lacks {fname}: it is incomplete; re-create it")
    raw = _read_json(path / MANIFEST_NAME)
    check_schema_version(raw, str(path / MANIFEST_NAME))
    try:
        manifest = Manifest.model_validate(raw)
    except ValueError as exc:
        first = str(exc).splitlines()[1:3]
        raise CheckpointError(f"{path / MANIFEST_NAME} does not match the manifest schema ({' '.join(first)})") from exc
    adapter_config = _read_json(path / ADAPTER_CONFIG)
    head_config = _read_json(path / HEAD_CONFIG)
    weights = load_sparse(path / SPARSE_WEIGHTS) if compact else _read_tensors(path / ADAPTER_WEIGHTS)
    adapter = canonicalize(weights, adapter_config.get("name", manifest.name))
    head = canonicalize(_read_tensors(path / HEAD_WEIGHTS), head_config.get("name", manifest.name))
    return Checkpoint(path, manifest, adapter, head, adapter_config, head_config)


@contextlib.contextmanager
def atomic_dir(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces `out` only if the block completes.

    Raises:
        CheckpointError: `out` exists and `overwrite` is False.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise CheckpointError(f"{out} already exists: choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp makes 0700; a checkpoint is shared like any folder
        for child in tmp.iterdir():
            os.chmod(child, 0o666 & ~UMASK)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_files(
    directory: Path,
    manifest: Manifest,
    adapter: Mapping[str, Tensor],
    head: Mapping[str, Tensor],
    adapter_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
) -> None:
    """Write the five checkpoint files into an existing (temporary) directory.

    The AdapterHub configs are copied with their `name` set to `manifest.name`, and the tensors
    renamed to match, so `model.load_adapter(directory)` works on the result.
    """
    name = manifest.name
    save_file({k: v.contiguous() for k, v in named(adapter, name).items()}, str(directory / ADAPTER_WEIGHTS),
              metadata={"format": "pt"})
    save_file({k: v.contiguous() for k, v in named(head, name).items()}, str(directory / HEAD_WEIGHTS),
              metadata={"format": "pt"})
    _write_json(directory / ADAPTER_CONFIG, {**adapter_config, "name": name})
    _write_json(directory / HEAD_CONFIG, {**head_config, "name": name})
    _write_json(directory / MANIFEST_NAME, manifest.model_dump(mode="json"))


def write_checkpoint(
    out: str | Path,
    manifest: Manifest,
    adapter: Mapping[str, Tensor],
    head: Mapping[str, Tensor],
    adapter_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
    overwrite: bool = False,
) -> Path:
    """Atomically write a checkpoint directory (see `write_files`). Returns its path."""
    with atomic_dir(out, overwrite) as tmp:
        write_files(tmp, manifest, adapter, head, adapter_config, head_config)
    return Path(out)


def _config_signature(config: Mapping[str, Any]) -> dict[str, Any]:
    # Dropout and init scheme do not change the parameter layout (AdapterHub ignores them too).
    inner = dict(config.get("config", config))
    for key in ("dropout", "init_weights", "init_weights_seed"):
        inner.pop(key, None)
    return inner


def check_mixable(checkpoints: Sequence[Checkpoint]) -> None:
    """Refuse to combine checkpoints of different bases, methods, configs or shapes.

    Raises:
        CheckpointError: naming the first mismatch and the two checkpoints involved.
    """
    if not checkpoints:
        raise CheckpointError("no checkpoints given: pass at least one checkpoint directory")
    ref = checkpoints[0]
    for other in checkpoints[1:]:
        pair = f"{other.path} vs {ref.path}"
        if other.manifest.base.fingerprint != ref.manifest.base.fingerprint:
            raise CheckpointError(
                f"different base encoders ({other.manifest.base.fingerprint} vs {ref.manifest.base.fingerprint}): "
                f"{pair}; adapters of different bases cannot be mixed"
            )
        if other.manifest.method != ref.manifest.method:
            raise CheckpointError(
                f"different adapter methods ({other.manifest.method} vs {ref.manifest.method}): {pair}"
            )
        a, b = _config_signature(other.adapter_config), _config_signature(ref.adapter_config)
        if a != b:
            key = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
            raise CheckpointError(f"different adapter configs ({key}: {a.get(key)} vs {b.get(key)}): {pair}")
        for key, tensor in ref.adapter.items():
            if key not in other.adapter:
                raise CheckpointError(f"{other.path} lacks tensor {key!r}: {pair}")
            if other.adapter[key].shape != tensor.shape:
                raise CheckpointError(
                    f"tensor {key!r} has shape {tuple(other.adapter[key].shape)} vs {tuple(tensor.shape)}: {pair}"
                )
