"""Counter-fitting word vectors to linguistic constraints (Mrkšić et al. 2016), and measuring it.

TextFooler (Jin et al. 2020) draws its swap candidates from counter-fitted vectors, in which
synonyms are pulled together and antonyms pushed apart; plain GloVe neighbours are often
antonyms or merely related words (cos(good, bad) = 0.80 in GloVe 6B 50d). No package ships
counter-fitted vectors offline, so we build them from GloVe and WordNet.

The objective (Mrkšić et al. 2016, §2) over unit vectors V' given the original V, with
d(u, w) = 1 - cos(u, w) and τ(x) = max(0, x):

- Antonym Repel:      AR(V')  = Σ_{(u,w) ∈ A} τ(δ - d(v'_u, v'_w))                       (δ = 1)
- Synonym Attract:    SA(V')  = Σ_{(u,w) ∈ S} τ(d(v'_u, v'_w) - γ)                       (γ = 0)
- Vector Space Pres.: VSP(V') = Σ_i Σ_{j ∈ N(i)} τ(d(v'_i, v'_j) - d(v_i, v_j)), N(i) = {j: d(v_i, v_j) < ρ}

minimised by the authors' per-word averaged gradient steps (k1 = k2 = k3 = 0.1, 20 iterations,
renormalising after each). This module is pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class CounterFitConfig:
    """Hyper-parameters of counter-fitting; defaults are Mrkšić et al.'s (their released code)."""

    delta: float = 1.0  # antonyms are pushed until they are at least orthogonal
    gamma: float = 0.0  # synonyms are pulled until identical
    rho: float = 0.2  # VSP keeps neighbours within cosine distance 0.2 (cos >= 0.8)
    k_antonym: float = 0.1
    k_synonym: float = 0.1
    k_vsp: float = 0.1
    iterations: int = 20


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


