"""TextFooler's parts: settings, resources, the transformation, the constraints and the greedy step.

Shared by the batched search (`textfooler.py`, many examples per forward) and the one-example
reference loop (`textfooler_reference.py`), so both take the very same decisions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from adaptermix.attacks.results import AttackRecord, Example, status_of
from adaptermix.attacks.similarity import SentenceEncoder, cosine
from adaptermix.attacks.tokens import Words, match_case
from adaptermix.attacks.vectors import SWAPPABLE, WordVectors
from adaptermix.attacks.wordnet import WordNet
from adaptermix.attacks.wrapper import ModelWrapper

# TextFooler's stopword list, as in TextAttack's `textfooler_jin_2019` recipe.
STOPWORDS = frozenset((
    'a', 'about', 'above', 'across', 'after', 'afterwards', 'again', 'against', 'ain', 'all', 'almost', 'alone',
    'along', 'already', 'also', 'although', 'am', 'among', 'amongst', 'an', 'and', 'another', 'any', 'anyhow',
    'anyone', 'anything', 'anyway', 'anywhere', 'are', 'aren', "aren't", 'around', 'as', 'at', 'back', 'been',
    'before', 'beforehand', 'behind', 'being', 'below', 'beside', 'besides', 'between', 'beyond', 'both', 'but',
    'by', 'can', 'cannot', 'could', 'couldn', "couldn't", 'd', 'didn', "didn't", 'doesn', "doesn't", 'don',
    "don't", 'down', 'due', 'during', 'either', 'else', 'elsewhere', 'empty', 'enough', 'even', 'ever',
    'everyone', 'everything', 'everywhere', 'except', 'first', 'for', 'former', 'formerly', 'from', 'hadn',
    "hadn't", 'hasn', "hasn't", 'haven', "haven't", 'he', 'hence', 'her', 'here', 'hereafter', 'hereby',
    'herein', 'hereupon', 'hers', 'herself', 'him', 'himself', 'his', 'how', 'however', 'hundred', 'i', 'if',
    'in', 'indeed', 'into', 'is', 'isn', "isn't", 'it', "it's", 'its', 'itself', 'just', 'latter', 'latterly',
    'least', 'll', 'may', 'me', 'meanwhile', 'mightn', "mightn't", 'mine', 'more', 'moreover', 'most', 'mostly',
    'must', 'mustn', "mustn't", 'my', 'myself', 'namely', 'needn', "needn't", 'neither', 'never',
    'nevertheless', 'next', 'no', 'nobody', 'none', 'noone', 'nor', 'not', 'nothing', 'now', 'nowhere', 'o',
    'of', 'off', 'on', 'once', 'one', 'only', 'onto', 'or', 'other', 'others', 'otherwise', 'our', 'ours',
    'ourselves', 'out', 'over', 'per', 'please', 's', 'same', 'shan', "shan't", 'she', "she's", "should've",
    'shouldn', "shouldn't", 'somehow', 'something', 'sometime', 'somewhere', 'such', 't', 'than', 'that',
    "that'll", 'the', 'their', 'theirs', 'them', 'themselves', 'then', 'thence', 'there', 'thereafter',
    'thereby', 'therefore', 'therein', 'thereupon', 'these', 'they', 'this', 'those', 'through', 'throughout',
    'thru', 'thus', 'to', 'too', 'toward', 'towards', 'under', 'unless', 'until', 'up', 'upon', 'used', 've',
    'was', 'wasn', "wasn't", 'we', 'were', 'weren', "weren't", 'what', 'whatever', 'when', 'whence', 'whenever',
    'where', 'whereafter', 'whereas', 'whereby', 'wherein', 'whereupon', 'wherever', 'whether', 'which',
    'while', 'whither', 'who', 'whoever', 'whole', 'whom', 'whose', 'why', 'with', 'within', 'without', 'won',
    "won't", 'would', 'wouldn', "wouldn't", 'y', 'yet', 'you', "you'd", "you'll", "you're", "you've", 'your',
    'yours', 'yourself', 'yourselves',
))


@dataclass(frozen=True)
class TextFoolerConfig:
    """TextFooler's settings; defaults follow Nguyen & Le 2024 (cos >= 0.8, similarity >= 0.84).

    Attributes:
        max_candidates: nearest neighbours per word (Jin et al.: 50).
        min_cos: minimum word-vector cosine of a swap.
        min_sim: minimum sentence-encoder cosine of the windows around a swap.
        window: words in that window (TextAttack: 15).
        query_budget: model queries allowed per example (None: unlimited).
        allow_verb_noun_swap: treat nouns and verbs as one part of speech (TextAttack does).
    """

    max_candidates: int = 50
    min_cos: float = 0.8
    min_sim: float = 0.84
    window: int = 15
    query_budget: int | None = None
    allow_verb_noun_swap: bool = True
    stopwords: frozenset[str] = field(default=STOPWORDS, repr=False)


@dataclass(frozen=True)
class Resources:
    """What TextFooler needs besides the model: word vectors, WordNet (POS) and a sentence encoder."""

    vectors: WordVectors
    wordnet: WordNet
    encoder: SentenceEncoder


@dataclass(frozen=True)
class Candidate:
    """One proposed swap: word `index` of `words` replaced; `cos`/`sim` are its constraint scores."""

    index: int
    original: str
    replacement: str
    words: Words
    cos: float
    sim: float = float("nan")


# --- pre-transformation constraints -----------------------------------------------------------

def modifiable(words: Words, swapped: set[int], stopwords: frozenset[str], visible: int | None = None) -> list[int]:
    """Indices that may change: not a stopword (RepeatModification + StopwordModification), and among the
    first `visible` words, those the model sees (`ModelWrapper.visible_words`; None: all)."""
    limit = len(words.words) if visible is None else visible
    return [i for i, w in enumerate(words.words[:limit]) if i not in swapped and w.lower() not in stopwords]


# --- transformation ---------------------------------------------------------------------------

def embedding_swaps(words: Words, index: int, vectors: WordVectors, k: int, min_cos: float) -> list[Candidate]:
    """TextAttack's `WordSwapEmbedding`: the k nearest alphabetic neighbours of the word, case kept."""
    original = words.words[index]
    out = []
    for word, c in vectors.neighbours(original.lower(), k, min_cos):
        if word != original.lower() and SWAPPABLE.fullmatch(word):
            repl = match_case(word, original)
            out.append(Candidate(index, original, repl, words.replace(index, repl), c))
    return out


