"""The advisor's typed results: what to mix, what it should score, and what the advice cost.

`Advice.to_json()` is the schema of `adaptermix advise --json` (issue 17):
`{"target", "objective", "mixer", "recommendations": [{"k" or "group", "members",
"predicted_accuracy", "interval"}], "cost": {"forward_tokens", "exhaustive_forward_tokens",
"fraction"}, "strategy"}`; partners' recommendations also carry their runners-up and `weights` (one per
member, from `--weights`'s CMA-ES search, with its `weight_search` record; null without it) and, with
`--race`, a `race` record (the candidates raced on validation examples, their accuracies and drops).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

OBJECTIVE_PARTNERS = "in-domain accuracy of the target"
OBJECTIVE_PARTITION = "mean in-domain accuracy over all domains"


@dataclass(frozen=True)
class Candidate:
    """One member set as a strategy sees it.

    Attributes:
        members: sorted domain names, the target included.
        score: the strategy's ranking score (higher is better; a predicted accuracy for predictors).
        predicted_accuracy: a fraction in [0, 1] for strategies that predict accuracy, else None.
        interval: the 90 % prediction interval (low, high) of that accuracy, or None.
    """

    members: tuple[str, ...]
    score: float
    predicted_accuracy: float | None = None
    interval: tuple[float, float] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "members": list(self.members), "score": self.score, "predicted_accuracy": self.predicted_accuracy,
            "interval": None if self.interval is None else list(self.interval),
        }


@dataclass(frozen=True)
class WeightedMix:
    """The member weights CMA-ES found for a recommendation on validation examples (`--weights`).

    Attributes:
        weights: one per member, in the order of `Recommendation.members`, summing to 1 (`weighted` mixer).
        validation_loss, uniform_validation_loss: cross-entropy of the weighted and the uniform (Eq. 1)
            mixture on the search's validation examples.
        validation_accuracy, uniform_validation_accuracy: their accuracy on the same examples.
        evaluations: loss evaluations run (the uniform start included).
        examples: validation examples per evaluation.
        forward_tokens: tokens the search ran (counted into the advice's cost).
    """

    weights: tuple[float, ...]
    validation_loss: float
    uniform_validation_loss: float
    validation_accuracy: float
    uniform_validation_accuracy: float
    evaluations: int
    examples: int
    forward_tokens: int

    @property
    def mixer_label(self) -> str:
        """The `weighted` mixer's spec label: what a store row of this mixture is keyed by."""
        return f"weighted(weights={tuple(self.weights)})"

    def to_json(self) -> dict[str, Any]:
        return {"mixer": self.mixer_label, "validation_loss": self.validation_loss,
                "uniform_validation_loss": self.uniform_validation_loss,
                "validation_accuracy": self.validation_accuracy,
                "uniform_validation_accuracy": self.uniform_validation_accuracy,
                "evaluations": self.evaluations, "examples": self.examples, "forward_tokens": self.forward_tokens}


@dataclass(frozen=True)
class RaceRecord:
    """How `--race` chose a recommendation: the seed strategy's top sets raced on validation examples.

    Attributes:
        seed_strategy: the strategy whose top candidates entered the race.
        candidates: the sets raced, in the seed's order (sorted member names each).
        accuracy: each candidate's validation accuracy on the examples it saw.
        seen: validation examples each candidate was evaluated on (the same first ones: paired).
        dropped: the round in which each candidate was dropped (None: survived).
        rounds, evaluations, forward_tokens: what the race ran (tokens counted into the advice's cost).
    """

    seed_strategy: str
    candidates: tuple[tuple[str, ...], ...]
    accuracy: tuple[float, ...]
    seen: tuple[int, ...]
    dropped: tuple[int | None, ...]
    rounds: int
    evaluations: int
    forward_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {"seed_strategy": self.seed_strategy,
                "candidates": [{"members": list(m), "validation_accuracy": None if math.isnan(a) else a,
                                "examples": s, "dropped_in_round": d}
                               for m, a, s, d in zip(self.candidates, self.accuracy, self.seen, self.dropped,
                                                     strict=True)],
                "rounds": self.rounds, "evaluations": self.evaluations, "forward_tokens": self.forward_tokens}


@dataclass(frozen=True)
class PartitionRaceRecord:
    """How `--groups G --race` chose a partition: the strategy's best few partitions raced on validation.

    Attributes:
        seed_strategy: the strategy whose top partitions entered the race.
        candidates: the partitions raced, in the seed's order (each a tuple of sorted member-name groups).
        predicted: each candidate's objective on the seed's scores (predicted mean accuracy for predictors).
        gain: each candidate's measured mean validation accuracy minus the first's, over all domains.
        dropped: the round in which each candidate was dropped (None: survived).
        seen: validation examples evaluated per domain (0 where every candidate alive gave it the same group).
        rounds, evaluations, forward_tokens: what the race ran (tokens counted into the advice's cost).
    """

    seed_strategy: str
    candidates: tuple[tuple[tuple[str, ...], ...], ...]
    predicted: tuple[float, ...]
    gain: tuple[float, ...]
    dropped: tuple[int | None, ...]
    seen: tuple[int, ...]
    rounds: int
    evaluations: int
    forward_tokens: int

    def to_json(self) -> dict[str, Any]:
        return {"seed_strategy": self.seed_strategy,
                "candidates": [{"groups": [list(g) for g in c], "predicted_objective": p,
                                "validation_gain": None if math.isnan(d) else d, "dropped_in_round": r}
                               for c, p, d, r in zip(self.candidates, self.predicted, self.gain, self.dropped,
                                                     strict=True)],
                "examples": list(self.seen), "rounds": self.rounds, "evaluations": self.evaluations,
                "forward_tokens": self.forward_tokens}


@dataclass(frozen=True)
class GrowRecord:
    """How `--grow` reached a set: its validation accuracy on the target's first `examples` validation examples."""

    validation_accuracy: float
    examples: int

    def to_json(self) -> dict[str, Any]:
        return {"validation_accuracy": self.validation_accuracy, "examples": self.examples}


@dataclass(frozen=True)
class Recommendation:
    """The advice for one size k (partners mode) or one group (partition mode).

    Attributes:
        members: the recommended member set, sorted (the target included in partners mode).
        k: the size asked for (partners mode), else None.
        group: the group's index (partition mode), else None.
        predicted_accuracy: partners: the target's predicted accuracy; partition: the mean predicted
            accuracy of the group's domains. None for strategies that only rank.
        interval: its 90 % interval, or None.
        runners_up: the next best candidates, best first (partners mode).
        weighted: the searched member weights (`--weights`; in partition mode a group of two or more,
            searched for all its domains), else None.
        race: how `--race` chose `members` (partners mode), else None.
        grown: how `--grow` reached `members` (partners mode), else None.
    """

    members: tuple[str, ...]
    k: int | None = None
    group: int | None = None
    predicted_accuracy: float | None = None
    interval: tuple[float, float] | None = None
    runners_up: tuple[Candidate, ...] = ()
    weighted: WeightedMix | None = None
    race: RaceRecord | None = None
    grown: GrowRecord | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": self.k} if self.k is not None else {"group": self.group}
        out.update({
            "members": list(self.members), "predicted_accuracy": self.predicted_accuracy,
            "interval": None if self.interval is None else list(self.interval),
        })
        if self.k is not None:
            out["runners_up"] = [c.to_json() for c in self.runners_up]
        if self.k is not None or self.weighted is not None:
            out["weights"] = None if self.weighted is None else list(self.weighted.weights)
            if self.weighted is not None:
                out["weight_search"] = self.weighted.to_json()
        if self.k is not None and self.race is not None:
            out["race"] = self.race.to_json()
        if self.grown is not None:
            out["grow"] = self.grown.to_json()
        return out


@dataclass(frozen=True)
class Cost:
    """What the advice cost, in forward tokens, against the exhaustive sweep it replaces.

    Attributes:
        forward_tokens: tokens the advisor ran through an encoder (validation evaluations of
            mixtures, embeddings of unlabeled text); 0 for weights-only strategies.
        exhaustive_forward_tokens: tokens of the exhaustive sweep (n·2^(n−1) evaluations): measured
            when a store is given, else estimated (see `adaptermix.advice.api`).
        evaluations: validation evaluations of mixtures the advisor ran.
    """

    forward_tokens: int
    exhaustive_forward_tokens: int
    evaluations: int = 0

    @property
    def fraction(self) -> float:
        return self.forward_tokens / self.exhaustive_forward_tokens if self.exhaustive_forward_tokens else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"forward_tokens": self.forward_tokens, "exhaustive_forward_tokens": self.exhaustive_forward_tokens,
                "fraction": self.fraction, "evaluations": self.evaluations}


