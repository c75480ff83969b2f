"""Our checkpoint directories: AdapterHub's files (loadable by `load_adapter` as is) + manifest.json.

Layout of DIR:
    adapter_config.json, adapter.safetensors      AdapterHub adapter (keys carry the adapter name)
    head_config.json, model_head.safetensors      AdapterHub classification head (absent: no head)
    manifest.json                                 ours (see `adaptermix.checkpoints.manifest`)
A compact pruned checkpoint has `adapter.sparse.safetensors` instead of `adapter.safetensors`
(see `adaptermix.checkpoints.sparse`); `read_ours` loads either to the same dense tensors.

One write style: `write_checkpoint` fills a temporary sibling directory (`atomic_dir`) that is
renamed into place at the end, so a crash or Ctrl-C never leaves a half-written checkpoint behind.
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

from adaptermix.checkpoints.manifest import MANIFEST_NAME, Manifest, check_schema_version
from adaptermix.checkpoints.sparse import SPARSE_WEIGHTS, load_sparse, save_sparse
from adaptermix.errors import CheckpointError
from adaptermix.fileio import UMASK
from adaptermix.methods.model import canonicalize, named

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter.safetensors"
HEAD_CONFIG = "head_config.json"
HEAD_WEIGHTS = "model_head.safetensors"
FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS, HEAD_CONFIG, HEAD_WEIGHTS, MANIFEST_NAME)


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: canonical adapter and head tensors plus their configs and manifest.

    Attributes:
        path: the directory it was read from.
        manifest: ours, or the one built while reading a PEFT / AdapterHub directory.
        adapter: canonical adapter tensors (see `adaptermix.methods.model.canonicalize`).
        head: canonical head tensors; empty for an adapter saved without a head.
        adapter_config, head_config: AdapterHub configs (as `save_adapter` writes them).
        source_format: "adaptermix", "peft" or "adapterhub": what the directory held.
    """

    path: Path
    manifest: Manifest
    adapter: dict[str, Tensor]
    head: dict[str, Tensor]
    adapter_config: dict[str, Any]
    head_config: dict[str, Any]
    source_format: str = "adaptermix"

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def domain(self) -> str:
        return self.manifest.domain


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from `path`, or a `CheckpointError` naming the file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is unreadable or not JSON ({exc}): re-create the checkpoint") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a JSON object: re-create the checkpoint")
    return data


def check_finite(tensors: Mapping[str, Tensor], path: Path) -> None:
    """Refuse NaN/Inf weights: mixing them would silently poison every mixture they enter."""
    for key, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: tensor {key!r} contains NaN/Inf: the adapter diverged; retrain it")


def read_tensors(path: Path) -> dict[str, Tensor]:
    """Tensors of a safetensors file, checked finite."""
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({exc}): re-create the checkpoint") from exc
    check_finite(tensors, path)
    return tensors


def read_ours(path: str | Path) -> Checkpoint:
    """Load a checkpoint directory written by adaptermix (it has a manifest.json).

    Raises:
        CheckpointError: a missing file, unreadable JSON/safetensors, NaN/Inf weights, or a
            manifest of an unknown schema.
    """
    path = Path(path)
    compact = not (path / ADAPTER_WEIGHTS).is_file() and (path / SPARSE_WEIGHTS).is_file()
    headless = not (path / HEAD_CONFIG).exists() and not (path / HEAD_WEIGHTS).exists()
    for fname in FILES:
        optional = (compact and fname == ADAPTER_WEIGHTS) or (headless and fname in (HEAD_CONFIG, HEAD_WEIGHTS))
        if not (path / fname).is_file() and not optional:
            raise CheckpointError(f"checkpoint {path} lacks {fname}: it is incomplete; re-create it")
    raw = read_json(path / MANIFEST_NAME)
    check_schema_version(raw, str(path / MANIFEST_NAME))
    try:
        manifest = Manifest.model_validate(raw)
    except ValueError as exc:
        first = str(exc).splitlines()[1:3]
        raise CheckpointError(f"{path / MANIFEST_NAME} does not match the manifest schema ({' '.join(first)})") from exc
    adapter_config = read_json(path / ADAPTER_CONFIG)
    weights = load_sparse(path / SPARSE_WEIGHTS) if compact else read_tensors(path / ADAPTER_WEIGHTS)
    adapter = canonicalize(weights, adapter_config.get("name", manifest.name))
    head: dict[str, Tensor] = {}
    head_config: dict[str, Any] = {}
    if not headless:
        head_config = read_json(path / HEAD_CONFIG)
        head = canonicalize(read_tensors(path / HEAD_WEIGHTS), head_config.get("name", manifest.name))
    return Checkpoint(path, manifest, adapter, head, adapter_config, head_config)


def refuse_existing(out: str | Path, overwrite: bool) -> None:
    """Fail before any work when `out` exists (`atomic_dir` would only notice at the end).

    Raises:
        CheckpointError: `out` exists and `overwrite` is False.
    """
    if Path(out).exists() and not overwrite:
        raise CheckpointError(f"{out} already exists: choose another --out or pass --overwrite")


@contextlib.contextmanager
def atomic_dir(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces `out` only if the block completes.

    Raises:
        CheckpointError: `out` exists and `overwrite` is False.
    """
    out = Path(out)
    refuse_existing(out, overwrite)
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


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    """`data` as indented, key-sorted JSON (into a directory that `atomic_dir` will publish)."""
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def save_tensors(tensors: Mapping[str, Tensor], path: Path) -> None:
    """A safetensors file of contiguous tensors, tagged as PyTorch's (what AdapterHub and PEFT write)."""
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})


def write_files(
    directory: Path,
    manifest: Manifest,
    adapter: Mapping[str, Tensor],
    head: Mapping[str, Tensor],
    adapter_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
    compact: bool = False,
) -> None:
    """Write the checkpoint files into an existing (temporary) directory.

    The AdapterHub configs are copied with their `name` set to `manifest.name`, and the tensors
    renamed to match, so `model.load_adapter(directory)` works on the result (unless `compact`:
    then the adapter is stored as `adapter.sparse.safetensors`, which only adaptermix reads).
    An empty `head` writes no head files (an adapter that was saved without a head).
    """
    name = manifest.name
    if compact:
        save_sparse(named(adapter, name), directory / SPARSE_WEIGHTS)
    else:
        save_tensors(named(adapter, name), directory / ADAPTER_WEIGHTS)
    write_json(directory / ADAPTER_CONFIG, {**adapter_config, "name": name})
    if head:
        save_tensors(named(head, name), directory / HEAD_WEIGHTS)
        write_json(directory / HEAD_CONFIG, {**head_config, "name": name})
    write_json(directory / MANIFEST_NAME, manifest.model_dump(mode="json"))


def write_checkpoint(
    out: str | Path,
    manifest: Manifest,
    adapter: Mapping[str, Tensor],
    head: Mapping[str, Tensor],
    adapter_config: Mapping[str, Any],
    head_config: Mapping[str, Any],
    overwrite: bool = False,
    compact: bool = False,
) -> Path:
    """Atomically write a checkpoint directory (see `write_files`). Returns its path."""
    with atomic_dir(out, overwrite) as tmp:
        write_files(tmp, manifest, adapter, head, adapter_config, head_config, compact)
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
