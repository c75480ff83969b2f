"""Pure functions that combine adapter state dicts."""

from __future__ import annotations

from adaptermix.mixing.average import average, check_compatible

__all__ = ["average", "check_compatible"]
