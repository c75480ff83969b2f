"""Train → save → load → mix, on tiny random BERT and RoBERTa, for every adapter method."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptermix.checkpoints import read_checkpoint
from adaptermix.data import get_domain
from adaptermix.data.tokenize import collate, encode
from adaptermix.evaluation.evaluator import Evaluator, evaluate_checkpoint
from adaptermix.methods.inference import model_inputs
from adaptermix.methods.model import canonicalize, load_base
from adaptermix.mixing import average
from adaptermix.mixing.checkpoints import mix_checkpoints
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import TrainResult, train

METHODS = ("houlsby", "pfeiffer", "lora")
ENCODERS = ("bert", "roberta")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_encoders, toy_domain, cache_dir) -> dict[tuple[str, str, int], TrainResult]:
    """Two adapters (seeds 1 and 2) per (encoder, method), trained for 40 steps."""
    out = tmp_path_factory.mktemp("ckpts")
    results = {}
    for enc in ENCODERS:
        for method in METHODS:
            for seed in (1, 2):
                cfg = TrainConfig(
                    domain=toy_domain, out=out / f"{enc}-{method}-{seed}", method=method,
                    encoder=str(tiny_encoders[enc]), preset="quickstart", seed=seed, adapter_size=8,
                    learning_rate=5e-3, batch_size=16, epochs=10, max_steps=40, eval_every=20, max_length=32,
                    cache_dir=cache_dir, progress=False,
                )
                results[(enc, method, seed)] = train(cfg)
    return results


def _logits(model, encoded, pad_id) -> torch.Tensor:
    batch = collate(encoded, torch.arange(min(16, len(encoded))).numpy(), pad_id)
    with torch.inference_mode():
        return model(**model_inputs(model, batch, torch.device("cpu"))).logits


def _toy_test(tokenizer, toy_domain: str, cache_dir: Path):
    return encode(tokenizer, get_domain(toy_domain).load(cache_dir).test, 32, cache_dir)


@pytest.mark.parametrize("enc", ENCODERS)
@pytest.mark.parametrize("method", METHODS)
def test_training_lowers_the_loss(trained, enc, method):
    losses = trained[(enc, method, 1)].losses
    assert len(losses) == 40
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


@pytest.mark.parametrize("enc", ENCODERS)
@pytest.mark.parametrize("method", METHODS)
def test_save_load_gives_identical_logits_in_ours_and_adapterhub(trained, tiny_encoders, toy_domain, cache_dir,
                                                                 enc, method):
    path = trained[(enc, method, 1)].path
    ckpt = read_checkpoint(path)
    assert ckpt.manifest.method == method and ckpt.manifest.kind == "single"

    # Our path: the evaluator's resident model with the adapter copied into its slot.
    ev = Evaluator.for_checkpoint(ckpt, max_length=32, cache_dir=cache_dir)
    test = _toy_test(ev.base.tokenizer, toy_domain, cache_dir)
    ev.evaluate(ckpt.adapter, ckpt.head, ev.target(toy_domain, "test"), head_key=ckpt.name)
    ours = _logits(ev.base.model, test, ev.pad_id)

    # AdapterHub's path: a fresh model and `load_adapter` on the directory as is.
    base = load_base(str(tiny_encoders[enc]))
    name = base.model.load_adapter(str(path), with_head=True, use_safetensors=True)
    base.model.set_active_adapters(name)
    base.model.active_head = name
    theirs = _logits(base.model, test, ev.pad_id)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)

    # The stored metric is reproducible: re-evaluating gives the manifest's validation accuracy.
    again = evaluate_checkpoint(path, split="validation", max_examples=None, max_length=32, cache_dir=cache_dir)
    assert again.accuracy == pytest.approx(ckpt.manifest.metrics["validation"]["accuracy"])


@pytest.mark.parametrize("method", METHODS)
def test_average_of_one_is_itself(trained, method):
    adapter = read_checkpoint(trained[("bert", method, 1)].path).adapter
    mixed = average([adapter])
    assert mixed.keys() == adapter.keys()
    for key in adapter:
        torch.testing.assert_close(mixed[key], adapter[key], rtol=0, atol=0)


@pytest.mark.parametrize("enc", ENCODERS)
@pytest.mark.parametrize("method", METHODS)
def test_average_of_two_equals_adapterhub_average_adapter(trained, tiny_encoders, enc, method):
    a, b = (read_checkpoint(trained[(enc, method, s)].path) for s in (1, 2))
    base = load_base(str(tiny_encoders[enc]))
    na = base.model.load_adapter(str(a.path), load_as="a", use_safetensors=True)
    nb = base.model.load_adapter(str(b.path), load_as="b", use_safetensors=True)
    base.model.average_adapter("avg", [na, nb], weights=[0.3, 0.7], combine_strategy="linear")
    theirs = canonicalize(
        {k: v for k, v in base.model.state_dict().items() if ".avg." in k and not k.startswith("heads.")}, "avg"
    )
    ours = average([a.adapter, b.adapter], weights=[3, 7])
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("enc", ENCODERS)
@pytest.mark.parametrize("method", METHODS)
def test_mixture_checkpoint_loads_in_adapterhub(trained, tiny_encoders, toy_domain, cache_dir, tmp_path, enc, method):
    paths = [trained[(enc, method, s)].path for s in (1, 2)]
    out = mix_checkpoints(paths, head_from=paths[0], out=tmp_path / "mix")
    mixed = read_checkpoint(out)
    assert mixed.manifest.kind == "mixture" and len(mixed.manifest.members) == 2
    expected = average([read_checkpoint(p).adapter for p in paths])
    for key in expected:
        torch.testing.assert_close(mixed.adapter[key], expected[key], rtol=0, atol=0)
    # The head is the target's, untouched.
    target = read_checkpoint(paths[0])
    for key in target.head:
        torch.testing.assert_close(mixed.head[key], target.head[key], rtol=0, atol=0)

    base = load_base(str(tiny_encoders[enc]))
    name = base.model.load_adapter(str(out), with_head=True, use_safetensors=True)
    base.model.set_active_adapters(name)
    base.model.active_head = name
    test = _toy_test(base.tokenizer, toy_domain, cache_dir)
    theirs = _logits(base.model, test, 0)
    ev = Evaluator.for_checkpoint(mixed, max_length=32, cache_dir=cache_dir)
    ev.evaluate(mixed.adapter, mixed.head, ev.target(toy_domain, "test"), head_key=mixed.name)
    torch.testing.assert_close(_logits(ev.base.model, test, 0), theirs, rtol=0, atol=0)
