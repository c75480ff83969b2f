"""The stages of a study after training, each a sweep (or an analysis) into the study's store.

- `sweep`: every in-domain mixture (or a sample, or the ends), every mixer × condition of the
  recipe's eval spec (PAPER.md §4).
- `prune` (Sec. 7, Fig. 8a): each target's own adapter pruned by Alg. 2 and scored in-domain:
  k = 1 rows of mixer `prune` with params {sparsity, scope}, condition `clean`.
- `sparse_mix` (Sec. 7, Fig. 8b): for each target D and l = 2..n, the Alg. 1 set {D} ∪ the l − 1
  adapters of smallest mean FSD among the others, mixed by `sparse` (Alg. 4) at each sparsity and
  by `average` (the dense Alg. 1 pick); the sets are stored as artifact `alg1_sets`.
- `data_analysis` (Sec. 3.1, App. A.1–A.2, Sec. 5.2): the corpus analysis, stored as artifact
  `corpus_analysis` (computed once per configuration and adapter set).
Each stage's rows are keyed like any other row, so a re-run computes only what is missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptermix.analysis.greedy import in_domain_members
from adaptermix.evaluation.spec import ConditionSpec, EvalSpec
from adaptermix.mixing.spec import MixSpec
from adaptermix.pipeline.progress import Stage
from adaptermix.pipeline.sweep import SweepConfig, SweepSummary, run_sweep
from adaptermix.store import Store
from adaptermix.store.schema import canonical_json

if TYPE_CHECKING:
    from adaptermix.analysis.corpus import CorpusConfig
    from adaptermix.analysis.corpus.embeddings import Embedder

#: Artifact kinds a study stores (docs/store.md).
CORPUS_KIND = "corpus_analysis"
ALG1_KIND = "alg1_sets"
ALG1_KEY = "min_fsd"


def prune_mixers(sparsities: Sequence[float], scopes: Sequence[str], reference: str = "raw",
                 heads: Sequence[str] = ("kept",)) -> tuple[MixSpec, ...]:
    """One `prune` MixSpec (Alg. 2) per (head, scope, sparsity), heads outer; `reference="init"` prunes task
    vectors, `heads` says whether the target's head stays as trained (`kept`) or is pruned too (`pruned`)."""
    return tuple(MixSpec(mixer="prune", params={"sparsity": s, "scope": scope}, reference=reference,  # type: ignore[arg-type]
                         head=head)  # type: ignore[arg-type]
                 for head in heads for scope in scopes for s in sparsities)


def sparse_mixers(sparsities: Sequence[float], m: int) -> tuple[MixSpec, ...]:
    """`average` (the dense Alg. 1 pick) and one `sparse` MixSpec (Alg. 4) per sparsity."""
    return (MixSpec(), *(MixSpec(mixer="sparse", params={"m": m, "sparsity": s}) for s in sparsities))


def clean_spec(spec: EvalSpec, mixers: tuple[MixSpec, ...]) -> EvalSpec:
    """`spec`'s split, budget and precision (the study's eval config) with these mixers, condition `clean`."""
    return EvalSpec(split=spec.split, max_examples=spec.max_examples, max_length=spec.max_length,
                    precision=spec.precision, mixers=mixers, conditions=(ConditionSpec(),))


def alg1_sets(names: Sequence[str], S: np.ndarray, l_max: int | None = None) -> dict[str, dict[int, tuple[str, ...]]]:
    """Alg. 1 member sets per in-domain target: {D} ∪ the l − 1 others of smallest mean FSD, l = 2..n.

    A mixture scored on D needs D's adapter (its head is used), so Alg. 1 ranks the other adapters
    on S restricted to them (the interpretation of Fig. 7, docs/store.md).

    Args:
        names: adapter names in the order of S.
        S: the n×n FSD matrix (Alg. 3).
        l_max: largest l (default n).

    Returns:
        target → l → sorted member names.
    """
    top = min(l_max or len(names), len(names))
    return {target: {size: in_domain_members(names, S, target, size) for size in range(2, top + 1)} for target in names}


