"""Robustness conditions: FGSM (white-box) and TextFooler (black-box) as study conditions.

PAPER.md §5 asks how mixing changes adversarial robustness (Table 1's black-box and white-box
columns, Findings #2 and #3). Each attack row scores a seeded sample of `attack_examples` examples of
the target's scored split: the same sample for every mixture of that target, drawn from the examples the `clean`
condition scores, so rows of one target are paired. A row's accuracy is the accuracy under attack;
its per-example correctness (under attack, in sample order) is stored for paired comparisons; its
metrics hold TextAttack's summary (`clean_accuracy` on the same sample, `attack_success_rate`,
`n_skipped`, `avg_perturbed_words_pct`, `avg_queries`, ...) and `craft_seconds`, the part of the row's
`seconds` spent crafting adversarial examples (0 where the row reuses examples crafted for an earlier
row: transfer mode, or k = 1 sharing the attack on the adapter alone), so scoring time is
`seconds - craft_seconds`. Undefined rates (no attacked example) are left out rather than stored as NaN.

Modes (TextFooler):
- `adaptive`: every mixture is attacked itself, the paper's setting; a query budget bounds the cost.
- `transfer`: examples are crafted once per target against the target's own adapter alone, then
  every mixture scores them (2 queries per example): cheap enough for exhaustive sweeps. At k = 1
  (the adapter alone) the two modes agree.
FGSM perturbs input embeddings of the very model scored, so it is adaptive only; one forward and
backward per batch makes it cheap on every mixture.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.attacks import (
    AttackRecord,
    AttackSpec,
    Example,
    ModelWrapper,
    attack_examples,
    load_resources,
    sample_examples,
    score_perturbed,
    summarize,
)
from adaptermix.attacks.api import check_settings, condition_params
from adaptermix.data.domains import get_domain
from adaptermix.evaluation.conditions import Scored, ScoringContext, autocast, register
from adaptermix.methods.inference import classification_metrics

# Metrics of `results.summarize` stored per row (the rest of its keys are labels or parameters).
_METRICS = ("clean_accuracy", "accuracy_under_attack", "attack_success_rate", "n_successful", "n_failed",
            "n_skipped", "avg_perturbed_words_pct", "avg_queries")


def _spec(attack: str, params: dict[str, Any]) -> AttackSpec:
    return AttackSpec(attack=attack, **params)


def _examples(context: ScoringContext, n: int, seed: int) -> list[Example]:
    """The target's seeded sample, drawn from exactly the examples the clean condition scores."""
    scored = len(context.target.encoded)
    key = ("attack-examples", context.target.domain, context.target.split, scored, n, seed)
    if key not in context.cache:
        data = get_domain(context.target.domain).load(context.evaluator.cache_dir)
        split = data.split(context.target.split).take(scored)
        context.cache[key] = sample_examples(split, min(n, scored), seed)
    examples: list[Example] = context.cache[key]
    return examples


def _scored(records: Sequence[AttackRecord], attack: str, params: dict[str, Any], n_labels: int,
            extra: dict[str, float] | None = None) -> Scored:
    summary = summarize(attack, records, params)
    metrics = {k: float(summary[k]) for k in _METRICS if not math.isnan(float(summary[k]))}
    metrics.update(extra or {})
    labels = np.array([r.label for r in records])
    # The label each example ends with: the clean one where the attack was skipped (already wrong).
    under = np.array([r.prediction if r.status == "skipped" else r.perturbed_prediction for r in records])
    accuracy, macro_f1 = classification_metrics(under, labels, n_labels)
    return Scored(
        accuracy=accuracy, macro_f1=macro_f1, n_examples=len(records), correct=under == labels,
        tokens=sum(r.words for r in records), padded_tokens=sum(r.words for r in records), metrics=metrics,
    )


# Each attack's parameters and defaults are `AttackSpec`'s (declared once, in attacks/api.py).
@register("fgsm", params=condition_params("fgsm"), check=partial(check_settings, "fgsm"),
          cite="PAPER.md §5: white-box FGSM on input embeddings, ε = 0.01 (Goodfellow et al. 2015)")
