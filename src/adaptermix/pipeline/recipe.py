"""The recipe format and its runner.

A recipe names the encoder(s), method(s), preset(s), domains and budgets of a study. `run_recipe`
trains one adapter per domain (reusing checkpoints already trained with the same settings), sweeps
their in-domain mixtures into the study's SQLite store (exhaustively by default: every subset,
PAPER.md §4), runs the optional stages — Sec. 7's pruning (Fig. 8a) and sparse mixing (Fig. 8b),
the dataset analysis (Sec. 3.1), the mixture advisor (issue 17) — into the same store, and writes
the report from the store. A second run reuses everything already there. `adaptermix run RECIPE
--dry-run` prints the plan (`adaptermix.pipeline.plan`).
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adaptermix.analysis.corpus.result import CorpusConfig
from adaptermix.checkpoints import Checkpoint, read_checkpoint
from adaptermix.errors import CheckpointError, ConfigError
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.pipeline.ablation import AblationSection, cells, folder, left_out, merge
from adaptermix.pipeline.advise_stage import AdviseSection, run_advise_stage
from adaptermix.pipeline.progress import Display
from adaptermix.pipeline.stages import data_analysis, prune_config, run_stage_sweep, sparse_config
from adaptermix.pipeline.sweep import SweepConfig, SweepSummary
from adaptermix.reporting.quickstart import Row, rows_from_store, write_report
from adaptermix.reporting.sweep import write_sweep_report
from adaptermix.training.config import TrainConfig, TrainOverrides
from adaptermix.training.train import adapter_name, train

if TYPE_CHECKING:
    from adaptermix.analysis.corpus.embeddings import Embedder

STORE_NAME = "study.sqlite"


#: Training overrides on top of the preset: the very model the CLI's flags build (one name per knob).
TrainSection = TrainOverrides


class SweepSection(BaseModel):
    """Which mixtures to evaluate: `exhaustive` (every subset), `sampled` (to a CI), or `ends`
    (only k = 1 and k = n: each adapter alone and the mixture of all)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mode: Literal["exhaustive", "sampled", "ends"] = "exhaustive"
    ci: float = Field(default=1.0, gt=0)
    backend: str = "local"
    workers: int = Field(default=1, ge=1)
    chunk_size: int = Field(default=16, ge=1)


