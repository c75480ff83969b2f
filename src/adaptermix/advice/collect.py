"""Gathering the advisor's signals from checkpoints: weights, unlabeled train text, validation evaluations.

With `adaptermix.advice.trials` (races and greedy growth on validation examples), the only place the
advisor touches a model or data. Every split read here is `train` (text similarity) or `validation`
(evaluations); the test split is ground truth only and is never read
(`tests/test_advice_cli.py::test_no_advisor_path_reads_the_test_split` makes any read of it fail).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from adaptermix.advice.signals import TEXT, UNLABELED, VALIDATION, WEIGHTS, Signals, cosine_matrix
from adaptermix.analysis.fsd import fsd_matrix
from adaptermix.checkpoints import Checkpoint
from adaptermix.errors import CheckpointError, ConfigError

SPLIT = "validation"
MIN_VALIDATION = 10  # fewer validation examples per evaluation than this: the pair drops are noise
Progress = Callable[[str], None]


def validation_evaluations(n: int) -> int:
    """Evaluations the surrogate needs: each adapter alone, every ordered pair, the all-mixture per target."""
    return n + n * (n - 1) + (n if n >= 3 else 0)


def exhaustive_evaluations(n: int) -> int:
    """Rows of the exhaustive sweep: every target with every subset of the others, n·2^(n−1)."""
    return n * 2 ** (n - 1)


def validation_examples(n: int, budget: float, sweep_examples: int) -> int:
    """Validation examples per evaluation that keep the surrogate within `budget` of the exhaustive cost.

    The exhaustive sweep runs n·2^(n−1) evaluations of `sweep_examples` test examples each; the
    surrogate runs `validation_evaluations(n)`, so each may use budget·n·2^(n−1)·sweep_examples /
    validation_evaluations(n) examples (tokens per example being alike across splits).

    Raises:
        ConfigError: a budget outside (0, 1], or one that leaves fewer than `MIN_VALIDATION` examples.
    """
    per_eval = _within(n, budget, sweep_examples, validation_evaluations(n))
    if per_eval < MIN_VALIDATION:
        raise ConfigError(
            f"--budget {budget:g} leaves {per_eval} validation examples for each of the "
            f"{validation_evaluations(n)} evaluations {n} adapters need (at least {MIN_VALIDATION}): raise "
            "--budget, or use a weights-only strategy (--strategy fsd_nearest, task_cosine, ...)")
    return per_eval


def soup_validation_examples(n: int, k_max: int, budget: float, sweep_examples: int) -> int:
    """Validation examples per evaluation that keep greedy growth of every target to `k_max` within `budget`.

    Growing one target to size k_max runs `soup.soup_evaluations(n, k_max)` evaluations; every target
    grown so costs n times that, against the sweep's n·2^(n−1) evaluations of `sweep_examples` examples.

    Raises:
        ConfigError: a budget outside (0, 1], or one that leaves fewer than `MIN_VALIDATION` examples.
    """
    from adaptermix.advice.soup import soup_evaluations

    evaluations = n * soup_evaluations(n, k_max)
    per_eval = _within(n, budget, sweep_examples, evaluations)
    if per_eval < MIN_VALIDATION:
        raise ConfigError(
            f"--budget {budget:g} leaves {per_eval} validation examples for each of the {evaluations // n} "
            f"evaluations growing a target to k={k_max} needs (at least {MIN_VALIDATION}): raise --budget or "
            "ask for smaller --sizes")
    return per_eval


def _within(n: int, budget: float, sweep_examples: int, evaluations: int) -> int:
    """Examples per evaluation for `evaluations` evaluations to cost `budget` of the exhaustive sweep's
    n·2^(n−1) evaluations of `sweep_examples` examples (tokens per example alike across splits)."""
    check_budget(budget)
    return math.floor(budget * exhaustive_evaluations(n) * sweep_examples / max(1, evaluations))


def check_budget(budget: float) -> float:
    """A budget as a fraction of the exhaustive cost, in (0, 1]. Raises ConfigError otherwise."""
    if not (isinstance(budget, int | float) and math.isfinite(budget) and 0.0 < budget <= 1.0):
        raise ConfigError(f"--budget must be a fraction of the exhaustive cost in (0, 1] (e.g. 0.1), got {budget!r}")
    return float(budget)


def _flat(state_dict: Mapping[str, Tensor]) -> np.ndarray:
    return np.concatenate([state_dict[k].detach().cpu().double().numpy().ravel() for k in sorted(state_dict)])


def weight_signals(checkpoints: Sequence[Checkpoint], base: Any | None) -> dict[str, Any]:
    """FSD (raw weights, Alg. 3) and task-vector cosine (θ − θ_0 from the rebuilt shared init).

    The cosine falls back to the raw weights, saying so (`cosine_reference="raw"`), when the
    adapters record no common training seed (imported PEFT/AdapterHub adapters).
    """
    adapters = [c.adapter for c in checkpoints]
    try:
        S = fsd_matrix(adapters)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    reference, vectors = "raw", adapters
    if base is not None:
        from adaptermix.mixing import task_vectors
        from adaptermix.training.init import shared_init

        try:
            vectors = task_vectors(adapters, shared_init(base, checkpoints))
            reference = "init"
        except CheckpointError:
            pass
    return {"fsd": S, "cosine": cosine_matrix(np.stack([_flat(v) for v in vectors])), "cosine_reference": reference}


def text_signals(checkpoints: Sequence[Checkpoint], cache_dir: Path | None, max_docs: int = 200,
                 seed: int = 0) -> tuple[np.ndarray, int]:
    """Fig. 2a's centroid similarity of each domain's train text, and the tokens it embedded.

    The same sample, embedder and cache as the dataset analysis (`adaptermix.analysis.corpus`):
    `max_docs` seeded documents of the **train** split per domain, MiniLM sentence embeddings.
    """
    from transformers import AutoTokenizer

    from adaptermix.analysis.corpus import MiniLMEmbedder, cached_embeddings, centroid_similarity
    from adaptermix.analysis.corpus.documents import domain_documents, sample_documents
    from adaptermix.data import get_domain
    from adaptermix.data.cache import resolve_cache_dir

    cache = resolve_cache_dir(cache_dir)
    embedder = MiniLMEmbedder()
    tokenizer = AutoTokenizer.from_pretrained(str(embedder.model_dir))
    embeddings, tokens = [], 0
    for c in checkpoints:
        docs = sample_documents(domain_documents(get_domain(c.domain).load(cache), "train"), max_docs, seed, c.domain)
        embeddings.append(cached_embeddings(docs, embedder, cache))
        lengths = tokenizer(list(docs), truncation=True, max_length=embedder.max_tokens)["input_ids"]
        tokens += sum(len(ids) for ids in lengths)
    return centroid_similarity(embeddings), tokens


def validation_signals(checkpoints: Sequence[Checkpoint], names: Sequence[str], evaluator: Any, n_examples: int,
                       mixer: str = "average", mixer_params: Mapping[str, Any] | None = None,
                       progress: Progress | None = None) -> dict[str, Any]:
    """Every adapter alone, every ordered pair and the all-mixture, per target, on its validation examples.

    Each target is scored on the first `n_examples` examples of its **validation** split with its own
    head; the mixture is `adaptermix.mixing.mix(members, mixer, **mixer_params)` (Eq. 1 by default).
    One forward per evaluation gives the labelled signals (accuracy: `single`, `pair`, `full`) and the
    label-free ones, which never read a label: agreement with the target's adapter alone (`agreement`,
    `agreement_full`) and mean predictive entropy (`entropy`, `entropy_full`).
    """
    from adaptermix.evaluation.evaluator import SLOT
    from adaptermix.methods.model import load_state
    from adaptermix.mixing import mix

    n = len(checkpoints)
    params = dict(mixer_params or {})
    single, full = np.zeros(n), np.full(n, np.nan)
    pair, agree, entropy = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    agree_full, entropy_full = np.full(n, np.nan), np.full(n, np.nan)
    tokens = evaluations = 0
    sizes: dict[str, int] = {}
    for t, ckpt in enumerate(checkpoints):
        target = evaluator.target(ckpt.domain, SPLIT, n_examples)
        sizes[names[t]] = len(target.encoded)

        def score(members: Sequence[int], t: int = t, ckpt: Checkpoint = ckpt,
                  target: Any = target) -> tuple[float, np.ndarray, float]:
            nonlocal tokens, evaluations
            load_state(evaluator.base.model, SLOT, mix([checkpoints[j].adapter for j in members], mixer, **params))
            evaluator.use_head(names[t], ckpt.head, target.label_names)
            metrics, preds, probs = evaluator.probabilities(target)
            tokens += metrics.tokens
            evaluations += 1
            return float(metrics.accuracy), preds, mean_entropy(probs)

        single[t], own, entropy[t, t] = score([t])
        pair[t, t], agree[t, t] = single[t], 1.0
        for j in range(n):
            if j != t:
                pair[t, j], preds, entropy[t, j] = score([t, j])
                agree[t, j] = float(np.mean(preds == own))
        if n >= 3:
            full[t], preds, entropy_full[t] = score(list(range(n)))
            agree_full[t] = float(np.mean(preds == own))
        if progress is not None:
            progress(f"validation: {names[t]} done ({evaluations} evaluations)")
    many = n >= 3
    return {"single": single, "pair": pair, "full": full if many else None, "agreement": agree,
            "agreement_full": agree_full if many else None, "entropy": entropy,
            "entropy_full": entropy_full if many else None, "n_validation": sizes, "tokens": tokens,
            "evaluations": evaluations}


def mean_entropy(probs: np.ndarray) -> float:
    """Mean Shannon entropy (nats) of the rows of an (n, C) probability matrix (0 · log 0 = 0)."""
    p = np.asarray(probs, dtype=np.float64)
    if p.size == 0:
        return 0.0
    logs = np.log(np.where(p > 0, p, 1.0))
    return float(np.mean(-(p * logs).sum(axis=1)))


#: The fields of `validation_signals`' result that go into `Signals` as they are.
VALIDATION_FIELDS = ("single", "pair", "full", "agreement", "agreement_full", "entropy", "entropy_full")


def validation_probe(evaluator: Any, adapter: Mapping[str, Tensor], ckpt: Checkpoint, target: Any,
                     head_key: str, precision: str = "fp32") -> tuple[float, np.ndarray, int]:
    """(mean cross-entropy, per-example correctness, tokens) of `adapter` with `ckpt`'s head on `target`.

    The loss the weight search minimises (LoraHub's): a smooth objective where accuracy on a few dozen
    examples is a step function. `target` must be a validation split (the advisor's rule; the benchmark
    also calls this on test, as ground truth). `precision="bf16"` scores as a bf16 sweep does.
    """
    import torch

    from adaptermix.evaluation.evaluator import SLOT
    from adaptermix.methods.inference import prepare_batches
    from adaptermix.methods.model import load_state
    from adaptermix.methods.precision import autocast

    model = evaluator.base.model
    load_state(model, SLOT, adapter)
    evaluator.use_head(head_key, ckpt.head, target.label_names)
    labels = torch.as_tensor(target.encoded.labels)
    losses = torch.empty(len(labels), dtype=torch.float64)
    correct = np.empty(len(labels), dtype=bool)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast(precision), \
            (evaluator.bf16_weights() if precision == "bf16" else _nothing()):
        for idx, inputs in prepare_batches(model, target.encoded, evaluator.pad_id):
            logits = model(**inputs).logits.float().cpu()
            y = labels[idx]
            losses[idx] = torch.nn.functional.cross_entropy(logits, y, reduction="none").double()
            correct[idx] = (logits.argmax(-1) == y).numpy()
    model.train(was_training)
    return float(losses.mean()), correct, int(target.encoded.lengths.sum())


def _nothing() -> Any:
    import contextlib

    return contextlib.nullcontext()


def search_member_weights(checkpoints: Sequence[Checkpoint], names: Sequence[str], evaluator: Any, target: int,
                          members: Sequence[int], spec: Any | None = None) -> dict[str, Any]:
    """CMA-ES weights of `members` for `target` on its first `spec.examples` **validation** examples.

    Returns:
        {"result": WeightResult, "accuracy": validation accuracy of the best weights, "uniform_accuracy":
        of Eq. 1, "tokens": forward tokens spent, "examples": validation examples used}.
    """
    return search_shared_weights(checkpoints, names, evaluator, members, (target,), spec)


def search_shared_weights(checkpoints: Sequence[Checkpoint], names: Sequence[str], evaluator: Any,
                          members: Sequence[int], scored: Sequence[int], spec: Any | None = None) -> dict[str, Any]:
    """CMA-ES weights of one mixture of `members` that serves every domain in `scored`, each with its own head.

    The loss is the mean over `scored` of each domain's cross-entropy on its first `spec.examples`
    **validation** examples (partners mode: the target alone; a partition's group: every domain in it).

    Returns:
        {"result": WeightResult, "accuracy": mean over `scored` of the best weights' validation accuracy,
        "uniform_accuracy": the same for Eq. 1, "tokens": forward tokens spent, "examples": validation
        examples per evaluation, all domains together}.
    """
    from adaptermix.advice.weights import WeightSearchSpec, search_weights
    from adaptermix.mixing import mix

    spec = spec or WeightSearchSpec()
    data = {t: evaluator.target(checkpoints[t].domain, SPLIT, spec.examples) for t in scored}
    adapters = [checkpoints[j].adapter for j in members]
    accuracy: dict[tuple[float, ...], float] = {}
    tokens = 0

    def objective(weights: tuple[float, ...]) -> float:
        nonlocal tokens
        mixture = mix(adapters, "weighted", weights)
        losses, hits = [], []
        for t, split in data.items():
            loss, correct, used = validation_probe(evaluator, mixture, checkpoints[t], split, names[t])
            tokens += used
            losses.append(loss)
            hits.append(float(correct.mean()))
        accuracy[weights] = float(np.mean(hits))
        return float(np.mean(losses))

    result = search_weights(objective, len(members), spec)
    uniform = tuple([1.0 / len(members)] * len(members))
    return {"result": result, "accuracy": accuracy[result.weights], "uniform_accuracy": accuracy[uniform],
            "tokens": tokens, "examples": sum(len(d.encoded) for d in data.values())}


def estimate_exhaustive_tokens(evaluator: Any, checkpoints: Sequence[Checkpoint], sweep_examples: int,
                               per_example: float | None = None) -> int:
    """The exhaustive sweep's forward tokens, n·2^(n−1)·sweep_examples·(tokens per example).

    Tokens per example: `per_example` when measured, else the mean over the first `sweep_examples`
    **validation** examples of every domain (the test split is never read).
    """
    if per_example is None:
        lengths = [evaluator.target(c.domain, SPLIT, sweep_examples).encoded.lengths for c in checkpoints]
        per_example = float(np.mean(np.concatenate(lengths)))
    return round(exhaustive_evaluations(len(checkpoints)) * sweep_examples * per_example)


def gather(checkpoints: Sequence[Checkpoint], names: Sequence[str], needs: set[str], *, budget: float = 0.1,
           sweep_examples: int = 300, max_length: int = 64, mixer: str = "average",
           mixer_params: Mapping[str, Any] | None = None, cache_dir: Path | None = None,
           exhaustive_tokens: int | None = None, text_docs: int = 200,
           progress: Progress | None = None) -> tuple[Signals, int]:
    """Every signal in `needs` (`weights`, `text`, `validation`) and the exhaustive sweep's token count.

    Args:
        checkpoints: the n adapters (one per domain, with heads), already checked to be mixable.
        names: their labels (domain names), in the same order.
        needs: which signals to gather (`validation` and `unlabeled` share one set of forward passes).
        budget: the surrogate's share of the exhaustive cost, in (0, 1] (sets the validation size).
        sweep_examples: test examples per evaluation of the exhaustive sweep being replaced.
        max_length: truncation of the validation examples (the sweep's).
        mixer, mixer_params: the mixer being advised.
        cache_dir: the data/token/embedding cache.
        exhaustive_tokens: the exhaustive sweep's measured tokens (from its store); else estimated as
            n·2^(n−1)·sweep_examples·(mean validation tokens per example).
        text_docs: train documents per domain embedded for the text similarity (the dataset analysis's 200).
        progress: called with a line after each step.

    Returns:
        (signals, exhaustive forward tokens).
    """
    from adaptermix.evaluation.evaluator import Evaluator

    n = len(checkpoints)
    signals = Signals(domains=tuple(names))
    evaluator = Evaluator.for_checkpoint(checkpoints[0], max_length, cache_dir)
    for c in checkpoints:
        evaluator.check(c)
    spent: dict[str, int] = {}
    if WEIGHTS in needs:
        signals = replace(signals, **weight_signals(checkpoints, evaluator.base))
        spent[WEIGHTS] = 0
        if progress is not None:
            progress("weights: FSD and task-vector cosine done")
    if TEXT in needs:
        sim, embedded = text_signals(checkpoints, cache_dir, text_docs)
        signals = replace(signals, text=sim, forward_tokens=signals.forward_tokens + embedded)
        spent[TEXT] = embedded
        if progress is not None:
            progress("text: train-text centroid similarity done")
    per_example: float | None = None
    if VALIDATION in needs or UNLABELED in needs:
        # One pass gives both: the labelled accuracies and the label-free agreement and entropy.
        n_val = validation_examples(n, budget, sweep_examples)
        got = validation_signals(checkpoints, names, evaluator, n_val, mixer, mixer_params, progress)
        signals = replace(signals, **{k: got[k] for k in VALIDATION_FIELDS}, n_validation=got["n_validation"],
                          forward_tokens=signals.forward_tokens + got["tokens"], evaluations=got["evaluations"])
        spent[VALIDATION] = spent[UNLABELED] = got["tokens"]
        per_example = got["tokens"] / max(1, sum(got["n_validation"].values()) * (n + 1 if n >= 3 else n))
    if exhaustive_tokens is None:
        exhaustive_tokens = estimate_exhaustive_tokens(evaluator, checkpoints, sweep_examples, per_example)
    return replace(signals, tokens=spent), int(exhaustive_tokens)


__all__ = ["MIN_VALIDATION", "SPLIT", "VALIDATION_FIELDS", "check_budget", "estimate_exhaustive_tokens",
           "exhaustive_evaluations", "gather", "mean_entropy", "search_member_weights", "search_shared_weights",
           "soup_validation_examples", "text_signals", "validation_evaluations", "validation_examples",
           "validation_probe", "validation_signals", "weight_signals"]
