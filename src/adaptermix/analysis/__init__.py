"""Sign analysis of adapters: FSD (Alg. 3), greedy selection (Alg. 1), correlation with accuracy."""

from __future__ import annotations

from adaptermix.analysis.correlation import Correlation, correlate
from adaptermix.analysis.fsd import flip_fraction, fsd, fsd_matrix, layer_fsd
from adaptermix.analysis.greedy import greedy_selection, in_domain_members, mean_fsd

__all__ = ["Correlation", "correlate", "flip_fraction", "fsd", "fsd_matrix", "greedy_selection", "in_domain_members",
           "layer_fsd", "mean_fsd"]
