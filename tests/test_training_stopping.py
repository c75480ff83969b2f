"""Early stopping, the step budget, bucketed batches and the training precision (issue 18)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from adaptermix.checkpoints import read_checkpoint
from adaptermix.checkpoints.manifest import state_sha256
from adaptermix.data import get_domain
from adaptermix.data.tokenize import collate, encode, length_batches
from adaptermix.methods import precision as precision_mod
from adaptermix.methods.inference import Metrics, model_inputs, predict
from adaptermix.methods.model import adapter_state, attach, load_base
from adaptermix.training import train as train_mod
from adaptermix.training.config import TrainConfig, resolve, step_budget
from adaptermix.training.stopping import EarlyStopping
from conftest import one_line_error, run_cli


def _run(curve: list[float], patience: int | None, min_delta: float = 0.0) -> tuple[EarlyStopping, int]:
    stopper = EarlyStopping(patience, min_delta)
    for i, acc in enumerate(curve):
        stopper.update(10 * (i + 1), acc)
        if stopper.should_stop:
            return stopper, 10 * (i + 1)
    return stopper, 10 * len(curve)


def test_early_stopping_on_a_scripted_curve():
    stopper, stopped = _run([0.50, 0.60, 0.70, 0.69, 0.70, 0.68, 0.90], patience=3)
    assert stopped == 60  # three passes after the best (step 30) without a gain
    assert stopper.best is not None and stopper.best.step == 30  # an equal later pass is no improvement
    assert [p.step for p in stopper.curve] == [10, 20, 30, 40, 50, 60]


def test_min_delta_keeps_the_better_checkpoint_but_not_the_patience():
    # 0.701 and 0.702 are better checkpoints, but gains below min_delta do not reset patience.
    stopper, stopped = _run([0.5, 0.7, 0.701, 0.702, 0.9], patience=2, min_delta=0.01)
    assert stopped == 40 and stopper.best is not None and stopper.best.step == 40


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.integers(1, 5))
def test_the_best_is_the_first_maximum_seen_before_stopping(curve, patience):
    stopper, stopped = _run(curve, patience)
    seen = curve[: stopped // 10]
    assert stopper.best is not None
    assert stopper.best.accuracy == max(seen) and stopper.best.step == 10 * (seen.index(max(seen)) + 1)
    if stopped < 10 * len(curve):  # stopped early: the last `patience` passes did not beat the best before them
        assert stopped // 10 - seen.index(max(seen)) - 1 == patience


def test_an_explicit_step_budget_wins_over_the_preset():
    # quickstart: 1 epoch, at most 150 steps. An explicit --max-steps replaces both.
    cfg = TrainConfig(domain="trec", out="x", preset="quickstart", max_steps=1500)
    assert step_budget(resolve(cfg, "trec"), steps_per_epoch=675) == (1500, "max_steps")
    preset_only = TrainConfig(domain="trec", out="x", preset="quickstart")
    assert step_budget(resolve(preset_only, "trec"), 675) == (150, "max_steps")
    assert step_budget(resolve(preset_only, "trec"), 100) == (100, "epochs")
    both = TrainConfig(domain="trec", out="x", preset="quickstart", epochs=2, max_steps=1500)
    assert step_budget(resolve(both, "trec"), 675) == (1350, "epochs")


def _scripted(curve: list[float], seen: list[tuple[int, str]]):
    """An `evaluate_model` that returns the scripted validation accuracies and records each pass's weights."""
    calls = iter(curve)

    def fake(model, encoded, pad_id, num_labels, batches=None):
        acc = next(calls, 0.5)  # after the curve: the final re-scoring passes
        name = next(iter(model.adapters_config.adapters))
        seen.append((len(seen), state_sha256(adapter_state(model, name))))
        return Metrics(acc, acc, len(encoded), 1, 1, 0.0)

    return fake


def test_training_stops_at_the_right_step_and_keeps_the_best_weights(tiny_encoders, toy_domain, cache_dir,
                                                                     tmp_path, monkeypatch):
    curve = [0.5, 0.6, 0.8, 0.7, 0.75, 0.79, 0.95]  # best at pass 3 (step 15); patience 3 ends at step 30
    seen: list[tuple[int, str]] = []
    monkeypatch.setattr(train_mod, "evaluate_model", _scripted(curve, seen))
    cfg = TrainConfig(domain=toy_domain, out=tmp_path / "ckpt", encoder=str(tiny_encoders["bert"]),
                      preset="quickstart", adapter_size=8, learning_rate=5e-3, batch_size=16, max_length=32,
                      max_steps=200, eval_every=5, patience=3, cache_dir=cache_dir, progress=False)
    result = train_mod.train(cfg)
    assert result.steps == 30 and result.run is not None
    assert result.run.stop_reason == "early_stopping" and result.run.budget == 200
    assert result.run.validation["best_step"] == 15
    assert [p[0] for p in result.run.validation["curve"]] == [5, 10, 15, 20, 25, 30]  # type: ignore[union-attr]
    ckpt = read_checkpoint(tmp_path / "ckpt")
    assert ckpt.manifest.adapter_sha256 == seen[2][1] != seen[5][1]  # the weights of pass 3, not the last
    assert state_sha256(ckpt.adapter) == seen[2][1]  # the stored tensors are those weights
    stored = ckpt.manifest.extra["training"]
    assert stored["stop_reason"] == "early_stopping" and stored["validation"]["best_step"] == 15
    assert "early stopping" in result.run.describe() and "kept step 15" in result.run.describe()


