"""The advisor: which adapters to mix with a target, and how to split N adapters into G mixtures.

`recommend_partners` and `recommend_partition` are pure (Signals → Advice); `advise` reads the
checkpoints, gathers what the chosen strategy needs (`adaptermix.advice.collect`) and calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from adaptermix.advice.clustering import PARTITIONERS, get_partitioner
from adaptermix.advice.partition import best_partition
from adaptermix.advice.racing import RaceSpec
from adaptermix.advice.signals import TEXT, UNLABELED, VALIDATION, WEIGHTS, Signals
from adaptermix.advice.spec import DEFAULTS, AdviceSpec
from adaptermix.advice.strategies import Scores, get_strategy
from adaptermix.advice.tables import mask_of, members_of, names_of, sets_with
from adaptermix.advice.types import (
    OBJECTIVE_PARTITION,
    OBJECTIVE_PARTNERS,
    Advice,
    Candidate,
    Cost,
    GrowRecord,
    PartitionRaceRecord,
    RaceRecord,
    Recommendation,
    WeightedMix,
)
from adaptermix.advice.weights import WeightSearchSpec
from adaptermix.errors import ConfigError

DEFAULT_STRATEGY = DEFAULTS.strategy


def ranked(signals: Signals, scores: Scores, target: int, k: int) -> list[Candidate]:
    """Every member set of size k with the target, best first (ties: by sorted member names)."""
    out = []
    for mask in sets_with(target, k, signals.n):
        pred = None if scores.predicted is None else float(scores.predicted[target, mask])
        interval = None
        if scores.low is not None and scores.high is not None:
            interval = (float(scores.low[target, mask]), float(scores.high[target, mask]))
        out.append(Candidate(names_of(mask, signals.domains), float(scores.score[target, mask]), pred, interval))
    return sorted(out, key=lambda c: (-c.score, c.members))


def check_sizes(sizes: Sequence[int], n: int) -> tuple[int, ...]:
    """Sizes as a sorted tuple, each in 1..n. Raises ConfigError naming the first one out of range."""
    if not sizes:
        raise ConfigError("--sizes is empty: give sizes such as 2,3")
    for k in sizes:
        if not isinstance(k, int) or not 1 <= k <= n:
            raise ConfigError(f"size k={k} is out of range: with {n} adapters choose 1 ≤ k ≤ {n}")
    return tuple(sorted(set(sizes)))


def check_groups(groups: int, n: int) -> int:
    """G in 1..n. Raises ConfigError otherwise."""
    if not isinstance(groups, int) or not 1 <= groups <= n:
        raise ConfigError(f"--groups {groups} is out of range: {n} adapters can be split into 1 to {n} groups")
    return groups


def recommend_partners(signals: Signals, strategy: str, target: str, sizes: Sequence[int], cost: Cost,
                       mixer: str = "average", runners_up: int = 3) -> Advice:
    """For each size k, the member set (target included) the strategy ranks first, and its runners-up.

    Raises:
        ConfigError: an unknown target or strategy, a size out of range, missing signals.
    """
    try:
        t = signals.index(target)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    sizes = check_sizes(sizes, signals.n)
    check_strategy(strategy, partition=False)
    scores = _scores(signals, strategy)
    recs = []
    for k in sizes:
        order = ranked(signals, scores, t, k)
        best = order[0]
        recs.append(Recommendation(best.members, k=k, predicted_accuracy=best.predicted_accuracy,
                                   interval=best.interval, runners_up=tuple(order[1 : 1 + runners_up])))
    return Advice(target, OBJECTIVE_PARTNERS, mixer, get_strategy(strategy).name, tuple(recs), cost)


def recommend_partition(signals: Signals, strategy: str, groups: int, cost: Cost, mixer: str = "average") -> Advice:
    """The partition into G groups that maximises the sum over domains of the strategy's score (exact DP).

    For the surrogate that is the predicted mean accuracy; each group's predicted value is the mean
    of its domains' predicted accuracies (the interval: the mean of their bounds, conservative).
    """
    check_groups(groups, signals.n)
    if strategy in PARTITIONERS:
        return _clustered(signals, strategy, groups, cost, mixer)
    scores = _scores(signals, strategy)
    best = best_partition(scores.score, groups)
    objective = best.value if scores.predicted is not None else None
    return Advice(None, OBJECTIVE_PARTITION, mixer, get_strategy(strategy).name,
                  _group_recommendations(signals, scores, best.groups), cost, objective)


def _group_recommendations(signals: Signals, scores: Scores, masks: Sequence[int]) -> tuple[Recommendation, ...]:
    """One recommendation per group: its members, and the mean of its domains' predictions and bounds."""
    recs = []
    for g, mask in enumerate(masks):
        members = members_of(mask)
        pred = interval = None
        if scores.predicted is not None:
            pred = float(np.mean([scores.predicted[t, mask] for t in members]))
        if scores.low is not None and scores.high is not None:
            interval = (float(np.mean([scores.low[t, mask] for t in members])),
                        float(np.mean([scores.high[t, mask] for t in members])))
        recs.append(Recommendation(names_of(mask, signals.domains), group=g, predicted_accuracy=pred,
                                   interval=interval))
    return tuple(recs)