@dataclass(frozen=True)
class Advice:
    """The advisor's answer to one question (partners of a target, or a serving partition).

    Attributes:
        target: the target domain (partners mode), None for a partition.
        objective: what the recommendations maximise (`OBJECTIVE_PARTNERS` / `OBJECTIVE_PARTITION`).
        mixer: the mixer the advice is for (`average` is Eq. 1).
        strategy: the registered strategy that produced it.
        recommendations: one per size k, or one per group.
        cost: what the advice cost.
        predicted_objective: partition mode: the predicted mean accuracy over all domains, else None.
        partition_race: partition mode with `--race`: how the partition was chosen, else None.
    """

    target: str | None
    objective: str
    mixer: str
    strategy: str
    recommendations: tuple[Recommendation, ...]
    cost: Cost
    predicted_objective: float | None = None
    partition_race: PartitionRaceRecord | None = None

    def to_json(self) -> dict[str, Any]:
        """The `--json` object (issue 17's schema; `predicted_objective` added for partitions)."""
        out: dict[str, Any] = {
            "target": self.target, "objective": self.objective, "mixer": self.mixer,
            "recommendations": [r.to_json() for r in self.recommendations], "cost": self.cost.to_json(),
            "strategy": self.strategy,
        }
        if self.predicted_objective is not None:
            out["predicted_objective"] = self.predicted_objective
        if self.partition_race is not None:
            out["race"] = self.partition_race.to_json()
        return out
