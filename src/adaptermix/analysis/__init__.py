"""Sign analysis of adapters: FSD (Alg. 3), greedy selection (Alg. 1), correlation with accuracy."""

from __future__ import annotations

from adaptermix.analysis.fsd import flip_fraction, fsd, fsd_matrix, layer_fsd

__all__ = ["flip_fraction", "fsd", "fsd_matrix", "layer_fsd"]