class PruneSection(BaseModel):
    """Fig. 8a (Sec. 7): each target's own adapter pruned by Alg. 2 and scored in-domain.

    Rows: k = 1, condition `clean`, mixer `prune` with params {sparsity, scope}. The paper does not
    say whether Alg. 2's percentile is taken over the whole adapter (`global`) or per tensor; both
    are run by default.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sparsities: tuple[float, ...] = Field(default=(0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0), min_length=1)
    scopes: tuple[Literal["global", "layer", "tensor"], ...] = Field(default=("global", "tensor"), min_length=1)
    # `raw` (the paper's: the smallest |θ| zeroed) or `init` (the task vector: the smallest |θ − θ_init| reset to
    # the initialization), the ablation's `view` factor.
    reference: Literal["raw", "init"] = "raw"
    # The target's head: `kept` as trained (Alg. 2 prunes the adapter), and/or `pruned` by the same sparsity and
    # scope (its own percentile under `global`): the paper's wording allows both (issue 18).
    heads: tuple[Literal["kept", "pruned"], ...] = Field(default=("kept",), min_length=1)

    @field_validator("sparsities")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return _fractions(value)

    @model_validator(mode="after")
    def _head_view(self) -> PruneSection:
        if "pruned" in self.heads and self.reference != "raw":
            raise ValueError("prune.heads: pruned needs prune.reference: raw (a head has no shared initialisation "
                             "to take a task vector from)")
        if len(set(self.heads)) != len(self.heads):
            raise ValueError(f"prune.heads lists a value twice: {list(self.heads)}")
        return self


class SparseMixSection(BaseModel):
    """Fig. 8b (Sec. 7): Alg. 4 on the Alg. 1 sets of l = 2..n adapters per target, and their dense average.

    Rows: mixer `sparse` with params {m, sparsity}, and `average`, on the member sets stored as
    artifact `alg1_sets` (docs/store.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    sparsities: tuple[float, ...] = Field(default=(0.8, 0.9), min_length=1)
    m: int = Field(default=1, ge=0)  # layers pruned per member (Alg. 4's m)
    l_max: int | None = Field(default=None, ge=2)  # largest l (default: every adapter)

    @field_validator("sparsities")
    @classmethod
    def _fractions(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        return _fractions(value)


def _fractions(value: tuple[float, ...]) -> tuple[float, ...]:
    bad = [v for v in value if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"sparsity {bad[0]} is outside [0, 1]: write 0.9 for 90 %")
    if len(set(value)) != len(value):
        raise ValueError("a sparsity is listed twice")
    return value


class ModelSection(BaseModel):
    """One encoder with its training preset (e.g. bert-base-uncased with Table 17's `bert-base`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    encoder: str
    preset: str


class Recipe(BaseModel):
    """A study: which adapters to train and how to evaluate their mixtures.

    `models` × `methods` (default: the single `encoder`/`preset` and `method`) gives one study
    each, with its own adapters, store and report (under `out/<encoder>-<method>/` when there are
    several, else in `out/`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    out: Path
    domains: tuple[str, ...] = Field(min_length=1)
    encoder: str = "minilm"
    method: str = "pfeiffer"
    preset: str = "quickstart"
    models: tuple[ModelSection, ...] | None = Field(default=None, min_length=1)
    methods: tuple[str, ...] | None = Field(default=None, min_length=1)
    seed: int = 42
    # `shared`: every domain's adapter starts from the same seed (the usual setup, and why raw FSD between
    # adapters is low); `independent`: a seed per domain, derived from `seed` and the domain's name.
    init: Literal["shared", "independent"] = "shared"
    train: TrainSection = TrainSection()
    eval: EvalSpec = EvalSpec()  # the one eval spec: split, budget, precision, mixers, conditions
    sweep: SweepSection = SweepSection()
    prune: PruneSection | None = None  # Fig. 8a
    sparse_mix: SparseMixSection | None = None  # Fig. 8b
    # The dataset analysis (Sec. 3.1, App. A.1–A.2): CorpusConfig's own fields; domains default to the recipe's.
    data_analysis: CorpusConfig | None = None
    # Which adapters to mix (issue 17): the advisor's partners per target and partitions per G, after the sweep.
    advise: AdviseSection | None = None
    cache_dir: Path | None = None
    # Run once per cell of these factors, each cell its own study under `out/<cell>/` (pipeline/ablation.py).
    ablation: AblationSection | None = None
    cell: str | None = None  # set on each cell of an ablation: its label, shown before the study's

    @model_validator(mode="before")
    @classmethod
    def _analysis_domains(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("data_analysis"), dict) \
                and "domains" not in data["data_analysis"]:
            data = {**data, "data_analysis": {**data["data_analysis"], "domains": data.get("domains")}}
        return data

    @model_validator(mode="after")
    def _known_names(self) -> Recipe:
        from adaptermix.methods.presets import get_preset
        from adaptermix.methods.registry import get_method

        for method in self.methods or (self.method,):
            get_method(method)  # ValueError with "did you mean"
        for model in self.models or (ModelSection(encoder=self.encoder, preset=self.preset),):
            get_preset(model.preset)
        if self.ablation is not None and "view" in self.ablation.factors and self.prune is None:
            raise ValueError("the ablation's `view` factor changes how Alg. 2 prunes: add a `prune:` section")
        task_vectors = (self.prune is not None and self.prune.reference == "init") or any(
            m.reference == "init" for m in self.eval.mixers)
        if self.init == "independent" and task_vectors:
            # A task vector is θ − θ_init of one shared initialisation (training/init.py rebuilds and verifies it).
            raise ValueError("task vectors (reference: init) need one shared initialisation: use init: shared")
        if self.advise is not None:
            self.advise.check(len(self.domains), self.eval)
        if self.ablation is not None:
            for cell in self.cells():  # every cell must be a valid study before anything runs
                del cell
        return self

    def cells(self) -> list[Recipe]:
        """The recipes this one runs: itself, or one per ablation cell (each under `out/<cell>/`)."""
        if self.ablation is None:
            return [self]
        base = self.model_dump(mode="python", exclude={"ablation"})
        out = []
        for label, overrides in cells(self.ablation):
            try:
                out.append(Recipe.model_validate(merge(base, {**overrides, "out": Path(self.out) / folder(label),
                                                              "cell": label})))
            except ValidationError as exc:
                msg = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
                raise ValueError(f"ablation cell {label}: {msg}") from None
        return out

    def studies(self) -> list[StudyPlan]:
        """The (encoder, preset, method) studies of this recipe, each with its output folder."""
        models = self.models or (ModelSection(encoder=self.encoder, preset=self.preset),)
        methods = self.methods or (self.method,)
        one = len(models) * len(methods) == 1
        return [StudyPlan(m.encoder, m.preset, method,
                          Path(self.out) if one else Path(self.out) / f"{_slug(m.encoder)}-{method}", self.cell or "")
                for m in models for method in methods]


def _slug(encoder: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(encoder).name) or "encoder"


@dataclass(frozen=True)
class StudyPlan:
    """One study of a recipe: an encoder with its preset and an adapter method, written under `out`."""

    encoder: str
    preset: str
    method: str
    out: Path
    cell: str = ""  # the ablation cell this study belongs to, if any

    @property
    def store(self) -> Path:
        return self.out / STORE_NAME

    @property
    def label(self) -> str:
        name = f"{_slug(self.encoder)}/{self.method}"
        return f"{self.cell} {name}" if self.cell else name


@dataclass(frozen=True)
class RecipeResult:
    """What a recipe run produced (for its first study; `others` holds the rest)."""

    recipe: Recipe
    rows: tuple[Row, ...]
    store: Path
    report_paths: tuple[Path, ...]
    trained: tuple[str, ...]  # domains trained in this run (the rest were reused)
    sweep: SweepSummary
    stages: dict[str, SweepSummary] = field(default_factory=dict)  # prune, sparse_mix
    analysed: bool = False  # the dataset analysis ran now (False: stored already, or not asked for)
    advised: bool = False  # the advise stage ran now (False: stored already, or not asked for)
    others: tuple[RecipeResult, ...] = ()
    overview: Path | None = None  # index.html comparing the studies, when the recipe has several

    @property
    def index_html(self) -> Path | None:
        return next((p for p in self.report_paths if p.name == "index.html"), None)


def load_recipe(path: str | Path, **overrides: Any) -> Recipe:
    """Read a recipe YAML (safe_load), apply overrides, validate.

    Raises:
        ConfigError: missing file, bad YAML, or a field that fails validation.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe {path} does not exist: pass a YAML file such as recipes/quickstart.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"recipe {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: a date like 2024-13-01
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise ConfigError(f"recipe {path} is not valid YAML: {first}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"recipe {path} must be a mapping of fields")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"recipe {path}: field {where!r}: {msg}" if where else f"recipe {path}: {msg}") from exc


def train_config(recipe: Recipe, study: StudyPlan, domain: str, progress: bool = False) -> TrainConfig:
    """The `TrainConfig` of one domain of `study`: the recipe's `train:` overrides on its preset."""
    return TrainConfig(
        domain=domain, out=study.out / "adapters" / adapter_name(domain), method=study.method,
        encoder=study.encoder, preset=study.preset, seed=domain_seed(recipe, domain), cache_dir=recipe.cache_dir,
        overwrite=True, progress=progress, **recipe.train.model_dump(),
    )


def domain_seed(recipe: Recipe, domain: str) -> int:
    """The training seed of `domain`'s adapter: the recipe's, or with `init: independent` one per domain
    (a stable hash of the domain's name, so adding a domain changes no other domain's seed)."""
    if recipe.init == "shared":
        return recipe.seed
    return recipe.seed + 1 + zlib.crc32(adapter_name(domain).encode()) % 1_000_000


def _settings(cfg: TrainConfig) -> dict[str, Any]:
    """What makes two trainings the same (where the result goes and how it is shown aside)."""
    return cfg.model_dump(mode="json", exclude={"out", "overwrite", "progress", "cache_dir"})


def training_key(cfg: TrainConfig) -> str:
    """Canonical JSON of `_settings`: two trainings with the same key train the same adapter."""
    return json.dumps(_settings(cfg), sort_keys=True)


def _reusable(path: Path, cfg: TrainConfig) -> Checkpoint | None:
    """An existing checkpoint trained with exactly these settings, else None."""
    try:
        ckpt = read_checkpoint(path)
    except CheckpointError:
        return None
    derived = ("effective", "steps", "data_fingerprint")
    stored = {k: v for k, v in ckpt.manifest.config.items() if k not in derived}
    return ckpt if stored == _settings(cfg) else None


def _copy_checkpoint(src: Path, dest: Path) -> None:
    """`src` to `dest` whole or not at all: copied beside it under a hidden name (which a sweep never takes
    for a checkpoint), then renamed over whatever `dest` held."""
    tmp = dest.parent / f".{dest.name}.copy-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(tmp, dest)


def stage_names(recipe: Recipe) -> list[str]:
    """The stages each study of `recipe` runs, in order."""
    names = ["train", "sweep"]
    names += ["prune"] if recipe.prune is not None else []
    names += ["sparse_mix"] if recipe.sparse_mix is not None else []
    names += ["data_analysis"] if recipe.data_analysis is not None else []
    names += ["advise"] if recipe.advise is not None else []
    return [*names, "report"]


def stale_domains(recipe: Recipe, study: StudyPlan) -> list[str]:
    """Domains whose adapter must be (re)trained: no checkpoint with exactly the recipe's settings."""
    return [d for d in recipe.domains if _reusable((cfg := train_config(recipe, study, d)).out, cfg) is None]


def run_recipe(recipe: Recipe, progress: bool = True, embedder: Embedder | None = None) -> RecipeResult:
    """Run every study of the recipe: train (or reuse), sweep, Sec. 7 stages, dataset analysis, report.

    Args:
        recipe: the study.
        progress: show the progress display (one across every stage; lines, not bars, off a terminal).
        embedder: the dataset analysis's sentence encoder (default: the embedded MiniLM).

    Raises:
        ConfigError: a store that holds results of adapters about to be retrained; bad stage settings.
        KeyboardInterrupt: after Ctrl-C, once the store is consistent (a re-run resumes).
    """
    runs = [(cell, s) for cell in recipe.cells() for s in cell.studies()]
    # Fail before hours of training: a store holds results of the adapters about to be replaced.
    stale = {s.out: stale_domains(cell, s) for cell, s in runs}
    for _, s in runs:
        if stale[s.out] and s.store.exists():
            raise ConfigError(
                f"{s.store} holds results for the previous adapters, and {', '.join(stale[s.out])} must be "
                "(re)trained with the recipe's new settings: delete the store, or set a new `out` in the recipe"
            )
    several = len(runs) > 1
    display = Display(enabled=progress, stages=len(runs) * len(stage_names(recipe)) + several)
    for label, why in left_out(recipe.ablation) if recipe.ablation is not None else []:
        display.write(f"ablation: cell {label} left out: {why}")
    # Cells whose training settings agree (the ablation's `view` cell and its baseline) share one training.
    done: dict[str, Path] = {}
    results = [_run_study(cell, s, stale[s.out], display, embedder, done) for cell, s in runs]
    overview = None
    if several:  # the studies (or ablation cells) side by side, each linking to its own report
        from adaptermix.reporting.overview import write_overview

        with display.stage("overview", 1, unit="reports") as bar:
            overview = write_overview([(s.label, s.store) for _, s in runs], Path(recipe.out))
            bar.update(1)
    return replace(results[0], others=tuple(results[1:]), overview=overview)


def _run_study(recipe: Recipe, study: StudyPlan, stale: list[str], display: Display,
               embedder: Embedder | None, done: dict[str, Path] | None = None) -> RecipeResult:
    """One study of the recipe. `done` maps training settings (canonical JSON) to a checkpoint this run
    already holds: a stale adapter with the same settings is copied from it instead of trained again."""
    done = {} if done is None else done
    tag = f"{study.label} " if study.out != Path(recipe.out) else ""
    # On a terminal the training loop's own step bar shows under the stage's; off one, only stage lines.
    cfgs = [train_config(recipe, study, d, display.enabled and display.tty) for d in recipe.domains]
    trained: list[str] = []
    with display.stage(f"{tag}train", len(stale), unit="adapters") as bar:
        for cfg in cfgs:
            key = training_key(cfg)
            # Planned at the run's start; another run (or an earlier cell's process) may have written the
            # very adapter since: checked again just before training, so it is not trained twice.
            if cfg.domain in stale and _reusable(cfg.out, cfg) is None:
                twin = done.get(key)
                if twin is not None and _reusable(twin, cfg) is not None:
                    _copy_checkpoint(twin, cfg.out)  # the same settings train the same adapter
                else:
                    train(cfg)
                trained.append(cfg.domain)
                bar.update(1)
            elif cfg.domain in stale:
                bar.update(1)
            done.setdefault(key, cfg.out)
    paths = tuple(cfg.out for cfg in cfgs)
    n, sw = len(paths), recipe.sweep
    base = SweepConfig(
        adapters=paths, store=study.store, mode="sampled" if sw.mode == "sampled" else "exhaustive", ci=sw.ci,
        sizes=(1, n) if sw.mode == "ends" else None, spec=recipe.eval, backend=sw.backend, workers=sw.workers,
        chunk_size=sw.chunk_size, cache_dir=recipe.cache_dir, progress=False, label=study.label,
    )
    with display.stage(f"{tag}sweep") as bar:
        summary = run_stage_sweep(base, bar)
    stages: dict[str, SweepSummary] = {}
    if recipe.prune is not None:
        with display.stage(f"{tag}prune (Fig. 8a)") as bar:
            p = recipe.prune
            stages["prune"] = run_stage_sweep(prune_config(base, p.sparsities, p.scopes, p.reference, p.heads), bar)
    if recipe.sparse_mix is not None:
        sm = recipe.sparse_mix
        with display.stage(f"{tag}sparse_mix (Fig. 8b)") as bar:
            stages["sparse_mix"] = run_stage_sweep(sparse_config(base, sm.sparsities, sm.m, sm.l_max), bar)
    analysed = False
    if recipe.data_analysis is not None:
        with display.stage(f"{tag}data_analysis", 1, unit="analyses") as bar:
            analysed = data_analysis(recipe.data_analysis, study.store, paths, recipe.cache_dir, embedder)
            bar.update(1)
    advised = False
    if recipe.advise is not None:
        with display.stage(f"{tag}advise", unit="steps") as bar:
            advised = run_advise_stage(recipe.advise, study.store, paths, recipe.eval, recipe.cache_dir,
                                       progress=lambda line: bar.update(1, last=line))
    with display.stage(f"{tag}report", 1, unit="reports") as bar:
        from adaptermix.reporting.report import write_html_report

        report = [*write_report(study.store, study.out), *write_sweep_report(study.store, study.out / "report"),
                  write_html_report(study.store, study.out / "report")]
        bar.update(1)
    return RecipeResult(recipe, rows_from_store(study.store), study.store, tuple(report), tuple(trained), summary,
                        stages, analysed, advised=advised)
