"""TextFooler (Jin et al. 2020), composed like TextAttack's recipe: goal + constraints + transformation + search.

- Goal: untargeted classification, score = 1 - p(true label); success when the argmax changes.
- Pre-transformation constraints: stopwords (TextFooler's list) and already-swapped words stay;
  for sentence pairs only the second text is attacked.
- Transformation: swap a word for one of its `max_candidates` nearest neighbours in a
  (counter-fitted) word-vector space.
- Constraints on each candidate: cos(word, replacement) >= `min_cos`; same part of speech
  (WordNet's POS sets as the tagger's stand-in, noun/verb swaps allowed as in TextAttack);
  sentence-encoder cosine, in a `window`-word window around the swap, between the *original* and
  the perturbed text >= `min_sim`.
- Search: greedy word swap with deletion-based word importance ranking (TextAttack's
  `GreedyWordSwapWIR(wir_method="delete")`): every candidate of a position is scored in one batch;
  the one that lowers p(true) most is kept (among label-flipping ones, the most similar); stop when
  the label flips or the query budget is spent.

Departures from the paper and from TextAttack are listed in docs/attacks.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from adaptermix.attacks.results import AttackRecord, Example, check_examples, status_of
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

def modifiable(words: Words, swapped: set[int], stopwords: frozenset[str]) -> list[int]:
    """Indices that may change: not a stopword (RepeatModification + StopwordModification)."""
    return [i for i, w in enumerate(words.words) if i not in swapped and w.lower() not in stopwords]


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


def similarity_filter(
    original: Words, cands: list[Candidate], encoder: SentenceEncoder, min_sim: float, window: int
) -> list[Candidate]:
    """Keep candidates whose window around the swap stays similar to the original text's window.

    All windows of a position go to the encoder in one batch; the original's window is cached.
    """
    if not cands:
        return []
    ref = [original.window(c.index, window) for c in cands]
    new = [c.words.window(c.index, window) for c in cands]
    emb = encoder.encode(ref + new)
    sims = cosine(emb[: len(cands)], emb[len(cands) :])
    return [Candidate(c.index, c.original, c.replacement, c.words, c.cos, float(s))
            for c, s in zip(cands, sims, strict=True) if s >= min_sim]


# --- search -------------------------------------------------------------------------------------

def _score(wrapper: ModelWrapper, texts: list[str], fixed: str | None, pair: bool) -> np.ndarray:
    """Model probabilities for attacked texts (the second text of a pair, the first one fixed)."""
    if pair:
        return wrapper([fixed or ""] * len(texts), texts)
    return wrapper(texts)


def attack_one(wrapper: ModelWrapper, example: Example, res: Resources, cfg: TextFoolerConfig) -> AttackRecord:
    """Greedy word swap with deletion importance (Jin et al. 2020, Alg. 1) on one example."""
    pair = example.text_pair is not None
    target = (example.text_pair or "") if pair else example.text
    fixed = example.text if pair else None
    start_q = wrapper.queries
    original = Words.from_text(target)
    probs = _score(wrapper, [target], fixed, pair)[0]
    pred = int(probs.argmax())
    y = example.label

    def record(current: Words, adv_pred: int, swaps: list[Candidate]) -> AttackRecord:
        return AttackRecord(
            text=example.text, text_pair=example.text_pair, perturbed_text=current.text, label=y, prediction=pred,
            perturbed_prediction=adv_pred, swaps=[[c.original, c.replacement] for c in swaps],
            queries=wrapper.queries - start_q, words=len(original), perturbed_words=len(swaps),
            status=status_of(y, pred, adv_pred),
            swap_details=[{"index": c.index, "cos": round(c.cos, 6), "similarity": round(c.sim, 6)} for c in swaps])

    if pred != y:
        return record(original, pred, [])
    budget = math.inf if cfg.query_budget is None else cfg.query_budget

    def room() -> float:
        return budget - (wrapper.queries - start_q)

    # Word importance: drop of p(true) when the word is deleted (TextAttack's wir_method="delete").
    order = modifiable(original, set(), cfg.stopwords)
    if order and room() >= len(order):
        deleted = _score(wrapper, [original.delete(i) for i in order], fixed, pair)
        importance = probs[y] - deleted[:, y]
        order = [order[i] for i in np.argsort(-importance, kind="stable")]
    elif order:
        return record(original, pred, [])  # not even the ranking fits the budget
    current, cur_p, swaps = original, float(probs[y]), []
    adv_pred = pred
    for index in order:
        if room() <= 0:
            break
        cands = embedding_swaps(current, index, res.vectors, cfg.max_candidates, cfg.min_cos)
        cands = [c for c in cands
                 if c.cos >= cfg.min_cos and pos_compatible(res.wordnet, c.original, c.replacement,
                                                            cfg.allow_verb_noun_swap)]
        cands = similarity_filter(original, cands, res.encoder, cfg.min_sim, cfg.window)
        cands = cands[: int(min(len(cands), room()))]
        if not cands:
            continue
        p = _score(wrapper, [c.words.text for c in cands], fixed, pair)  # every candidate of this position at once
        preds = p.argmax(1)
        flipped = np.flatnonzero(preds != y)
        if len(flipped):
            best = int(max(flipped, key=lambda i: (cands[i].sim, -i)))  # most similar among successes
        else:
            best = int(np.argmin(p[:, y]))
            if p[best, y] >= cur_p:
                continue  # no candidate helps: leave this word as it is
        current, cur_p, adv_pred = cands[best].words, float(p[best, y]), int(preds[best])
        swaps.append(cands[best])
        if adv_pred != y:
            break
    return record(current, adv_pred, swaps)


def textfooler_attack(
    wrapper: ModelWrapper, examples: Sequence[Example], resources: Resources, config: TextFoolerConfig | None = None
) -> list[AttackRecord]:
    """TextFooler on every example (pairs: only the second text is attacked).

    Args:
        wrapper: the model (adapter and head already loaded).
        examples: labelled inputs.
        resources: word vectors, WordNet and the sentence encoder.
        config: the attack's settings.

    Returns:
        One record per example, in order. Deterministic: the same inputs give the same records.
    """
    check_examples(examples)
    cfg = config or TextFoolerConfig()
    return [attack_one(wrapper, e, resources, cfg) for e in examples]
