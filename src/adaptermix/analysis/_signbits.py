"""Fast driver behind `fsd_matrix`: sign bitmaps packed once per adapter, then popcounts per pair.

The rule and its bit operations are `adaptermix.signs` (`sign_bytes`, `conflict_words`), the one
sign-conflict kernel every sign statistic uses; this module only schedules them over chunks and threads.

Each adapter's tensors are read as one flat concatenation (in key order) and become two bitmaps over
all of its entries, `pos` (w > 0) and `neg` (w < 0), 1 bit per entry, so 13 adapters of 3.5 M entries
take 11 MiB instead of 185 MiB. Entries j conflict between adapters a and b iff bit j is set in
(pos_a & neg_b) | (neg_a & pos_b); both halves are disjoint, so one popcount of the OR counts them.
Zeros (±0.0) set neither bit; the bits past the last entry stay 0 in every adapter, so they never
conflict.

Packing runs over chunks of `_CHUNK` entries of the concatenation. Where every piece of a tensor
that falls into a chunk starts on a byte of the bitmaps (tensor sizes a multiple of 8, as adapter
shapes are), each piece is compared and packed straight from the tensor (compare > 0, pack,
compare < 0, pack, sum; a piece is at most a chunk, so its later passes hit the cache): the weights
are never copied (issue 20; slicing pieces further, 2^15–2^18 entries, measured no better).
Otherwise the chunk's pieces are first copied into a buffer small enough to stay in cache. NaN/Inf
are caught with one cheap reduction per piece (a sum that is not finite); only then is the chunk
searched for the first offending tensor (a finite chunk whose sum overflows is a false alarm and
goes on). Work is cut into tasks, each a
run of chunks: pack them for every adapter, then count every pair's conflicts over their words while
those bitmaps are still in cache. Threads (numpy releases the GIL in its loops) take tasks as they
come free, with no barrier between packing and counting.

A float32 matmul of sign matrices (G = s·sᵀ, N = |s|·|s|ᵀ, conflicts = (N − G)/2, or one product
(s > 0)·(s < 0)ᵀ) is exact too, but its k×k output of a k×n by n×k product keeps MKL at 15–30
GFLOP/s on this 2-core AVX2 machine, about 40 ms for 13 Pfeiffer adapters: slower than this kernel.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from adaptermix.signs import conflict_words, count_conflicts, pack_signs, sign_bytes

__all__ = ["conflict_counts", "count_conflicts", "pack_signs"]  # the last two re-exported for old imports
_CHUNK = 1 << 19  # entries per packing step (2 MiB of float32, in L3): 2^17 to 2^20 measured within 10 %
_WORDS = 1 << 13  # 64-bit words per popcount step (2^12 to 2^14 measured alike; smaller steps cost calls)
_TASK = 1 << 20  # entries (per adapter) per task: its chunks packed, then their words counted, by one thread
_PARALLEL_MIN = 1 << 20  # below this many entries in total, threads cost more than they save


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _as_numpy(tensor: Tensor) -> np.ndarray:
    """Flat float32/float64 view (no copy for contiguous CPU float tensors); signs are preserved."""
    t = tensor.detach().to("cpu")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)  # float16/bfloat16 widen exactly
    return t.contiguous().numpy().reshape(-1)


def _pieces(sizes: Sequence[int], chunk: int) -> list[list[tuple[int, int, int]]]:
    """Per chunk of the concatenation: (tensor index, start, stop) of the pieces it covers, in order."""
    out: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    room = chunk
    for t, size in enumerate(sizes):
        start = 0
        while start < size:
            stop = min(size, start + room)
            current.append((t, start, stop))
            room -= stop - start
            start = stop
            if room == 0:
                out.append(current)
                current, room = [], chunk
    if current:
        out.append(current)
    return out


class _Packer:
    """Packs (adapter, chunk) jobs into the shared bitmaps; one instance per thread (owns its buffers)."""

    def __init__(self, arrays: Sequence[Sequence[np.ndarray]], pieces: list, chunk: int, pos, neg, dtype) -> None:
        self.arrays, self.pieces, self.chunk = arrays, pieces, chunk
        # A chunk is aligned when each of its pieces starts on a byte of the bitmaps and is a whole
        # number of bytes long (the concatenation's last piece may end mid-byte: its tail bits stay 0).
        total = sum(len(arrays[0][t]) for t in range(len(arrays[0]))) if arrays else 0
        self.aligned = []
        for c, chunk_pieces in enumerate(pieces):
            at, ok = c * chunk, True
            for _, start, stop in chunk_pieces:
                ok = ok and at % 8 == 0 and ((stop - start) % 8 == 0 or at + stop - start == total)
                at += stop - start
            self.aligned.append(ok)
        self.pos8, self.neg8 = pos.view(np.uint8), neg.view(np.uint8)
        self.buffer = np.empty(chunk, dtype)
        self.flags = np.empty(chunk, bool)

    def gather(self, a: int, c: int) -> np.ndarray:
        """Chunk c of adapter a's concatenation: a view when one tensor covers it, else a copy."""
        pieces, tensors = self.pieces[c], self.arrays[a]
        if len(pieces) == 1:
            t, start, stop = pieces[0]
            return tensors[t][start:stop]
        at = 0
        for t, start, stop in pieces:
            self.buffer[at : at + stop - start] = tensors[t][start:stop]
            at += stop - start
        return self.buffer[:at]

    def parts(self, a: int, c: int) -> Iterator[tuple[np.ndarray, int]]:
        """Chunk c of adapter a as (entries, first byte of their bits): views of the tensors' pieces
        when the chunk is aligned, else one gathered copy."""
        if not self.aligned[c]:
            yield self.gather(a, c), c * self.chunk // 8
            return
        at = c * self.chunk
        for t, start, stop in self.pieces[c]:
            yield self.arrays[a][t][start:stop], at // 8
            at += stop - start

    def run(self, jobs: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
        """Pack jobs in order; return the first (adapter, tensor index) holding NaN/Inf, else None."""
        for a, c in jobs:
            for x, byte in self.parts(a, c):
                pos, neg = sign_bytes(x, self.flags[: x.size])
                self.pos8[a, byte : byte + pos.size] = pos
                self.neg8[a, byte : byte + neg.size] = neg
                # einsum's own loop, not np.dot (OpenBLAS would start threads) nor np.isfinite (two passes).
                if not np.isfinite(np.einsum("i->", x)):
                    bad = self.first_bad(a, c)
                    if bad is not None:
                        return bad
        return None

    def first_bad(self, a: int, c: int) -> tuple[int, int] | None:
        for t, start, stop in self.pieces[c]:
            if not np.isfinite(self.arrays[a][t][start:stop]).all():
                return a, t
        return None  # the sum overflowed: every entry is finite


def _conflicts(pos: np.ndarray, neg: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Upper-triangular conflict counts over words [lo, hi) of the (k, W) bitmaps.

    Pairs are taken by diagonal: for offset d, rows 0..k-d-1 against rows d..k-1 in one call per
    operation on equal shapes (faster than broadcasting one row against the rest).
    """
    k = pos.shape[0]
    counts = np.zeros((k, k), np.int64)
    left = np.empty((k, _WORDS), np.uint64)
    right = np.empty((k, _WORDS), np.uint64)
    rows = np.arange(k)
    for start in range(lo, hi, _WORDS):
        stop = min(start + _WORDS, hi)
        p, n = pos[:, start:stop], neg[:, start:stop]
        for d in range(1, k):
            a = left[: k - d, : stop - start]
            b = right[: k - d, : stop - start]
            conflict_words((p[:-d], n[:-d]), (p[d:], n[d:]), out=a, tmp=b)
            np.bitwise_count(a, out=a)  # in place: a uint64 sum is faster than a widening uint8 sum
            counts[rows[:-d], rows[d:]] += a.sum(axis=1).astype(np.int64)  # ≤ 64·_WORDS: no overflow
    return counts


def conflict_counts(
    tensors: Sequence[Sequence[Tensor]], chunk: int = _CHUNK
) -> tuple[np.ndarray, tuple[int, int] | None]:
    """Symmetric k×k matrix of sign-conflict counts between adapters given as aligned tensor lists.

    Args:
        tensors: k lists of tensors; list i holds adapter i's tensors, all lists in the same key
            order with the same shapes (checked by the caller).
        chunk: entries per packing step, a positive multiple of 64 (smaller values are for tests).

    Returns:
        (counts, bad): int64 counts with a zero diagonal, and None, or the first (adapter, tensor)
        position holding NaN/Inf, in which case the counts are not meaningful.
    """
    if chunk <= 0 or chunk % 64:
        raise ValueError(f"chunk must be a positive multiple of 64, got {chunk}")
    arrays = [[_as_numpy(t) for t in adapter] for adapter in tensors]
    k, sizes = len(arrays), [x.size for x in arrays[0]]
    dtype = np.result_type(np.float32, *{x.dtype for adapter in arrays for x in adapter})
    words = -(-sum(sizes) // 64)
    # Zero-filled, so the bits past the last entry never conflict.
    pos, neg = np.zeros((k, words), np.uint64), np.zeros((k, words), np.uint64)
    pieces = _pieces(sizes, chunk)
    # A task packs a run of chunks of every adapter, then counts the conflicts over those words
    # while the bitmaps are still in cache; threads take tasks as they come free.
    workers = _workers() if k * sum(sizes) >= _PARALLEL_MIN else 1
    # Near-equal tasks, a multiple of the thread count of them, so that no thread is left alone at the end.
    count = workers * -(-len(pieces) * chunk // (workers * _TASK))
    bounds = np.linspace(0, len(pieces), min(count, len(pieces)) + 1).round().astype(int).tolist()
    tasks = [range(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo]
    local = threading.local()

    def task(chunks: range) -> tuple[np.ndarray | None, tuple[int, int] | None]:
        packer = getattr(local, "packer", None)
        if packer is None:
            packer = local.packer = _Packer(arrays, pieces, chunk, pos, neg, dtype)
        bad = packer.run([(a, c) for a in range(k) for c in chunks])
        if bad is not None:
            return None, bad
        return _conflicts(pos, neg, chunks.start * chunk // 64, min(chunks.stop * chunk // 64, words)), None

    workers = min(workers, len(tasks))
    if workers <= 1:
        results = [task(r) for r in tasks]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(task, tasks))
    bads = [bad for _, bad in results if bad is not None]
    if bads:
        return np.zeros((k, k), np.int64), min(bads)  # (adapter, tensor) order: the first one
    upper = np.zeros((k, k), np.int64)
    for counts, _ in results:
        if counts is not None:
            upper += counts
    return upper + upper.T, None
