"""Candidate sets tried on validation examples: races among a strategy's top sets, and greedy growth.

Where `adaptermix.advice.collect` gathers the signals every strategy reads, this module runs the
sequential searches that refine an answer, each evaluation on the first examples of a target's
**validation** split with its own head (never the test split: `tests/test_advice_cli.py` poisons it):
`race_member_sets` and `race_partition_groups` (`--race`, `adaptermix.advice.racing` and
`partition_race`), `grow_member_sets` (`--grow`, `adaptermix.advice.soup`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import Tensor

from adaptermix.advice.collect import SPLIT
from adaptermix.checkpoints import Checkpoint


def grow_member_sets(checkpoints: Sequence[Checkpoint], names: Sequence[str], evaluator: Any, target: int,
                     k_max: int, n_examples: int, mixer: str = "average",
                     mixer_params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Greedy-soup growth (`adaptermix.advice.soup.grow`) for `target` on its first **validation** examples.

    Every candidate mixture is scored with the target's own head on the same first `n_examples`
    validation examples. Returns {"sets": the greedy set of each size 1..k_max (index tuples),
    "accuracy": the validation accuracy of each, "evaluations", "tokens"}.
    """
    from adaptermix.advice.soup import grow
    from adaptermix.mixing import mix

    ckpt = checkpoints[target]
    data = evaluator.target(ckpt.domain, SPLIT, n_examples)
    params = dict(mixer_params or {})
    seen: dict[tuple[int, ...], float] = {}
    tokens = 0

    def accuracy(members: tuple[int, ...]) -> float:
        nonlocal tokens
        if members not in seen:
            adapter = mix([checkpoints[j].adapter for j in members], mixer, **params)
            metrics = evaluator.evaluate(adapter, ckpt.head, data, head_key=names[target])
            tokens += metrics.tokens
            seen[members] = float(metrics.accuracy)
        return seen[members]

    sets = grow(len(checkpoints), target, k_max, accuracy)
    return {"sets": sets, "accuracy": [seen.get(s) for s in sets], "evaluations": len(seen), "tokens": tokens}


def validation_window(target: Any, start: int, stop: int) -> Any:
    """The validation examples start..stop−1 of `target` as an `EvalTarget` of their own (same tokens)."""
    from adaptermix.data.tokenize import Encoded
    from adaptermix.evaluation.evaluator import EvalTarget

    if target.split != SPLIT:
        raise ValueError(f"the advisor races on the {SPLIT} split, got {target.split!r}")
    enc = target.encoded
    lo, hi = int(enc.offsets[start]), int(enc.offsets[stop])
    window = Encoded(enc.ids[lo:hi], enc.type_ids[lo:hi], enc.offsets[start : stop + 1] - lo, enc.labels[start:stop])
    return EvalTarget(target.domain, target.split, window, target.label_names)


def race_member_sets(checkpoints: Sequence[Checkpoint], names: Sequence[str], evaluator: Any, target: int,
                     sets: Sequence[Sequence[int]], spec: Any | None = None, mixer: str = "average",
                     mixer_params: Mapping[str, Any] | None = None,
                     memo: dict[tuple[Any, ...], tuple[np.ndarray, int]] | None = None,
                     max_tokens: int | None = None) -> Any:
    """Race the mixtures of `sets` for `target` on its first **validation** examples (`adaptermix.advice.racing`).

    Every candidate is scored on the same examples with the target's own head; each mixture is built
    once. `memo` (optional) keeps each (target, set, window)'s correctness and tokens across calls,
    so a benchmark racing several seed strategies runs a shared candidate once; the tokens a race
    reports are what it would have run on its own. `max_tokens` caps the race's forward tokens: it
    uses at most the first m examples, m the largest with (candidates × their tokens) ≤ `max_tokens`
    (every candidate surviving to the end, so the cap holds whatever is dropped); below the first
    batch (`spec.first` examples) nothing is run and candidate 0 wins. Returns the
    `RaceResult` (its `tokens` are the forward tokens, for the advice's cost).
    """
    from adaptermix.advice.racing import RaceSpec, race
    from adaptermix.evaluation.evaluator import SLOT
    from adaptermix.methods.model import load_state
    from adaptermix.mixing import mix

    spec = (spec or RaceSpec()).check()
    ckpt = checkpoints[target]
    data = evaluator.target(ckpt.domain, SPLIT, spec.examples)
    params = dict(mixer_params or {})
    mixtures: dict[int, Mapping[str, Tensor]] = {}

    def evaluate(i: int, start: int, stop: int) -> tuple[np.ndarray, int]:
        key = (target, tuple(sorted(sets[i])), mixer, repr(sorted(params.items())), start, stop)
        if memo is not None and key in memo:
            return memo[key]
        got = run(i, start, stop)
        if memo is not None:
            memo[key] = got
        return got

    def run(i: int, start: int, stop: int) -> tuple[np.ndarray, int]:
        if i not in mixtures:
            mixtures[i] = mix([checkpoints[j].adapter for j in sets[i]], mixer, **params)
        window = validation_window(data, start, stop)
        load_state(evaluator.base.model, SLOT, mixtures[i])
        evaluator.use_head(names[target], ckpt.head, window.label_names)
        metrics, preds = evaluator.predictions(window)
        return np.asarray(preds) == window.encoded.labels, int(metrics.tokens)

    m = affordable(data.encoded.lengths, len(sets), max_tokens)
    # A race the budget cannot give its first batch is not run (a few examples would pick by noise): the seed's
    # pick stands. (A split smaller than the first batch is raced on all of it, as without a budget.)
    return race(len(sets), evaluate, m if m >= min(spec.first, len(data.encoded)) else 0, spec)


