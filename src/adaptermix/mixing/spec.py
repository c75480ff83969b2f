"""`MixSpec`: one way to mix (mixer + parameters + reference view + space), frozen and hashable."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from adaptermix.registry import resolve_named


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _label(name: str, params: dict[str, Any]) -> str:
    """`name` alone without parameters, else `name(k=v,...)` with sorted keys: a stable row key."""
    if not params:
        return name
    return f"{name}({','.join(f'{k}={params[k]}' for k in sorted(params))})"


class MixSpec(BaseModel):
    """One way to mix: a registered mixer, its parameters, the reference view and the space.

    Attributes:
        mixer: a name in `adaptermix.mixing.MIXERS`.
        params: the mixer's parameters; missing ones take the mixer's defaults (resolved on build).
        reference: `raw` (the paper's: adapters as they are) or `init` (task vectors θ_i − θ_0 from
            the shared initialisation; the mixture is θ_0 + mixer(θ_i − θ_0)).
        space: `factors` (LoRA A, B mixed separately; the paper's) or `delta` (LoRA as ΔW = B·A).
        head: the target's classification head as trained (`kept`, the paper's Alg. 2 as we read it:
            only the adapter is pruned), or `pruned` by the same sparsity and scope as the adapter
            (mixer `prune` on raw weights only; issue 18's "whether the head is pruned too").
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    mixer: str = "average"
    params: dict[str, Any] = Field(default_factory=dict)
    reference: Literal["raw", "init"] = "raw"
    space: Literal["factors", "delta"] = "factors"
    head: Literal["kept", "pruned"] = "kept"

    @model_validator(mode="after")
    def _resolve(self) -> MixSpec:
        from adaptermix.mixing.mixers import MIXERS

        name, params = resolve_named(MIXERS, self.mixer, self.params)
        object.__setattr__(self, "mixer", name)
        object.__setattr__(self, "params", params)
        if self.head == "pruned" and (name != "prune" or self.reference != "raw"):
            raise ValueError(f"head: pruned needs mixer prune on raw weights (reference: raw), got {self.label}")
        return self

    @property
    def label(self) -> str:
        """The row key: e.g. `average`, `ties(density=0.2,majority_sign=total,scope=tensor)`."""
        extra: dict[str, str] = {} if self.reference == "raw" else {"reference": self.reference}
        if self.space != "factors":
            extra["space"] = self.space
        if self.head != "kept":
            extra["head"] = self.head
        return _label(self.mixer, {**self.params, **extra})

    def as_json(self) -> str:
        """Canonical JSON of everything that defines the mixture (`head` only when pruned: stored keys stay)."""
        return _canonical(self.model_dump(mode="json", exclude={"head"} if self.head == "kept" else None))
