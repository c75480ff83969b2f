"""The mixture advisor (issue 17): which adapters to mix, and into how many models, without the exhaustive sweep.

A pipeline stage after evaluation and analysis, before reporting. Entry points:
    advise(checkpoints, target=..., sizes=...) / advise(checkpoints, groups=G) -> Advice
    AdviceSpec                                   every knob of the advice, frozen (advise(..., spec=) or knobs)
    recommend_partners(signals, strategy, ...), recommend_partition(signals, strategy, ...)   pure
    STRATEGIES                                   the registry of strategies (see strategies.py)
    PARTITIONERS                                 partition-only strategies: k-means on text, clustering on FSD
    advise(..., race=True) / race(count, evaluate, available)   racing a strategy's top sets on validation
    best_partition(table, G), random_partition_mean(table, G)    exact partition DP and baseline
    adaptermix.advice.regret                     the benchmark's metrics against an exhaustive store
    adaptermix.advice.loto                       the surrogate's leave-one-target-out MAE and interval coverage
    search_weights(objective, k) / advise(..., weights=True)    CMA-ES member weights (LoraHub's recipe)
"""

from __future__ import annotations

from adaptermix.advice.api import DEFAULT_STRATEGY, advise, recommend_partition, recommend_partners
from adaptermix.advice.clustering import PARTITIONERS, Partitioner
from adaptermix.advice.partition import Partition, best_partition, brute_force_partition, random_partition_mean
from adaptermix.advice.racing import RaceResult, RaceSpec, race
from adaptermix.advice.signals import Signals
from adaptermix.advice.spec import AdviceSpec
from adaptermix.advice.strategies import STRATEGIES, Scores, Strategy, get_strategy
from adaptermix.advice.types import Advice, Candidate, Cost, RaceRecord, Recommendation, WeightedMix
from adaptermix.advice.weights import WeightResult, WeightSearchSpec, search_weights

__all__ = [
    "DEFAULT_STRATEGY", "PARTITIONERS", "STRATEGIES", "Advice", "AdviceSpec", "Candidate", "Cost", "Partition",
    "Partitioner",
    "RaceRecord", "RaceResult", "RaceSpec", "Recommendation", "Scores", "race",
    "Signals", "Strategy", "advise", "best_partition", "brute_force_partition", "get_strategy",
    "WeightResult", "WeightSearchSpec", "WeightedMix", "random_partition_mean", "recommend_partition",
    "recommend_partners", "search_weights",
]