def fgsm(context: ScoringContext, params: dict[str, Any]) -> Scored:
    """Attack the resident mixture itself with FGSM; accuracy under attack on the target's sample."""
    examples = _examples(context, params["attack_examples"], params["attack_seed"])
    wrapper = ModelWrapper.from_evaluator(context.evaluator, batch_size=params["batch_size"])
    spec = _spec("fgsm", params)
    start = time.perf_counter()
    with autocast(context.precision):
        records = attack_examples(wrapper, examples, spec)
    return _scored(records, "fgsm", spec.params(), len(context.target.label_names),
                   {"craft_seconds": time.perf_counter() - start})


def _rounds(context: ScoringContext, crafting: bool) -> Callable[[int, int], None] | None:
    """TextFooler's per-round callback as one progress line for the row (None where nobody listens)."""
    say = context.progress
    if say is None:
        return None
    domain = Path(context.target.domain).name
    where = (f"textfooler: crafting on {domain}'s adapter alone" if crafting
             else f"textfooler: adaptive on {domain}, k={len(context.members)}")
    return lambda done, total: say(f"{where}: {done}/{total} examples finished")


@register("textfooler", params=condition_params("textfooler"), check=partial(check_settings, "textfooler"),
          cite="PAPER.md §5: black-box TextFooler (Jin et al. 2020); MiniLM stands in for USE")
def textfooler(context: ScoringContext, params: dict[str, Any]) -> Scored:
    """TextFooler against the mixture (adaptive) or with examples crafted on the target's adapter (transfer)."""
    examples = _examples(context, params["attack_examples"], params["attack_seed"])
    wrapper = ModelWrapper.from_evaluator(context.evaluator)
    spec = _spec("textfooler", params)
    res_key = ("textfooler-resources", params["vectors"])
    if res_key not in context.cache:
        vectors = None if params["vectors"] is None else Path(params["vectors"])
        context.cache[res_key] = load_resources(context.evaluator.cache_dir, vectors_file=vectors)
    resources = context.cache[res_key]
    n_labels = len(context.target.label_names)
    start = time.perf_counter()
    if params["attack_mode"] == "adaptive" and not context.is_alone:
        with autocast(context.precision):
            records = attack_examples(wrapper, examples, spec, resources, _rounds(context, crafting=False))
        return _scored(records, "textfooler", spec.params(), n_labels, {"craft_seconds": time.perf_counter() - start})
    # The attack on the target's adapter alone: transfer mode crafts there once, and adaptive mode on a
    # mixture that *is* the adapter alone (k = 1) is that very attack, so both share one result.
    shared = {k: v for k, v in params.items() if k != "attack_mode"}
    craft_key = ("textfooler-alone", context.target_index, context.target.domain, tuple(sorted(shared.items())))
    crafting = craft_key not in context.cache
    if crafting:
        if context.alone is None:
            raise RuntimeError("transfer mode needs the engine's `alone` context (the target's adapter alone)")
        place = contextlib.nullcontext() if context.is_alone else context.alone()
        with place, autocast(context.precision):
            context.cache[craft_key] = attack_examples(wrapper, examples, spec, resources,
                                                       _rounds(context, crafting=True))
    crafted: list[AttackRecord] = context.cache[craft_key]
    craft = {"craft_seconds": time.perf_counter() - start if crafting else 0.0}
    if params["attack_mode"] == "adaptive":
        return _scored(crafted, "textfooler", spec.params(), n_labels, craft)
    with autocast(context.precision):
        records = score_perturbed(wrapper, crafted)
    success = [r for r in crafted if r.status == "successful"]
    extra = {"crafted_success_rate": len(success) / max(1, sum(r.status != "skipped" for r in crafted)),
             "craft_queries": float(np.mean([r.queries for r in crafted])) if crafted else 0.0, **craft}
    return _scored(records, "textfooler", {**spec.params(), "mode": "transfer"}, n_labels, extra)
