"""Synthetic study stores for the report and findings tests, written through the store API only.

`shaped_study` writes every in-domain mixture with an accuracy given by a formula, so a test knows
the truth a finding should report. `full_study` adds every kind of row the report has a section for:
an attack condition, a second mixer, pruned single adapters (Fig. 8a), sparse mixtures (Fig. 8b),
`mixture_fsd`, the dataset analysis when the store keeps artifacts, and the advisor's stored advice.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from adaptermix.advice.partition import best_partition
from adaptermix.advice.tables import cell, names_of, table_from_rows
from adaptermix.analysis.corpus.result import CorpusAnalysis, CorpusConfig
from adaptermix.analysis.corpus.run import analyze_documents
from adaptermix.mixing.spec import MixSpec
from adaptermix.reporting.advice import ADVICE_VERSION
from adaptermix.reporting.study import ADVICE_KIND, CORPUS_KIND
from adaptermix.reporting.sweep_tables import greedy_members
from adaptermix.store import EvalRow, Store, pack_correct
from adaptermix.store.schema import canonical_json
from adaptermix.store.synthetic import DEFAULT_DOMAINS, synthetic_study
from corpus_fixtures import HashEmbedder  # the same fake sentence encoder

Accuracy = Callable[[str, tuple[str, ...]], float]  # (target, members) -> accuracy in [0, 1]
FGSM = "fgsm(epsilon=0.01)"


def mixer(name: str, **params: object) -> dict[str, str]:
    """The label and params JSON a sweep would store for this mixer."""
    spec = MixSpec(mixer=name, params=dict(params))
    return {"mixer": spec.label, "mixer_params": spec.as_json()}


def row(target: str, members: Sequence[str], acc: float, **extra: object) -> EvalRow:
    """A clean average row with made-up costs; `extra` overrides any field."""
    fields: dict[str, object] = dict(target=target, members=tuple(members), condition="clean", accuracy=acc,
                                     macro_f1=acc, n_examples=200, pair_fsd=None, flip_fraction=None,
                                     mean_pairwise_fsd=None, seconds=0.01, tokens=100)
    fields.update(extra)
    return EvalRow(**fields)  # type: ignore[arg-type]


def mixtures(domains: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """Every (target, members) of an exhaustive in-domain sweep."""
    out = []
    for target in domains:
        others = [d for d in domains if d != target]
        for r in range(len(others) + 1):
            out += [(target, (target, *extra)) for extra in itertools.combinations(others, r)]
    return out


def correct_vector(acc: float, n: int, seed: int) -> bytes:
    """Packed per-example correctness with exactly round(acc · n) correct examples, in a seeded order."""
    hits = np.zeros(n, dtype=bool)
    hits[np.random.default_rng(seed).permutation(n)[: round(acc * n)]] = True
    return pack_correct(hits)


def shaped_study(path: Path, accuracy: Accuracy, domains: Sequence[str] = DEFAULT_DOMAINS,
                 extra_rows: Callable[[list[EvalRow]], list[EvalRow]] | None = None,
                 fsd: Callable[[str, tuple[str, ...]], float] | None = None, examples: bool = False,
                 corpus: CorpusAnalysis | None = None) -> Path:
    """A store of every in-domain mixture with `accuracy(target, members)`; the synthetic study's meta and S.

    Args:
        path: the new store file.
        accuracy: the truth.
        domains: the adapters (a subset of the synthetic ones' names works: the meta is rebuilt for them).
        extra_rows: given the clean rows, more rows to store (attack, pruning, sparse ...).
        fsd: `mixture_fsd` of each row (None: not stored).
        examples: store per-example correctness (200 examples; accuracy rounded to 0.5 points), the
            examples of one target drawn in one seeded order so that rows of a target are correlated.
        corpus: a dataset analysis to store as the study's `corpus_analysis` artifact.
    """
    meta, _, S = synthetic_study(domains)
    rows = []
    for t, m in mixtures(domains):
        acc = float(np.clip(accuracy(t, m), 0, 1))
        vec = correct_vector(acc, 200, seed=list(domains).index(t)) if examples else None
        rows.append(row(t, m, round(acc * 200) / 200 if examples else acc, correct=vec,
                        mixture_fsd=None if fsd is None else fsd(t, m),
                        pair_fsd=float(S[list(domains).index(m[0]), list(domains).index(m[1])]) if len(m) == 2
                        else None))
    with Store.open(path, meta) as store:
        store.upsert(rows + (extra_rows(rows) if extra_rows else []))
        store.set_fsd_matrix(list(domains), S)
        if corpus is not None:
            store.put_artifact(CORPUS_KIND, corpus.key, corpus.to_json())
    return path


_THEMES = ("stock market price trade bank shares profit", "goal match team player league coach season",
           "movie actor film plot scene director cast", "rain wind storm cloud snow sun weather")


def corpus_analysis(tmp: Path, domains: Sequence[str] = DEFAULT_DOMAINS) -> CorpusAnalysis:
    """A small dataset analysis of made-up documents (a hashed bag-of-words encoder, 3 LDA topics)."""
    rng = np.random.default_rng(0)
    docs = {d: [f"{' '.join(rng.choice(_THEMES[i % 4].split(), 6))}. The {d} was here!" for _ in range(30)]
            for i, d in enumerate(domains)}
    config = CorpusConfig(domains=tuple(domains), max_docs=30, n_topics=3, top_words=5, seed=1)
    return analyze_documents(config, docs, HashEmbedder(), tmp, fingerprints={d: d for d in domains},
                             adapter_fsd=(tuple(domains), fsd_matrix(domains)))


def fsd_matrix(domains: Sequence[str] = DEFAULT_DOMAINS) -> np.ndarray:
    """The synthetic study's pairwise FSD matrix (what `shaped_study` stores)."""
    return synthetic_study(domains)[2]


def extras(rows: list[EvalRow], domains: Sequence[str] = DEFAULT_DOMAINS) -> list[EvalRow]:
    """Attack rows, a TIES mixer, pruned single adapters and sparse mixtures derived from the clean rows."""
    rng = np.random.default_rng(7)
    out = [dataclasses.replace(r, condition=FGSM, condition_params='{"condition":"fgsm","params":{"epsilon":0.01}}',
                               correct=None, accuracy=float(np.clip(r.accuracy - 0.15 + rng.normal(scale=0.03), 0, 1)))
           for r in rows]
    ties = mixer("ties", density=0.2)
    out += [dataclasses.replace(r, **ties, correct=None, accuracy=float(np.clip(r.accuracy + 0.01, 0, 1)))
            for r in rows]
    single = {r.target: r.accuracy for r in rows if r.k == 1}
    for target, acc in single.items():
        for scope in ("global", "tensor"):
            for s in (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0):
                loss = 0.0 if s <= 0.9 and scope == "tensor" else (s - 0.4) * (0.5 if scope == "global" else 0.8)
                out.append(row(target, [target], float(max(acc - loss, 0.0)),
                               **mixer("prune", sparsity=s, scope=scope)))
    S = fsd_matrix(domains)
    best = {}
    for r in rows:
        best[(r.target, r.k)] = max(best.get((r.target, r.k), 0.0), r.accuracy)
    for target in domains:
        for l in range(2, len(domains) + 1):  # noqa: E741
            members = greedy_members(target, list(domains), S, l, maximize=False)
            for s, bonus in ((0.8, 0.01), (0.9, 0.02)):
                acc = min(best[(target, l)] + bonus, 1.0)
                out.append(row(target, members, acc, **mixer("sparse", sparsity=s, m=1)))
    return out


def full_study(path: Path) -> Path:
    """A store with rows for every section of the report, per-example correctness on the clean rows."""
    base = {d: 0.85 + 0.02 * i for i, d in enumerate(DEFAULT_DOMAINS)}
    S = fsd_matrix()
    idx = {d: i for i, d in enumerate(DEFAULT_DOMAINS)}

    def acc(t: str, m: tuple[str, ...]) -> float:
        spread = float(np.mean([S[idx[t], idx[o]] for o in m])) if len(m) > 1 else 0.0
        return base[t] - 0.03 * (len(m) - 1) - 0.2 * spread

    def fsd(t: str, m: tuple[str, ...]) -> float:
        return 0.05 * (len(m) - 1) + 0.1 * float(np.mean([S[idx[t], idx[o]] for o in m]))

    shaped_study(path, acc, extra_rows=extras, fsd=fsd, examples=True,
                 corpus=corpus_analysis(path.parent / "embeddings"))
    return store_advice(path, "best")


def synthetic_advice(domains: Sequence[str], truth: np.ndarray, pick: str = "best", k: int = 2,
                     groups: int = 2) -> dict[str, object]:
    """Advice as the `advise:` stage stores it, whose answer is known: the best (or worst) stored set of every
    (target, k) cell, the optimal partition into `groups`, and an ensemble of 99 % for every pick."""
    partners = []
    for t, target in enumerate(domains):
        masks, acc = cell(truth, t, k)
        chosen = masks[int(np.argmax(acc) if pick == "best" else np.argmin(acc))]
        partners.append({"target": target, "recommendations": [
            {"k": k, "members": list(names_of(chosen, domains)), "predicted_accuracy": 0.5, "interval": [0.4, 0.6]}]})
    best = best_partition(truth, groups)
    recs = [{"group": i, "members": list(names_of(m, domains)), "predicted_accuracy": 0.5, "interval": None}
            for i, m in enumerate(best.groups)]
    ensembles = [{"target": p["target"], "members": p["recommendations"][0]["members"], "accuracy": 0.99,
                  "n_examples": 200, "forward_tokens": 1} for p in partners]
    return {"version": ADVICE_VERSION, "strategy": "surrogate", "mixer": "average", "settings": {},
            "cost": {"forward_tokens": 10, "exhaustive_forward_tokens": 1000, "fraction": 0.01, "evaluations": 1},
            "partners": partners, "partitions": [{"groups": groups, "recommendations": recs,
                                                  "predicted_objective": 0.5}], "ensembles": ensembles}


def store_advice(path: Path, pick: str = "best") -> Path:
    """Store `synthetic_advice` built from the store's own clean `average` rows."""
    with Store.read(path) as s:
        meta = s.meta
        truth = table_from_rows(meta.domains, ((r.target, r.members, r.accuracy) for r in s.rows()))
    with Store.open(path, meta) as s:
        s.put_artifact(ADVICE_KIND, pick, canonical_json(synthetic_advice(meta.domains, truth, pick)))
    return path


def test_full_study_has_every_kind_of_row(tmp_path: Path) -> None:
    store = full_study(tmp_path / "s.sqlite")
    with Store.read(store) as s:
        labels = set(s.labels())
        assert ("average", "clean") in labels and ("average", FGSM) in labels
        assert {m.split("(")[0] for m, _ in labels} == {"average", "ties", "prune", "sparse"}
        assert s.count(None, None) == 2 * 32 + 32 + 4 * 2 * 8 + 4 * 3 * 2
        assert [a.kind for a in s.artifacts()] == [CORPUS_KIND, ADVICE_KIND]
        clean = s.rows("clean", "average")
        assert all(r.correctness is not None and r.correctness.mean() == r.accuracy for r in clean)
