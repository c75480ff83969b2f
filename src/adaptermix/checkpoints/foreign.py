"""What PEFT and AdapterHub readers share: options, the base encoder, our preset's layout, labels.

A foreign directory says less than our manifest: PEFT records its base (`base_model_name_or_path`)
and AdapterHub its model name, neither records the domain, and PEFT keeps no label names. What a
file does say is taken from the file; the base is loaded (once per process) to fingerprint it and
to learn the exact tensor layout of our preset, so a converted adapter loads into the evaluator
key for key; what cannot be known is asked for by flag, and the error names the flag.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from adaptermix.checkpoints.manifest import BaseInfo, Manifest, state_sha256, versions
from adaptermix.checkpoints.manifest import now as utc_now
from adaptermix.checkpoints.ours import Checkpoint, check_finite, read_tensors
from adaptermix.errors import AdapterMixError, CheckpointError
from adaptermix.methods.model import CANONICAL, Base, adapter_state, load_base
from adaptermix.methods.registry import get_method

UNKNOWN_DOMAIN = "unknown"
# Our classification head (AdapterHub's, layers=2): Dropout, Linear (.1), Tanh, Dropout, Linear (.4).
HEAD_DENSE, HEAD_OUT = f"heads.{CANONICAL}.1", f"heads.{CANONICAL}.4"
_TMP = "adaptermix_layout"


@dataclass(frozen=True)
class ImportOptions:
    """What the user tells about a foreign checkpoint (each field is one CLI flag).

    Attributes:
        domain: `--domain`: the domain of its head (no foreign format records one).
        encoder: `--encoder`: the base encoder, overriding what the directory names.
        labels: `--labels`: the head's label names in index order (default: the AdapterHub head's
            `label2id`, else the domain's labels).
    """

    domain: str | None = None
    encoder: str | None = None
    labels: tuple[str, ...] | None = None


def encoder_ref(encoder: str) -> str:
    """How the manifest records an encoder: a local folder by absolute path (usable from anywhere)."""
    path = Path(encoder).expanduser()
    return str(path.resolve()) if path.is_dir() else encoder


@functools.lru_cache(maxsize=4)
def _base(encoder: str) -> Base:
    return load_base(encoder)


def load_foreign_base(path: Path, named_by_file: str | None, options: ImportOptions) -> Base:
    """The base encoder of a foreign checkpoint: `--encoder`, else the one its config names.

    Raises:
        CheckpointError: no encoder named, or one that cannot be loaded here (names `--encoder`).
    """
    encoder = options.encoder or named_by_file
    if not encoder:
        raise CheckpointError(f"{path} does not name its base encoder: pass --encoder with the model it was trained on")
    try:
        return _base(encoder_ref(encoder))
    except (OSError, ValueError) as exc:  # our ConfigError, or the hub's invalid-repo-id ValueError
        reason = (str(exc).splitlines() or [exc.__class__.__name__])[0].split(":")[0]
        raise CheckpointError(
            f"{path}: its base encoder {encoder!r} cannot be loaded here ({reason}): pass --encoder with a local copy"
        ) from exc


def base_info(base: Base) -> BaseInfo:
    """The manifest's `base` for a loaded encoder."""
    return BaseInfo(encoder=base.encoder, fingerprint=base.fingerprint, model_type=base.model_type,
                    hidden_size=base.hidden_size, num_layers=base.num_layers)


def base_prefix(base: Base) -> str:
    """The attribute that holds the encoder inside a task model (`bert`, `roberta`)."""
    return str(base.model.base_model_prefix)


@functools.lru_cache(maxsize=16)
def _layout(encoder: str, method: str, size: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    base = _base(encoder)
    model: Any = base.model
    model.add_adapter(_TMP, config=get_method(method).build_config(base.hidden_size, size), overwrite_ok=True)
    try:
        return tuple((k, tuple(v.shape)) for k, v in adapter_state(model, _TMP).items())
    finally:
        model.delete_adapter(_TMP)


def preset_layout(base: Base, method: str, size: int) -> dict[str, tuple[int, ...]]:
    """Canonical key → shape of our `method` preset of `size` on `base` (built once, then removed)."""
    return dict(_layout(base.encoder, method, size))


def fit_layout(path: Path, tensors: Mapping[str, Tensor], layout: Mapping[str, tuple[int, ...]],
               fill_zeros: bool) -> dict[str, Tensor]:
    """`tensors` checked against our preset's layout; missing LoRA modules become zeros if `fill_zeros`.

    A LoRA that adapts only some of our modules (e.g. `query` only, or some layers) is the same
    function as ours with zero factors elsewhere (ΔW = B·A = 0), so filling zeros is exact.

    Raises:
        CheckpointError: an unexpected key, a wrong shape, or (without `fill_zeros`) a missing key.
    """
    for key, tensor in tensors.items():
        if key not in layout:
            raise CheckpointError(f"{path}: tensor {key!r} has no place in adaptermix's adapter: "
                                  "the checkpoint adapts modules that our presets do not")
        if tuple(tensor.shape) != layout[key]:
            raise CheckpointError(f"{path}: tensor {key!r} has shape {tuple(tensor.shape)}, "
                                  f"adaptermix's preset expects {layout[key]}")
    missing = [k for k in layout if k not in tensors]
    if missing and not fill_zeros:
        raise CheckpointError(f"{path} lacks tensor {missing[0]!r}: it is not a complete adapter of its config")
    dtype = next(iter(tensors.values())).dtype if tensors else torch.float32
    return {k: tensors[k] if k in tensors else torch.zeros(layout[k], dtype=dtype) for k in layout}


def read_torch_bin(path: Path) -> dict[str, Tensor]:
    """A `.bin` state dict read with `torch.load(weights_only=True)` (no pickle code runs), checked finite."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - OSError, EOFError, RuntimeError, or the weights-only unpickler's refusal
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise CheckpointError(f"{path} is not a readable weights-only torch file ({reason}): "
                              "re-save it with safetensors") from exc
    if not isinstance(data, dict) or not all(isinstance(v, Tensor) for v in data.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors: re-save it with safetensors")
    check_finite(data, path)
    return dict(data)


def read_weights(path: Path, candidates: Sequence[str], what: str) -> tuple[dict[str, Tensor], str]:
    """The first of `candidates` present in `path` (safetensors, or a `.bin` read weights-only).

    Raises:
        CheckpointError: none present (the directory is an incomplete `what` checkpoint).
    """
    for name in candidates:
        if (path / name).is_file():
            file = path / name
            return (read_tensors(file) if name.endswith(".safetensors") else read_torch_bin(file)), name
    raise CheckpointError(f"{what} checkpoint {path} lacks {' or '.join(candidates)}: copy the weights file there")


def safe_name(text: str) -> str:
    """An adapter name AdapterHub accepts (letters, digits, '_', '-') made from `text`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text).strip("_") or "adapter"


