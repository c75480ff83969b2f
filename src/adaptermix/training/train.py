"""Train one adapter and its classification head on one domain (PAPER.md §3).

AdamW with linear warm-up and decay, gradient clipping at 1.0, length-bucketed batches; the
adapter and head with the best validation accuracy are kept (model selection on validation, as
in the paper); the result is written atomically as a checkpoint directory.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from adaptermix.checkpoints import ADAPTER_CONFIG, HEAD_CONFIG, atomic_dir, write_files
from adaptermix.checkpoints.manifest import BaseInfo, Manifest, state_sha256, versions
from adaptermix.checkpoints.manifest import now as utc_now
from adaptermix.data import get_domain
from adaptermix.data.tokenize import collate, encode, length_batches
from adaptermix.errors import ConfigError
from adaptermix.methods.encoder import DEFAULT_ENCODER
from adaptermix.methods.inference import Metrics, evaluate_model, model_inputs
from adaptermix.methods.model import (
    adapter_state,
    attach,
    freeze_all_but,
    head_state,
    load_base,
    load_state,
    set_threads,
)
from adaptermix.training.config import Hyper, TrainConfig, resolve
from adaptermix.training.init import init_record


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how it scored."""

    path: Path
    validation: Metrics
    test: Metrics
    steps: int
    seconds: float
    losses: tuple[float, ...]  # training loss of every step, for curves and tests


def adapter_name(domain: str) -> str:
    """A valid AdapterHub name for a domain (local file paths become their sanitised stem)."""
    stem = Path(domain).stem if ("/" in domain or "." in domain) else domain
    return re.sub(r"[^A-Za-z0-9_\-]", "_", stem) or "domain"


def _encoder_ref(encoder: str) -> str:
    """How the manifest names the encoder: aliases and hub ids as given, local folders absolute."""
    if encoder == DEFAULT_ENCODER or not Path(encoder).exists():
        return encoder
    return str(Path(encoder).resolve())


