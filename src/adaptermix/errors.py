"""Exception types for user-facing errors.

Every error a user can cause (bad name, bad file, mismatched adapters) is an `AdapterMixError`:
the CLI prints its message as one line and exits with code 2. Anything else is a bug and keeps its
traceback. All of them subclass `ValueError`, so pure functions can be called and tested without
knowing about this module.
"""

from __future__ import annotations


class AdapterMixError(ValueError):
    """Base class: a problem with the user's input, reported as one line."""


class ConfigError(AdapterMixError):
    """An unknown name or invalid setting (domain, method, preset, recipe field)."""


class DataError(AdapterMixError):
    """A corpus or data file could not be read or is malformed."""


class CheckpointError(AdapterMixError):
    """A checkpoint is missing, corrupt, or incompatible with another one."""
