"""Word vectors for TextFooler's candidates: counter-fitted GloVe (built and cached) or a user file.

The default space is GloVe 6B 50d restricted to its `DEFAULT_VOCAB` most frequent words,
counter-fitted to WordNet synonyms and antonyms (Mrkšić et al. 2016; `counterfit.py`) once per
machine and cached under `<cache>/attacks/` as .npy + JSON. A user may instead give any vectors file
in word2vec text format (e.g. Mrkšić et al.'s released counter-fitted vectors).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from adaptermix.attacks.counterfit import counter_fit, pair_indices, unit
from adaptermix.attacks.resources import GLOVE, attack_cache, load_glove, load_wordnet
from adaptermix.errors import DataError
from adaptermix.fileio import atomic_write_bytes

# Mrkšić et al. released 65,713 counter-fitted words; the 65,536 most frequent GloVe words are a
# vocabulary of the same size, and counter-fitting them takes ~25 s on 2 cores.
DEFAULT_VOCAB = 65536
_CACHE_FORMAT = 1


class WordVectors:
    """Unit-normalised word vectors with cosine nearest-neighbour queries.

    Args:
        words: the vocabulary, one entry per row (first occurrence wins on duplicates).
        vectors: (n, d) array; rows are normalised to unit length.
        name: a short description recorded with results.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, name: str = "vectors") -> None:
        if len(words) != len(vectors):
            raise DataError(f"{name}: {len(words)} words but {len(vectors)} vectors")
        self.words = list(words)
        self.name = name
        self.matrix = torch.from_numpy(unit(vectors))
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)
        self._neighbours = lru_cache(maxsize=65536)(self._compute_neighbours)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __len__(self) -> int:
        return len(self.words)

    def cos(self, a: str, b: str) -> float:
        """Cosine similarity of two in-vocabulary words (raises KeyError otherwise)."""
        return float(self.matrix[self.index[a]] @ self.matrix[self.index[b]])

    def neighbours(self, word: str, k: int = 50, min_cos: float = 0.0) -> tuple[tuple[str, float], ...]:
        """The `k` nearest words to `word` (itself excluded) with cos >= `min_cos`, nearest first; cached."""
        return self._neighbours(word, k, min_cos)

    def _compute_neighbours(self, word: str, k: int, min_cos: float) -> tuple[tuple[str, float], ...]:
        if word not in self.index:
            return ()
        i = self.index[word]
        sims = self.matrix @ self.matrix[i]
        sims[i] = -2.0
        vals, idx = sims.topk(min(k, len(self.words) - 1))
        return tuple((self.words[j], c) for c, j in zip(vals.tolist(), idx.tolist(), strict=True) if c >= min_cos)


def read_word2vec_text(path: Path) -> WordVectors:
    """Read a word2vec text file (an optional `count dim` header, then `word v1 ... vd` per line).

    Raises:
        DataError: a missing file, or a line that does not parse (file and line named).
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"vectors file {path} does not exist: give a word2vec text file (word v1 ... vd per line)")
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim: int | None = None
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.rstrip().split(" ")
                if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    dim = int(parts[1])
                    continue
                if not line.strip():
                    continue
                try:
                    values = np.asarray(parts[1:], dtype=np.float32)
                except ValueError:
                    values = np.zeros(0, np.float32)
                dim = dim or len(values)
                if len(values) == 0 or len(values) != dim or not np.isfinite(values).all():
                    raise DataError(f"{path}:{lineno}: expected a word and {dim or 'd'} finite numbers; "
                                    "the file is not in word2vec text format")
                words.append(parts[0])
                rows.append(values)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason}); give a word2vec text file, not a binary one"
                        ) from exc
    if not rows:
        raise DataError(f"{path} holds no vectors; give a word2vec text file (word v1 ... vd per line)")
    return WordVectors(words, np.stack(rows), name=f"file:{path.name}")


def _cache_paths(cache_dir: Path | None, vocab: int) -> tuple[Path, Path]:
    root = attack_cache(cache_dir)
    stem = f"counterfit-glove6b50d-{vocab}-v{_CACHE_FORMAT}"
    return root / f"{stem}.npy", root / f"{stem}.json"


def counterfitted_glove(cache_dir: Path | None = None, vocab: int = DEFAULT_VOCAB) -> WordVectors:
    """GloVe 6B 50d (first `vocab` rows) counter-fitted to WordNet; built once, then read from the cache.

    Raises:
        DataError: the resources cannot be fetched or parsed.
    """
    npy, meta = _cache_paths(cache_dir, vocab)
    name = f"counterfit({GLOVE.spec}[:{vocab}], wordnet-3.0)"
    if npy.is_file() and meta.is_file():
        try:
            words = json.loads(meta.read_text())["words"]
            vectors = np.load(npy, allow_pickle=False)
            if len(words) == len(vectors):
                return WordVectors(words, vectors, name=name)
        except (OSError, ValueError, KeyError):
            pass  # a torn cache entry: rebuild below
    words, glove = load_glove(cache_dir, vocab)
    wordnet = load_wordnet(cache_dir)
    index = {w: i for i, w in enumerate(words)}
    fitted = counter_fit(glove, pair_indices(wordnet.synonyms, index), pair_indices(wordnet.antonyms, index))
    buf = io.BytesIO()
    np.save(buf, fitted.astype(np.float32), allow_pickle=False)
    atomic_write_bytes(npy, buf.getvalue())
    atomic_write_bytes(meta, json.dumps({"source": GLOVE.spec, "vocab": vocab, "words": words}).encode())
    return WordVectors(words, fitted, name=name)


def plain_glove(cache_dir: Path | None = None, vocab: int = DEFAULT_VOCAB) -> WordVectors:
    """GloVe 6B 50d (first `vocab` rows) as is: the baseline of the neighbour-quality measurement."""
    words, glove = load_glove(cache_dir, vocab)
    return WordVectors(words, glove, name=f"{GLOVE.spec}[:{vocab}]")


SWAPPABLE = re.compile(r"[a-z]+(?:[-'][a-z]+)*")
