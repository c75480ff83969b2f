"""PEFT LoRA directories: read them into our key space, and write a mixture back for `PeftModel`.

PEFT (`save_pretrained`) writes `adapter_config.json` (with `peft_type`) and
`adapter_model.safetensors` (or `adapter_model.bin`). For a BERT/RoBERTa sequence classifier its
keys are `base_model.model.bert.encoder.layer.N.attention.self.query.lora_A.weight` etc., plus the
`modules_to_save` head (`classifier`, and `bert.pooler` when it was trained).

Conversion is exact:
- LoRA factors have the same shapes in both libraries (A: r×in, B: out×r). PEFT scales B·A by
  α/r (α/√r with rsLoRA); our preset uses α = r (scale 1), so the scale is folded into B. The
  function is unchanged and signs, hence FSD (Alg. 3), are unchanged too.
- Modules PEFT did not adapt (e.g. `value` when it targeted `query` only, or layers outside
  `layers_to_transform`) get zero factors: ΔW = 0 is exactly "not adapted".
- BERT's classifier is pooler (dense + tanh on [CLS]) → dropout → linear; our head is
  dropout → dense → tanh → dropout → linear on [CLS]: the same function, with the pooler's
  weights (from the file if PEFT saved them, else from the base encoder) as our head's first layer.
  RoBERTa's `classifier.dense` / `classifier.out_proj` map onto the same two layers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from adaptermix.checkpoints.foreign import (
    HEAD_DENSE,
    HEAD_OUT,
    ImportOptions,
    base_prefix,
    fit_layout,
    imported_checkpoint,
    load_foreign_base,
    preset_layout,
    read_weights,
    resolve_labels,
    safe_name,
)
from adaptermix.checkpoints.ours import ADAPTER_CONFIG, Checkpoint, atomic_dir, read_json, save_tensors, write_json
from adaptermix.errors import CheckpointError
from adaptermix.methods.encoder import resolve_encoder
from adaptermix.methods.model import CANONICAL

PEFT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
_PREFIX = "base_model.model."
_LORA = re.compile(
    r"^(?:(?P<enc>bert|roberta)\.)?encoder\.layer\.(?P<layer>\d+)\.attention\.self\.(?P<module>query|value)"
    r"\.lora_(?P<factor>[AB])(?:\.default)?\.weight$"
)
# Settings that change the function beyond what our LoRA preset computes.
_REFUSED = {"use_dora": "DoRA", "lora_bias": "a LoRA bias", "use_qalora": "QA-LoRA"}


def is_peft(config: Mapping[str, Any]) -> bool:
    """True for a PEFT `adapter_config.json` (PEFT always writes `peft_type`)."""
    return "peft_type" in config


def _check_config(path: Path, cfg: Mapping[str, Any]) -> None:
    kind = str(cfg.get("peft_type"))
    if kind != "LORA":
        raise CheckpointError(f"{path} is a PEFT {kind} adapter: adaptermix reads PEFT LoRA only "
                              "(its methods are LoRA and bottleneck adapters); retrain with LoraConfig")
    for key, what in _REFUSED.items():
        if cfg.get(key):
            raise CheckpointError(f"{path} uses {what} ({key}=true): adaptermix reads plain LoRA only")
    if cfg.get("bias", "none") != "none":
        raise CheckpointError(f"{path} trains biases (bias={cfg['bias']!r}): adaptermix reads LoRA with bias='none'")
    if cfg.get("alpha_pattern") or cfg.get("rank_pattern"):
        raise CheckpointError(f"{path} sets rank_pattern/alpha_pattern: adaptermix reads one rank and alpha for "
                              "all modules")


def read_peft(path: Path, options: ImportOptions) -> Checkpoint:
    """Read a PEFT LoRA directory as a `Checkpoint` of our LoRA preset (see the module docstring).

    Raises:
        CheckpointError: not LoRA, a LoRA variant or module our preset lacks, a missing weights
            file, or a base encoder that cannot be loaded (the message names `--encoder`).
    """
    cfg = read_json(path / ADAPTER_CONFIG)
    _check_config(path, cfg)
    weights, _ = read_weights(path, PEFT_WEIGHTS, "PEFT")
    base = load_foreign_base(path, cfg.get("base_model_name_or_path"), options)
    prefix = base_prefix(base)
    lora: dict[str, Tensor] = {}
    head_src: dict[str, Tensor] = {}
    for key, tensor in weights.items():
        inner = key.removeprefix(_PREFIX)
        match = _LORA.match(inner)
        if match:
            name = f"{prefix}.encoder.layer.{match['layer']}.attention.self.{match['module']}"
            lora[f"{name}.loras.{CANONICAL}.lora_{match['factor']}"] = tensor
        elif inner.startswith(("classifier.", f"{prefix}.pooler.", "score.")):
            head_src[inner.replace(".modules_to_save.default.", ".")] = tensor
        else:
            raise CheckpointError(f"{path}: tensor {key!r} is not LoRA on attention query/value nor the classifier: "
                                  "adaptermix's LoRA adapts query and value only (retrain with "
                                  "target_modules=['query', 'value'])")
    if not lora:
        raise CheckpointError(f"{path} holds no LoRA factors of attention query/value: nothing to import")
    ranks = {int(t.shape[0]) for k, t in lora.items() if k.endswith("lora_A")}
    if len(ranks) != 1:
        raise CheckpointError(f"{path} mixes LoRA ranks {sorted(ranks)}: adaptermix reads one rank for all modules")
    (r,) = ranks
    alpha = float(cfg.get("lora_alpha", r))
    scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
    lora = {k: (t * scale if k.endswith("lora_B") and scale != 1 else t) for k, t in lora.items()}
    adapter = fit_layout(path, lora, preset_layout(base, "lora", r), fill_zeros=True)
    head = _head(path, head_src, base, prefix)
    label_names = resolve_labels(path, int(head[f"{HEAD_OUT}.weight"].shape[0]), options) if head else ()
    return imported_checkpoint(path, "peft", base, "lora", r, safe_name(path.name), adapter, head, label_names,
                               options, {"peft_type": "LORA", "r": r, "lora_alpha": alpha,
                                         "use_rslora": bool(cfg.get("use_rslora")),
                                         "base_model_name_or_path": cfg.get("base_model_name_or_path")})


def _head(path: Path, src: Mapping[str, Tensor], base: Any, prefix: str) -> dict[str, Tensor]:
    if not src:
        return {}
    if "classifier.out_proj.weight" in src:  # RoBERTa's classification head
        pairs = {HEAD_DENSE: "classifier.dense", HEAD_OUT: "classifier.out_proj"}
    elif "classifier.weight" in src:  # BERT: the pooler is the head's first layer
        pairs = {HEAD_DENSE: f"{prefix}.pooler.dense", HEAD_OUT: "classifier"}
        if f"{prefix}.pooler.dense.weight" not in src:
            state = base.model.state_dict()
            if f"{prefix}.pooler.dense.weight" not in state:
                raise CheckpointError(f"{path}: the base encoder has no pooler weights for the BERT classifier: "
                                      "pass --encoder with the full model it was trained on")
            src = {**src, **{k: state[k] for k in (f"{prefix}.pooler.dense.weight", f"{prefix}.pooler.dense.bias")}}
    else:
        raise CheckpointError(f"{path}: its saved head ({', '.join(sorted(src))}) is not a BERT/RoBERTa sequence "
                              "classifier: adaptermix reads those only")
    head: dict[str, Tensor] = {}
    for ours, theirs in pairs.items():
        for part in ("weight", "bias"):
            if f"{theirs}.{part}" not in src:
                raise CheckpointError(f"{path} lacks {theirs}.{part} of its classifier: re-save it with PEFT")
            head[f"{ours}.{part}"] = src[f"{theirs}.{part}"]
    if head[f"{HEAD_DENSE}.weight"].shape[0] != head[f"{HEAD_OUT}.weight"].shape[1]:
        raise CheckpointError(f"{path}: its classifier layers do not fit together: re-save it with PEFT")
    return head


def write_peft(ckpt: Checkpoint, out: Path, overwrite: bool = False) -> Path:
    """Write `ckpt` (a LoRA adapter or mixture) as a PEFT LoRA directory for `PeftModel.from_pretrained`.

    The base is `AutoModelForSequenceClassification.from_pretrained(base_model_name_or_path,
    num_labels=len(label_names))`; our head becomes its `classifier` (and, for BERT, its `pooler`),
    saved as `modules_to_save`. α and r are written as they are, so PEFT's scale α/r is ours.

    Raises:
        CheckpointError: a bottleneck adapter (PEFT has none), or `out` exists.
    """
    m = ckpt.manifest
    if m.method != "lora":
        raise CheckpointError(f"{ckpt.path} is a {m.method} (bottleneck) adapter, which PEFT cannot load: "
                              "use --format adapterhub")
    inner = ckpt.adapter_config.get("config", {})
    r, alpha = int(inner.get("r", m.adapter_size)), inner.get("alpha", m.adapter_size)
    prefix = {"bert": "bert"}.get(m.base.model_type, "roberta")
    tensors: dict[str, Tensor] = {}
    for key, tensor in ckpt.adapter.items():
        module, factor = key.split(f".loras.{CANONICAL}.")
        tensors[f"{_PREFIX}{module}.{factor}.weight"] = tensor
    modules: list[str] = []
    if ckpt.head:
        dense = f"{prefix}.pooler.dense" if m.base.model_type == "bert" else "classifier.dense"
        last = "classifier" if m.base.model_type == "bert" else "classifier.out_proj"
        for part in ("weight", "bias"):
            tensors[f"{_PREFIX}{dense}.{part}"] = ckpt.head[f"{HEAD_DENSE}.{part}"]
            tensors[f"{_PREFIX}{last}.{part}"] = ckpt.head[f"{HEAD_OUT}.{part}"]
        modules = ["classifier", "pooler"] if m.base.model_type == "bert" else ["classifier"]
    config = {
        "peft_type": "LORA", "task_type": "SEQ_CLS" if ckpt.head else None, "r": r, "lora_alpha": alpha,
        "target_modules": ["query", "value"], "modules_to_save": modules or None, "lora_dropout": 0.0,
        "bias": "none", "fan_in_fan_out": False, "inference_mode": True, "init_lora_weights": True,
        "use_rslora": False, "use_dora": False, "rank_pattern": {}, "alpha_pattern": {},
        "base_model_name_or_path": resolve_encoder(m.base.encoder),
    }
    with atomic_dir(out, overwrite) as tmp:
        save_tensors(tensors, tmp / "adapter_model.safetensors")
        write_json(tmp / ADAPTER_CONFIG, config)
        (tmp / "README.md").write_text(_readme(ckpt))
    return out


def _readme(ckpt: Checkpoint) -> str:
    m = ckpt.manifest
    labels = ", ".join(f"{i}: {name}" for i, name in enumerate(m.label_names)) or "none (no head)"
    return (f"# {m.name}\n\nExported by adaptermix from `{ckpt.path}` ({m.kind}, domain `{m.domain}`).\n\n"
            f"Labels (num_labels={len(m.label_names)}): {labels}\n\n```python\n"
            "from peft import PeftModel\nfrom transformers import AutoModelForSequenceClassification\n"
            f"base = AutoModelForSequenceClassification.from_pretrained(BASE, num_labels={len(m.label_names)})\n"
            "model = PeftModel.from_pretrained(base, THIS_FOLDER)\n```\n")
