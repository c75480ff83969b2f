"""Recipes: a whole study (train → sweep → Sec. 7 stages → dataset analysis → report) from one YAML file.

`load_recipe` + `run_recipe` run it; `plan.plan_recipe` + `plan.format_plan` are `--dry-run`;
`run_sweep` is the sweep driver every stage uses (leases let several processes share one store).
"""

from __future__ import annotations

from adaptermix.pipeline.recipe import Recipe, RecipeResult, load_recipe, run_recipe
from adaptermix.pipeline.sweep import SweepConfig, SweepSummary, run_sweep

__all__ = ["Recipe", "RecipeResult", "SweepConfig", "SweepSummary", "load_recipe", "run_recipe", "run_sweep"]
