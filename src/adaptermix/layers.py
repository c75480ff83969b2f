"""Grouping of state-dict keys by transformer layer, shared by per-layer FSD, pruning and mixing."""

from __future__ import annotations

import re
from collections.abc import Iterable

OTHER = "other"

# `(?:^|\.)` keeps `sublayer.1.` from matching, and the trailing `\.` keeps `layer.1.` from matching
# `layer.10.`. The first match wins: BERT/RoBERTa (`encoder.layer.N.`) and LLaMA-style (`layers.N.`)
# names carry exactly one such part.
_LAYER = re.compile(r"(?:^|\.)(layers?)\.(\d+)\.")


def layer_group(key: str) -> str:
    """Name of the layer group of a state-dict key: `"layer.3"`, `"layers.3"` or `"other"`.

    Args:
        key: a parameter name such as `bert.encoder.layer.3.output.adapters.a.adapter_up.weight`.

    Returns:
        `"<word>.<N>"` for the first `layer.<N>.` / `layers.<N>.` part of the name, else `"other"`.
    """
    match = _LAYER.search(key)
    return f"{match.group(1)}.{match.group(2)}" if match else OTHER


def _order(group: str) -> tuple[int, str, int]:
    if group == OTHER:
        return (1, "", 0)
    word, index = group.split(".")
    return (0, word, int(index))


def group_keys(keys: Iterable[str]) -> dict[str, list[str]]:
    """Group keys by layer, in layer order (numeric: `layer.2` before `layer.10`), `other` last.

    Args:
        keys: state-dict keys.

    Returns:
        Group name → its keys, in the order given. Groups are ordered by layer number, which is also
        the tie-break order of Alg. 4; the order of the keys themselves is kept inside each group.
    """
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(layer_group(key), []).append(key)
    return {name: groups[name] for name in sorted(groups, key=_order)}