def _clustered(signals: Signals, strategy: str, groups: int, cost: Cost, mixer: str, seed: int = 0) -> Advice:
    """A partitioner's groups (k-means on text, clustering on FSD): no prediction, only the split."""
    partitioner = get_partitioner(strategy)
    try:
        masks = partitioner.partition(signals, groups, seed)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    recs = tuple(Recommendation(names_of(mask, signals.domains), group=g) for g, mask in enumerate(masks))
    return Advice(None, OBJECTIVE_PARTITION, mixer, partitioner.name, recs, cost)


def check_strategy(name: str, partition: bool) -> str:
    """`name` if it is a registered strategy usable in this mode, else ConfigError naming the fix.

    Score strategies (`STRATEGIES`) serve both modes; partitioners (`adaptermix.advice.clustering`)
    cluster domains and serve partition mode only.
    """
    if name in PARTITIONERS:
        if not partition:
            raise ConfigError(f"strategy {name!r} clusters the domains into groups: use it with --groups, not "
                              f"--target (partners take a score strategy such as surrogate or task_cosine)")
        return name
    try:
        get_strategy(name)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; partitions only: {', '.join(PARTITIONERS.names())}") from None
    return name


def _scores(signals: Signals, strategy: str) -> Scores:
    try:
        return get_strategy(strategy).scores(signals)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def needs_of(strategy: str) -> set[str]:
    """The signals a strategy (or partitioner) reads (weights-only strategies still gather nothing else)."""
    need = get_partitioner(strategy).needs if strategy in PARTITIONERS else get_strategy(strategy).needs
    return {need} if need in (WEIGHTS, TEXT, VALIDATION, UNLABELED) else set()


