"""Reading a set of checkpoints to combine, and the manifest of a checkpoint derived from them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from adaptermix.checkpoints.manifest import Manifest, Member, state_sha256, versions
from adaptermix.checkpoints.manifest import now as utc_now
from adaptermix.checkpoints.ours import Checkpoint, check_mixable
from adaptermix.checkpoints.resolve import read_checkpoint, require_domain, require_head
from adaptermix.errors import CheckpointError


def unique_names(checkpoints: Sequence[Checkpoint]) -> list[str]:
    """Manifest names of the checkpoints; a repeated name gets ` #2`, ` #3`, ... in order of appearance."""
    seen: dict[str, int] = {}
    out = []
    for ckpt in checkpoints:
        seen[ckpt.name] = seen.get(ckpt.name, 0) + 1
        out.append(ckpt.name if seen[ckpt.name] == 1 else f"{ckpt.name} #{seen[ckpt.name]}")
    return out


def read_mixable(
    paths: Sequence[str | Path],
    head_from: str | Path | None = None,
    domain: str | None = None,
    encoder: str | None = None,
) -> list[Checkpoint]:
    """Read `paths` (and `head_from`, last) in any format; check they can be compared or mixed.

    Args:
        paths: the checkpoints.
        head_from: the checkpoint whose head a derived checkpoint carries; it must have a head and,
            if foreign, a domain (`domain`).
        domain: `--domain`: the domain of `head_from` (or of the checkpoint itself, without one),
            for a foreign directory.
        encoder: `--encoder`: the base of foreign directories.

    Returns:
        The checkpoints of `paths`, then that of `head_from` when given.

    Raises:
        CheckpointError: no paths, an unreadable checkpoint, or adapters of different bases/methods/shapes.
    """
    if not paths:
        raise CheckpointError("no checkpoints given: pass at least one checkpoint directory")
    target = Path(head_from).resolve() if head_from is not None else None

    def read(p: str | Path) -> Checkpoint:
        mine = target is None or Path(p).resolve() == target
        return read_checkpoint(p, domain if mine else None, encoder)

    checkpoints = [read(p) for p in paths]
    if head_from is not None:
        head = read(head_from)
        require_head(head, "--head-from")
        require_domain(head)
        checkpoints.append(head)
    check_mixable(checkpoints)
    return checkpoints


def mixture_manifest(
    members: Sequence[Checkpoint],
    head_from: Checkpoint,
    adapter: dict[str, Tensor],
    weights: Sequence[float],
    kind: str = "mixture",
    config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    name: str | None = None,
    adapter_size: int | None = None,
) -> Manifest:
    """The manifest of a checkpoint derived from `members` with the head of `head_from`."""
    return Manifest(
        kind=kind,  # type: ignore[arg-type]
        name=name or f"{head_from.name}_mix",
        domain=head_from.domain,
        method=head_from.manifest.method,
        adapter_size=head_from.manifest.adapter_size if adapter_size is None else adapter_size,
        label_names=head_from.manifest.label_names,
        base=head_from.manifest.base,
        adapter_sha256=state_sha256(adapter),
        members=tuple(
            Member(name=m.name, domain=m.domain, adapter_sha256=m.manifest.adapter_sha256, weight=w)
            for m, w in zip(members, weights, strict=True)
        ),
        config=config or {},
        extra=extra or {},
        versions=versions(),
        created=utc_now(),
    )