def _fsd(store: Path) -> tuple[list[str], np.ndarray]:
    with Store.read(store) as s:
        found = s.fsd_matrix()
    if found is None:  # the sweep stage stores it first; a store without it is not a study's
        raise ValueError(f"{store} has no FSD matrix: run the sweep stage first")
    return found


def sparse_config(base: SweepConfig, sparsities: Sequence[float], m: int, l_max: int | None) -> SweepConfig:
    """The Fig. 8b sweep: Alg. 1 sets per target, `average` and `sparse` at each sparsity; stores the sets."""
    names, S = _fsd(base.store)
    sets = alg1_sets(names, S, l_max)
    with Store.open(base.store, _meta_of(base.store)) as store:
        value = {"rule": "target + (l-1) others of smallest mean FSD (Alg. 1 on S without the target)",
                 "sets": {t: {str(size): list(ms) for size, ms in by_l.items()} for t, by_l in sets.items()}}
        store.put_artifact(ALG1_KIND, ALG1_KEY, canonical_json(value))
    return base.model_copy(update={
        "spec": clean_spec(base.spec, sparse_mixers(sparsities, m)),
        "member_sets": {t: tuple(by_l.values()) for t, by_l in sets.items()},
        "sizes": None, "mode": "exhaustive",
    })


def _meta_of(path: Path) -> Any:
    with Store.read(path) as s:
        return s.meta


def prune_config(base: SweepConfig, sparsities: Sequence[float], scopes: Sequence[str],
                 reference: str = "raw", heads: Sequence[str] = ("kept",)) -> SweepConfig:
    """The Fig. 8a sweep: every adapter alone (k = 1), pruned by Alg. 2 at each (head, scope, sparsity)."""
    return base.model_copy(update={
        "spec": clean_spec(base.spec, prune_mixers(sparsities, scopes, reference, heads)), "sizes": (1,),
        "mode": "exhaustive",
        "member_sets": None,
    })


def run_stage_sweep(cfg: SweepConfig, stage: Stage) -> SweepSummary:
    """`run_sweep` under the study's progress display; Ctrl-C propagates after the store is closed."""
    summary = run_sweep(cfg, stage)
    if summary.interrupted:
        raise KeyboardInterrupt
    return summary


def corpus_key(config: CorpusConfig, fingerprints: dict[str, str]) -> str:
    """The artifact key of a dataset analysis in a study: its config and the study's adapter sha256s."""
    payload = {"config": config.model_dump(mode="json"), "adapters": fingerprints}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def data_analysis(config: CorpusConfig, store_path: Path, adapters: Sequence[Path], cache_dir: Path | None,
                  embedder: Embedder | None = None) -> bool:
    """Run the dataset analysis into the store unless it is there already; returns whether it ran.

    The Sec. 5.2 relation is computed against the study's adapters (≥ 3 needed, else skipped).
    """
    from adaptermix.analysis.corpus import analyze_data

    if analysis_stored(config, store_path):
        return False
    meta = _meta_of(store_path)
    result = analyze_data(config, cache_dir, list(adapters) if len(adapters) >= 3 else (), embedder)
    with Store.open(store_path, meta) as store:
        store.put_artifact(CORPUS_KIND, corpus_key(config, meta.fingerprints()), result.to_json(indent=None))
    return True


def analysis_stored(config: CorpusConfig, store_path: Path) -> bool:
    """Whether the store at `store_path` holds this dataset analysis of its adapters (False without a store)."""
    if not store_path.is_file():
        return False
    from adaptermix.store import StoreError

    try:
        with Store.read(store_path) as store:
            return store.get_artifact(CORPUS_KIND, corpus_key(config, store.meta.fingerprints())) is not None
    except StoreError:  # another study's or a broken store: `run` will say so
        return False
