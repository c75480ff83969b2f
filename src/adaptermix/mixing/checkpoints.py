"""Mixing checkpoint directories: Eq. 1 on the adapters, the target's own head kept as is."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adaptermix.errors import CheckpointError
from adaptermix.mixing.average import average
from adaptermix.training.checkpoint import Checkpoint, check_mixable, read_checkpoint, write_checkpoint
from adaptermix.training.manifest import Manifest, Member, state_sha256, versions
from adaptermix.training.manifest import now as utc_now


def mixture_manifest(
    members: Sequence[Checkpoint],
    head_from: Checkpoint,
    adapter: dict,
    weights: Sequence[float],
    kind: str = "mixture",
    config: dict | None = None,
    extra: dict | None = None,
    name: str | None = None,
) -> Manifest:
    """The manifest of a checkpoint derived from `members` with the head of `head_from`."""
    return Manifest(
        kind=kind,  # type: ignore[arg-type]
        name=name or f"{head_from.name}_mix",
        domain=head_from.domain,
        method=head_from.manifest.method,
        adapter_size=head_from.manifest.adapter_size,
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


def mix_checkpoints(
    paths: Sequence[str | Path],
    head_from: str | Path,
    out: str | Path,
    weights: Sequence[float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Average the adapters in `paths` (Eq. 1) and write them with the head of `head_from`.

    Heads are never averaged: label sets differ between domains, so the mixture is used on the
    target domain with the target's own head (PAPER.md §1).

    Args:
        paths: checkpoint directories of the adapters to mix (k ≥ 1).
        head_from: checkpoint whose head (and domain, labels) the mixture carries; usually one of
            `paths` (the target).
        out: output checkpoint directory (written atomically).
        weights: optional non-negative weights, normalised; uniform by default.

    Raises:
        CheckpointError: unreadable checkpoints, or adapters of different bases/methods/shapes.
    """
    if not paths:
        raise CheckpointError("no checkpoints to mix: pass at least one checkpoint directory")
    members = [read_checkpoint(p) for p in paths]
    head = read_checkpoint(head_from)
    check_mixable([*members, head])
    w = [1.0 / len(members)] * len(members) if weights is None else list(weights)
    try:
        mixed = average([m.adapter for m in members], w)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    total = sum(w)
    manifest = mixture_manifest(members, head, mixed, [x / total for x in w],
                                config={"members": [str(p) for p in paths], "head_from": str(head_from)})
    return write_checkpoint(out, manifest, mixed, head.head, head.adapter_config, head.head_config, overwrite)
