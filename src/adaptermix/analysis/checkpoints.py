"""Sign analysis of checkpoint directories: the FSD report (Alg. 3, Fig. 4) and greedy mixing (Alg. 1).

Thin wrappers: they read checkpoints (any format, through `adaptermix.checkpoints`), call the pure
functions of `adaptermix.analysis`, and (for greedy mixing) write a checkpoint. A `ValueError` of a
pure function becomes a `ConfigError`, so the CLI prints it as one line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adaptermix.analysis.fsd import SPACES, fsd_matrix, layer_fsd
from adaptermix.analysis.greedy import greedy_selection, mean_fsd
from adaptermix.checkpoints import mixture_manifest, read_mixable, refuse_existing, unique_names, write_checkpoint
from adaptermix.errors import AdapterMixError, ConfigError
from adaptermix.mixing.average import average


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn a plain `ValueError` of a pure function (bad l, m, sparsity, ...) into a one-line `ConfigError`."""
    try:
        yield
    except AdapterMixError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class FsdReport:
    """Pairwise FSD of k checkpoints (Alg. 3; the matrix S of Fig. 4 and Alg. 1).

    Attributes:
        names: manifest names, made unique (see `unique_names`); the axes of `matrix`.
        paths: the checkpoint directories, in the same order.
        space: `"factors"` or `"delta"` (see `adaptermix.analysis.fsd`).
        matrix: k×k FSD, symmetric, zero diagonal.
        per_layer: layer group → k×k FSD restricted to that group, or None when not asked for.
    """

    names: tuple[str, ...]
    paths: tuple[str, ...]
    space: str
    matrix: np.ndarray
    per_layer: dict[str, np.ndarray] | None = field(default=None)
    reference: str = "raw"  # "init": the task-vector view, θ_i − θ_0 from the shared initialisation

    @property
    def mean_fsd(self) -> list[float]:
        """avg_S of Alg. 1: row means of the matrix, the zero diagonal included (`mean_fsd`)."""
        return [float(v) for v in mean_fsd(self.matrix)]


def fsd_report(paths: Sequence[str | Path], per_layer: bool = False, space: str = "factors",
               reference: str = "raw", encoder: str | None = None) -> FsdReport:
    """FSD matrix (and optionally per-layer matrices) of checkpoint directories (Alg. 3, Sec. 5, Fig. 4).

    Args:
        paths: k ≥ 1 checkpoint directories of the same base, method and shapes.
        per_layer: also compute `layer_fsd` for every pair (one matrix per layer group).
        space: `"factors"` (the paper's) or `"delta"` (LoRA as ΔW = B·A).
        reference: `"raw"` (the paper's: the adapters' own weights) or `"init"` (task vectors: each
            adapter minus the shared initialisation it was trained from, rebuilt exactly).
        encoder: the base encoder of PEFT or AdapterHub directories, overriding their config.

    Returns:
        The `FsdReport`.

    Raises:
        ConfigError: an unknown space.
        CheckpointError: unreadable or mismatched checkpoints.
    """
    if space not in SPACES:
        raise ConfigError(f"unknown space {space!r}: use one of {', '.join(SPACES)}")
    if reference not in ("raw", "init"):
        raise ConfigError(f"unknown reference {reference!r}: use raw or init")
    members = read_mixable(paths, encoder=encoder)
    adapters = [m.adapter for m in members]
    if reference == "init":
        from adaptermix.methods.model import load_base
        from adaptermix.mixing import task_vectors
        from adaptermix.training.init import shared_init

        init = shared_init(load_base(members[0].manifest.base.encoder), members)
        adapters = task_vectors(adapters, init)
    with user_errors():
        matrix = fsd_matrix(adapters, space)
        layers = _layer_matrices(adapters, space) if per_layer else None
    return FsdReport(tuple(unique_names(members)), tuple(str(p) for p in paths), space, matrix, layers, reference)


def _layer_matrices(adapters: Sequence[dict], space: str) -> dict[str, np.ndarray]:
    k = len(adapters)
    out: dict[str, np.ndarray] = {}
    for i in range(k):
        for j in range(i + 1, k):
            for group, value in layer_fsd(adapters[i], adapters[j], space).items():
                mat = out.setdefault(group, np.zeros((k, k)))
                mat[i, j] = mat[j, i] = value
    if not out and k:  # a single adapter: one all-zero matrix per group
        out = {group: np.zeros((k, k)) for group in layer_fsd(adapters[0], adapters[0], space)}
    return out


def greedy_mix_checkpoints(
    paths: Sequence[str | Path],
    l: int,  # noqa: E741 - the paper's name
    maximize: bool,
    head_from: str | Path,
    out: str | Path,
    overwrite: bool = False,
    domain: str | None = None,
    encoder: str | None = None,
) -> list[str]:
    """Greedy Adapter Mixing (Alg. 1, Sec. 6) over checkpoint directories.

    S = fsd_matrix of the adapters (factor space, as in the paper); the l adapters with the smallest
    (largest, if `maximize`) row mean of S are averaged uniformly (Eq. 1) and written with the head
    of `head_from`. The manifest (kind "mixture") records method "greedy", l, maximize, the chosen
    names and every adapter's row mean.

    Args:
        paths: the k candidate checkpoints.
        l: how many to mix, 1 ≤ l ≤ k.
        maximize: pick the largest mean FSD instead (the paper's contrast, Fig. 7).
        head_from: checkpoint whose head and domain the mixture carries.
        out: checkpoint directory to write (atomically).
        overwrite: replace an existing `out`.
        domain, encoder: for PEFT or AdapterHub directories (see `adaptermix.checkpoints.read_mixable`).

    Returns:
        The chosen names, best first.

    Raises:
        ConfigError: l out of range. CheckpointError: unreadable or mismatched checkpoints, `out` exists.
    """
    refuse_existing(out, overwrite)
    *members, head = read_mixable(paths, head_from, domain, encoder)
    names = unique_names(members)
    with user_errors():
        S = fsd_matrix([m.adapter for m in members])
        chosen = greedy_selection(S, l, maximize)
    means = [float(v) for v in mean_fsd(S)]
    picked = [members[i] for i in chosen]
    mixed = average([m.adapter for m in picked])
    config = {
        "method": "greedy", "l": l, "maximize": maximize, "chosen": [names[i] for i in chosen],
        "mean_fsd": dict(zip(names, means, strict=True)), "checkpoints": [str(p) for p in paths],
        "head_from": str(head_from), "space": "factors",
    }
    manifest = mixture_manifest(picked, head, mixed, [1.0 / len(picked)] * len(picked), config=config,
                                name=f"{head.name}_greedy")
    write_checkpoint(out, manifest, mixed, head.head, head.adapter_config, head.head_config, overwrite)
    return [names[i] for i in chosen]
