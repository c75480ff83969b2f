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
  `GreedyWordSwapWIR(wir_method="delete")`): the one candidate of a position that lowers p(true)
  most is kept (among label-flipping ones, the most similar); stop when the label flips or the
  query budget is spent.

The search runs every example at once, in lockstep: one batched model call scores the clean texts
of all examples, one their deletions, then each round one encoder call embeds the windows of every
example's next position and one model call scores all their candidates; an example leaves as soon
as it flips or runs out of positions or budget. Its records are those of the one-example loop in
`textfooler_reference.py`: the model and the encoder batch texts of equal length only, unpadded,
so a score does not depend on what shares its forward (beyond ~1e-7, see `wrapper.py`), and both
take their decisions with the same functions, in `textfooler_parts.py`.

Departures from the paper and from TextAttack are listed in docs/attacks.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from adaptermix.attacks.results import AttackRecord, Example, check_examples
from adaptermix.attacks.textfooler_parts import (
    STOPWORDS,
    Candidate,
    Resources,
    TextFoolerConfig,
    best_swap,
    embedding_swaps,
    keep_similar,
    make_record,
    modifiable,
    pos_compatible,
    score_texts,
    similarity_filter,
    similarity_texts,
    swap_candidates,
)
from adaptermix.attacks.tokens import Words
from adaptermix.attacks.wrapper import ModelWrapper

__all__ = [
    "STOPWORDS", "Candidate", "Resources", "TextFoolerConfig", "embedding_swaps", "modifiable", "pos_compatible",
    "similarity_filter", "textfooler_attack",
]


@dataclass
class _Search:
    """One example's greedy search (Jin et al. 2020, Alg. 1), advanced one position per round."""

    example: Example
    original: Words
    budget: float
    queries: int = 0
    pred: int = -1
    adv_pred: int = -1
    probs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cur_p: float = 0.0
    order: list[int] = field(default_factory=list)
    step: int = 0
    swaps: list[Candidate] = field(default_factory=list)
    done: bool = False
    current: Words = field(init=False)

    def __post_init__(self) -> None:
        self.current = self.original

    @property
    def fixed(self) -> str | None:
        """The first text of a pair (never attacked), None for a single text."""
        return self.example.text if self.example.text_pair is not None else None

    @property
    def room(self) -> float:
        return self.budget - self.queries

    def begin(self, probs: np.ndarray, stopwords: frozenset[str], visible: int | None = None) -> None:
        """Clean prediction in: skip a misclassified example; stop one whose ranking exceeds the budget.

        Only the first `visible` words (those inside the model's truncated input) are ranked and swapped.
        """
        y = self.example.label
        self.probs, self.pred = probs, int(probs.argmax())
        self.adv_pred, self.cur_p = self.pred, float(probs[y])
        self.order = modifiable(self.original, set(), stopwords, visible)
        self.done = self.pred != y or len(self.order) > self.room

    def rank(self, deleted: np.ndarray) -> None:
        """Word importance: drop of p(true) when the word is deleted (TextAttack's wir_method="delete")."""
        y = self.example.label
        importance = self.probs[y] - deleted[:, y]
        self.order = [self.order[i] for i in np.argsort(-importance, kind="stable")]

    def next_candidates(self, res: Resources, cfg: TextFoolerConfig) -> list[Candidate]:
        """Candidates of the next position that has any; [] (and done) once positions or budget run out."""
        while self.step < len(self.order) and self.room > 0:
            self.step += 1
            cands = swap_candidates(self.current, self.order[self.step - 1], res, cfg)
            if cands:
                return cands
        self.done = True
        return []

    def take(self, cands: list[Candidate], p: np.ndarray) -> None:
        """Keep the best scored candidate of the position, if any helps; done when the label flips."""
        y = self.example.label
        best = best_swap(p, cands, y, self.cur_p)
        if best is None:
            return  # no candidate helps: leave this word as it is
        self.current, self.cur_p, self.adv_pred = cands[best].words, float(p[best, y]), int(p[best].argmax())
        self.swaps.append(cands[best])
        self.done = self.adv_pred != y

    def record(self) -> AttackRecord:
        return make_record(self.example, self.original, self.current, self.pred, self.adv_pred, self.swaps,
                           self.queries)


def _score_all(wrapper: ModelWrapper, jobs: Sequence[tuple[_Search, list[str]]]) -> list[np.ndarray]:
    """Every job's texts in one batched model call (pairs and single texts apart); each search pays its queries."""
    out: dict[int, np.ndarray] = {}
    for pair in (False, True):
        mine = [(j, s, texts) for j, (s, texts) in enumerate(jobs) if (s.fixed is not None) == pair and texts]
        flat = [t for _, _, texts in mine for t in texts]
        if not flat:
            continue
        fixed = [s.fixed or "" for _, s, texts in mine for _ in texts] if pair else None
        p, start = score_texts(wrapper, flat, fixed), 0
        for j, s, texts in mine:
            out[j], start = p[start : start + len(texts)], start + len(texts)
            s.queries += len(texts)
    return [out.get(j, np.zeros((0, 0))) for j in range(len(jobs))]


def textfooler_attack(
    wrapper: ModelWrapper, examples: Sequence[Example], resources: Resources, config: TextFoolerConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[AttackRecord]:
    """TextFooler on every example (pairs: only the second text is attacked), all examples batched together.

    Args:
        wrapper: the model (adapter and head already loaded).
        examples: labelled inputs.
        resources: word vectors, WordNet and the sentence encoder.
        config: the attack's settings.
        progress: called after each round with (examples finished, examples), so that a long attack
            can say how far it is (a bbc_news target takes many minutes); it changes nothing else.

    Returns:
        One record per example, in order: the records of `textfooler_reference` (one example at a
        time), query counts included. Deterministic: the same inputs give the same records.
    """
    check_examples(examples)
    cfg = config or TextFoolerConfig()
    budget = math.inf if cfg.query_budget is None else cfg.query_budget
    searches = [_Search(e, Words.from_text(e.text_pair if e.text_pair is not None else e.text), budget)
                for e in examples]
    clean = _score_all(wrapper, [(s, [s.original.text]) for s in searches])
    for s, p in zip(searches, clean, strict=True):
        s.begin(p[0], cfg.stopwords, wrapper.visible_words(s.original, s.fixed))
    ranked = [s for s in searches if not s.done and s.order]
    deleted = _score_all(wrapper, [(s, [s.original.delete(i) for i in s.order]) for s in ranked])
    for s, p in zip(ranked, deleted, strict=True):
        s.rank(p)
    while True:
        # A round: every live search's next position, its windows in one encoder call, its
        # surviving candidates in one model call.
        proposals = [(s, c) for s in searches if not s.done for c in (s.next_candidates(resources, cfg),) if c]
        if not proposals:
            break
        windows = [similarity_texts(s.original, c, cfg.window) for s, c in proposals]
        emb = resources.encoder.encode([t for w in windows for t in w])
        kept, start = [], 0
        for (s, cands), w in zip(proposals, windows, strict=True):
            similar = keep_similar(cands, emb[start : start + len(w)], cfg.min_sim)
            start += len(w)
            if similar:
                kept.append((s, similar[: int(min(len(similar), s.room))]))
        scored = _score_all(wrapper, [(s, [c.words.text for c in cands]) for s, cands in kept])
        for (s, cands), p in zip(kept, scored, strict=True):
            s.take(cands, p)
        if progress is not None:
            progress(sum(s.done for s in searches), len(searches))
    if progress is not None:  # the last searches end when they run out of positions, after their last round
        progress(len(searches), len(searches))
    return [s.record() for s in searches]
