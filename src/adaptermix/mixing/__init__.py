"""Combining adapters: pure functions on state dicts (`average`) and their checkpoint wrapper."""

from __future__ import annotations

from adaptermix.mixing.average import average, check_compatible

__all__ = ["average", "check_compatible", "mix_checkpoints"]


def __getattr__(name: str):  # noqa: ANN202 - lazy: keeps `average` importable without transformers
    if name == "mix_checkpoints":
        from adaptermix.mixing.checkpoints import mix_checkpoints

        return mix_checkpoints
    raise AttributeError(name)
