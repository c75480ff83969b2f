"""The domain registry: the paper's 13 hub domains, the offline suite, and local paths.

`get_domain` accepts a registered name or a path to a local file / folder (PAPER.md §1: one
adapter and one head per domain, whatever its source).
"""

from __future__ import annotations

from pathlib import Path

from adaptermix.data.hub_catalog import HUB_DOMAINS
from adaptermix.data.local import SUFFIXES, local_domain
from adaptermix.data.offline_catalog import OFFLINE_DOMAINS
from adaptermix.data.types import DomainData, DomainSpec
from adaptermix.registry import Registry

DOMAINS: Registry[DomainSpec] = Registry("domain")
for _spec in (*HUB_DOMAINS, *OFFLINE_DOMAINS):
    DOMAINS.register(_spec.name, _spec)

PAPER_DOMAINS: tuple[str, ...] = tuple(spec.name for spec in HUB_DOMAINS)
OFFLINE_DOMAIN_NAMES: tuple[str, ...] = tuple(spec.name for spec in OFFLINE_DOMAINS)


def _looks_like_path(name: str) -> bool:
    return "/" in name or "\\" in name or name.lower().endswith(SUFFIXES) or Path(name).exists()


def get_domain(name: str) -> DomainSpec:
    """The spec for a registered domain name, or a local spec for a path to a file or folder.

    Args:
        name: a registered name (see `list_domains`) or a path (CSV, TSV, JSONL, Parquet, folder).

    Returns:
        The domain's spec.

    Raises:
        ConfigError: for an unknown name (listing the known ones).
        DataError: for a path that does not exist or is malformed.
    """
    if name in DOMAINS:
        return DOMAINS.get(name)
    if _looks_like_path(name):
        return local_domain(Path(name))
    return DOMAINS.get(name)  # raises ConfigError with "did you mean" and the known names


def list_domains() -> list[DomainSpec]:
    """Every registered domain: the 13 paper (hub) domains, then the offline suite."""
    return [DOMAINS.get(name) for name in DOMAINS.names()]


def load_domain(name: str, cache_dir: Path | None = None) -> DomainData:
    """Shorthand for `get_domain(name).load(cache_dir)`."""
    return get_domain(name).load(cache_dir)


def cached_sizes(spec: DomainSpec, cache_dir: Path | None = None) -> tuple[int, int, int] | None:
    """(train, validation, test) sizes when the domain can be loaded without any download, else None."""
    ok, status = spec.available()
    if not ok or (spec.kind == "offline" and status != "cached"):
        return None
    try:
        data = spec.load(cache_dir)
    except ValueError:  # DataError and friends: `domains` lists what it can and never fails on one corpus
        return None
    return len(data.train), len(data.validation), len(data.test)