def affordable(lengths: Any, candidates: int, max_tokens: int | None) -> int:
    """How many of the first examples (token `lengths`) `candidates` evaluations can afford within `max_tokens`."""
    if max_tokens is None:
        return len(lengths)
    spent = candidates * np.cumsum(np.asarray(lengths, dtype=np.int64))
    return int(np.searchsorted(spent, max(0, max_tokens), side="right"))


def race_partition_groups(checkpoints: Sequence[Checkpoint], names: Sequence[str], evaluator: Any,
                          candidates: Sequence[tuple[int, ...]], spec: Any | None = None, mixer: str = "average",
                          mixer_params: Mapping[str, Any] | None = None, max_tokens: int | None = None,
                          memo: dict[tuple[Any, ...], tuple[np.ndarray, int]] | None = None) -> Any:
    """Race candidate partitions on each domain's first **validation** examples (`advice.partition_race`).

    Domain t is scored under the mixture of the group holding it, with t's own head; each group's
    mixture is built once and each (domain, group, window) evaluated once, however many candidates
    share it. A round runs only if its exact tokens fit `max_tokens`. `memo` (optional) keeps the
    correctness and tokens of each (domain, group, window) across calls (a benchmark racing every G);
    the tokens a race reports are what it would have run on its own; `spec.partition_rule` decides.
    Returns the `PartitionRaceResult`.
    """
    from adaptermix.advice.partition_race import race_partitions
    from adaptermix.advice.racing import RaceSpec
    from adaptermix.evaluation.evaluator import SLOT
    from adaptermix.methods.model import load_state
    from adaptermix.mixing import mix

    spec = (spec or RaceSpec()).check()
    params = dict(mixer_params or {})
    data = [evaluator.target(c.domain, SPLIT, spec.examples) for c in checkpoints]
    mixtures: dict[int, Mapping[str, Tensor]] = {}

    def window_tokens(t: int, start: int, stop: int) -> int:
        offsets = data[t].encoded.offsets
        return int(offsets[stop] - offsets[start])

    def evaluate(t: int, mask: int, start: int, stop: int) -> tuple[np.ndarray, int]:
        key = (t, mask, mixer, repr(sorted(params.items())), start, stop)
        if memo is not None and key in memo:
            return memo[key]
        if mask not in mixtures:
            members = [j for j in range(len(checkpoints)) if mask >> j & 1]
            mixtures[mask] = mix([checkpoints[j].adapter for j in members], mixer, **params)
        window = validation_window(data[t], start, stop)
        load_state(evaluator.base.model, SLOT, mixtures[mask])
        evaluator.use_head(names[t], checkpoints[t].head, window.label_names)
        metrics, preds = evaluator.predictions(window)
        got = (np.asarray(preds) == window.encoded.labels, int(metrics.tokens))
        if memo is not None:
            memo[key] = got
        return got

    return race_partitions(candidates, len(checkpoints), evaluate, [len(d.encoded) for d in data], spec,
                           max_tokens, window_tokens)


__all__ = ["affordable", "grow_member_sets", "race_member_sets", "race_partition_groups", "validation_window"]
