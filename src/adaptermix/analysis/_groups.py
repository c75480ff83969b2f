"""Layer grouping lives in `adaptermix.layers` (below every stage); re-exported for old imports."""

from __future__ import annotations

from adaptermix.layers import OTHER, group_keys, layer_group

__all__ = ["OTHER", "group_keys", "layer_group"]
