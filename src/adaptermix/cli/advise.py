"""`adaptermix advise`: which adapters to mix with a target, or how to split them into G mixtures (issue 17)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from adaptermix.advice.racing import RaceSpec
from adaptermix.advice.spec import DEFAULTS, AdviceSpec
from adaptermix.advice.weights import WeightSearchSpec
from adaptermix.errors import ConfigError

SEARCH, RACE = DEFAULTS.weight_search, DEFAULTS.race_spec  # every default is declared once, in AdviceSpec

if TYPE_CHECKING:
    from adaptermix.advice import Advice


def parse_sizes(text: str) -> list[int]:
    """`2,3` → [2, 3]. Raises ConfigError on anything but comma-separated integers."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--sizes must be comma-separated integers such as 2,3, got {text!r}") from None


def advise(
    checkpoints: list[Path] = typer.Argument(..., help="One checkpoint directory per domain (same encoder)."),
    target: str = typer.Option(None, help="Partners mode: the domain whose mixture partners to advise."),
    sizes: str = typer.Option("2,3", help="Partners mode: mixture sizes k to advise, target included (e.g. 2,3)."),
    groups: int = typer.Option(None, help="Partition mode: split the adapters into this many mixtures."),
    strategy: str = typer.Option(DEFAULTS.strategy, help="A registered strategy: combined (the default: "
                                 "the surrogate, ties broken by agreement, sets and partitions raced), surrogate "
                                 "(validation pairs), agreement, entropy (the same passes, labels unread), "
                                 "text_similarity, task_cosine, fsd_nearest, alg1_min_fsd, max_fsd, uniform_all, "
                                 "random; with --groups also kmeans_text, fsd_clustering (docs/advisor.md)."),
    budget: float = typer.Option(DEFAULTS.budget, help="Validation cost allowed, as a fraction of the exhaustive "
                                 "sweep's forward tokens, in (0, 1]."),
    mixer: str = typer.Option(DEFAULTS.mixer, help="The mixer advised (default: Eq. 1's average)."),
    sweep_examples: int = typer.Option(DEFAULTS.sweep_examples, help="Test examples per evaluation of the exhaustive "
                                       "sweep the advice replaces (the cost's denominator)."),
    max_length: int = typer.Option(DEFAULTS.max_length, help="Truncation of validation examples."),
    encoder: str = typer.Option(None, help="PEFT/AdapterHub inputs: their base encoder (default: their config's)."),
    cache_dir: Path = typer.Option(None, help="Corpus, token and embedding cache (default $ADAPTERMIX_CACHE or "
                                   "~/.cache/adaptermix)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (schema in docs/advisor.md)."),
    weights: bool = typer.Option(False, "--weights", help="Also search each recommended set's member weights "
                                 "with CMA-ES on validation examples (LoraHub's recipe; the weighted mixer): the "
                                 "target's, or with --groups every domain of a group; its tokens count into the "
                                 "cost."),
    weight_evaluations: int = typer.Option(SEARCH.evaluations, help="--weights: loss evaluations per set "
                                           "(the uniform start included)."),
    weight_examples: int = typer.Option(SEARCH.examples, help="--weights: validation examples per loss evaluation."),
    race: bool | None = typer.Option(
        None, "--race/--no-race", help="Race the strategy's top sets of each size (partners: paired, doubling "
        "batches, a set dropped once its 95 % interval to the leader is below 0) or its best partitions (--groups: "
        "each measured to the end of its share, the best partition kept unless another's gain shows at one-sided "
        "95 %) on validation examples and recommend the winner; tokens count into the cost, within --budget with "
        "the signals. Default: the strategy's own (the default `combined` races both)."),
    race_candidates: int = typer.Option(RACE.candidates, help="--race: the strategy's top sets raced per size."),
    race_examples: int = typer.Option(RACE.examples, help="--race: the budget, validation examples per set at "
                                      "most."),
    partition_candidates: int = typer.Option(RACE.partitions, help="--groups --race: the strategy's best "
                                             "partitions raced."),
    partition_examples: int = typer.Option(RACE.partition_examples, help="--groups --race: validation examples "
                                           "per domain at most (the budget bounds it too)."),
    grow: bool = typer.Option(False, "--grow", help="Partners: grow the target's set greedily on validation accuracy "
                              "(greedy soup: add the partner whose mixture scores best, one size at a time) instead "
                              "of ranking with --strategy; validation examples per evaluation from --budget."),
) -> None:
    """Advise a mixture without the exhaustive sweep: reads weights, train text and validation examples only."""
    from adaptermix.advice import advise as run_advise

    races = RaceSpec(candidates=race_candidates, examples=race_examples, partitions=partition_candidates,
                     partition_examples=partition_examples)
    spec = AdviceSpec(strategy=strategy, budget=budget, mixer=mixer, sweep_examples=sweep_examples,
                      max_length=max_length, weights=weights,
                      weight_search=WeightSearchSpec(evaluations=weight_evaluations, examples=weight_examples),
                      race=race, race_spec=races, grow=grow)
    result = run_advise(checkpoints, target=target, sizes=parse_sizes(sizes) if target else (), groups=groups,
                        spec=spec, encoder=encoder, cache_dir=cache_dir)
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
        return
    for line in describe(result):
        typer.echo(line)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def describe(result: Advice) -> list[str]:
    """The advice as lines of text."""
    head = f"strategy {result.strategy}, mixer {result.mixer}: "
    lines = [head + (f"partners of {result.target}" if result.target else f"{len(result.recommendations)} groups")]
    for r in result.recommendations:
        where = f"k={r.k}" if r.k is not None else f"group {r.group}"
        interval = "" if r.interval is None else f" [{_pct(r.interval[0])}, {_pct(r.interval[1])}]"
        lines.append(f"{where}: {' + '.join(r.members)}  predicted {_pct(r.predicted_accuracy)}{interval}")
        if r.weighted is not None:
            w = r.weighted
            lines.append(f"    weights: {', '.join(f'{m} {x:.3f}' for m, x in zip(r.members, w.weights, strict=True))}"
                         f"  (validation loss {w.validation_loss:.4f} vs uniform {w.uniform_validation_loss:.4f}, "
                         f"accuracy {_pct(w.validation_accuracy)} vs {_pct(w.uniform_validation_accuracy)} on "
                         f"{w.examples} examples, {w.evaluations} evaluations)")
        if r.grown is not None:
            lines.append(f"    grown: validation accuracy {_pct(r.grown.validation_accuracy)} on {r.grown.examples} "
                         "examples")
        if r.race is not None:
            race = r.race
            lines.append(f"    race: {race.evaluations} evaluations in {race.rounds} rounds; " + "; ".join(
                f"{' + '.join(m)} {_pct(a)} on {n}" + ("" if d is None else f" (dropped in round {d})")
                for m, a, n, d in zip(race.candidates, race.accuracy, race.seen, race.dropped, strict=True)))
        for runner in r.runners_up:
            lines.append(f"    runner-up: {' + '.join(runner.members)}  predicted {_pct(runner.predicted_accuracy)}")
    if result.partition_race is not None:
        pr = result.partition_race
        lines.append(f"race: {pr.evaluations} evaluations in {pr.rounds} rounds; " + "; ".join(
            f"partition {i + 1} ({' | '.join(' + '.join(g) for g in c)}) predicted {_pct(p)}, measured "
            + ("-" if math.isnan(d) else f"{100 * d:+.2f} pts") + " vs the first"
            + ("" if r is None else f" (dropped in round {r})")
            for i, (c, p, d, r) in enumerate(zip(pr.candidates, pr.predicted, pr.gain, pr.dropped, strict=True))))
    if result.predicted_objective is not None:
        lines.append(f"predicted mean accuracy over domains: {_pct(result.predicted_objective)}")
    cost = result.cost
    lines.append(f"cost: {cost.forward_tokens:,} forward tokens ({cost.evaluations} validation evaluations), "
                 f"{100 * cost.fraction:.2f} % of the exhaustive sweep's {cost.exhaustive_forward_tokens:,}")
    return lines


def register(app: typer.Typer) -> None:
    """Attach `advise` to `app`."""
    app.command()(advise)
