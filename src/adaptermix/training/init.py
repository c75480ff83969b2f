"""The shared initialisation of a recipe's adapters, rebuilt exactly (the task-vector reference).

Every adapter trained with the same seed, method and size on the same base starts from the same
weights: `attach` seeds torch and then adds the adapter, so repeating those two steps rebuilds the
start bit for bit. Training records the seed and the sha256 of that start in the manifest
(`extra.init`); rebuilding checks it, so a changed library that would initialise differently is
caught instead of silently giving another reference point.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from adaptermix.checkpoints import Checkpoint
from adaptermix.checkpoints.manifest import state_sha256
from adaptermix.errors import CheckpointError
from adaptermix.methods.model import Base, adapter_state
from adaptermix.methods.registry import get_method

_TMP = "adaptermix_init"


def init_record(seed: int, init: dict[str, Tensor]) -> dict[str, Any]:
    """What training stores under `manifest.extra["init"]`."""
    return {"seed": int(seed), "sha256": state_sha256(init)}


def initial_state(base: Base, method: str, size: int | None, seed: int) -> dict[str, Tensor]:
    """The adapter weights `attach(base, ..., seed=seed)` starts from (canonical keys, CPU).

    Adds a temporary adapter to `base.model` and removes it again; the model's other adapters,
    heads and the active setup are untouched.
    """
    model: Any = base.model
    config = get_method(method).build_config(base.hidden_size, size)
    active = model.active_adapters
    torch.manual_seed(seed)
    model.add_adapter(_TMP, config=config, overwrite_ok=True)
    try:
        return adapter_state(model, _TMP)
    finally:
        model.delete_adapter(_TMP)
        if active is not None:
            model.set_active_adapters(active)


def shared_init(base: Base, checkpoints: Sequence[Checkpoint]) -> dict[str, Tensor]:
    """The one initialisation all `checkpoints` started from, rebuilt and verified.

    Raises:
        CheckpointError: a checkpoint without a recorded seed, members that started from different
            seeds, or a rebuilt start whose sha256 differs from the one recorded at training.
    """
    seeds = {}
    for c in checkpoints:
        record = c.manifest.extra.get("init") or {}
        seed = record.get("seed", c.manifest.config.get("seed"))
        if seed is None:
            raise CheckpointError(f"{c.path} records no training seed: its initialisation cannot be rebuilt; "
                                  "use --reference raw")
        seeds[c.path] = int(seed)
    if len(set(seeds.values())) > 1:
        listed = ", ".join(f"{p.name}: {s}" for p, s in seeds.items())
        raise CheckpointError(f"the adapters did not start from one initialisation (seeds {listed}): "
                              "use --reference raw, or train them with one --seed")
    first = checkpoints[0]
    init = initial_state(base, first.manifest.method, first.manifest.adapter_size, next(iter(seeds.values())))
    digest = state_sha256(init)
    for c in checkpoints:
        recorded = (c.manifest.extra.get("init") or {}).get("sha256")
        if recorded is not None and recorded != digest:
            raise CheckpointError(f"{c.path}: the rebuilt initialisation (sha256 {digest}) differs from the one "
                                  f"recorded at training ({recorded}); use --reference raw")
    return init