# --- constraints --------------------------------------------------------------------------------

def pos_compatible(wordnet: WordNet, a: str, b: str, allow_verb_noun_swap: bool = True) -> bool:
    """True when `a` and `b` share a WordNet part of speech (n and v as one when allowed).

    A word WordNet does not know has no part of speech, so nothing is compatible with it: a
    tagger would have tagged it, we cannot, and refusing is the conservative choice.
    """
    pa, pb = wordnet.pos_of(a), wordnet.pos_of(b)
    if allow_verb_noun_swap:
        pa = frozenset("n" if p == "v" else p for p in pa)
        pb = frozenset("n" if p == "v" else p for p in pb)
    return bool(pa & pb)


def similarity_texts(original: Words, cands: Sequence[Candidate], window: int) -> list[str]:
    """The encoder's inputs for a position: the original's window per candidate, then each candidate's."""
    return [original.window(c.index, window) for c in cands] + [c.words.window(c.index, window) for c in cands]


def keep_similar(cands: Sequence[Candidate], emb: np.ndarray, min_sim: float) -> list[Candidate]:
    """Candidates whose window stays similar; `emb` embeds `similarity_texts` of `cands`, in order."""
    sims = cosine(emb[: len(cands)], emb[len(cands) :])
    return [Candidate(c.index, c.original, c.replacement, c.words, c.cos, float(s))
            for c, s in zip(cands, sims, strict=True) if s >= min_sim]


def similarity_filter(
    original: Words, cands: list[Candidate], encoder: SentenceEncoder, min_sim: float, window: int
) -> list[Candidate]:
    """Keep candidates whose window around the swap stays similar to the original text's window.

    All windows of a position go to the encoder in one batch; the original's window is cached.
    """
    if not cands:
        return []
    return keep_similar(cands, encoder.encode(similarity_texts(original, cands, window)), min_sim)


def swap_candidates(current: Words, index: int, res: Resources, cfg: TextFoolerConfig) -> list[Candidate]:
    """The transformation and the word-level constraints (cos, part of speech) at one position."""
    cands = embedding_swaps(current, index, res.vectors, cfg.max_candidates, cfg.min_cos)
    return [c for c in cands
            if c.cos >= cfg.min_cos and pos_compatible(res.wordnet, c.original, c.replacement,
                                                       cfg.allow_verb_noun_swap)]


# --- search step ----------------------------------------------------------------------------------

def best_swap(p: np.ndarray, cands: Sequence[Candidate], label: int, current_p: float) -> int | None:
    """Which scored candidate the greedy search keeps (Jin et al. 2020, Alg. 1, lines 13-19), or None.

    Among label-flipping candidates the most similar (the first on a tie); otherwise the one that
    lowers p(label) most, if it lowers it at all.
    """
    flipped = np.flatnonzero(p.argmax(1) != label)
    if len(flipped):
        return int(max(flipped.tolist(), key=lambda i: (cands[i].sim, -i)))
    best = int(np.argmin(p[:, label]))
    return None if p[best, label] >= current_p else best


def score_texts(wrapper: ModelWrapper, texts: list[str], fixed: Sequence[str] | None) -> np.ndarray:
    """Model probabilities for attacked texts; `fixed`: the untouched first text of each pair, or None."""
    return wrapper(texts) if fixed is None else wrapper(list(fixed), texts)


def make_record(example: Example, original: Words, current: Words, prediction: int, perturbed_prediction: int,
                swaps: Sequence[Candidate], queries: int) -> AttackRecord:
    """The record of one attacked example (TextAttack's result, plus each swap's constraint scores)."""
    return AttackRecord(
        text=example.text, text_pair=example.text_pair, perturbed_text=current.text, label=example.label,
        prediction=prediction, perturbed_prediction=perturbed_prediction,
        swaps=[[c.original, c.replacement] for c in swaps], queries=queries, words=len(original),
        perturbed_words=len(swaps), status=status_of(example.label, prediction, perturbed_prediction),
        swap_details=[{"index": c.index, "cos": round(c.cos, 6), "similarity": round(c.sim, 6)} for c in swaps])