def advise(
    checkpoints: Sequence[str | Path],
    target: str | None = None,
    sizes: Sequence[int] = (2, 3),
    groups: int | None = None,
    spec: AdviceSpec | None = None,
    *,
    encoder: str | None = None,
    cache_dir: Path | None = None,
    progress: Any = None,
    **knobs: Any,
) -> Advice:
    """Advise which adapters to mix with `target` (partners mode) or how to split them into `groups` mixtures.

    Signals come from the adapters' weights and the domains' train/validation splits only; the
    test split is never read (it is the benchmark's ground truth).

    Args:
        checkpoints: one checkpoint directory per domain (ours, or imported PEFT/AdapterHub ones).
        target: partners mode: the domain to serve. Exactly one of `target` and `groups`.
        sizes: partners mode: the sizes k (target included) to advise, each in 1..n.
        groups: partition mode: G, 1 ≤ G ≤ n.
        spec: how to advise (`AdviceSpec`: strategy, budget, mixer, weights, race, ...; its defaults
            when None).
        encoder: the base encoder of PEFT/AdapterHub directories.
        cache_dir: data and embedding cache.
        progress: optional callable taking a status line.
        **knobs: fields of `AdviceSpec` to change, e.g. `strategy="task_cosine", budget=0.2, race=True`
            (weights: partners mode on the target's validation examples, partition mode on every
            domain of each group; race: the strategy's top sets, or its best partitions within what
            `budget` leaves after the signals).

    Returns:
        The `Advice`.

    Raises:
        ConfigError: bad input (an unknown setting, target, strategy or mixer; k or G out of range; a
            budget outside (0, 1]).
        CheckpointError: unreadable checkpoints or adapters of different encoders/methods/shapes.
    """
    from adaptermix.advice.collect import gather
    from adaptermix.checkpoints import read_mixable, require_head

    if (target is None) == (groups is None):
        raise ConfigError("give either --target (partners of one domain) or --groups (a serving partition)")
    spec = (spec or DEFAULTS).replace(knobs).check(partition=target is None)
    ckpts = read_mixable(list(checkpoints), encoder=encoder)
    names = [c.name for c in ckpts]
    dup = next((x for x in names if names.count(x) > 1), None)
    if dup is not None:
        raise ConfigError(f"two adapters are named {dup!r}: the advisor takes one adapter per domain and tells "
                          "them apart by name (give imported ones their own: adaptermix import … --name NAME)")
    for c in ckpts:
        require_head(c, "advise")
    n = len(ckpts)
    if target is not None:
        if target not in names:
            raise ConfigError(f"unknown target {target!r}: the adapters' domains are {', '.join(names)}")
        check_sizes(sizes, n)
    else:
        assert groups is not None  # noqa: S101 - exactly one of target/groups, checked above
        check_groups(groups, n)
    params = None if spec.mixer_params is None else dict(spec.mixer_params)
    if spec.grow:
        assert target is not None  # noqa: S101 - AdviceSpec.check refuses --grow with --groups
        return grow_partners(target, sizes, ckpts, names, spec, cache_dir, progress)
    signals, exhaustive = gather(ckpts, names, needs_of(spec.strategy), budget=spec.budget,
                                 sweep_examples=spec.sweep_examples, max_length=spec.max_length, mixer=spec.mixer,
                                 mixer_params=params, cache_dir=cache_dir, progress=progress)
    cost = Cost(signals.forward_tokens, exhaustive, signals.evaluations)
    if target is not None:
        advice = recommend_partners(signals, spec.strategy, target, sizes, cost, spec.mixer, spec.runners_up)
        if spec.races():
            advice = race_partners(advice, signals, spec.strategy, ckpts, names, spec.race_spec, spec.max_length,
                                   spec.mixer, params, cache_dir, progress, budget=spec.budget)
    else:
        assert groups is not None  # noqa: S101
        advice = recommend_partition(signals, spec.strategy, groups, cost, spec.mixer)
        if spec.races():
            advice = race_partition(advice, signals, spec.strategy, ckpts, names, spec.race_spec, spec.budget,
                                    spec.max_length, spec.mixer, params, cache_dir, progress)
    return weigh(advice, ckpts, names, spec.weight_search, spec.max_length, cache_dir, progress) if spec.weights \
        else advice


GROW_STRATEGY = "greedy_soup"  # the strategy name `--grow` advice carries


def grow_partners(target: str, sizes: Sequence[int], checkpoints: Sequence[Any], names: Sequence[str],
                  spec: AdviceSpec, cache_dir: Path | None = None, progress: Any = None, evaluator: Any = None,
                  exhaustive: int | None = None) -> Advice:
    """Partners by greedy growth (greedy soup) on the target's validation examples, within `spec.budget`.

    From the target alone, each step evaluates every set that adds one partner on the target's first m
    validation examples with its own head and keeps the best (`adaptermix.advice.soup.grow`), up to the
    largest size asked; each size gets the set grown to it. m is set from the budget as if every target
    were grown (`collect.soup_validation_examples`), so advising all n targets stays within it.
    The growth's forward tokens and evaluations are the advice's cost; `--weights` may follow. A caller
    growing every target passes its checked `evaluator` and the sweep's `exhaustive` tokens once.
    """
    from adaptermix.advice.collect import estimate_exhaustive_tokens, soup_validation_examples
    from adaptermix.advice.trials import grow_member_sets
    from adaptermix.evaluation.evaluator import Evaluator

    n, t = len(names), names.index(target)
    k_max = max(sizes)
    m = soup_validation_examples(n, k_max, spec.budget, spec.sweep_examples)
    if evaluator is None:
        evaluator = Evaluator.for_checkpoint(checkpoints[0], spec.max_length, cache_dir)
        for c in checkpoints:
            evaluator.check(c)
    if exhaustive is None:
        exhaustive = estimate_exhaustive_tokens(evaluator, checkpoints, spec.sweep_examples)
    params = None if spec.mixer_params is None else dict(spec.mixer_params)
    got = grow_member_sets(checkpoints, names, evaluator, t, k_max, m, spec.mixer, params)
    used = len(evaluator.target(checkpoints[t].domain, "validation", m).encoded)
    recs = []
    for k in sizes:
        members = got["sets"][k - 1]
        accuracy = got["accuracy"][k - 1]
        recs.append(Recommendation(names_of(mask_of(members), tuple(names)), k=k,
                                   grown=None if accuracy is None else GrowRecord(accuracy, used)))
    if progress is not None:
        progress(f"grow: {target} to k={k_max} ({got['evaluations']} evaluations of {used} examples)")
    cost = Cost(got["tokens"], exhaustive, got["evaluations"])
    advice = Advice(target, OBJECTIVE_PARTNERS, spec.mixer, GROW_STRATEGY, tuple(recs), cost)
    return weigh(advice, checkpoints, names, spec.weight_search, spec.max_length, cache_dir, progress) \
        if spec.weights else advice


