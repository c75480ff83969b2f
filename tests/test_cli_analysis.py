"""`adaptermix fsd | greedy | prune | sparse-mix` end to end on three tiny Pfeiffer adapters."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptermix.analysis import fsd_matrix, greedy_selection
from adaptermix.checkpoints import ADAPTER_WEIGHTS, read_checkpoint
from adaptermix.checkpoints.sparse import SPARSE_WEIGHTS
from adaptermix.evaluation.evaluator import evaluate_checkpoint
from adaptermix.methods.model import adapter_state, load_base
from adaptermix.mixing import average
from adaptermix.pruning import magnitude_prune, sparse_mix
from adaptermix.training.config import TrainConfig
from adaptermix.training.train import train
from conftest import one_line_error, run_cli, toy_rows

DOMAINS = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, tiny_encoders, cache_dir) -> list[Path]:
    """Three tiny Pfeiffer adapters (10 steps), one per toy domain; the second domain flips the labels."""
    root = tmp_path_factory.mktemp("analysis")
    paths = []
    for i, name in enumerate(DOMAINS):
        rows = toy_rows(96, seed=i)
        if i == 1:
            rows = [{"text": r["text"], "label": "neg" if r["label"] == "pos" else "pos"} for r in rows]
        data = root / f"{name}.csv"
        with data.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(rows)
        train(TrainConfig(
            domain=str(data), out=root / name, method="pfeiffer", encoder=str(tiny_encoders["bert"]),
            preset="quickstart", seed=i, adapter_size=8, learning_rate=5e-3, batch_size=16, max_steps=10,
            max_length=32, cache_dir=cache_dir, progress=False,
        ))
        paths.append(root / name)
    return paths


def _adapters(paths: list[Path]) -> list[dict[str, torch.Tensor]]:
    return [read_checkpoint(p).adapter for p in paths]


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_fsd_writes_matrix_heatmap_and_layers(ckpts, tmp_path, capsys):
    out = tmp_path / "fsd"
    code, stdout, err = run_cli(["fsd", *map(str, ckpts), "--per-layer", "--out", str(out)], capsys)
    assert code == 0, err
    with (out / "fsd.csv").open() as fh:
        rows = list(csv.reader(fh))
    names = [read_checkpoint(p).name for p in ckpts]
    assert rows[0] == ["adapter", *names] and [r[0] for r in rows[1:]] == names
    S = np.array([[float(x) for x in r[1:]] for r in rows[1:]])
    assert np.array_equal(S, S.T) and np.all(np.diag(S) == 0)
    assert np.array_equal(S, fsd_matrix(_adapters(ckpts)))
    assert 0 < S[0, 1] < 1
    summary = json.loads((out / "fsd.json").read_text())
    assert summary["names"] == names and summary["matrix"] == S.tolist() and summary["space"] == "factors"
    assert summary["mean_fsd"] == pytest.approx(S.mean(axis=1).tolist())
    layers = json.loads((out / "fsd_layers.json").read_text())["layers"]
    assert list(layers) == ["layer.0", "layer.1"]
    # Entry-weighted per-layer FSD gives back the whole-adapter FSD.
    a = _adapters(ckpts)[0]
    sizes = {g: sum(t.numel() for k, t in a.items() if f"layer.{g[-1]}." in k) for g in layers}
    total = sum(sizes.values())
    assert sum(sizes[g] * layers[g][0][1] for g in layers) / total == pytest.approx(S[0, 1])
    for png in ("fsd.png", "fsd_layers.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out / "fsd.png") in stdout
    # For bottleneck adapters delta space equals factor space.
    code, _, err = run_cli(["fsd", *map(str, ckpts), "--space", "delta", "--out", str(tmp_path / "delta")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "delta" / "fsd.json").read_text())["matrix"] == S.tolist()


@pytest.mark.parametrize("maximize", [False, True])
def test_greedy_picks_what_greedy_selection_picks(ckpts, tmp_path, capsys, maximize):
    out = tmp_path / "greedy"
    flag = ["--maximize"] if maximize else []
    code, stdout, err = run_cli(["greedy", *map(str, ckpts), "--l", "2", *flag, "--head-from", str(ckpts[0]),
                             "--out", str(out)], capsys)
    assert code == 0, err
    members = [read_checkpoint(p) for p in ckpts]
    S = fsd_matrix([m.adapter for m in members])
    chosen = greedy_selection(S, 2, maximize)
    names = [members[i].name for i in chosen]
    assert f": {', '.join(names)}" in stdout.splitlines()[0]
    mixed = read_checkpoint(out)
    cfg = mixed.manifest.config
    assert mixed.manifest.kind == "mixture" and cfg["method"] == "greedy" and cfg["l"] == 2
    assert cfg["maximize"] is maximize and cfg["chosen"] == names
    assert cfg["mean_fsd"] == {m.name: pytest.approx(math.fsum(row) / 3) for m, row in zip(members, S, strict=True)}
    assert [m.name for m in mixed.manifest.members] == names
    assert _equal(mixed.adapter, average([members[i].adapter for i in chosen]))
    assert _equal(mixed.head, members[0].head)


def test_prune_compact_is_exact_small_and_evaluates(ckpts, tmp_path, capsys, cache_dir):
    out = tmp_path / "pruned"
    code, stdout, err = run_cli(["prune", str(ckpts[0]), "--sparsity", "0.9", "--out", str(out)], capsys)
    assert code == 0, err
    assert "achieved (requested 0.9, scope global)" in stdout and "bytes" in stdout
    assert (out / SPARSE_WEIGHTS).is_file() and not (out / ADAPTER_WEIGHTS).exists()
    src, pruned = read_checkpoint(ckpts[0]), read_checkpoint(out)
    n = sum(t.numel() for t in src.adapter.values())
    zeros = sum(int((t == 0).sum()) for t in pruned.adapter.values())
    assert zeros == math.floor(0.9 * n)
    assert f"sparsity {zeros / n:.4f} achieved" in stdout
    assert _equal(pruned.adapter, magnitude_prune(src.adapter, 0.9))
    assert _equal(pruned.head, src.head)  # heads are never pruned
    extra = pruned.manifest.extra
    assert pruned.manifest.kind == "pruned" and extra["scope"] == "global" and extra["storage"] == "compact"
    assert extra["requested_sparsity"] == 0.9 and extra["achieved_sparsity"] == zeros / n
    metrics = evaluate_checkpoint(out, max_length=32, cache_dir=cache_dir)
    assert 0 <= metrics.accuracy <= 1 and metrics.n > 0
    dense_file = (ckpts[0] / ADAPTER_WEIGHTS).stat().st_size
    assert (out / SPARSE_WEIGHTS).stat().st_size < 0.5 * dense_file


@pytest.mark.parametrize("scope", ["layer", "tensor"])
def test_prune_scopes_round_trip(ckpts, tmp_path, capsys, scope):
    out = tmp_path / scope
    code, _, err = run_cli(["prune", str(ckpts[1]), "--sparsity", "0.5", "--scope", scope, "--out", str(out)], capsys)
    assert code == 0, err
    assert _equal(read_checkpoint(out).adapter, magnitude_prune(read_checkpoint(ckpts[1]).adapter, 0.5, scope))


def test_prune_dense_loads_in_adapterhub(ckpts, tmp_path, capsys, tiny_encoders):
    out = tmp_path / "dense"
    code, stdout, err = run_cli(["prune", str(ckpts[2]), "--sparsity", "0.7", "--dense", "--out", str(out)], capsys)
    assert code == 0, err
    assert (out / ADAPTER_WEIGHTS).is_file() and not (out / SPARSE_WEIGHTS).exists()
    base = load_base(str(tiny_encoders["bert"]))
    name = base.model.load_adapter(str(out), with_head=True, use_safetensors=True)
    assert _equal(adapter_state(base.model, name), read_checkpoint(out).adapter)
    assert read_checkpoint(out).manifest.extra["storage"] == "dense"


def test_sparse_mix_equals_sparse_mix(ckpts, tmp_path, capsys):
    out = tmp_path / "smix"
    code, stdout, err = run_cli(["sparse-mix", *map(str, ckpts), "--l", "3", "--m", "1", "--sparsity", "0.9",
                             "--head-from", str(ckpts[2]), "--out", str(out)], capsys)
    assert code == 0, err
    members = [read_checkpoint(p) for p in ckpts]
    mixed = read_checkpoint(out)
    assert _equal(mixed.adapter, sparse_mix([m.adapter for m in members], 3, 1, 0.9))
    assert _equal(mixed.head, members[2].head)
    plan = mixed.manifest.extra["plan"]
    assert mixed.manifest.kind == "sparse-mixture" and sorted(plan["candidates"]) == sorted(DOMAINS)
    assert all(len(plan["pruned"][c]) == 1 and plan["pruned"][c][0] in ("layer.0", "layer.1")
               for c in plan["candidates"])
    for c in plan["candidates"]:
        assert plan["pruned"][c][0] in stdout


@pytest.fixture
def foreign(ckpts, tmp_path) -> Path:
    """A copy of the first checkpoint that claims another base encoder."""
    path = tmp_path / "foreign"
    shutil.copytree(ckpts[0], path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["base"]["fingerprint"] = "0" * 16
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_bad_input_is_one_line_and_writes_nothing(ckpts, tmp_path, capsys, foreign):
    c = list(map(str, ckpts))
    out = tmp_path / "out"
    head = ["--head-from", c[0], "--out", str(out)]
    cases = [
        (["greedy", *c, "--l", "4", *head], "l=4 is out of range"),
        (["greedy", *c, "--l", "0", *head], "l=0 is out of range"),
        (["sparse-mix", *c, "--l", "4", "--m", "1", "--sparsity", "0.9", *head], "l=4 is out of range"),
        (["sparse-mix", *c, "--l", "2", "--m", "3", "--sparsity", "0.9", *head], "m=3 is out of range"),
        (["sparse-mix", *c, "--l", "2", "--m", "1", "--sparsity", "1.5", *head], "sparsity must be in [0, 1]"),
        (["prune", c[0], "--sparsity", "-0.1", "--out", str(out)], "sparsity must be in [0, 1]"),
        (["prune", c[0], "--sparsity", "0.5", "--scope", "row", "--out", str(out)], "unknown scope 'row'"),
        (["fsd", *c, "--space", "weights", "--out", str(out)], "unknown space 'weights'"),
        (["fsd", c[0], str(foreign), "--out", str(out)], "different base encoders"),
        (["greedy", c[1], str(foreign), "--l", "1", *head], "different base encoders"),
        (["sparse-mix", c[1], str(foreign), "--l", "2", "--m", "0", "--sparsity", "0.5", *head],
         "different base encoders"),
        (["prune", str(tmp_path / "missing"), "--sparsity", "0.5", "--out", str(out)], "does not exist"),
    ]
    for argv, needle in cases:
        code, _, err = run_cli(argv, capsys)
        one_line_error(code, err, needle)
        assert not out.exists(), argv
    out.mkdir()
    code, _, err = run_cli(["prune", c[0], "--sparsity", "0.5", "--out", str(out)], capsys)
    one_line_error(code, err, "already exists")
    assert list(out.iterdir()) == []
