"""Pruning of checkpoint directories: magnitude pruning (Alg. 2) and FSD-guided sparse mixing (Alg. 4).

Thin wrappers around `magnitude_prune` and `sparse_mix`: read checkpoints (any format), call the pure function,
write a checkpoint with the facts in its manifest. Heads are never pruned or mixed: a checkpoint
keeps the head of its source (`head_from` for a sparse mixture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from adaptermix.analysis.checkpoints import user_errors
from adaptermix.checkpoints import (
    ADAPTER_WEIGHTS,
    SPARSE_WEIGHTS,
    mixture_manifest,
    read_mixable,
    refuse_existing,
    require_domain,
    unique_names,
    write_checkpoint,
)
from adaptermix.checkpoints.sparse import achieved_sparsity
from adaptermix.errors import ConfigError
from adaptermix.pruning.magnitude import SCOPES, check_sparsity, magnitude_prune
from adaptermix.pruning.sparse_mix import sparse_mix, sparse_mix_plan


@dataclass(frozen=True)
class PruneResult:
    """What `prune_checkpoint` wrote.

    Attributes:
        path: the checkpoint directory.
        requested: the sparsity asked for.
        achieved: zeros / entries over all adapter tensors (pre-existing zeros included).
        scope: `"global"`, `"layer"` or `"tensor"`.
        storage: `"compact"` (adapter.sparse.safetensors) or `"dense"` (AdapterHub's adapter.safetensors).
        adapter_bytes: size of the adapter weights file on disk.
        dense_bytes: bytes of the adapter's tensors stored densely (entries × item size, no header).
    """

    path: Path
    requested: float
    achieved: float
    scope: str
    storage: str
    adapter_bytes: int
    dense_bytes: int


def _sparsity(sparsity: float) -> float:
    with user_errors():
        return check_sparsity(sparsity)


def prune_checkpoint(
    path: str | Path,
    sparsity: float,
    scope: str,
    out: str | Path,
    dense: bool = False,
    overwrite: bool = False,
    domain: str | None = None,
    encoder: str | None = None,
) -> PruneResult:
    """Magnitude-prune a checkpoint's adapter (Alg. 2, Sec. 7) and write it as a "pruned" checkpoint.

    Exactly floor(sparsity·n) entries of smallest |w| are zeroed in each scope of n entries (see
    `magnitude_prune`). The manifest's `extra` records `requested_sparsity`, `achieved_sparsity`
    (zeros / entries of the adapter) and `scope`, `storage`; `members` lists the source.

    Args:
        path: the checkpoint to prune (any kind: single, mixture, ...).
        sparsity: share of entries to zero, in [0, 1].
        scope: `"global"`, `"layer"` or `"tensor"`.
        out: checkpoint directory to write (atomically).
        dense: write AdapterHub's dense `adapter.safetensors` (loadable by `load_adapter`) instead of the
            compact `adapter.sparse.safetensors` (see `adaptermix.checkpoints.sparse`).
        overwrite: replace an existing `out`.
        domain, encoder: for a PEFT or AdapterHub directory: the domain of its head and its base.

    Returns:
        A `PruneResult`.

    Raises:
        ConfigError: sparsity outside [0, 1] or an unknown scope. CheckpointError: unreadable source, `out` exists.
    """
    s = _sparsity(sparsity)
    if scope not in SCOPES:
        raise ConfigError(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}")
    refuse_existing(out, overwrite)
    (src,) = read_mixable([path], domain=domain, encoder=encoder)
    require_domain(src)
    with user_errors():
        pruned = magnitude_prune(src.adapter, s, scope)
    achieved = achieved_sparsity(pruned)
    storage = "dense" if dense else "compact"
    config = {"method": "magnitude", "checkpoint": str(path), "sparsity": s, "scope": scope, "storage": storage}
    extra = {"requested_sparsity": s, "achieved_sparsity": achieved, "scope": scope, "storage": storage}
    manifest = mixture_manifest([src], src, pruned, [1.0], kind="pruned", config=config, extra=extra,
                                name=f"{src.name}_pruned")
    write_checkpoint(out, manifest, pruned, src.head, src.adapter_config, src.head_config, overwrite, compact=not dense)
    weights = Path(out) / (ADAPTER_WEIGHTS if dense else SPARSE_WEIGHTS)
    return PruneResult(Path(out), s, achieved, scope, storage, weights.stat().st_size, _dense_bytes(pruned))


def _dense_bytes(state_dict: Mapping[str, Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state_dict.values())


@dataclass(frozen=True)
class SparseMixResult:
    """What `sparse_mix_checkpoints` wrote; the plan of Alg. 4 by checkpoint name.

    Attributes:
        path: the checkpoint directory.
        candidates: names of the l candidates, smallest mean FSD first.
        pruned: candidate name → its m pruned layer groups, highest score first.
        scores: candidate name → layer group → mean per-layer FSD against the other candidates.
        mean_fsd: every input's name → its row mean of S (Alg. 1's ranking, zero diagonal included).
    """

    path: Path
    candidates: list[str]
    pruned: dict[str, list[str]]
    scores: dict[str, dict[str, float]]
    mean_fsd: dict[str, float]

    def plan(self) -> dict[str, Any]:
        """The plan as JSON-ready data (what the manifest's `extra["plan"]` holds)."""
        return {"candidates": self.candidates, "pruned": self.pruned, "scores": self.scores,
                "mean_fsd": self.mean_fsd}


def sparse_mix_checkpoints(
    paths: Sequence[str | Path],
    l: int,  # noqa: E741 - the paper's name
    m: int,
    sparsity: float,
    head_from: str | Path,
    out: str | Path,
    overwrite: bool = False,
    domain: str | None = None,
    encoder: str | None = None,
) -> SparseMixResult:
    """FSD-guided sparse mixing (Alg. 4, Sec. 7) over checkpoint directories.

    The adapter written is exactly `sparse_mix([adapters], l, m, sparsity)`; the head is `head_from`'s.
    The manifest (kind "sparse-mixture") lists the candidates as members and records the plan in
    `extra["plan"]` and l, m, sparsity in `config` and `extra`. Stored densely: averaging candidates
    pruned at different entries leaves few exact zeros.

    Args:
        paths: the k checkpoints.
        l: number of candidates, 1 ≤ l ≤ k.
        m: layer groups to prune per candidate, 0 ≤ m ≤ number of groups.
        sparsity: share of entries to zero in each pruned group, in [0, 1] (paper: 0.8 or 0.9).
        head_from: checkpoint whose head and domain the mixture carries.
        out: checkpoint directory to write (atomically).
        overwrite: replace an existing `out`.
        domain, encoder: for PEFT or AdapterHub directories (see `adaptermix.checkpoints.read_mixable`).

    Returns:
        A `SparseMixResult`.

    Raises:
        ConfigError: l, m or sparsity out of range. CheckpointError: unreadable or mismatched checkpoints,
            `out` exists.
    """
    s = _sparsity(sparsity)
    refuse_existing(out, overwrite)
    *members, head = read_mixable(paths, head_from, domain, encoder)
    names = unique_names(members)
    adapters = [c.adapter for c in members]
    with user_errors():
        plan = sparse_mix_plan(adapters, l, m)
        mixed = sparse_mix(adapters, l, m, s)
    result = SparseMixResult(
        path=Path(out),
        candidates=[names[i] for i in plan.candidates],
        pruned={names[i]: list(groups) for i, groups in zip(plan.candidates, plan.pruned, strict=True)},
        scores={names[i]: dict(score) for i, score in zip(plan.candidates, plan.scores, strict=True)},
        mean_fsd=dict(zip(names, plan.mean_fsd, strict=True)),
    )
    picked = [members[i] for i in plan.candidates]
    config = {"method": "sparse-mix", "l": l, "m": m, "sparsity": s, "checkpoints": [str(p) for p in paths],
              "head_from": str(head_from)}
    extra = {"l": l, "m": m, "sparsity": s, "plan": result.plan()}
    manifest = mixture_manifest(picked, head, mixed, [1.0 / len(picked)] * len(picked), kind="sparse-mixture",
                                config=config, extra=extra, name=f"{head.name}_sparsemix")
    write_checkpoint(out, manifest, mixed, head.head, head.adapter_config, head.head_config, overwrite)
    return result
