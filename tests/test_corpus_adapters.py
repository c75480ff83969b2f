"""Sec. 5.2 from checkpoints: `read_adapter_fsd` on three tiny trained adapters, and its refusals."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from adaptermix.analysis import fsd_matrix
from adaptermix.analysis.corpus.run import read_adapter_fsd
from adaptermix.checkpoints import read_checkpoint
from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train
from conftest import toy_rows

DOMAINS = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory, tiny_encoders: dict[str, Path], cache_dir: Path) -> Path:
    """A folder with three tiny Pfeiffer adapters (5 steps each), one per toy CSV domain."""
    root = tmp_path_factory.mktemp("corpus_adapters")
    for i, name in enumerate(DOMAINS):
        data = root / "data" / f"{name}.csv"
        data.parent.mkdir(exist_ok=True)
        with data.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(toy_rows(64, seed=i))
        train(TrainConfig(
            domain=str(data), out=root / "ckpt" / name, method="pfeiffer", encoder=str(tiny_encoders["bert"]),
            preset="quickstart", seed=i, adapter_size=8, batch_size=16, max_steps=5, max_length=32,
            max_eval_examples=16, cache_dir=cache_dir, progress=False,
        ))
    return root / "ckpt"


def test_fsd_of_the_analysed_domains_in_their_order(adapters: Path) -> None:
    domains = [read_checkpoint(adapters / d).domain for d in DOMAINS]
    order = [domains[2], "not_trained", domains[0], domains[1]]
    names, matrix = read_adapter_fsd([adapters], order)  # a folder of checkpoints
    assert names == (domains[2], domains[0], domains[1])
    expected = fsd_matrix([read_checkpoint(adapters / d).adapter for d in ("gamma", "alpha", "beta")])
    np.testing.assert_array_equal(matrix, expected)
    # Explicit checkpoint paths give the same.
    names2, matrix2 = read_adapter_fsd([adapters / d for d in DOMAINS], order)
    assert names2 == names and np.array_equal(matrix2, matrix)


def test_refuses_too_few_or_duplicate_adapters(adapters: Path, tmp_path: Path) -> None:
    domains = [read_checkpoint(adapters / d).domain for d in DOMAINS]
    with pytest.raises(ConfigError, match=">= 3"):
        read_adapter_fsd([adapters / "alpha", adapters / "beta"], domains)
    shutil.copytree(adapters / "alpha", tmp_path / "alpha_again")
    with pytest.raises(ConfigError, match="two adapters"):
        read_adapter_fsd([adapters, tmp_path / "alpha_again"], domains)
    with pytest.raises(CheckpointError, match="manifest.json"):
        read_adapter_fsd([tmp_path / "nothing"], domains)
