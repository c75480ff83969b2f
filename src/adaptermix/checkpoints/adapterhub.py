"""AdapterHub directories written by `save_adapter`: read them into our key space, and write ours back.

`save_adapter(dir, name, with_head=...)` writes `adapter_config.json` (the adapter's config under
`config`, plus `name`, `model_class`, `model_name`, `version`), `pytorch_adapter.bin` or
`adapter.safetensors`, and for a head `head_config.json` + `pytorch_model_head.bin` or
`model_head.safetensors`. Our own checkpoints are these files plus `manifest.json`.

An AdapterHub adapter is read when its config *is* one of our presets (houlsby = double_seq_bn,
pfeiffer = seq_bn, lora on attention q/v), compared field by field (dropout and init scheme aside):
the evaluator builds exactly that preset, so anything else would silently compute another function.
LoRA's α/r is folded into B (our preset has α = r), as for PEFT.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

import adaptermix.checkpoints.foreign as foreign
import adaptermix.checkpoints.ours as ours
from adaptermix.checkpoints.foreign import ImportOptions
from adaptermix.checkpoints.ours import Checkpoint
from adaptermix.errors import CheckpointError
from adaptermix.methods.model import Base, canonicalize, named
from adaptermix.methods.registry import get_method

AH_WEIGHTS = (ours.ADAPTER_WEIGHTS, "pytorch_adapter.bin")
AH_HEAD_WEIGHTS = (ours.HEAD_WEIGHTS, "pytorch_model_head.bin")
_IGNORED = ("dropout", "init_weights", "init_weights_seed")
_HEAD = {"head_type": "classification", "layers": 2, "activation_function": "tanh", "use_pooler": False,
         "bias": True}


def is_adapterhub(config: Mapping[str, Any]) -> bool:
    """True for an AdapterHub `adapter_config.json` (an adapter `config` and the `name` it was saved under)."""
    return isinstance(config.get("config"), dict | str) and isinstance(config.get("name"), str)


def _inner(path: Path, cfg: Mapping[str, Any]) -> dict[str, Any]:
    inner = cfg["config"]
    if isinstance(inner, str):  # a config saved by its short name, e.g. "seq_bn"
        from adapters import AdapterConfig

        try:
            inner = AdapterConfig.load(inner).to_dict()
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"{path}: unknown AdapterHub config {inner!r}: re-save it with save_adapter") from exc
    return dict(inner)


def _match_preset(path: Path, inner: Mapping[str, Any], hidden: int) -> tuple[str, int, float]:
    """(method, size, LoRA scale to fold) of the preset that `inner` is; refuses anything else."""
    arch = inner.get("architecture")
    if arch == "lora":
        r = int(inner.get("r", 0))
        candidates = ["lora"]
        size, scale = r, float(inner.get("alpha", r)) / max(r, 1)
    elif arch in (None, "bottleneck") and isinstance(inner.get("reduction_factor"), int | float):
        size = round(hidden / float(inner["reduction_factor"]))
        candidates, scale = ["pfeiffer", "houlsby"], 1.0
    else:
        raise CheckpointError(f"{path} is an AdapterHub {arch or 'custom'} adapter: adaptermix reads bottleneck "
                              "(seq_bn, double_seq_bn) and LoRA adapters only")
    first_diff = ""
    for method in candidates:
        if size <= 0:
            break
        preset = get_method(method).build_config(hidden, size).to_dict()
        ignored = (*_IGNORED, "alpha") if method == "lora" else _IGNORED
        keys = sorted((set(preset) | set(inner)) - set(ignored))
        diff = [k for k in keys if preset.get(k) != inner.get(k)]
        if not diff:
            return method, size, scale
        first_diff = first_diff or f"{diff[0]}: {inner.get(diff[0])!r}, the {method} preset has {preset.get(diff[0])!r}"
    raise CheckpointError(f"{path}: its AdapterHub config is none of adaptermix's presets ({first_diff}): "
                          "adaptermix evaluates its presets only (houlsby, pfeiffer, lora on q/v)")


def _canonical(path: Path, weights: Mapping[str, Tensor], name: str, prefix: str) -> dict[str, Tensor]:
    out = canonicalize(weights, name)
    # A model that was a bare encoder when saved (adapters.init(BertModel)) has no `bert.` prefix.
    return {k if k.startswith((f"{prefix}.", "heads.")) else f"{prefix}.{k}": v for k, v in out.items()}


def read_adapterhub(path: Path, options: ImportOptions) -> Checkpoint:
    """Read a `save_adapter` directory (bottleneck or LoRA, with or without head) as a `Checkpoint`.

    Raises:
        CheckpointError: a config that is none of our presets, a head that is not a 2-layer
            classification head, a missing weights file, or a base that cannot be loaded.
    """
    cfg = ours.read_json(path / ours.ADAPTER_CONFIG)
    weights, _ = foreign.read_weights(path, AH_WEIGHTS, "AdapterHub")
    base = foreign.load_foreign_base(path, cfg.get("model_name"), options)
    inner = _inner(path, cfg)
    method, size, scale = _match_preset(path, inner, base.hidden_size)
    prefix = foreign.base_prefix(base)
    adapter = _canonical(path, weights, str(cfg["name"]), prefix)
    if scale != 1.0:
        adapter = {k: (t * scale if k.endswith("lora_B") else t) for k, t in adapter.items()}
    adapter = foreign.fit_layout(path, adapter, foreign.preset_layout(base, method, size), fill_zeros=False)
    head, label_names = _read_head(path, base, options)
    name = foreign.safe_name(str(cfg["name"]))
    source = {"config": inner, "name": cfg["name"], "model_name": cfg.get("model_name")}
    return foreign.imported_checkpoint(path, "adapterhub", base, method, size, name, adapter, head, label_names,
                                       options, source)


def _read_head(path: Path, base: Base, options: ImportOptions) -> tuple[dict[str, Tensor], tuple[str, ...]]:
    if not (path / ours.HEAD_CONFIG).is_file():
        return {}, ()
    cfg = ours.read_json(path / ours.HEAD_CONFIG)
    inner = cfg.get("config") or {}
    for key, want in _HEAD.items():
        if inner.get(key, want) != want:
            raise CheckpointError(f"{path}: its head has {key}={inner.get(key)!r}; adaptermix reads classification "
                                  f"heads with {', '.join(f'{k}={v!r}' for k, v in _HEAD.items())}")
    weights, _ = foreign.read_weights(path, AH_HEAD_WEIGHTS, "AdapterHub head of")
    head = canonicalize(weights, str(cfg.get("name")))
    expected = {f"heads.adapter.{i}.{p}" for i in (1, 4) for p in ("weight", "bias")}
    if set(head) != expected:
        raise CheckpointError(f"{path}: its head tensors ({', '.join(sorted(head))}) are not a 2-layer "
                              "classification head: re-save it with save_adapter(with_head=True)")
    label2id = inner.get("label2id") or {}
    from_file = [label for label, _ in sorted(label2id.items(), key=lambda kv: kv[1])]
    return head, foreign.resolve_labels(path, int(head["heads.adapter.4.weight"].shape[0]), options, from_file)


def write_adapterhub(ckpt: Checkpoint, out: Path, overwrite: bool = False) -> Path:
    """Write `ckpt` as a `save_adapter` directory (dense safetensors, no manifest) for `load_adapter`.

    Load it with `model.load_adapter(out, use_safetensors=True)` (and `with_head=True` for the
    head) on `adapters.AutoAdapterModel.from_pretrained(<the base encoder>)`.

    Raises:
        CheckpointError: `out` exists and `overwrite` is False.
    """
    name = ckpt.name
    with ours.atomic_dir(out, overwrite) as tmp:
        ours.save_tensors(named(ckpt.adapter, name), tmp / ours.ADAPTER_WEIGHTS)
        ours.write_json(tmp / ours.ADAPTER_CONFIG, {**ckpt.adapter_config, "name": name})
        if ckpt.head:
            ours.save_tensors(named(ckpt.head, name), tmp / ours.HEAD_WEIGHTS)
            ours.write_json(tmp / ours.HEAD_CONFIG, {**ckpt.head_config, "name": name})
    return out
