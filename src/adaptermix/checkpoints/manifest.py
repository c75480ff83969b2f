"""`manifest.json`: our metadata beside AdapterHub's files in every checkpoint directory.

Schema (version 1; documented in docs/checkpoints.md):
- `schema_version`: 1
- `kind`: "single" (trained), "mixture" (Eq. 1 average), "pruned" (Alg. 2) or "sparse-mixture" (Alg. 4)
- `name`: adapter and head name inside the AdapterHub files
- `domain`: the domain whose head this checkpoint carries (the target, for a mixture)
- `method`, `adapter_size`: adapter method (houlsby / pfeiffer / lora) and its width or rank
- `label_names`: the head's labels, in index order
- `base`: the frozen encoder: `encoder` (as given), `fingerprint` (config + weights hash),
  `model_type`, `hidden_size`, `num_layers`
- `adapter_sha256`: hash of the canonical adapter tensors (identifies the adapter in sweeps)
- `members`: for mixtures, the mixed checkpoints (`name`, `domain`, `adapter_sha256`, `weight`)
- `config`: the effective configuration that produced it (training or mixing)
- `metrics`: e.g. {"validation": {...}, "test": {...}}
- `extra`: free-form facts of later stages (e.g. achieved sparsity)
  ("pruned": requested/achieved sparsity, scope, `storage`; a "compact" one keeps its adapter in
  `adapter.sparse.safetensors`, nonzero values + packed bitmask, see `adaptermix.checkpoints.sparse`)
- `versions`: adaptermix, torch, transformers, adapters; `created`: UTC ISO time
"""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import Tensor

from adaptermix.errors import CheckpointError

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


class BaseInfo(BaseModel):
    """The frozen encoder an adapter was trained on."""

    model_config = ConfigDict(frozen=True)
    encoder: str
    fingerprint: str
    model_type: str
    hidden_size: int
    num_layers: int


class Member(BaseModel):
    """One adapter that went into a mixture."""

    model_config = ConfigDict(frozen=True)
    name: str
    domain: str
    adapter_sha256: str
    weight: float


class Manifest(BaseModel):
    """The manifest of one checkpoint directory (see the module docstring for the schema)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: int = SCHEMA_VERSION
    kind: Literal["single", "mixture", "pruned", "sparse-mixture"]
    name: str
    domain: str
    method: str
    adapter_size: int
    label_names: tuple[str, ...]
    base: BaseInfo
    adapter_sha256: str
    members: tuple[Member, ...] = ()
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    created: str = ""

    @field_validator("schema_version")
    @classmethod
    def _supported(cls, value: int) -> int:
        # Fields of another version may mean something else; reading one as ours would restamp it.
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not the supported {SCHEMA_VERSION}")
        return value


def check_schema_version(raw: object, where: str) -> None:
    """Refuse a raw manifest (parsed JSON) whose `schema_version` this code does not read.

    A checkpoint written by another adaptermix version may give its fields other meanings; reading
    it anyway would let `prune` or `mix` write a new checkpoint stamped with *our* version, hiding
    the mismatch for good.

    Args:
        raw: the parsed manifest.json.
        where: the file, for the message.

    Raises:
        CheckpointError: the version is missing, not an integer, or not `SCHEMA_VERSION`.
    """
    if not isinstance(raw, dict):
        raise CheckpointError(f"{where} is not a JSON object: re-create the checkpoint")
    version = raw.get("schema_version")
    if version == SCHEMA_VERSION and type(version) is int:
        return
    shown = "no schema_version" if version is None else f"schema_version {version!r}"
    raise CheckpointError(
        f"{where} has {shown}; this adaptermix reads only schema_version {SCHEMA_VERSION}: "
        "use the adaptermix version that wrote it, or re-create the checkpoint"
    )


def state_sha256(state_dict: Mapping[str, Tensor]) -> str:
    """Content hash of a canonical state dict (keys, dtypes, shapes and bytes), 16 hex chars."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions of the code that produced a result."""
    import adapters
    import transformers

    from adaptermix._version import __version__

    return {
        "adaptermix": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "adapters": adapters.__version__,
        "python": platform.python_version(),
    }


def now() -> str:
    """UTC time, ISO 8601, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")