def resolve_labels(path: Path, num_labels: int, options: ImportOptions,
                   from_file: Sequence[str] | None = None) -> tuple[str, ...]:
    """Label names of a foreign head of `num_labels` classes.

    `--labels` wins; then names the file holds (an AdapterHub head's `label2id`, unless only the
    generic LABEL_i); then the labels of `--domain` when their count matches (assumed in the
    domain's index order); else generic LABEL_i, which evaluation will refuse, naming `--labels`.

    Raises:
        CheckpointError: `--labels` of the wrong count.
    """
    if options.labels is not None:
        if len(options.labels) != num_labels:
            raise CheckpointError(f"--labels gives {len(options.labels)} names but the head of {path} has "
                                  f"{num_labels} classes: give {num_labels} comma-separated names")
        return tuple(options.labels)
    generic = tuple(f"LABEL_{i}" for i in range(num_labels))
    if from_file and tuple(from_file) != generic and len(from_file) == num_labels:
        return tuple(from_file)
    if options.domain:
        names = _domain_labels(options.domain)
        if names is not None and len(names) == num_labels:
            return names
    return generic


def _domain_labels(domain: str) -> tuple[str, ...] | None:
    from adaptermix.data import get_domain

    try:
        spec = get_domain(domain)
        return tuple(spec.label_names) or (tuple(spec.load().label_names) if spec.kind == "local" else None)
    except AdapterMixError:
        return None  # the command that needs the domain reports it with its own message


def preset_config(base: Base, method: str, size: int, name: str) -> dict[str, Any]:
    """The `adapter_config.json` AdapterHub's `save_adapter` writes for our preset (what training writes)."""
    import adapters

    return {
        "config": get_method(method).build_config(base.hidden_size, size).to_dict(),
        "hidden_size": base.hidden_size, "model_class": type(base.model).__name__, "model_name": base.encoder,
        "model_type": base.model_type, "name": name, "version": f"adapters.{adapters.__version__}",
    }


def head_config(base: Base, label_names: Sequence[str], name: str) -> dict[str, Any]:
    """The `head_config.json` of our classification head (AdapterHub's, 2 layers, tanh, CLS token)."""
    import adapters

    return {
        "config": {"activation_function": "tanh", "bias": True, "dropout_prob": None, "head_type": "classification",
                   "label2id": {label: i for i, label in enumerate(label_names)}, "layers": 2,
                   "num_labels": len(label_names), "use_pooler": False},
        "hidden_size": base.hidden_size, "model_class": type(base.model).__name__, "model_name": base.encoder,
        "model_type": base.model_type, "name": name, "version": f"adapters.{adapters.__version__}",
    }


def imported_checkpoint(
    path: Path, source_format: str, base: Base, method: str, size: int, name: str,
    adapter: dict[str, Tensor], head: dict[str, Tensor], label_names: Sequence[str],
    options: ImportOptions, source_config: Mapping[str, Any],
) -> Checkpoint:
    """A `Checkpoint` with the manifest of an imported adapter (kind "single", the source in `config`)."""
    manifest = Manifest(
        kind="single", name=name, domain=options.domain or UNKNOWN_DOMAIN, method=method, adapter_size=size,
        label_names=tuple(label_names), base=base_info(base), adapter_sha256=state_sha256(adapter),
        config={"imported": {"format": source_format, "path": str(path.resolve()), "config": dict(source_config)}},
        extra={"source_format": source_format}, versions=versions(), created=utc_now(),
    )
    return Checkpoint(path, manifest, adapter, head, preset_config(base, method, size, name),
                      head_config(base, label_names, name) if head else {}, source_format)
