"""Renamed options and keys: the old spelling keeps working for one release, with a one-line warning.

Shared by the CLI (renamed flags) and the specs (renamed YAML/API keys), so both say the same thing.
"""

from __future__ import annotations

import sys

# Old spellings already warned about in this process: a sweep validates its spec more than once, and a
# user needs to read each warning once.
_warned: set[tuple[str, str]] = set()


def warn_renamed(old: str, new: str) -> None:
    """Print `adaptermix: warning: <old> is deprecated: use <new>` on stderr, once per process.

    Args:
        old: the old spelling as the user wrote it (`--max-examples`, `n`).
        new: the name that replaces it (`--attack-examples`, `attack_examples`).
    """
    if (old, new) in _warned:
        return
    _warned.add((old, new))
    print(f"adaptermix: warning: {old} is deprecated: use {new} (the old spelling goes in the next release)",
          file=sys.stderr)


def reset() -> None:
    """Forget which warnings were printed (for tests that check each one)."""
    _warned.clear()
