"""TextFooler one example at a time: the reference the batched search (`textfooler.py`) must match.

This is the straightforward loop (each example's queries scored on their own, one position after
the other), kept to check that batching across examples changes nothing: the same records on a
fixed seed (tests and `benchmarks/attack_throughput.py`, which runs it with one query per forward).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from adaptermix.attacks.results import AttackRecord, Example, check_examples
from adaptermix.attacks.textfooler_parts import (
    Resources,
    TextFoolerConfig,
    best_swap,
    make_record,
    modifiable,
    score_texts,
    similarity_filter,
    swap_candidates,
)
from adaptermix.attacks.tokens import Words
from adaptermix.attacks.wrapper import ModelWrapper


def attack_one(wrapper: ModelWrapper, example: Example, res: Resources, cfg: TextFoolerConfig) -> AttackRecord:
    """Greedy word swap with deletion importance (Jin et al. 2020, Alg. 1) on one example."""
    pair = example.text_pair is not None
    target = (example.text_pair or "") if pair else example.text
    start_q = wrapper.queries
    original = Words.from_text(target)

    def score(texts: list[str]) -> np.ndarray:
        return score_texts(wrapper, texts, [example.text] * len(texts) if pair else None)

    probs = score([target])[0]
    pred, y = int(probs.argmax()), example.label

    def record(current: Words, adv_pred: int, swaps: list) -> AttackRecord:
        return make_record(example, original, current, pred, adv_pred, swaps, wrapper.queries - start_q)

    if pred != y:
        return record(original, pred, [])
    budget = math.inf if cfg.query_budget is None else cfg.query_budget

    def room() -> float:
        return budget - (wrapper.queries - start_q)

    # Word importance: drop of p(true) when the word is deleted (TextAttack's wir_method="delete").
    order = modifiable(original, set(), cfg.stopwords, wrapper.visible_words(original, example.text if pair else None))
    if order and room() >= len(order):
        deleted = score([original.delete(i) for i in order])
        importance = probs[y] - deleted[:, y]
        order = [order[i] for i in np.argsort(-importance, kind="stable")]
    elif order:
        return record(original, pred, [])  # not even the ranking fits the budget
    current, cur_p, swaps, adv_pred = original, float(probs[y]), [], pred
    for index in order:
        if room() <= 0:
            break
        cands = swap_candidates(current, index, res, cfg)
        cands = similarity_filter(original, cands, res.encoder, cfg.min_sim, cfg.window)
        cands = cands[: int(min(len(cands), room()))]
        if not cands:
            continue
        p = score([c.words.text for c in cands])  # every candidate of this position at once
        best = best_swap(p, cands, y, cur_p)
        if best is None:
            continue  # no candidate helps: leave this word as it is
        current, cur_p, adv_pred = cands[best].words, float(p[best, y]), int(p[best].argmax())
        swaps.append(cands[best])
        if adv_pred != y:
            break
    return record(current, adv_pred, swaps)


def textfooler_reference(
    wrapper: ModelWrapper, examples: Sequence[Example], resources: Resources, config: TextFoolerConfig | None = None
) -> list[AttackRecord]:
    """TextFooler on each example in turn (the reference loop); same arguments and records as `textfooler_attack`."""
    check_examples(examples)
    cfg = config or TextFoolerConfig()
    return [attack_one(wrapper, e, resources, cfg) for e in examples]