def weigh(advice: Advice, checkpoints: Sequence[Any], names: Sequence[str], spec: WeightSearchSpec,
          max_length: int, cache_dir: Path | None = None, progress: Any = None) -> Advice:
    """The advice with each recommendation's member weights searched on validation examples.

    Partners mode: the loss is the target's own (LoraHub's recipe). Partition mode: each group of two
    or more adapters is one mixture serving all its domains, so the loss is the mean over the group's
    domains, each with its own head; a group of one has nothing to weigh. The forward tokens and loss
    evaluations are added to the advice's cost (the same ledger as the surrogate's validation evaluations).
    """
    from adaptermix.advice.collect import search_shared_weights
    from adaptermix.evaluation.evaluator import Evaluator

    evaluator = Evaluator.for_checkpoint(checkpoints[0], max_length, cache_dir)
    recs, tokens, evaluations = [], 0, 0
    for rec in advice.recommendations:
        members = [names.index(m) for m in rec.members]  # sorted names: weights follow `rec.members`
        if advice.target is None and len(members) < 2:
            recs.append(rec)
            continue
        scored = members if advice.target is None else [names.index(advice.target)]
        got = search_shared_weights(checkpoints, names, evaluator, members, scored, spec)
        result = got["result"]
        tokens += got["tokens"]
        evaluations += result.evaluations
        recs.append(replace(rec, weighted=WeightedMix(
            result.weights, result.loss, result.uniform_loss, got["accuracy"], got["uniform_accuracy"],
            result.evaluations, got["examples"], got["tokens"])))
        if progress is not None:
            where = f"k={rec.k}" if rec.k is not None else f"group {rec.group}"
            progress(f"weights: {where} searched ({result.evaluations} evaluations)")
    cost = advice.cost
    cost = Cost(cost.forward_tokens + tokens, cost.exhaustive_forward_tokens, cost.evaluations + evaluations)
    return replace(advice, recommendations=tuple(recs), cost=cost)


def race_partners(advice: Advice, signals: Signals, strategy: str, checkpoints: Sequence[Any], names: Sequence[str],
                  spec: RaceSpec, max_length: int, mixer: str = "average", mixer_params: dict[str, Any] | None = None,
                  cache_dir: Path | None = None, progress: Any = None, budget: float | None = None,
                  races: int | None = None) -> Advice:
    """The advice with each size's pick replaced by the winner of a race among the strategy's top sets.

    Issue 17, item 3: the top `spec.candidates` sets of the strategy (the seed) for (target, k) are
    evaluated on the same first validation examples of the target in doubling batches; a set is
    dropped once its paired difference to the leader has a 95 % interval below 0
    (`adaptermix.advice.racing.race`). The winner keeps the seed's prediction for it (if any); the
    runners-up are the other survivors, then the dropped sets (latest drop first), by race accuracy,
    then the strategy's next-ranked sets, as many in all as the advice listed before the race. The
    race's forward tokens and evaluations are added to the advice's cost. With `budget`, every (target, k)
    race gets an equal share of what the budget leaves after the signals, as if every
    target were advised at every size asked (`race_share`; `races` overrides that count, as the stage
    does to share the budget with its partition races): surrogate + races stay within the budget.
    """
    from adaptermix.advice.trials import race_member_sets
    from adaptermix.evaluation.evaluator import Evaluator

    assert advice.target is not None  # noqa: S101 - partners mode only, checked by `advise`
    evaluator = Evaluator.for_checkpoint(checkpoints[0], max_length, cache_dir)
    t = names.index(advice.target)
    scores = _scores(signals, strategy)
    share = None if budget is None else race_share(advice.cost, budget,
                                                   races or signals.n * len(advice.recommendations))
    recs, tokens, evaluations = [], 0, 0
    for rec in advice.recommendations:
        assert rec.k is not None  # noqa: S101 - partners' recommendations carry k
        order = ranked(signals, scores, t, rec.k)[: spec.candidates]
        sets = [[names.index(m) for m in c.members] for c in order]
        got = race_member_sets(checkpoints, names, evaluator, t, sets, spec, mixer, mixer_params, max_tokens=share)
        tokens += got.tokens
        evaluations += got.evaluations
        best = order[got.winner]
        # Runners-up: the other survivors first, then the sets that lasted longest, each by race accuracy.
        rest = sorted((i for i in range(len(order)) if i != got.winner),
                      key=lambda i: (got.dropped[i] is not None, -(got.dropped[i] or 0), -got.accuracy[i], i))
        record = RaceRecord(advice.strategy, tuple(c.members for c in order), got.accuracy, got.seen, got.dropped,
                            got.rounds, got.evaluations, got.tokens)
        # Then the strategy's own next sets, so that as many runners-up are listed as were asked for.
        raced = {c.members for c in order}
        runners = [order[i] for i in rest] + [c for c in rec.runners_up if c.members not in raced]
        recs.append(replace(rec, members=best.members, predicted_accuracy=best.predicted_accuracy,
                            interval=best.interval, runners_up=tuple(runners[: max(len(rest), len(rec.runners_up))]),
                            race=record))
        if progress is not None:
            progress(f"race: k={rec.k} won by {' + '.join(best.members)} ({got.evaluations} evaluations)")
    cost = advice.cost
    cost = Cost(cost.forward_tokens + tokens, cost.exhaustive_forward_tokens, cost.evaluations + evaluations)
    return replace(advice, strategy=f"{advice.strategy}+race", recommendations=tuple(recs), cost=cost)