def test_an_explicit_step_budget_cycles_the_data(tiny_encoders, toy_domain, cache_dir, tmp_path):
    # 240 toy rows → 168 train → 11 steps an epoch at batch 16; quickstart's one epoch must not cut 30 steps.
    cfg = TrainConfig(domain=toy_domain, out=tmp_path / "ckpt", encoder=str(tiny_encoders["bert"]),
                      preset="quickstart", adapter_size=8, batch_size=16, max_length=32, max_steps=30,
                      cache_dir=cache_dir, progress=False, precision="fp32")
    result = train_mod.train(cfg)
    assert result.steps == 30 and result.run is not None and result.run.stop_reason == "max_steps"
    assert result.run.epochs_run > 1


@pytest.mark.parametrize(("speedup", "expected"), [(1.0, "fp32"), (4.0, "bf16")])
def test_bf16_training_only_where_the_probe_says_so(tiny_encoders, toy_domain, cache_dir, tmp_path, monkeypatch,
                                                    speedup, expected):
    monkeypatch.setattr(precision_mod, "cpu_bf16_speedup", lambda: speedup)
    used: list[bool] = []
    real = torch.autocast.__init__

    def spy(self, device_type, *args, **kwargs):  # type: ignore[no-untyped-def]
        used.append(kwargs.get("dtype") == torch.bfloat16)
        real(self, device_type, *args, **kwargs)

    monkeypatch.setattr(torch.autocast, "__init__", spy)
    cfg = TrainConfig(domain=toy_domain, out=tmp_path / "ckpt", encoder=str(tiny_encoders["bert"]),
                      preset="quickstart", adapter_size=8, batch_size=16, max_length=32, max_steps=4,
                      cache_dir=cache_dir, progress=False)
    result = train_mod.train(cfg)
    assert result.run is not None and result.run.precision == expected
    assert any(used) == (expected == "bf16")
    assert json.loads((tmp_path / "ckpt" / "manifest.json").read_text())["extra"]["training"]["precision"] == expected


def test_bucketed_batches_predict_as_padded_ones(tiny_encoders, toy_domain, cache_dir):
    base = load_base(str(tiny_encoders["bert"]))
    data = get_domain(toy_domain).load(cache_dir)
    attach(base, "toy", "pfeiffer", 8, data.label_names, seed=3)
    model = base.model.eval()
    enc = encode(base.tokenizer, data.test, 32, cache_dir)
    pad = base.tokenizer.pad_token_id or 0
    bucketed, _ = predict(model, enc, pad)
    # The plain way: every example padded to max_length, in the split's order.
    width = 32
    logits = []
    for start in range(0, len(enc), 16):
        idx = np.arange(start, min(start + 16, len(enc)))
        batch = collate(enc, idx, pad)
        extra = width - batch["input_ids"].shape[1]
        batch = {k: torch.nn.functional.pad(v, (0, extra), value=pad if k == "input_ids" else 0)
                 if v.dim() == 2 else v for k, v in batch.items()}
        with torch.inference_mode():
            logits.append(model(**model_inputs(model, batch, torch.device("cpu"))).logits)
    padded = torch.cat(logits).argmax(-1).numpy()
    np.testing.assert_array_equal(bucketed, padded)
    # and the training batches are tight: every batch padded to its own longest example only
    for idx in length_batches(enc, 16, shuffle_seed=1):
        assert collate(enc, idx, pad)["input_ids"].shape[1] == enc.lengths[idx].max()


@pytest.mark.parametrize(("argv", "needle"), [
    (["--patience", "3"], "patience"),
    (["--max-steps", "10", "--min-delta", "-0.1"], "--min-delta"),
    (["--precision", "fp16"], "precision"),
])
def test_bad_training_options_are_one_line(tiny_encoders, toy_domain, tmp_path, capsys, argv, needle):
    out = tmp_path / "ckpt"
    code, _, err = run_cli(["train", "--domain", toy_domain, "--encoder", str(tiny_encoders["bert"]),
                            "--out", str(out), "--quiet", *argv], capsys)
    one_line_error(code, err, needle)
    assert not out.exists()
