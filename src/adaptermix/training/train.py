"""Train one adapter and its classification head on one domain (PAPER.md §3).

AdamW with linear warm-up and decay, gradient clipping at 1.0, length-bucketed batches (padded only
to the longest example of each batch), bf16 autocast where the start-up probe favours it; the
adapter and head with the best validation accuracy are kept (model selection on validation, as in
the paper), and training stops early once validation stops improving where `patience` is set; the
result is written atomically as a checkpoint directory.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass
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
from adaptermix.methods.inference import Metrics, evaluate_model, model_inputs, prepare_batches
from adaptermix.methods.model import (
    adapter_state,
    attach,
    freeze_all_but,
    head_state,
    load_base,
    load_state,
    set_threads,
)
from adaptermix.methods.precision import autocast, resolve_precision
from adaptermix.training.config import Hyper, TrainConfig, resolve, step_budget
from adaptermix.training.init import init_record
from adaptermix.training.stopping import EarlyStopping


@dataclass(frozen=True)
class TrainResult:
    """Where the checkpoint went and how it scored."""

    path: Path
    validation: Metrics
    test: Metrics
    steps: int
    seconds: float
    losses: tuple[float, ...]  # training loss of every step, for curves and tests
    run: TrainingRun | None = None


@dataclass(frozen=True)
class TrainingRun:
    """How training went: recorded in the manifest (`extra.training`) and printed by the CLI.

    `stop_reason` is `early_stopping` (patience ran out), `max_steps` or `epochs` (the budget that
    bound this run); `validation` holds the best step and the whole validation curve.
    """

    steps: int
    budget: int
    stop_reason: str
    epochs_run: float
    precision: str
    seconds: float
    tokens: int  # real (non-pad) training tokens
    padded_tokens: int
    validation: dict[str, object]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else float("nan")

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "tokens_per_s": self.tokens_per_s}

    def describe(self) -> str:
        """One line: why training stopped, and where the kept checkpoint is from."""
        why = {"early_stopping": f"early stopping (patience {self.validation.get('patience')})",
               "max_steps": "the step budget (max_steps)", "epochs": "the epoch budget"}[self.stop_reason]
        return (f"stopped after {self.steps} of {self.budget} steps ({self.epochs_run:g} epochs) by {why}; "
                f"kept step {self.validation.get('best_step')}; {self.precision}, "
                f"{self.tokens_per_s:.0f} tokens/s")


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
    """Train, select on validation (stopping early where asked), test, and write the checkpoint to `cfg.out`.

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
    precision = resolve_precision(cfg.precision)

    cache = cfg.cache_dir
    train_enc = encode(base.tokenizer, data.train.take(cfg.max_train_examples), hyper.max_length, cache)
    val_enc = encode(base.tokenizer, data.validation.take(hyper.max_eval_examples), hyper.max_length, cache)
    pad_id = base.tokenizer.pad_token_id or 0
    num_labels = len(data.label_names)
    val_batches = prepare_batches(model, val_enc, pad_id)  # scored many times: collated once

    steps_per_epoch = math.ceil(len(train_enc) / hyper.batch_size)
    total, bound = step_budget(hyper, steps_per_epoch)
    eval_every = hyper.eval_every or steps_per_epoch
    opt = _optimizer(model, params, hyper)
    # The schedule decays over the whole budget: early stopping ends the run, it does not reshape it.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(total, hyper.warmup_ratio))
    torch.manual_seed(cfg.seed)

    stopper = EarlyStopping(hyper.patience, hyper.min_delta)
    best: tuple[dict, dict] | None = None
    best_metrics: Metrics | None = None
    stop_reason = bound
    step, tokens, padded, start = 0, 0, 0, time.perf_counter()
    losses: list[float] = []
    bar = tqdm(total=total, desc=f"train {name}", unit="step", disable=not cfg.progress, dynamic_ncols=True)
    model.train()
    epoch = 0
    while step < total and stop_reason != "early_stopping":
        for idx in length_batches(train_enc, hyper.batch_size, shuffle_seed=cfg.seed + epoch):
            batch = collate(train_enc, idx, pad_id)
            with autocast(precision):
                logits = model(**model_inputs(model, batch, device)).logits
            # The loss in fp32 whatever the forward ran in: bf16 log-softmax loses the small gradients.
            loss = nn.functional.cross_entropy(logits.float(), batch["labels"].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            value = loss.item()
            losses.append(value)
            if not math.isfinite(value):
                raise ConfigError(f"training diverged (loss {value}) at step {step}: lower --lr")
            tokens += int(batch["attention_mask"].sum())
            padded += batch["attention_mask"].numel()
            postfix = {"loss": f"{value:.3f}", "tok_s": f"{tokens / (time.perf_counter() - start):.0f}"}
            if step % eval_every == 0 or step == total:
                with autocast(precision):
                    metrics = evaluate_model(model, val_enc, pad_id, num_labels, batches=val_batches)
                if stopper.update(step, metrics.accuracy):
                    best = (adapter_state(model, name), head_state(model, name))
                    best_metrics = metrics
                postfix["val_acc"] = f"{metrics.accuracy:.3f}"
                if stopper.should_stop and step < total:  # at the last step the budget ended it anyway
                    stop_reason = "early_stopping"
            bar.set_postfix(postfix)
            bar.update(1)
            if step >= total or stop_reason == "early_stopping":
                break
        epoch += 1
    bar.close()
    seconds = time.perf_counter() - start
    if best is None or best_metrics is None:
        raise ConfigError(f"no training step was run on {spec.name}: its training split is empty")
    load_state(model, name, best[0])
    load_state(model, name, best[1], heads=True)
    test_enc = encode(base.tokenizer, data.test.take(hyper.max_eval_examples), hyper.max_length, cache)
    # The manifest's metrics are scored in fp32, as `adaptermix evaluate` scores, so they reproduce
    # anywhere; the validation curve keeps what model selection saw in the training precision.
    best_metrics = evaluate_model(model, val_enc, pad_id, num_labels, batches=val_batches)
    test_metrics = evaluate_model(model, test_enc, pad_id, num_labels)
    run = TrainingRun(steps=step, budget=total, stop_reason=stop_reason, epochs_run=round(step / steps_per_epoch, 3),
                      precision=precision, seconds=seconds, tokens=tokens, padded_tokens=padded,
                      validation=stopper.as_dict())

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
        adapter_sha256=state_sha256(best[0]),
        config={**cfg.model_dump(mode="json", exclude={"out", "overwrite", "progress", "cache_dir"}),
                "effective": hyper.model_dump(), "steps": step, "data_fingerprint": data.fingerprint},
        metrics={"validation": best_metrics.as_dict(), "test": test_metrics.as_dict()},
        extra={"init": init, "training": run.as_dict()},
        versions=versions(),
        created=utc_now(),
    )
    with atomic_dir(cfg.out, cfg.overwrite) as tmp:
        # AdapterHub writes its own configs (so they are exactly what `load_adapter` expects);
        # the weights are then rewritten from the selected best state.
        model.save_adapter(str(tmp), name, with_head=True, use_safetensors=True)
        adapter_cfg = json.loads((tmp / ADAPTER_CONFIG).read_text())
        head_cfg = json.loads((tmp / HEAD_CONFIG).read_text())
        write_files(tmp, manifest, best[0], best[1], adapter_cfg, head_cfg)
    return TrainResult(cfg.out, best_metrics, test_metrics, step, seconds, tuple(losses), run)
