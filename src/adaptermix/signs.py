"""Sign conflicts between weights: the one rule, and the bit kernel every sign statistic is built on.

Two entries conflict when one is > 0 and the other < 0. A zero (±0.0) on either side is never a
conflict, and neither is NaN (the callers reject NaN/Inf first); this is Alg. 3's FSD, the flip
fraction of Sec. 5 and the layer scores of Alg. 4. Signs are compared, not the product, which
underflows to ±0 for tiny entries of opposite sign and would miss the conflict.

The kernel packs each row's signs into two bitmaps, `pos` (w > 0) and `neg` (w < 0), one bit per
entry in uint64 words with the bits past the last entry 0; the conflicts of two rows are then the
set bits of (pos_a & neg_b) | (neg_a & pos_b) (the halves are disjoint, so one popcount of the OR
counts them). The threaded driver behind `fsd_matrix` (`analysis._signbits`), FSD of a pair and per
layer, the sweep engine's pair FSD and flip fraction, the `sparse` mixer's layer scores and the
synthetic store all call these functions: PEFT's `merge_utils` keeps its one majority-sign mask the
same way. TIES' sign election (`mixing.ops.elect`) is another operation and is not built on them.

A leaf module (numpy only, torch tensors read through `.numpy()`), below every stage that needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

Bits: TypeAlias = tuple[np.ndarray, np.ndarray]  # (pos, neg) uint64 words, one row or rows × words


def sign_bytes(values: np.ndarray, flags: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The rule itself: (w > 0, w < 0) of a float array, packed 8 entries a byte along the last axis.

    Args:
        values: a 1-D or 2-D float32/float64 array.
        flags: an optional bool buffer of the same shape, reused for both comparisons (hot loops).

    Returns:
        (pos, neg) uint8 arrays in `np.packbits` order; the bits past the last entry are 0.
    """
    flags = np.empty(values.shape, bool) if flags is None else flags
    pos = np.packbits(np.greater(values, 0, out=flags), axis=-1)
    neg = np.packbits(np.less(values, 0, out=flags), axis=-1)
    return pos, neg


def conflict_words(a: Bits, b: Bits, out: np.ndarray | None = None, tmp: np.ndarray | None = None) -> np.ndarray:
    """The words whose set bits are the sign conflicts of packed rows: (pos_a & neg_b) | (neg_a & pos_b).

    Broadcasts like numpy; `out` and `tmp` are optional buffers of the result's shape (hot loops).
    """
    out = np.bitwise_and(a[0], b[1], out=out)
    np.bitwise_or(out, np.bitwise_and(a[1], b[0], out=tmp), out=out)
    return out


def _as_array(values: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        arr = values
    else:  # a torch tensor: detached, on the CPU; float16/bfloat16 widen exactly, signs are kept
        t = values.detach().to("cpu")
        wide = t.is_floating_point() and t.element_size() >= 4  # float32 or float64
        arr = (t if wide else t.float()).contiguous().numpy()
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float32)


def pack_signs(values: Tensor | np.ndarray) -> Bits:
    """(pos, neg) bitmaps of a 1-D or 2-D (rows × entries) tensor or array: uint64 words, bits past the end 0.

    Any other shape is read as one flat row. For callers that compare rows packed once against new ones,
    such as a sweep's mixture against its members.
    """
    arr = _as_array(values)
    rows = arr if arr.ndim == 2 else arr.reshape(1, arr.size)
    words = -(-rows.shape[1] // 64)
    out = []
    for packed in sign_bytes(rows):
        bits = np.zeros((rows.shape[0], words), np.uint64)
        bits.view(np.uint8)[:, : packed.shape[1]] = packed
        out.append(bits if arr.ndim == 2 else bits[0])
    return out[0], out[1]


def count_conflicts(a: Bits, b: Bits) -> np.ndarray:
    """Sign conflicts between packed rows (`pack_signs`), counted per row pair, broadcast over leading axes."""
    return np.bitwise_count(conflict_words(a, b)).sum(axis=-1, dtype=np.int64)


def pair_conflicts(bits: Bits) -> np.ndarray:
    """k×k int64 conflict counts between the k packed rows of `bits` (symmetric, zero diagonal)."""
    pos, neg = bits
    return count_conflicts((pos[:, None], neg[:, None]), (pos[None], neg[None]))


def conflicts(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> int:
    """Number of entries whose signs are strictly opposite in `a` and `b` (same number of entries, read flat)."""
    return int(count_conflicts(pack_signs(_as_array(a).reshape(-1)), pack_signs(_as_array(b).reshape(-1))))
