"""Shared fixtures: tiny random BERT and RoBERTa encoders (hidden 32, 2 layers) and a toy domain.

The tiny encoders are real HF model folders (config, safetensors weights, a WordPiece tokenizer
over a small vocabulary), so every code path that loads `--encoder FOLDER` is exercised exactly
as with a real model, in milliseconds.
"""

from __future__ import annotations

import atexit
import csv
import os
import random
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# matplotlib caches fonts under ~/.config/matplotlib by default: tests never write to the home folder.
os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="adaptermix-mpl-"))
# A command a test runs without --cache-dir (the advisor's text embeddings, say) would fill
# ~/.cache/adaptermix: unless a developer points ADAPTERMIX_CACHE somewhere on purpose (the real-corpus
# tests reuse it), the default cache is a private folder for the session, removed at exit.
if not os.environ.get("ADAPTERMIX_CACHE"):
    _SESSION_CACHE = tempfile.mkdtemp(prefix="adaptermix-cache-")
    os.environ["ADAPTERMIX_CACHE"] = _SESSION_CACHE
    atexit.register(shutil.rmtree, _SESSION_CACHE, ignore_errors=True)

WORDS = [
    *("good", "great", "fine", "lovely", "superb", "happy"),
    *("bad", "awful", "poor", "terrible", "sad", "ugly"),
    *("the", "a", "movie", "film", "plot", "actor", "story", "food", "service", "day", "team", "game"),
    *("price", "market", "stock", "rate", "news", "tweet", "said", "was", "is", "very", "not", "quite"),
]
POSITIVE = WORDS[:6]
NEGATIVE = WORDS[6:12]
NEUTRAL = WORDS[12:]
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
        "max_position_embeddings": 80, "initializer_range": 0.2}


def _write_tokenizer(folder: Path) -> None:
    from transformers import BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    tok.save_pretrained(folder)


def _make_encoder(folder: Path, kind: str) -> Path:
    import torch
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

    folder.mkdir(parents=True)
    _write_tokenizer(folder)
    vocab_size = 5 + len(WORDS)
    torch.manual_seed(0)
    if kind == "bert":
        model = BertModel(BertConfig(vocab_size=vocab_size, **TINY))
    else:
        # A BERT WordPiece tokenizer pads with id 0, so the tiny RoBERTa uses 0 as its padding id.
        cfg = RobertaConfig(vocab_size=vocab_size, pad_token_id=0, bos_token_id=2, eos_token_id=3,
                            type_vocab_size=1, **{**TINY, "max_position_embeddings": 82})
        model = RobertaModel(cfg)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{'bert': folder, 'roberta': folder} of tiny random encoders."""
    root = tmp_path_factory.mktemp("encoders")
    return {kind: _make_encoder(root / kind, kind) for kind in ("bert", "roberta")}


def toy_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """A learnable 2-class task: the label is the polarity of the sentiment words in the text."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        cue = POSITIVE if label == "pos" else NEGATIVE
        words = rng.choices(NEUTRAL, k=rng.randint(2, 6)) + rng.choices(cue, k=3)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


@pytest.fixture(scope="session")
def toy_domain(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a local CSV domain (`text`, `label`) with 240 examples."""
    path = tmp_path_factory.mktemp("toy") / "toy.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(toy_rows(240))
    return str(path)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private corpus/token cache for the test session."""
    return tmp_path_factory.mktemp("cache")


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run `adaptermix ARGV` in-process; returns (exit code, stdout, stderr)."""
    from adaptermix.cli.main import main

    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *needles: str) -> None:
    """A user error: exit code 2, exactly one line on stderr, no traceback, mentioning `needles`."""
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x]
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def toy_domain_files(folder: Path, n: int, rows: int = 120) -> list[str]:
    """`n` toy CSV domains (`dom0.csv` ...) in `folder`, each learnable with its own seed; their paths."""
    paths = []
    for i in range(n):
        path = folder / f"dom{i}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(toy_rows(rows, seed=i))
        paths.append(str(path))
    return paths


def train_toy_adapters(root: Path, names: Sequence[str], encoder: Path, cache_dir: Path, *, n_rows: int = 160,
                       seed: int = 20, max_steps: int = 12) -> Path:
    """One tiny Pfeiffer adapter per toy CSV domain in `names` (one training seed: a shared init); returns
    the folder that holds them (`root/adapters`)."""
    from adaptermix.training.config import TrainConfig
    from adaptermix.training.train import train

    for i, name in enumerate(names):
        path = root / f"{name}.csv"
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["text", "label"])
            w.writeheader()
            w.writerows(toy_rows(n_rows, seed=seed + i))
        train(TrainConfig(domain=str(path), out=root / "adapters" / name, method="pfeiffer", encoder=str(encoder),
                          preset="quickstart", seed=7, adapter_size=8, learning_rate=5e-3, batch_size=16,
                          max_steps=max_steps, max_length=32, cache_dir=cache_dir, progress=False))
    return root / "adapters"
