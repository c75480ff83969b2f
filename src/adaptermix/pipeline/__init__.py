"""Recipes: a whole study (train → mix → evaluate → report) from one YAML file and one call."""

from __future__ import annotations

from adaptermix.pipeline.recipe import Recipe, RecipeResult, load_recipe, run_recipe
from adaptermix.pipeline.sweep import SweepConfig, SweepSummary, run_sweep

__all__ = ["Recipe", "RecipeResult", "SweepConfig", "SweepSummary", "load_recipe", "run_recipe", "run_sweep"]
