"""Compact storage of pruned adapters (adapter.sparse.safetensors): exact round trip, size, bad files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from adaptermix.checkpoints import ADAPTER_WEIGHTS, read_checkpoint, write_files
from adaptermix.checkpoints.manifest import BaseInfo, Manifest, state_sha256
from adaptermix.checkpoints.sparse import SPARSE_WEIGHTS, achieved_sparsity, load_sparse, save_sparse
from adaptermix.errors import CheckpointError
from adaptermix.pruning import magnitude_prune

HIDDEN, WIDTH, LAYERS = 256, 32, 4


def bottleneck(seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """A Pfeiffer-shaped adapter with canonical AdapterHub keys (≈ 70 k entries: headers do not dominate)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i in range(LAYERS):
        p = f"bert.encoder.layer.{i}.output.adapters.adapter"
        out[f"{p}.adapter_down.0.weight"] = torch.randn(WIDTH, HIDDEN, generator=g).to(dtype)
        out[f"{p}.adapter_down.0.bias"] = torch.randn(WIDTH, generator=g).to(dtype)
        out[f"{p}.adapter_up.weight"] = torch.randn(HIDDEN, WIDTH, generator=g).to(dtype)
        out[f"{p}.adapter_up.bias"] = torch.randn(HIDDEN, generator=g).to(dtype)
    return out


def bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return sorted(a) == sorted(b) and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
        and torch.equal(a[k].reshape(-1).view(torch.uint8), b[k].reshape(-1).view(torch.uint8))
        for k in a
    )


@pytest.mark.parametrize("scope", ["global", "layer", "tensor"])
@pytest.mark.parametrize("s", [0.0, 0.5, 0.9, 1.0])
def test_round_trip_is_exact_for_every_scope(tmp_path, scope, s):
    pruned = magnitude_prune(bottleneck(), s, scope)
    back = load_sparse(save_sparse(pruned, tmp_path / SPARSE_WEIGHTS))
    assert bitwise_equal(pruned, back)
    assert all(torch.equal(pruned[k], back[k]) for k in pruned)
    assert state_sha256(back) == state_sha256(pruned)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool])
def test_round_trip_other_dtypes_and_shapes(tmp_path, dtype):
    sd = {"a": (torch.arange(24).reshape(2, 3, 4) % 3).to(dtype), "scalar": torch.tensor(0).to(dtype),
          "empty": torch.zeros(0, 5, dtype=dtype), "f32": torch.tensor([0.0, 1.5, 0.0, -2.0])}
    back = load_sparse(save_sparse(sd, tmp_path / "x.safetensors"))
    assert bitwise_equal(sd, back)


def test_negative_zero_is_kept_bit_for_bit(tmp_path):
    sd = {"w": torch.tensor([0.0, -0.0, 1.0, -0.0, 0.0])}
    back = load_sparse(save_sparse(sd, tmp_path / "x.safetensors"))["w"]
    assert torch.equal(torch.signbit(back), torch.signbit(sd["w"]))
    # −0.0 is stored as a value (its bit pattern is not zero) but counts as zero for sparsity.
    with safe_open(str(tmp_path / "x.safetensors"), "pt") as fh:
        assert fh.get_tensor("values.float32").numel() == 3
    assert achieved_sparsity(sd) == 0.8


def test_size_on_disk_follows_sparsity(tmp_path):
    sd = bottleneck()
    save_file(sd, str(tmp_path / "dense.safetensors"))
    dense = (tmp_path / "dense.safetensors").stat().st_size
    sizes = {}
    for s in (0.5, 0.9):
        path = save_sparse(magnitude_prune(sd, s), tmp_path / f"s{s}.safetensors")
        sizes[s] = path.stat().st_size
    n = sum(t.numel() for t in sd.values())
    assert sizes[0.9] < 0.20 * dense
    assert sizes[0.5] < 0.60 * dense
    # ≈ (1 − s)·4 + 1/8 bytes per entry, plus a small header.
    assert sizes[0.9] == pytest.approx(n * (0.1 * 4 + 1 / 8), rel=0.05)


def test_corrupt_files_are_one_line_checkpoint_errors(tmp_path):
    path = save_sparse(magnitude_prune(bottleneck(), 0.9), tmp_path / "ok.safetensors")
    with safe_open(str(path), "pt") as fh:
        meta, tensors = fh.metadata(), {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    cases = {
        "truncated mask": ({**tensors, "mask": tensors["mask"][:-3]}, meta),
        "extra values": ({**tensors, "values.float32": torch.cat([tensors["values.float32"], torch.ones(2)])},
                         meta),
        "bad index": (tensors, {**meta, "tensors": json.dumps([["a", "complex", [3]]])}),
        "no format": (tensors, {"format": "pt"}),
        "nan": ({**tensors, "values.float32": torch.full_like(tensors["values.float32"], float("nan"))}, meta),
    }
    for what, (t, m) in cases.items():
        bad = tmp_path / f"{what}.safetensors"
        save_file(t, str(bad), metadata=m)
        with pytest.raises(CheckpointError) as err:
            load_sparse(bad)
        assert "\n" not in str(err.value), what
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_sparse(tmp_path / "junk.safetensors")


def _manifest(adapter: dict[str, torch.Tensor]) -> Manifest:
    base = BaseInfo(encoder="tiny", fingerprint="f", model_type="bert", hidden_size=HIDDEN, num_layers=LAYERS)
    return Manifest(kind="pruned", name="toy_pruned", domain="toy", method="pfeiffer", adapter_size=WIDTH,
                    label_names=("neg", "pos"), base=base, adapter_sha256=state_sha256(adapter))


def test_read_checkpoint_loads_compact_adapter(tmp_path):
    """The hook: a checkpoint with adapter.sparse.safetensors and no adapter.safetensors reads back dense."""
    from adaptermix.methods.model import named

    adapter = magnitude_prune(bottleneck(), 0.9)
    head = {"heads.adapter.1.weight": torch.randn(2, HIDDEN), "heads.adapter.1.bias": torch.zeros(2)}
    manifest = _manifest(adapter)
    path = tmp_path / "ckpt"
    path.mkdir()
    write_files(path, manifest, adapter, head, {"name": "x", "config": {}}, {"name": "x"})
    dense = read_checkpoint(path)
    (path / ADAPTER_WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match="lacks adapter.safetensors"):
        read_checkpoint(path)
    save_sparse(named(adapter, manifest.name), path / SPARSE_WEIGHTS)
    compact = read_checkpoint(path)
    assert bitwise_equal(compact.adapter, adapter) and bitwise_equal(compact.adapter, dense.adapter)
    assert list(compact.adapter) == list(dense.adapter)  # same order too: pruning breaks ties by key order
    assert state_sha256(compact.adapter) == manifest.adapter_sha256