def race_share(cost: Cost, budget: float, races: int) -> int:
    """The forward tokens one race may spend: what `budget` leaves of the exhaustive sweep after the signals
    (`cost`), split evenly over `races` races (partners: every target at every size asked; a stage adds one
    race per G)."""
    left = budget * cost.exhaustive_forward_tokens - cost.forward_tokens
    return max(0, int(left // max(1, races)))


def race_partition(advice: Advice, signals: Signals, strategy: str, checkpoints: Sequence[Any], names: Sequence[str],
                   spec: RaceSpec, budget: float, max_length: int, mixer: str = "average",
                   mixer_params: dict[str, Any] | None = None, cache_dir: Path | None = None,
                   progress: Any = None, races: int = 1, spent: int = 0) -> Advice:
    """The partition advice replaced by the winner of a race among the strategy's best `spec.partitions` partitions.

    The candidates are the best distinct partitions on the strategy's score table
    (`partition_race.top_partitions`; the DP's optimum first). Each domain is scored under its group's
    mixture with its own head on its first validation examples, paired across candidates, every candidate
    to the end of the budget; the DP's optimum stands unless another's gain over it is shown at one-sided
    95 % (`spec.partition_rule`, by default `racing.EVIDENCE`: held out on the LoRA store, it beat
    elimination). The race may spend what `budget` leaves of the exhaustive sweep's tokens after the
    signals and the `spent` tokens other races of the same ledger ran (signals + races ≤ budget; with
    `races` > 1 this race gets that share of it, as when a stage races several G on one budget), and its
    tokens are added to the cost.
    """
    from adaptermix.advice.partition_race import top_partitions
    from adaptermix.advice.trials import race_partition_groups
    from adaptermix.evaluation.evaluator import Evaluator

    groups = len(advice.recommendations)
    scores = _scores(signals, strategy)
    spec = spec.for_partitions()
    top = top_partitions(scores.score, groups, spec.candidates)
    cost = advice.cost
    left = race_share(replace(cost, forward_tokens=cost.forward_tokens + spent), budget, races)
    evaluator = Evaluator.for_checkpoint(checkpoints[0], max_length, cache_dir)
    got = race_partition_groups(checkpoints, names, evaluator, [p for p, _ in top], spec, mixer, mixer_params, left)
    won = top[got.winner][0]
    record = PartitionRaceRecord(advice.strategy, tuple(tuple(names_of(g, signals.domains) for g in p) for p, _ in top),
                                 tuple(v for _, v in top), got.gain, got.dropped, got.seen, got.rounds,
                                 got.evaluations, got.tokens)
    if progress is not None:
        progress(f"race: partition {got.winner + 1} of {len(top)} won ({got.evaluations} evaluations)")
    recs = _group_recommendations(signals, scores, won)
    objective = top[got.winner][1] if scores.predicted is not None else None
    cost = Cost(cost.forward_tokens + got.tokens, cost.exhaustive_forward_tokens, cost.evaluations + got.evaluations)
    return replace(advice, strategy=f"{advice.strategy}+race", recommendations=recs, cost=cost,
                   predicted_objective=objective, partition_race=record)