def pair_indices(pairs: Iterable[tuple[str, str]], index: Mapping[str, int]) -> np.ndarray:
    """(P, 2) int64 row indices of the pairs whose two words are both in `index`, sorted."""
    rows = sorted((index[a], index[b]) for a, b in pairs if a in index and b in index and a != b)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def close_pairs(
    vectors: np.ndarray, min_cos: float, rows: np.ndarray | None = None, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (i, j), i in `rows` (default: all), j != i, with cos >= `min_cos`, and that cosine.

    Computed in row blocks so memory stays at block × n floats.

    Returns:
        ((P, 2) int64 pairs, (P,) float32 cosines).
    """
    v = torch.from_numpy(unit(vectors))
    row_ids = torch.arange(len(v)) if rows is None else torch.from_numpy(np.asarray(rows, dtype=np.int64))
    pairs, sims = [], []
    for start in range(0, len(row_ids), block):
        ids = row_ids[start : start + block]
        s = v[ids] @ v.T
        s[torch.arange(len(ids)), ids] = -1.0  # no self pairs
        idx = (s >= min_cos).nonzero()
        sims.append(s[idx[:, 0], idx[:, 1]])
        idx[:, 0] = ids[idx[:, 0]]
        pairs.append(idx)
    if not pairs:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.float32)
    return torch.cat(pairs).numpy().astype(np.int64), torch.cat(sims).numpy()


def _step(v: Tensor, i: Tensor, j: Tensor, scale: float, active: Tensor, grad: Tensor, count: Tensor) -> None:
    """Accumulate scale · (v_i (v_i·v_j) - v_j) into row i for the active pairs (the gradient of d at v_i)."""
    i, j = i[active], j[active]
    vi, vj = v[i], v[j]
    g = vi * (vi * vj).sum(1, keepdim=True) - vj
    grad.index_add_(0, i, scale * g)
    count.index_add_(0, i, torch.ones_like(i, dtype=count.dtype))


def counter_fit(
    vectors: np.ndarray,
    synonyms: np.ndarray,
    antonyms: np.ndarray,
    config: CounterFitConfig | None = None,
) -> np.ndarray:
    """Counter-fit `vectors` to synonym and antonym pairs (Mrkšić et al. 2016, Eqs. 1–4).

    Args:
        vectors: (n, d) word vectors (any scale; they are unit-normalised first).
        synonyms: (P, 2) row-index pairs to attract (one orientation is enough).
        antonyms: (Q, 2) row-index pairs to repel.
        config: hyper-parameters (the paper's by default).

    Returns:
        (n, d) float32 unit vectors. Words in no constraint move only through VSP pairs with
        words that do.
    """
    cfg = config or CounterFitConfig()
    v0 = unit(vectors)
    v = torch.from_numpy(v0.copy())

    def both(p: np.ndarray) -> tuple[Tensor, Tensor]:
        t = torch.from_numpy(np.asarray(p, dtype=np.int64).reshape(-1, 2))
        return torch.cat([t[:, 0], t[:, 1]]), torch.cat([t[:, 1], t[:, 0]])

    ant_i, ant_j = both(antonyms)
    syn_i, syn_j = both(synonyms)
    # VSP only matters around the words that the constraints move; other pairs keep their
    # original distance anyway, and skipping them keeps memory small.
    touched = np.zeros(len(v0), dtype=bool)
    touched[ant_i.numpy()] = True
    touched[syn_i.numpy()] = True
    # Pairs from the touched rows, plus their reverses (VSP also moves an untouched word towards a
    # touched neighbour, as in the authors' code); computing only these rows is ~4x faster.
    half, half_cos = close_pairs(v0, 1.0 - cfg.rho, rows=np.flatnonzero(touched))
    back = ~touched[half[:, 1]]  # reverse of a pair whose other end is touched comes from its own row
    vsp = np.concatenate([half, half[back][:, ::-1]])
    vsp_cos = np.concatenate([half_cos, half_cos[back]])
    keep = np.ones(len(vsp), dtype=bool)
    # Like the authors, drop VSP pairs that are antonyms: they must be free to move apart.
    n = len(v0)
    keep &= ~np.isin(vsp[:, 0] * n + vsp[:, 1], ant_i.numpy() * n + ant_j.numpy())
    vsp_i, vsp_j = torch.from_numpy(vsp[keep, 0]), torch.from_numpy(vsp[keep, 1])
    vsp_d0 = torch.from_numpy(1.0 - vsp_cos[keep])
    for _ in range(cfg.iterations):
        grad = torch.zeros_like(v)
        count = torch.zeros(len(v), dtype=torch.float32)
        d_ant = 1.0 - (v[ant_i] * v[ant_j]).sum(1)
        _step(v, ant_i, ant_j, cfg.k_antonym, d_ant < cfg.delta, grad, count)
        d_syn = 1.0 - (v[syn_i] * v[syn_j]).sum(1)
        _step(v, syn_i, syn_j, -cfg.k_synonym, d_syn > cfg.gamma, grad, count)
        d_vsp = 1.0 - (v[vsp_i] * v[vsp_j]).sum(1)
        _step(v, vsp_i, vsp_j, -cfg.k_vsp, vsp_d0 <= d_vsp, grad, count)
        moved = count > 0
        # The authors average each word's updates: it converges faster than summing them.
        v[moved] += grad[moved] / count[moved, None]
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return v.numpy()


@dataclass(frozen=True)
class NeighbourQuality:
    """How synonym-like the close neighbours of a vector space are (measured against WordNet).

    Attributes:
        n_words: words whose neighbours were examined (the most frequent ones).
        n_pairs: unordered neighbour pairs (among each word's top k) with cos >= min_cos.
        antonym_share: share of those pairs that are WordNet antonyms.
        synonym_share: share of those pairs that are WordNet synonyms.
        antonyms_close: share of WordNet antonym pairs (both words examined) with cos >= min_cos.
        probes: word -> its nearest neighbours (top 10 with cos >= min_cos) and their cosines.
    """

    n_words: int
    min_cos: float
    n_pairs: int
    antonym_share: float
    synonym_share: float
    antonyms_close: float
    probes: dict[str, list[tuple[str, float]]]


def neighbour_quality(
    words: Sequence[str],
    vectors: np.ndarray,
    synonyms: Iterable[tuple[str, str]],
    antonyms: Iterable[tuple[str, str]],
    n_words: int = 20000,
    k: int = 50,
    min_cos: float = 0.8,
    probes: Sequence[str] = ("good", "bad", "movie"),
) -> NeighbourQuality:
    """Share of WordNet antonyms and synonyms among close neighbours (TextFooler's candidate pool).

    Args:
        words, vectors: the vector space (rows in frequency order).
        synonyms, antonyms: WordNet pairs (any orientation).
        n_words: examine the first `n_words` rows.
        k, min_cos: TextFooler's candidate rule: top k neighbours with cos >= min_cos.
        probes: words whose neighbours are listed.
    """
    n = min(n_words, len(words))
    v = torch.from_numpy(unit(vectors[:n]))
    pairs: set[tuple[int, int]] = set()
    for start in range(0, n, 2048):
        s = v[start : start + 2048] @ v.T
        s[torch.arange(len(s)), torch.arange(start, start + len(s))] = -1.0
        top = s.topk(min(k, n - 1), dim=1)
        for r, (vals, idx) in enumerate(zip(top.values.tolist(), top.indices.tolist(), strict=True)):
            for c, j in zip(vals, idx, strict=True):
                if c >= min_cos:
                    i = start + r
                    pairs.add((min(i, j), max(i, j)))
    index = {w: i for i, w in enumerate(words[:n])}
    ant = {tuple(sorted((index[a], index[b]))) for a, b in antonyms if a in index and b in index}
    syn = {tuple(sorted((index[a], index[b]))) for a, b in synonyms if a in index and b in index}
    close_ant = sum(1 for a, b in ant if float(v[a] @ v[b]) >= min_cos)
    out_probes: dict[str, list[tuple[str, float]]] = {}
    for word in probes:
        if word in index:
            s = v @ v[index[word]]
            s[index[word]] = -1.0
            vals, idx = s.topk(10)
            out_probes[word] = [(words[j], round(c, 3)) for c, j in zip(vals.tolist(), idx.tolist(), strict=True)
                                if c >= min_cos]
    total = max(len(pairs), 1)
    return NeighbourQuality(
        n_words=n,
        min_cos=min_cos,
        n_pairs=len(pairs),
        antonym_share=len(pairs & ant) / total,
        synonym_share=len(pairs & syn) / total,
        antonyms_close=close_ant / max(len(ant), 1),
        probes=out_probes,
    )
