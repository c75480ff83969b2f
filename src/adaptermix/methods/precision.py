"""Choosing the precision a worker trains or scores in: `auto`, `fp32` or `bf16` (autocast).

On a GPU `auto` is bf16. On a CPU it depends on the processor: measured on this project's
machines, an Intel Xeon with AMX ran bf16 matmul 6.6× faster than fp32 (2,667 vs 407 GFLOP/s) and
the sweep 2.19× faster, while an AMD EPYC without fast bf16 gains nothing. So `auto` on a CPU runs
a short matmul probe once per process and picks bf16 only when it is clearly faster.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator

import torch

#: bf16 must beat fp32 by this factor in the probe before `auto` picks it on a CPU.
CPU_BF16_MIN_SPEEDUP = 1.5


def _matmul_seconds(dtype: torch.dtype, n: int = 512, reps: int = 6) -> float:
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, 4 * n).to(dtype)
    torch.mm(a, b)  # warm-up: first calls pick kernels
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return best


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup() -> float:
    """fp32 time ÷ bf16 time of one 512×512 @ 512×2048 matmul on this CPU (best of 6; cached)."""
    return _matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16)


def resolve_precision(requested: str) -> str:
    """`fp32` or `bf16`: what a worker on this machine uses for `requested` (auto, fp32, bf16)."""
    if requested in ("fp32", "bf16"):
        return requested
    if requested != "auto":
        raise ValueError(f"unknown precision {requested!r}: use auto, fp32 or bf16")
    if torch.cuda.is_available():
        return "bf16"
    return "bf16" if cpu_bf16_speedup() >= CPU_BF16_MIN_SPEEDUP else "fp32"


@contextlib.contextmanager
def autocast(precision: str) -> Iterator[None]:
    """bf16 autocast on the model's device for `precision == "bf16"`, else nothing.

    Parameters stay fp32 (the optimizer's state too); only the matmuls of the forward run in bf16.
    """
    if precision == "bf16":
        device = "cuda" if torch.cuda.is_available() else "cpu"
        with torch.autocast(device, dtype=torch.bfloat16):
            yield
    else:
        yield
