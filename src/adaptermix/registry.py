"""A small typed registry with helpful errors (adapter methods, presets, domains, backends)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

from adaptermix.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> object mapping; duplicate names are refused, unknown names list the known ones.

    Args:
        kind: what is registered ("adapter method", "domain", ...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, item: T, aliases: tuple[str, ...] = ()) -> T:
        """Add `item` under `name` (and `aliases`). Raises ValueError on a duplicate name."""
        for key in (name, *aliases):
            if key in self._items or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is already registered")
        self._items[name] = item
        for alias in aliases:
            self._aliases[alias] = name
        return item

    def canonical(self, name: str) -> str:
        """The registered name for `name` or one of its aliases."""
        if name in self._items:
            return name
        if name in self._aliases:
            return self._aliases[name]
        known = sorted(self._items)
        close = difflib.get_close_matches(name, known + sorted(self._aliases), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown {self.kind} {name!r}.{hint} Known: {', '.join(known)}")

    def get(self, name: str) -> T:
        """The item registered as `name` (or an alias). Raises ConfigError listing known names."""
        return self._items[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._items)


def with_defaults(kind: str, name: str, given: dict, defaults: dict) -> dict:
    """`defaults` overridden by the non-None values of `given`; ValueError naming an unknown parameter.

    Shared by the mixer and condition registries, whose items each declare their parameters once.
    """
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        takes = ", ".join(sorted(defaults)) or "no parameters"
        raise ValueError(f"{kind} {name!r} does not take {unknown[0]!r} (it takes {takes})")
    return {**defaults, **{k: v for k, v in given.items() if v is not None}}


class Parametrised(Protocol):
    """A registered item with a canonical name and declared parameters (a mixer, a condition)."""

    name: str

    def resolve(self, params: dict[str, Any]) -> dict[str, Any]: ...


def resolve_named(registry: Registry[Any], name: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(canonical name, parameters with defaults filled in and checked) of a registry entry, for the
    frozen specs that name one (`MixSpec`, `ConditionSpec`); any failure as one ConfigError line."""
    try:
        item: Parametrised = registry.get(name)
        return item.name, item.resolve(dict(params))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
