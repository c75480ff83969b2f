"""The package's version, in a leaf module: code that records it (manifests, store rows) imports it from
here, never through the top-level package, so no module reaches back up to `adaptermix/__init__.py`.

It must equal `version` in pyproject.toml (tests/test_public_api.py checks it against the installed metadata).
"""

from __future__ import annotations

__version__ = "0.1.0"