def _optimizer(model: nn.Module, params: list[nn.Parameter], hyper: Hyper) -> torch.optim.Optimizer:
    # No weight decay on biases and LayerNorm weights, as in BERT/HF fine-tuning.
    ids = {id(p) for p in params}
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for pname, p in model.named_parameters():
        if id(p) in ids:
            (no_decay if pname.endswith("bias") or "LayerNorm" in pname or "layer_norm" in pname else decay).append(p)
    groups = [{"params": decay, "weight_decay": hyper.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=hyper.learning_rate)


def _schedule(total: int, warmup_ratio: float):  # noqa: ANN202 - a plain lambda factory
    warmup = max(1, int(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def train(cfg: TrainConfig) -> TrainResult:
    """Train, select on validation, test, and write the checkpoint to `cfg.out`.

    Raises:
        ConfigError / DataError / CheckpointError: bad names, data, or an existing `cfg.out`.
    """
    if cfg.out.exists() and not cfg.overwrite:
        raise ConfigError(f"{cfg.out} already exists: choose another --out or pass --overwrite")
    set_threads()
    spec = get_domain(cfg.domain)
    data = spec.load(cfg.cache_dir)
    hyper = resolve(cfg, spec.name)
    name = adapter_name(spec.name)
    base = load_base(cfg.encoder)
    attach(base, name, cfg.method, hyper.adapter_size, data.label_names, seed=cfg.seed)
    model: Any = base.model
    # The start is recorded so the task-vector view (reference="init") can rebuild and verify it.
    init = init_record(cfg.seed, adapter_state(model, name))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    params = freeze_all_but(model, name)

    cache = cfg.cache_dir
    train_enc = encode(base.tokenizer, data.train.take(cfg.max_train_examples), hyper.max_length, cache)
    val_enc = encode(base.tokenizer, data.validation.take(hyper.max_eval_examples), hyper.max_length, cache)
    pad_id = base.tokenizer.pad_token_id or 0
    num_labels = len(data.label_names)

    steps_per_epoch = math.ceil(len(train_enc) / hyper.batch_size)
    total = steps_per_epoch * hyper.epochs
    if hyper.max_steps is not None:
        total = min(total, hyper.max_steps)
    eval_every = hyper.eval_every or steps_per_epoch
    opt = _optimizer(model, params, hyper)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total, hyper.warmup_ratio))
    torch.manual_seed(cfg.seed)

    best: tuple[float, dict, dict] | None = None
    best_metrics: Metrics | None = None
    step, tokens, start = 0, 0, time.perf_counter()
    losses: list[float] = []
    bar = tqdm(total=total, desc=f"train {name}", unit="step", disable=not cfg.progress, dynamic_ncols=True)
    model.train()
    epoch = 0
    while step < total:
        for idx in length_batches(train_enc, hyper.batch_size, shuffle_seed=cfg.seed + epoch):
            batch = collate(train_enc, idx, pad_id)
            loss = nn.functional.cross_entropy(model(**model_inputs(model, batch, device)).logits,
                                               batch["labels"].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(loss.item())
            tokens += int(batch["attention_mask"].sum())
            if not math.isfinite(loss.item()):
                raise ConfigError(f"training diverged (loss {loss.item()}) at step {step}: lower --lr")
            if step % eval_every == 0 or step == total:
                metrics = evaluate_model(model, val_enc, pad_id, num_labels)
                if best is None or metrics.accuracy > best[0]:
                    best = (metrics.accuracy, adapter_state(model, name), head_state(model, name))
                    best_metrics = metrics
                bar.set_postfix(loss=f"{loss.item():.3f}", val_acc=f"{metrics.accuracy:.3f}",
                                tok_s=f"{tokens / (time.perf_counter() - start):.0f}")
            else:
                bar.set_postfix(loss=f"{loss.item():.3f}", tok_s=f"{tokens / (time.perf_counter() - start):.0f}")
            bar.update(1)
            if step >= total:
                break
        epoch += 1
    bar.close()
    seconds = time.perf_counter() - start
    if best is None or best_metrics is None:
        raise ConfigError(f"no training step was run on {spec.name}: its training split is empty")
    load_state(model, name, best[1])
    load_state(model, name, best[2], heads=True)
    test_enc = encode(base.tokenizer, data.test.take(hyper.max_eval_examples), hyper.max_length, cache)
    test_metrics = evaluate_model(model, test_enc, pad_id, num_labels)

    manifest = Manifest(
        kind="single",
        name=name,
        # A local file is recorded by absolute path, so the checkpoint can be re-evaluated from anywhere.
        domain=str(Path(cfg.domain).resolve()) if spec.kind == "local" else spec.name,
        method=cfg.method,
        adapter_size=hyper.adapter_size,
        label_names=data.label_names,
        # A local encoder folder is recorded by absolute path, so evaluation works from any directory.
        base=BaseInfo(encoder=_encoder_ref(cfg.encoder),
                      fingerprint=base.fingerprint, model_type=base.model_type,
                      hidden_size=base.hidden_size, num_layers=base.num_layers),
        adapter_sha256=state_sha256(best[1]),
        config={**cfg.model_dump(mode="json", exclude={"out", "overwrite", "progress", "cache_dir"}),
                "effective": hyper.model_dump(), "steps": step, "data_fingerprint": data.fingerprint},
        metrics={"validation": best_metrics.as_dict(), "test": test_metrics.as_dict()},
        extra={"init": init},
        versions=versions(),
        created=utc_now(),
    )
    with atomic_dir(cfg.out, cfg.overwrite) as tmp:
        # AdapterHub writes its own configs (so they are exactly what `load_adapter` expects);
        # the weights are then rewritten from the selected best state.
        model.save_adapter(str(tmp), name, with_head=True, use_safetensors=True)
        adapter_cfg = json.loads((tmp / ADAPTER_CONFIG).read_text())
        head_cfg = json.loads((tmp / HEAD_CONFIG).read_text())
        write_files(tmp, manifest, best[1], best[2], adapter_cfg, head_cfg)
    return TrainResult(cfg.out, best_metrics, test_metrics, step, seconds, tuple(losses))
