"""Building an encoder with one adapter and one classification head, and moving their weights.

We keep AdapterHub's modules and file format (so checkpoints load in `adapters` as is) but move
weights ourselves through *canonical* state dicts: AdapterHub puts the adapter's name inside every
key (`...adapters.sst2.adapter_up.weight`); we replace that name by `adapter`, so adapters trained
under different names can be compared and averaged key by key.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.methods.encoder import check_model_type, fingerprint_weights, resolve_encoder
from adaptermix.methods.registry import get_method

CANONICAL = "adapter"
# The name sits right after one of these container names in every AdapterHub key.
_CONTAINERS = ("adapters", "loras", "heads")
# The files `from_pretrained` looks for in a model folder, most common first.
WEIGHT_FILES = (
    "model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json",
    "tf_model.h5", "model.ckpt.index", "flax_model.msgpack",
)


@dataclass
class Base:
    """A loaded encoder with its tokenizer, before or after adapters are attached."""

    model: Any  # an AdapterHub flexible-head model: nn.Module plus methods nn.Module's typing cannot see
    tokenizer: Any
    encoder: str
    fingerprint: str
    model_type: str
    hidden_size: int
    num_layers: int


def _load_weights(auto: Any, source: str, encoder: str) -> Any:
    """`auto.from_pretrained(source)`, with a missing or corrupt weights file as a `ConfigError`."""
    from safetensors import SafetensorError

    folder = Path(source)
    if folder.is_dir() and not any((folder / name).is_file() for name in WEIGHT_FILES):
        # Checked here rather than left to transformers: its OSError comes after a 50-line traceback.
        raise ConfigError(
            f"encoder folder {folder} has a config.json but no weights ({' or '.join(WEIGHT_FILES[:2])}): "
            "save the model there with save_pretrained, or use --encoder minilm"
        )
    try:
        return auto.from_pretrained(source)
    except (OSError, SafetensorError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ConfigError(
            f"cannot load the weights of encoder {encoder!r} ({reason}): re-save the model with save_pretrained"
        ) from exc


def _load_tokenizer(auto: Any, source: str, encoder: str) -> Any:
    """`auto.from_pretrained(source)`, with a missing or broken tokenizer as a `ConfigError`."""
    try:
        return auto.from_pretrained(source)
    except (OSError, ValueError, TypeError) as exc:
        # A folder without tokenizer files fails deep inside transformers with a TypeError on a None
        # path (4.x) or an OSError; either way the fix is the same.
        raise ConfigError(
            f"cannot load the tokenizer of encoder {encoder!r}: save it there with tokenizer.save_pretrained"
        ) from exc


def load_base(encoder: str) -> Base:
    """Load the frozen encoder as an AdapterHub flexible-head model, plus its tokenizer.

    Args:
        encoder: `minilm`, a local model folder, or a hub id (see `resolve_encoder`).

    Raises:
        ConfigError: unknown or unsupported encoder.
    """
    # Imported here: transformers/adapters take seconds to import and the CLI's `--help` should not.
    import adapters
    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    source = resolve_encoder(encoder)
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise ConfigError(
            f"cannot load encoder {encoder!r} ({exc.__class__.__name__}): "
            "without hub access use 'minilm' or a local folder"
        ) from exc
    check_model_type(config.model_type, encoder)
    # The encoder's pooler and MLM heads are unused by flexible heads; silence "weights not used".
    previous = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        model = _load_weights(adapters.AutoAdapterModel, source, encoder)
        tokenizer = _load_tokenizer(AutoTokenizer, source, encoder)
    finally:
        hf_logging.set_verbosity(previous)
    model.eval()
    fingerprint = fingerprint_weights(config.to_dict(), model.state_dict())
    return Base(
        model=model,
        tokenizer=tokenizer,
        encoder=encoder,
        fingerprint=fingerprint,
        model_type=config.model_type,
        hidden_size=config.hidden_size,
        num_layers=config.num_hidden_layers,
    )


def attach(
    base: Base,
    name: str,
    method: str,
    size: int | None,
    label_names: tuple[str, ...],
    seed: int | None = None,
) -> Any:
    """Add adapter `name` of `method` and a classification head for `label_names`; activate both.

    Returns:
        The AdapterHub config object of the adapter (for the manifest).
    """
    spec = get_method(method)
    adapter_config = spec.build_config(base.hidden_size, size)
    if seed is not None:
        torch.manual_seed(seed)
    model: Any = base.model
    model.add_adapter(name, config=adapter_config, overwrite_ok=True)
    model.add_classification_head(
        name,
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        overwrite_ok=True,
    )
    model.set_active_adapters(name)
    model.active_head = name
    return adapter_config


def freeze_all_but(model: Any, name: str) -> list[nn.Parameter]:
    """Make only adapter `name` and its head trainable; returns those parameters."""
    model.train_adapter(name)
    model.active_head = name
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ConfigError(f"adapter {name!r} has no trainable parameters")
    return trainable


def _canonical_key(key: str, name: str) -> str | None:
    for container in _CONTAINERS:
        marker = f"{container}.{name}."
        if marker in key:
            return key.replace(marker, f"{container}.{CANONICAL}.", 1)
    return None


def canonicalize(state_dict: Mapping[str, Tensor], name: str) -> dict[str, Tensor]:
    """Replace adapter name `name` in AdapterHub keys by the canonical name.

    Raises:
        CheckpointError: a key that does not carry `name` (the file belongs to another adapter).
    """
    out: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        canon = _canonical_key(key, name)
        if canon is None:
            raise CheckpointError(f"tensor {key!r} does not belong to adapter {name!r}: the file is inconsistent")
        out[canon] = tensor
    return out


def named(state_dict: Mapping[str, Tensor], name: str) -> dict[str, Tensor]:
    """Inverse of `canonicalize`: put adapter name `name` into canonical keys."""
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ConfigError(f"adapter name {name!r} must use letters, digits, '_' or '-'")
    out: dict[str, Tensor] = {}
    for key, tensor in state_dict.items():
        renamed = _canonical_key(key, CANONICAL)
        if renamed is None:
            raise CheckpointError(f"tensor {key!r} is not a canonical adapter key")
        out[renamed.replace(f".{CANONICAL}.", f".{name}.", 1)] = tensor
    return out


def _select(model: nn.Module, name: str, heads: bool) -> dict[str, Tensor]:
    prefix = f"heads.{name}."
    out = {}
    for key, tensor in model.state_dict().items():
        is_head = key.startswith(prefix)
        if is_head == heads and _canonical_key(key, name) is not None and (heads or not key.startswith("heads.")):
            out[key] = tensor
    return out


def adapter_state(model: nn.Module, name: str) -> dict[str, Tensor]:
    """Canonical state dict of adapter `name` (cloned, on CPU), without its head."""
    return {k: v.detach().cpu().clone() for k, v in canonicalize(_select(model, name, False), name).items()}


def head_state(model: nn.Module, name: str) -> dict[str, Tensor]:
    """Canonical state dict of head `name` (cloned, on CPU)."""
    return {k: v.detach().cpu().clone() for k, v in canonicalize(_select(model, name, True), name).items()}


def load_state(model: nn.Module, name: str, state_dict: Mapping[str, Tensor], heads: bool = False) -> None:
    """Copy a canonical adapter (or head) state dict into adapter `name` of `model`, in place.

    In place (`copy_`) rather than re-adding the adapter: a sweep swaps thousands of mixtures
    through one model, and this keeps every parameter's storage (and any compiled graph) alive.

    Raises:
        CheckpointError: keys or shapes that do not match the model's adapter.
    """
    targets = _select(model, name, heads)
    incoming = named(state_dict, name)
    if set(incoming) != set(targets):
        missing = sorted(set(targets) - set(incoming))
        extra = sorted(set(incoming) - set(targets))
        what = f"lacks {missing[0]!r}" if missing else f"has unexpected {extra[0]!r}"
        raise CheckpointError(f"weights do not fit adapter {name!r}: the checkpoint {what}")
    with torch.no_grad():
        for key, tensor in incoming.items():
            target = targets[key]
            if target.shape != tensor.shape:
                raise CheckpointError(
                    f"tensor {key!r} has shape {tuple(tensor.shape)}, the model expects {tuple(target.shape)}"
                )
            target.copy_(tensor)


def set_threads(threads: int | None = None) -> None:
    """Set torch's intra-op threads: `threads` if given, else every core unless OMP_NUM_THREADS is set."""
    if threads:
        torch.set_num_threads(threads)
    elif "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, os.cpu_count() or 1))


logging.getLogger("adapters").setLevel(logging.ERROR)
