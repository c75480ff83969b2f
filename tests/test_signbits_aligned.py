"""The sign-bit kernels on aligned and unaligned layouts (issue 20): the same counts as the element-wise rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adaptermix.analysis._signbits import conflict_counts, count_conflicts, pack_signs


def _naive(a: torch.Tensor, b: torch.Tensor) -> int:
    return int((((a > 0) & (b < 0)) | ((a < 0) & (b > 0))).sum())


def _adapters(sizes: list[int], k: int = 4, seed: int = 0) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(k):
        tensors = []
        for size in sizes:
            t = torch.randn(size, generator=gen)
            t[torch.rand(size, generator=gen) < 0.2] = 0.0
            t[torch.rand(size, generator=gen) < 0.1] = -0.0
            tensors.append(t)
        out.append(tensors)
    return out


@pytest.mark.parametrize("sizes", [[64, 128, 8, 256], [7, 13, 64, 100], [128, 3, 200], [8, 8, 5]])
@pytest.mark.parametrize("chunk", [64, 128, 1 << 19])
def test_conflict_counts_match_the_element_wise_rule(sizes, chunk):
    adapters = _adapters(sizes)
    counts, bad = conflict_counts(adapters, chunk=chunk)
    assert bad is None
    flat = [torch.cat(a) for a in adapters]
    for i in range(len(flat)):
        for j in range(len(flat)):
            assert counts[i, j] == (0 if i == j else _naive(flat[i], flat[j]))


@pytest.mark.parametrize("sizes", [[64, 128, 64], [7, 13, 64]])
def test_nan_is_found_in_its_tensor_on_either_path(sizes):
    adapters = _adapters(sizes, k=3)
    adapters[2][1][1] = float("nan")
    _, bad = conflict_counts(adapters, chunk=64)
    assert bad == (2, 1)


def test_packed_rows_count_what_the_element_wise_rule_counts():
    rows = torch.randn(5, 1001)
    rows[:, ::7] = 0.0
    rows[:, 3::11] = -0.0
    mixture = rows[:3].mean(0)
    got = count_conflicts(pack_signs(rows), pack_signs(mixture))
    np.testing.assert_array_equal(got, [_naive(r, mixture) for r in rows])
