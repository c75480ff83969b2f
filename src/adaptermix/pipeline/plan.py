"""`adaptermix run RECIPE --dry-run`: what a recipe would do, and about how long, without doing it.

Counts are exact (trainings still to do; evaluations per stage, less the rows a store already
holds); a sampled sweep's count is an expectation. Times come from one forward-pass throughput
measured here in about two seconds (`measure_throughput`) on the recipe's encoder when it loads
offline, else on the embedded MiniLM scaled by the ratio of per-token FLOPs (12·L·h² + 2·L·h·I
from the encoder's config, or the known configs below). Training counts a step as three forward
passes (forward + backward); attacks are counted in forward-pass equivalents. Treat the time as
the order of magnitude it is: it ignores start-up, tokenization and padding.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from adaptermix.methods.precision import resolve_precision
from adaptermix.pipeline.ablation import left_out
from adaptermix.pipeline.recipe import Recipe, StudyPlan, stage_names, stale_domains, train_config, training_key
from adaptermix.pipeline.stages import analysis_stored, prune_mixers, sparse_mixers
from adaptermix.training.config import resolve, step_budget

#: PAPER.md §2 (Table 2): (train, test) sizes of the 13 hub domains, for hosts without the hub.
PAPER_SIZES: dict[str, tuple[int, int]] = {
    "mnli": (392_702, 9_815), "mrpc": (3_668, 408), "sst2": (67_349, 872), "rte": (2_490, 277),
    "qnli": (104_743, 5_463), "qqp": (363_846, 40_430), "rct": (178_882, 30_135), "ag": (120_000, 7_600),
    "authorship": (2_743, 686), "financial": (4_846, 484), "imdb": (22_500, 2_500), "tweets": (31_962, 3_196),
    "wiki": (127_656, 63_978),
}
#: (layers, hidden, intermediate) of encoders the dry run may not be able to load offline.
KNOWN_ENCODERS: dict[str, tuple[int, int, int]] = {
    "minilm": (6, 384, 1536), "bert-base-uncased": (12, 768, 3072), "bert-base-cased": (12, 768, 3072),
    "roberta-base": (12, 768, 3072), "roberta-large": (24, 1024, 4096), "bert-large-uncased": (24, 1024, 4096),
}
#: A scored mixture takes this many times the probe's forward time on its tokens (mixing and loading the
#: adapters, padding, the head): the offline study's clean rows ran at 8,000–8,900 useful tokens/s where the
#: bf16 probe measured 12,800 (AMD EPYC Zen 4, 2 threads; docs/findings.md).
ROW_OVERHEAD = 1.5
#: Tokens per example assumed where a split cannot be read offline (capped at max_length).
DEFAULT_TOKENS = 64
#: Tokens per document of the dataset analysis's sentence encoder (it truncates at 256).
ANALYSIS_TOKENS = 160


@dataclass(frozen=True)
class StageEstimate:
    """One stage of one study: how much work, and about how long."""

    study: str
    stage: str
    count: int
    unit: str
    seconds: float
    note: str = ""


@dataclass(frozen=True)
class Throughput:
    """Forward-pass tokens per second measured on encoder `probe` (on `device`, with `threads` threads)."""

    tokens_per_s: float
    probe: str
    device: str
    threads: int
    #: The same under bf16 autocast, when the sweep's precision (`eval.precision` as resolved here) is bf16 on CPU
    #: (training uses it too where its precision resolves to bf16).
    eval_tokens_per_s: float | None = None

    def for_encoder(self, encoder: str, scoring: bool = False) -> float:
        """Tokens/s expected of `encoder` (`scoring`: at the sweep's precision): the measured rate times the
        probe's FLOPs per token over its."""
        mine, theirs = _shape(encoder), _shape(self.probe)
        rate = self.eval_tokens_per_s if scoring and self.eval_tokens_per_s else self.tokens_per_s
        return rate * (_flops(*theirs) / _flops(*mine) if mine and theirs else 1.0)


def _flops(layers: int, hidden: int, inter: int) -> float:
    return layers * (4 * hidden * hidden + 2 * hidden * inter)  # attention projections + feed-forward


def _shape(encoder: str) -> tuple[int, int, int] | None:
    name = "minilm" if encoder in ("minilm", "all-MiniLM-L6-v2") else encoder
    if name in KNOWN_ENCODERS:
        return KNOWN_ENCODERS[name]
    config = Path(encoder).expanduser() / "config.json"
    if config.is_file():
        import json

        c = json.loads(config.read_text(encoding="utf-8"))
        return int(c["num_hidden_layers"]), int(c["hidden_size"]), int(c.get("intermediate_size", 4 * c["hidden_size"]))
    return None


def measure_throughput(encoder: str, seconds: float = 1.5, seq: int = 64, batch: int = 32,
                       precision: str = "fp32") -> Throughput:
    """Forward tokens/s of `encoder` (or of MiniLM, scaled) on random token ids, for about `seconds`; measured
    again under bf16 autocast when `precision` resolves to bf16 on this CPU (the sweep scores so, and
    training where its own precision resolves to bf16). A GPU probe runs bf16 with the sweep's larger batches."""
    import torch
    from transformers import AutoModel

    from adaptermix.methods.encoder import resolve_encoder

    local = encoder == "minilm" or Path(encoder).expanduser().is_dir()
    probe = encoder if local else "minilm"
    model = AutoModel.from_pretrained(resolve_encoder(probe)).eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    if device.type == "cuda":
        batch, seq = 8 * batch, 2 * seq
    ids = torch.randint(5, int(model.config.vocab_size), (batch, seq), device=device)

    def rate(bf16: bool) -> float:
        done = 0
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            model(input_ids=ids)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                model(input_ids=ids)
                done += ids.numel()
                if device.type == "cuda":
                    torch.cuda.synchronize()
        return done / (time.perf_counter() - start)

    threads = torch.get_num_threads()
    if device.type == "cuda":
        return Throughput(rate(True), probe, device.type, threads)
    fp32 = Throughput(rate(False), probe, device.type, threads)
    if resolve_precision(precision) == "bf16":
        return replace(fp32, eval_tokens_per_s=rate(True))
    return fp32


def _sizes(domain: str, cache_dir: Path | None) -> tuple[int, int, float | None]:
    """(train, test, mean tokens per example or None) without downloading anything."""
    from adaptermix.data.domains import cached_sizes, get_domain

    if domain in PAPER_SIZES:
        train, test = PAPER_SIZES[domain]
        return train, test, None
    spec = get_domain(domain)  # an unknown name fails here, as the run would
    sizes = cached_sizes(spec, cache_dir)  # None unless it loads without a download
    if sizes is None:
        return 10_000, 1_000, None
    data = spec.load(cache_dir)
    sample = data.test.text[:200]
    words = sum(len(t.split()) for t in sample) / max(len(sample), 1)
    return sizes[0], sizes[2], 1.3 * words + 2  # word pieces ≈ 1.3 per word, plus [CLS] and [SEP]


def _sampled_draws(n: int, k: int, ci: float, min_samples: int) -> int:
    """Expected draws of a (target, k) group at a ±ci-point 95 % half-width, assuming a standard deviation of
    2.5 points across member sets (the offline study's sampled sweeps drew 3.5–4.5 sets per group at ±2.5)."""
    population = math.comb(n - 1, k - 1)
    want = max(min_samples, math.ceil((2.0 * 2.5 / ci) ** 2))
    return min(population, want)


def plan_study(recipe: Recipe, study: StudyPlan, rate: Throughput,
               planned: set[str] | None = None) -> list[StageEstimate]:
    """Per stage of one study: the work left and its estimated time at `rate`.

    `planned` holds the training settings an earlier study of the same run trains or holds: a stale
    adapter with the same settings is copied from it, not trained (as `run` does), so it costs nothing
    here. The set is updated with this study's settings.
    """
    planned = set() if planned is None else planned
    n = len(recipe.domains)
    ev = recipe.eval
    sizes = {d: _sizes(d, recipe.cache_dir) for d in recipe.domains}
    # Training runs under bf16 autocast where its precision resolves so (the probe's bf16 rate, when measured).
    tok_s = rate.for_encoder(study.encoder, scoring=resolve_precision(recipe.train.precision) == "bf16")

    def tokens(d: str) -> float:
        known = sizes[d][2]
        return min(ev.max_length, known if known is not None else DEFAULT_TOKENS)

    def examples(d: str) -> int:
        return min(sizes[d][1], ev.max_examples or sizes[d][1])

    score_s = rate.for_encoder(study.encoder, scoring=True)
    # one mixture, clean, mean target
    eval_s = ROW_OVERHEAD * sum(examples(d) * tokens(d) for d in recipe.domains) / n / score_s
    out: list[StageEstimate] = []
    stale = stale_domains(recipe, study)
    train_s = 0.0
    cfgs = {d: train_config(recipe, study, d) for d in recipe.domains}
    keys = {d: training_key(cfg) for d, cfg in cfgs.items()}
    copied = [d for d in stale if keys[d] in planned]
    planned.update(keys.values())
    for d in (d for d in stale if d not in copied):
        t = recipe.train
        # The budget as training resolves it (an upper bound: early stopping can only end sooner).
        hyper = resolve(cfgs[d], d)
        batch = hyper.batch_size
        per_epoch = math.ceil(min(sizes[d][0], t.max_train_examples or sizes[d][0]) / batch)
        steps, _ = step_budget(hyper, per_epoch)
        length = min(hyper.max_length, tokens(d) if sizes[d][2] else DEFAULT_TOKENS)
        # Model selection scores the validation split every `eval_every` steps (or epoch), then the test split.
        every = hyper.eval_every or per_epoch
        scored = min(sizes[d][1], hyper.max_eval_examples or sizes[d][1])
        train_s += (3 * steps * batch + (math.ceil(steps / every) + 1) * scored) * length / tok_s
    reused = [f"{n - len(stale)} reused"] if n - len(stale) else []
    reused += [f"{len(copied)} copied from an earlier cell with the same training settings"] if copied else []
    out.append(StageEstimate(study.label, "train", len(stale) - len(copied), "trainings", train_s, "; ".join(reused)))
    sw = recipe.sweep
    if sw.mode == "exhaustive":
        per_k, note = {k: n * math.comb(n - 1, k - 1) for k in range(1, n + 1)}, "every subset"
    elif sw.mode == "ends":
        per_k, note = {k: n for k in {1, n}}, "k = 1 and k = n"
    else:
        per_k = {k: n * _sampled_draws(n, k, sw.ci, 3) for k in range(1, n + 1)}
        note = f"sampled to ±{sw.ci} points (expected)"
    sweep_n, seconds, done = 0, 0.0, 0
    crafted: set[tuple[object, ...] | None] = set()  # attacks on each adapter alone already counted
    for mi, ci in ev.pairs():  # a condition's `mixers` and `sizes` narrow what it scores
        cond = ev.conditions[ci]
        once, rows, pair_s = 0.0, 0, 0.0
        for k, count in per_k.items():
            if cond.scores_size(k, n):
                per_mixture, per_target = cond.cost(ev.max_examples, k)
                rows += count
                pair_s += count * per_mixture * eval_s
                once = max(once, per_target)
        if once and cond.alone_attack() not in crafted:  # one attack per target, shared by the conditions
            crafted.add(cond.alone_attack())
            pair_s += n * once * eval_s
        # What is left of each (mixer, condition) pair at its own cost: the rows left of a cheap clean sweep
        # and of an attack differ by two orders of magnitude.
        have = min(rows, _stored(study.store, [(ev.mixers[mi].label, cond.label)]))
        sweep_n, done = sweep_n + rows, done + have
        seconds += pair_s * (rows - have) / max(rows, 1)
    _, stored = _left(sweep_n, done)
    out.append(StageEstimate(study.label, "sweep", sweep_n, "evaluations", seconds,
                             f"{len(ev.pairs())} (mixer, condition) pairs over {sum(per_k.values()):,} mixtures"
                             f", {note}{stored}"))
    if recipe.prune is not None:
        p = recipe.prune
        count = n * len(p.sparsities) * len(p.scopes) * len(p.heads)
        mixers = prune_mixers(p.sparsities, p.scopes, p.reference, p.heads)
        left, stored = _left(count, _stored(study.store, [(m.label, "clean") for m in mixers]))
        heads = f" × {len(p.heads)} heads" if len(p.heads) > 1 else ""
        out.append(StageEstimate(study.label, "prune (Fig. 8a)", count, "evaluations", left * eval_s,
                                 f"{n} adapters × {len(p.sparsities)} sparsities × {len(p.scopes)} scopes{heads}"
                                 f"{stored}"))
    if recipe.sparse_mix is not None:
        sm = recipe.sparse_mix
        ls = max(min(sm.l_max or n, n) - 1, 0)
        sets = n * ls
        count = sets * (len(sm.sparsities) + 1)
        in_sweep = sets if sw.mode == "exhaustive" and any(m.label == "average" for m in ev.mixers) else 0
        left, stored = _left(count - in_sweep, _stored(study.store, [(m.label, "clean")
                                                                     for m in sparse_mixers(sm.sparsities, sm.m)[1:]]))
        out.append(StageEstimate(study.label, "sparse_mix (Fig. 8b)", count, "evaluations", left * eval_s,
                                 f"{sets} Alg. 1 sets × ({len(sm.sparsities)} sparsities + average)"
                                 + (f"; {in_sweep} average rows come from the sweep" if in_sweep else "") + stored))
    if recipe.data_analysis is not None:
        da = recipe.data_analysis
        docs = sum(min(da.max_docs, sizes[d][0]) for d in da.domains)
        # The analysis embeds with MiniLM whatever the study's encoder, once per recipe (the embeddings
        # are cached on disk); LDA takes a few seconds a domain in every study.
        first = study == recipe.studies()[0]
        seconds = first * docs * ANALYSIS_TOKENS / rate.for_encoder("minilm") + 2.0 * len(da.domains)
        done = analysis_stored(da, study.store)
        out.append(StageEstimate(study.label, "data_analysis", 1, "analysis", 0.0 if done else seconds,
                                 f"{len(da.domains)} domains × ≤ {da.max_docs} documents, {da.n_topics} topics"
                                 + ("; stored, nothing to do" if done else "")))
    if recipe.advise is not None:
        mean_tokens = sum(tokens(d) for d in recipe.domains) / n
        mean_examples = sum(examples(d) for d in recipe.domains) / n
        out.append(_advise_estimate(recipe, study, mean_examples, mean_tokens, score_s))
    return out


def _advise_estimate(recipe: Recipe, study: StudyPlan, examples: float, tokens: float,
                     score_s: float) -> StageEstimate:
    """The advise stage: the surrogate's validation evaluations, then the ensembles' member passes (at most)."""
    from adaptermix.advice import get_strategy
    from adaptermix.advice.collect import exhaustive_evaluations, validation_evaluations, validation_examples
    from adaptermix.advice.signals import FORWARD
    from adaptermix.advice.soup import soup_evaluations
    from adaptermix.pipeline.advise_stage import advice_stored

    adv = recipe.advise
    assert adv is not None  # noqa: S101 - called only with an advise section
    n = len(recipe.domains)
    evals = val = 0
    if (not adv.grow and get_strategy(adv.strategy).needs in FORWARD) or adv.partitions_read_validation():
        evals = validation_evaluations(n)
        val = validation_examples(n, adv.budget, round(examples))
    spent = evals * val  # validation examples scored, against the sweep's exhaustive_evaluations(n) · examples
    total = exhaustive_evaluations(n) * examples
    grown = grown_val = 0
    if adv.grow:  # every target grown to the largest size, on what the budget leaves after the signals
        grown = n * soup_evaluations(n, max(adv.sizes))
        grown_val = adv.growth_examples(n, round(examples))
    # Each target scores each member of its recommended sets once with its head (probabilities are cached):
    # at most 1 + Σ(k − 1) members for the partners, and its whole group for a partition.
    largest = max((n - g + 1 for g in adv.groups), default=1)
    passes = n * min(n, 1 + sum(k - 1 for k in adv.sizes) + largest - 1) if adv.ensemble else 0
    # A race evaluates each candidate on at most race_examples validation examples: its top sets per
    # (target, k), and per G its partitions' (domain, group) mixtures, n per candidate at most (an upper
    # bound: candidates are dropped early, shared groups run once, a partition race stops at the budget).
    partners = n * len(adv.sizes) * adv.race_candidates * adv.races_partners
    parts = len(adv.groups) * adv.partition_candidates * n * adv.races_partitions
    raced = partners + parts
    # The races share what the budget leaves after the signals (the stage's one ledger), in examples.
    race_examples = min(partners * adv.race_examples + parts * adv.partition_examples,
                        max(0.0, adv.budget * total - spent))
    seconds = (ROW_OVERHEAD * (spent + grown * grown_val + race_examples) * tokens + passes * examples * tokens) \
        / score_s
    stored = advice_stored(adv, study.store, n, recipe.eval)
    note = ("; ".join(([f"{evals} validation evaluations × {val} examples"] if evals else [])
                      + ([f"greedy growth: {grown} evaluations × {grown_val} examples"] if grown else []))
            + (f"; ≤ {partners} race evaluations × ≤ {adv.race_examples} examples" if partners else "")
            + (f"; ≤ {parts} partition race evaluations × ≤ {adv.partition_examples} examples" if parts else "")
            + f"; ≤ {passes} ensemble member passes on the test rows" + ("; stored, nothing to do" if stored else ""))
    return StageEstimate(study.label, "advise", evals + grown + raced, "evaluations", 0.0 if stored else seconds, note)


def _stored(store: Path, labels: list[tuple[str, str]]) -> int:
    """Rows a store already holds for these (mixer, condition) labels (0 without a store)."""
    if not store.is_file():
        return 0
    from adaptermix.store import Store, StoreError

    try:
        with Store.read(store) as s:
            return sum(s.count(condition=c, mixer=m) for m, c in labels)
    except StoreError:  # another study's or a broken store: `run` will say so; the plan counts it empty
        return 0


def _left(count: int, stored: int) -> tuple[int, str]:
    left = max(count - stored, 0)
    return left, (f"; {stored:,} stored, {left:,} to do" if stored else "")


def plan_recipe(recipe: Recipe, rate: Throughput | None = None) -> tuple[list[StageEstimate], Throughput]:
    """Every stage of every study of `recipe`, with times at `rate` (measured here when None)."""
    runs = [(cell, s) for cell in recipe.cells() for s in cell.studies()]
    if rate is None:
        rate = measure_throughput(runs[0][1].encoder, precision=recipe.eval.precision)
    out: list[StageEstimate] = []
    planned: set[str] = set()  # training settings trained (or held) by an earlier study of this run
    for cell, study in runs:
        out.extend(plan_study(cell, study, rate, planned))
    return out, rate


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    if seconds < 2 * 365 * 86400:
        return f"{seconds / 86400:,.0f} days"
    return f"{seconds / (365 * 86400):,.0f} years"


def format_plan(recipe: Recipe, stages: list[StageEstimate], rate: Throughput) -> str:
    """The dry-run table: study, stage, work, estimated time; then the total and what it rests on."""
    studies = [s for cell in recipe.cells() for s in cell.studies()]
    lines = [f"plan for recipe {recipe.name!r}: {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}, "
             f"{len(recipe.domains)} domains, stages {', '.join(stage_names(recipe))} (nothing is run)",
             "", "| study | stage | work | est. time | detail |", "|---|---|---:|---:|---|"]
    for s in stages:
        lines.append(f"| {s.study} | {s.stage} | {s.count:,} {s.unit} | {_duration(s.seconds)} | {s.note} |")
    skipped = left_out(recipe.ablation) if recipe.ablation is not None else []
    if skipped:
        lines += [""] + [f"left out of the full design: cell {label}: {why}" for label, why in skipped]
    total = sum(s.seconds for s in stages)
    evals = sum(s.count for s in stages if s.unit == "evaluations")
    trains = sum(s.count for s in stages if s.unit == "trainings")
    lines += ["", f"total: {trains:,} trainings, {evals:,} evaluations; estimated {_duration(total)} on this "
                  f"machine ({os.cpu_count()} CPUs)",
              f"measured: {rate.tokens_per_s:,.0f} forward tokens/s of {rate.probe} on {rate.device} "
              f"({rate.threads} threads)"
              + (f", {rate.eval_tokens_per_s:,.0f} under bf16 autocast (the sweep's precision here)"
                 if rate.eval_tokens_per_s else "")
              + "; other encoders scaled by FLOPs per token"]
    return "\n".join(lines)
