"""The ablation: which setting a finding depends on (issue 18).

A recipe with an `ablation:` section is run once per *cell*: the recipe with one level of each
named factor applied, written to its own folder and store (`out/<cell>/`), so a cell is an ordinary
study that a re-run reuses. `one-at-a-time` (default) runs the baseline (every factor at its first
level) plus one cell per factor at its other level(s); `full` runs every combination that can run (a
level may need another: task vectors need one shared initialisation; `left_out` names the rest). The overview
page (`out/index.html`) sets the cells' findings side by side, verdict and interval per cell.

Factors are declared once, here (`FACTORS`); a level is a partial recipe, merged into the recipe:

- `training`: the quickstart's 150 steps against training to convergence (early stopping);
- `width`: bottleneck width 64 against 256 (LoRA: the rank);
- `init`: one shared seed for every domain's adapter against an independent seed per domain;
- `view`: Alg. 2 pruning of the raw weights against pruning of the task vector (θ − θ_init: the
  largest |θ − θ_init| kept, the rest reset to the initialization); its `task` level keeps the head
  (`prune.heads: [kept]`: a head has no shared initialization).
Alg. 2's scope (`prune.scopes`) and whether the target's head is pruned too (`prune.heads`) are compared
inside every cell, as series of one store, not as cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from adaptermix.registry import Registry


@dataclass(frozen=True)
class Factor:
    """One ablation factor: named levels, each a partial recipe; the first level is the baseline."""

    name: str
    description: str
    levels: Mapping[str, Mapping[str, Any]]
    # level -> (other factor, the level it needs there, why): a `full` design leaves out the combinations
    # that break it, and says which and why (`left_out`)
    requires: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)


FACTORS: Registry[Factor] = Registry("ablation factor")
_CONVERGED = {"epochs": 3, "max_steps": None, "patience": 4, "eval_every": 100, "min_delta": 0.002}
FACTORS.register("training", Factor("training", "150 steps (the quickstart) vs trained to convergence", {
    "steps150": {"train": {"max_steps": 150, "epochs": None, "patience": None}},
    "converged": {"train": _CONVERGED},
}))
FACTORS.register("width", Factor("width", "adapter width 64 vs 256 (LoRA: rank)", {
    "w64": {"train": {"adapter_size": 64}},
    "w256": {"train": {"adapter_size": 256}},
}))
FACTORS.register("init", Factor("init", "one shared initialization vs an independent seed per domain", {
    "shared": {"init": "shared"},
    "independent": {"init": "independent"},
}))
FACTORS.register("view", Factor("view", "Alg. 2 on raw weights vs on task vectors (θ − θ_init)", {
    "raw": {"prune": {"reference": "raw"}},
    "task": {"prune": {"reference": "init", "heads": ["kept"]}},  # a head has no init to take a task vector from
}, requires={"task": ("init", "shared", "task vectors need one shared initialisation")}))


class AblationSection(BaseModel):
    """Which factors to vary and how (`one-at-a-time` from the baseline, or the `full` product)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    factors: tuple[str, ...] = Field(min_length=1)
    design: Literal["one-at-a-time", "full"] = "one-at-a-time"

    @field_validator("factors")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            FACTORS.get(name)  # ConfigError naming the known factors ("did you mean")
        if len(set(value)) != len(value):
            raise ValueError("a factor is listed twice")
        return value


def _label(combo: Mapping[str, str]) -> str:
    return ",".join(f"{name}={level}" for name, level in combo.items())


def _broken(combo: Mapping[str, str]) -> str | None:
    """Why this combination of levels cannot run (a factor's `requires`), or None."""
    for name, level in combo.items():
        need = FACTORS.get(name).requires.get(level)
        if need is not None and need[0] in combo and combo[need[0]] != need[1]:
            return f"{need[2]} ({need[0]}={need[1]})"
    return None


def _full(section: AblationSection) -> list[dict[str, str]]:
    choices = [list(FACTORS.get(name).levels) for name in section.factors]
    return [dict(zip(section.factors, combo, strict=True)) for combo in itertools.product(*choices)]


def left_out(section: AblationSection) -> list[tuple[str, str]]:
    """(cell label, why) of the combinations a `full` design leaves out because a level needs another."""
    if section.design != "full":
        return []
    return [(_label(combo), why) for combo in _full(section) if (why := _broken(combo)) is not None]


def cells(section: AblationSection) -> list[tuple[str, dict[str, Any]]]:
    """(cell label, merged overrides) of every cell, the baseline first (`left_out` names the ones skipped)."""
    factors = [FACTORS.get(name) for name in section.factors]
    if section.design == "full":
        combos = [combo for combo in _full(section) if _broken(combo) is None]
    else:
        base = {f.name: next(iter(f.levels)) for f in factors}
        combos = [base] + [{**base, f.name: level} for f in factors for level in list(f.levels)[1:]]
    out = []
    for combo in combos:
        overrides: dict[str, Any] = {}
        for f in factors:
            overrides = merge(overrides, f.levels[combo[f.name]])
        out.append((_label(combo), overrides))
    return out


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `override` merged in, nested mappings merged key by key (an explicit None replaces)."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def folder(label: str) -> str:
    """A cell's folder name: `training=converged,width=w64` → `training-converged_width-w64`."""
    return label.replace("=", "-").replace(",", "_")
