"""Mixing checkpoint directories (any format, see `adaptermix.checkpoints`) with any mixer; the target's head kept."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adaptermix.checkpoints import Checkpoint, mixture_manifest, read_mixable, refuse_existing, write_checkpoint
from adaptermix.errors import CheckpointError
from adaptermix.mixing.delta import lora_pairs, rescaled_alpha
from adaptermix.mixing.mix import get_mixer, mix
from adaptermix.mixing.spec import MixSpec


def mix_checkpoints(
    paths: Sequence[str | Path],
    head_from: str | Path,
    out: str | Path,
    weights: Sequence[float] | None = None,
    overwrite: bool = False,
    spec: MixSpec | None = None,
    rank: int | None = None,
    domain: str | None = None,
    encoder: str | None = None,
) -> Path:
    """Mix the adapters in `paths` with any mixer and write them with the head of `head_from`.

    Heads are never mixed: label sets differ between domains, so the mixture is used on the
    target domain with the target's own head (PAPER.md §1). The manifest records the mixer, its
    parameters, the reference view and the space (`config.mixer`).

    Args:
        paths: checkpoint directories of the adapters to mix (k ≥ 1).
        head_from: checkpoint whose head (and domain, labels) the mixture carries; usually one of
            `paths` (the target).
        out: output checkpoint directory (written atomically).
        weights: optional weights, one per adapter (see `adaptermix.mixing.mix`).
        spec: mixer, parameters, reference (`init`: task vectors from the shared initialisation)
            and space (`delta`: LoRA as ΔW); uniform Eq. 1 average by default.
        rank: ΔW space with a non-linear mixer: the truncated-SVD rank (default: the members' rank).
        domain: the domain of `head_from` when it is a PEFT or AdapterHub directory (`--domain`).
        encoder: the base encoder of PEFT or AdapterHub directories, overriding their config (`--encoder`).

    Raises:
        CheckpointError: unreadable checkpoints, adapters of different bases/methods/shapes, or bad
            mixer settings, or a foreign `head_from` without `domain`.
    """
    spec = spec or MixSpec()
    if not paths:
        raise CheckpointError("no checkpoints to mix: pass at least one checkpoint directory")
    if spec.head != "kept":  # the written checkpoint carries `head_from`'s head as trained
        raise CheckpointError(f"{spec.label}: a mixture checkpoint keeps its head as trained; a pruned head is "
                              "scored by sweeps and the prune stage (prune.heads), not written")
    refuse_existing(out, overwrite)
    *members, head = read_mixable(paths, head_from, domain, encoder)
    init = None
    if spec.reference == "init":
        from adaptermix.methods.model import load_base
        from adaptermix.training.init import shared_init

        init = shared_init(load_base(head.manifest.base.encoder), members)
    params = dict(spec.params)
    own = params.pop("weights", None)  # `weighted` carries its weights in the spec
    try:
        effective = get_mixer(spec.mixer).member_weights(weights, spec.params, len(members))
        mixed = mix([m.adapter for m in members], spec.mixer, weights if own is None else own, init=init,
                    space=spec.space, rank=rank, **params)
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    adapter_config, size = _config_for(head, mixed)
    manifest = mixture_manifest(
        members, head, mixed, effective,
        config={"members": [str(p) for p in paths], "head_from": str(head_from),
                "mixer": {**spec.model_dump(mode="json"), "label": spec.label, "rank": rank}},
        adapter_size=size,
    )
    return write_checkpoint(out, manifest, mixed, head.head, adapter_config, head.head_config, overwrite)


def _config_for(head: Checkpoint, mixed: dict) -> tuple[dict, int]:
    """The AdapterHub config and adapter size of a mixture whose LoRA rank may differ (ΔW space)."""
    config = dict(head.adapter_config)
    pairs = lora_pairs(mixed)
    if not pairs:
        return config, head.manifest.adapter_size
    rank = int(mixed[next(iter(pairs))].shape[0])
    old = head.manifest.adapter_size
    if rank == old:
        return config, old
    inner = dict(config.get("config", {}))
    alpha = float(inner.get("alpha", old))
    # LoRA scales ΔW by α/r: keep that scale at the new rank.
    inner.update({"r": rank, "alpha": rescaled_alpha(alpha, old, rank)})
    config["config"] = inner
    return config, rank
