"""Several mixtures in one forward (issue 20): the same predictions as one mixture at a time.

fp32: identical predicted labels (and so identical rows) for every adapter method, on BERT and RoBERTa.
bf16: the stacked bf16 pass against fp32 one at a time, within the tolerance stated in docs/speed.md
(≥ 95 % of predictions equal, accuracy within 5 points on these 2-layer toy models).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptermix.evaluation.engine import Chunk, SweepWorker, WorkerConfig
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.methods.inference import predict
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train
from conftest import toy_rows

METHODS = ("pfeiffer", "houlsby", "lora")
DOMAINS = ("one", "two", "three", "four")


@pytest.fixture(scope="module")
def studies(tmp_path_factory, tiny_encoders, cache_dir) -> dict[tuple[str, str], tuple[str, ...]]:
    """(encoder kind, method) → four tiny adapters on domains that pull in different directions."""
    root = tmp_path_factory.mktemp("batched")
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for i, name in enumerate(DOMAINS):
        rows = toy_rows(120, seed=40 + i)
        if i % 2:  # flipped task: mixtures of these adapters disagree, so predictions differ per mixture
            rows = [{"text": r["text"], "label": "neg" if r["label"] == "pos" else "pos"} for r in rows]
        with (root / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
    cases = [("bert", m) for m in METHODS] + [("roberta", "pfeiffer")]
    for kind, method in cases:
        paths = []
        for i, name in enumerate(DOMAINS):
            path = root / kind / method / name
            train(TrainConfig(domain=str(root / f"{name}.csv"), out=path, method=method,
                              encoder=str(tiny_encoders[kind]), preset="quickstart", seed=i, adapter_size=8,
                              learning_rate=1e-2, batch_size=16, max_steps=2, max_length=32, cache_dir=cache_dir,
                              progress=False))
            paths.append(str(path))
        out[(kind, method)] = tuple(paths)
    return out


def _worker(paths: tuple[str, ...], cache_dir: Path, stack: int, precision: str = "fp32") -> SweepWorker:
    """A worker whose adapters are spread by the same seeded noise every time: a few training steps leave
    LoRA's B at ~0 and every mixture predicting alike, which would make equal predictions prove nothing."""
    spec = EvalSpec(max_length=32, precision=precision)
    worker = SweepWorker(WorkerConfig(paths=paths, spec=spec, cache_dir=str(cache_dir), stack=stack))
    gen = torch.Generator().manual_seed(0)
    worker.stacked = worker.stacked + 0.3 * torch.randn(worker.stacked.shape, generator=gen)
    return worker


# Every mixture of target 1: alone, with each other adapter, pairs, all four.
SUBSETS = ((1,), (0, 1), (1, 2), (1, 3), (0, 1, 2), (0, 1, 3), (1, 2, 3), (0, 1, 2, 3))


@pytest.mark.parametrize("case", [("bert", m) for m in METHODS] + [("roberta", "pfeiffer")])
def test_stacked_rows_equal_one_mixture_at_a_time(studies, cache_dir, case):
    paths = studies[case]
    one = _worker(paths, cache_dir, stack=1).run(Chunk(1, SUBSETS))
    many = _worker(paths, cache_dir, stack=3).run(Chunk(1, SUBSETS))  # groups of 3, 3 and 2
    assert [r.members for r in many] == [r.members for r in one]
    for a, b in zip(one, many, strict=True):
        assert (a.accuracy, a.macro_f1, a.n_examples, a.tokens) == (b.accuracy, b.macro_f1, b.n_examples, b.tokens)
        assert (a.flip_fraction, a.mixture_fsd, a.precision) == (b.flip_fraction, b.mixture_fsd, b.precision)
        assert a.correct is not None and b.correct is not None
        np.testing.assert_array_equal(a.correct, b.correct)
    assert len({r.accuracy for r in one}) > 1, "mixtures should differ, or the test proves nothing"


@pytest.mark.parametrize("case", [("bert", m) for m in METHODS] + [("roberta", "pfeiffer")])
def test_parallel_pass_predicts_what_each_slot_predicts_alone(studies, cache_dir, case):
    """Same batches, logits argmax per mixture: stacked vs the resident slot holding each mixture in turn."""
    worker = _worker(studies[case], cache_dir, stack=4)
    worker.run(Chunk(1, ((1,),)))  # builds the target and its head
    target, ev = worker.target(1), worker.evaluator
    mixtures = [worker.mixture(m) for m in SUBSETS[4:]]
    worker._slots(len(mixtures))
    for slot, row in enumerate(mixtures):
        worker._load(row, slot)
    stacked, _ = ev.predictions_many(target, len(mixtures))
    batches = ev._prepared(target, None)
    for row, got in zip(mixtures, stacked, strict=True):
        worker._load(row, 0)
        alone, _ = predict(ev.base.model, target.encoded, ev.pad_id, batches=batches)
        np.testing.assert_array_equal(got, alone)


def test_bf16_stacked_within_tolerance_of_fp32_one_at_a_time(studies, cache_dir):
    paths = studies[("bert", "houlsby")]
    ref = _worker(paths, cache_dir, stack=1).run(Chunk(1, SUBSETS))
    low = _worker(paths, cache_dir, stack=4, precision="bf16").run(Chunk(1, SUBSETS))
    for a, b in zip(ref, low, strict=True):
        assert b.precision == "bf16"
        assert a.correct is not None and b.correct is not None
        assert abs(a.accuracy - b.accuracy) <= 0.05
        assert (a.correct == b.correct).mean() >= 0.95


def test_bf16_weights_are_restored_after_the_block(studies, cache_dir):
    worker = _worker(studies[("bert", "pfeiffer")], cache_dir, stack=2)
    model = worker.evaluator.base.model
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="inside"), worker.evaluator.bf16_weights():
        assert any(p.dtype == torch.bfloat16 for p in model.parameters())
        raise RuntimeError("inside")
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())


def test_stack_below_one_is_refused(studies, cache_dir):
    from adaptermix.errors import ConfigError

    with pytest.raises(ConfigError, match="stack=0"):
        _worker(studies[("bert", "pfeiffer")], cache_dir, stack=0)


def test_the_default_stack_follows_the_method_on_cpu(studies, cache_dir):
    # LoRA's stacked forward is slower on CPU than one mixture at a time (benchmarks/stack_throughput.py), so its
    # default is 1; bottleneck adapters stack CPU_STACK mixtures; an explicit stack wins either way.
    from adaptermix.evaluation.engine import CPU_STACK

    spec = EvalSpec(max_length=32)
    for method, want in (("lora", 1), ("pfeiffer", CPU_STACK)):
        paths = studies[("bert", method)]
        assert SweepWorker(WorkerConfig(paths=paths, spec=spec, cache_dir=str(cache_dir))).stack == want
        assert SweepWorker(WorkerConfig(paths=paths, spec=spec, cache_dir=str(cache_dir), stack=3)).stack == 3
