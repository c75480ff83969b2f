"""Tables and figures, computed from stored results only (never from a model)."""
