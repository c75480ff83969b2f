"""Magnitude pruning (Alg. 2) and FSD-guided sparse mixing (Alg. 4) of adapters."""

from __future__ import annotations

from adaptermix.pruning.magnitude import magnitude_prune
from adaptermix.pruning.sparse_mix import SparseMixPlan, sparse_mix, sparse_mix_plan

__all__ = ["SparseMixPlan", "magnitude_prune", "sparse_mix", "sparse_mix_plan"]
