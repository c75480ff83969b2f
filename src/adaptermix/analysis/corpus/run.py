"""The dataset analysis end to end (Sec. 3.1, App. A.1–A.2, Sec. 5.2): documents in, `CorpusAnalysis` out.

`analyze_documents` is the core: it takes documents already in memory (any source, tests pass
synthetic ones) and an embedder. `analyze_data` loads the domains from the registry, optionally
reads adapters for the Sec. 5.2 relation, and calls it. Neither writes anything but the embedding
cache; `write_corpus_analysis` writes the output folder.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from adaptermix.analysis.corpus.documents import domain_documents, sample_documents
from adaptermix.analysis.corpus.embeddings import Embedder, MiniLMEmbedder, cached_embeddings
from adaptermix.analysis.corpus.lengths import LengthStats, length_stats
from adaptermix.analysis.corpus.relation import SimilarityFsdRelation, similarity_fsd_relation
from adaptermix.analysis.corpus.result import CorpusAnalysis, CorpusConfig
from adaptermix.analysis.corpus.similarity import centroid_similarity
from adaptermix.analysis.corpus.topics import TopicModel, fit_topics, topic_map
from adaptermix.data.types import DomainData
from adaptermix.errors import CheckpointError, ConfigError, DataError

AdapterFsd = tuple[tuple[str, ...], np.ndarray]
"""The domains of k adapters and their k×k FSD matrix (Alg. 3)."""


class _Clock:
    """Wall time per step, in order, for `CorpusAnalysis.seconds`."""

    def __init__(self) -> None:
        self.seconds: list[tuple[str, float]] = []

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds.append((name, round(time.perf_counter() - start, 3)))


def analyze_documents(
    config: CorpusConfig,
    documents: Mapping[str, Sequence[str]],
    embedder: Embedder,
    cache_dir: Path | None = None,
    fingerprints: Mapping[str, str] | None = None,
    adapter_fsd: AdapterFsd | None = None,
    progress: bool = False,
) -> CorpusAnalysis:
    """Table 3, Fig. 2a, Tables 4–16, Fig. 2b and (with adapters) the Sec. 5.2 relation.

    Every step reads the same seeded sample of at most `config.max_docs` documents per domain.

    Args:
        config: the analysis settings; `config.domains` gives the order.
        documents: every document of each domain (the sample is drawn here).
        embedder: the sentence encoder (normally `MiniLMEmbedder`).
        cache_dir: where embeddings are cached; None disables the cache.
        fingerprints: each domain's content fingerprint, stored with the result.
        adapter_fsd: (adapter domains, FSD matrix) for Sec. 5.2, or None to skip it.
        progress: show tqdm bars.

    Returns:
        The `CorpusAnalysis`.

    Raises:
        ValueError: a domain without documents or words, or (with adapters) fewer than 3 shared domains.
    """
    missing = [d for d in config.domains if d not in documents]
    if missing:
        raise ValueError(f"no documents for domain(s) {', '.join(missing)}")
    clock = _Clock()
    samples = {d: sample_documents(documents[d], config.max_docs, config.seed, key=d) for d in config.domains}

    with clock.step("lengths"):
        lengths: list[LengthStats] = [
            length_stats(d, samples[d]) for d in tqdm(config.domains, desc="Table 3 (pysbd)", disable=not progress)
        ]
    with clock.step("embeddings"):
        total = sum(len(s) for s in samples.values())
        with tqdm(total=total, desc="Fig. 2a (embed)", unit="doc", disable=not progress) as bar:
            vectors = [cached_embeddings(samples[d], embedder, cache_dir, bar.update) for d in config.domains]
        similarity = centroid_similarity(vectors)
    with clock.step("topics"):
        models: list[TopicModel] = [
            fit_topics(d, samples[d], config.n_topics, config.top_words, config.seed)
            for d in tqdm(config.domains, desc="Tables 4-16 (LDA)", disable=not progress)
        ]
        tmap = topic_map(models)
    relation: SimilarityFsdRelation | None = None
    if adapter_fsd is not None:
        names, fsd = adapter_fsd
        relation = similarity_fsd_relation(config.domains, similarity, names, fsd)
    prints = fingerprints or {}
    return CorpusAnalysis(
        config=config,
        fingerprints=tuple(prints.get(d, "") for d in config.domains),
        encoder=embedder.identity,
        lengths=tuple(lengths),
        similarity=tuple(tuple(float(v) for v in row) for row in similarity),
        topics=tuple(m.summary for m in models),
        topic_map=tmap,
        relation=relation,
        seconds=tuple(clock.seconds),
    )


def load_domains(names: Sequence[str], cache_dir: Path | None = None) -> dict[str, DomainData]:
    """Load each domain from the registry (`adaptermix.data.get_domain(name).load`).

    Raises:
        ConfigError: an unknown domain name (with the known ones).
        DataError: a corpus that cannot be read.
    """
    from adaptermix.data import get_domain

    specs = [get_domain(name) for name in names]  # every name checked before any (slow) load
    return {name: spec.load(cache_dir) for name, spec in zip(names, specs, strict=True)}


def _checkpoint_dirs(path: Path) -> list[Path]:
    if (path / "manifest.json").is_file():
        return [path]
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if (p / "manifest.json").is_file())
        if found:
            return found
    raise CheckpointError(f"--adapters {path}: neither a checkpoint nor a folder of checkpoints (no manifest.json)")


def _domain_key(name: str) -> str:
    """How a checkpoint names its domain: registered names as they are, local files by absolute path."""
    path = Path(name).expanduser()
    return str(path.resolve()) if path.exists() else name


def read_adapter_fsd(paths: Sequence[Path], domains: Sequence[str]) -> AdapterFsd:
    """FSD (Alg. 3) between the single-domain adapters found under `paths` whose domain is in `domains`.

    Each path is a checkpoint or a folder of checkpoints (e.g. a study's `adapters/`). In a folder,
    checkpoints that are not single-domain adapters (mixtures, pruned) are skipped.

    Args:
        paths: checkpoint directories or folders of them.
        domains: the analysed domains; adapters of other domains are ignored. A local data file
            matches the checkpoint trained on it (manifests store its absolute path).

    Returns:
        (domains of the adapters, in `domains` order; their k×k FSD matrix).

    Raises:
        CheckpointError: unreadable checkpoints, incompatible adapters.
        ConfigError: two adapters for one domain, or fewer than 3 analysed domains with an adapter.
    """
    from adaptermix.analysis.fsd import fsd_matrix
    from adaptermix.checkpoints import Checkpoint, check_mixable, read_checkpoint

    wanted = {_domain_key(d): d for d in domains}
    by_domain: dict[str, Checkpoint] = {}
    for root in paths:
        for ckpt_dir in _checkpoint_dirs(Path(root)):
            ckpt = read_checkpoint(ckpt_dir)
            explicit = Path(root) == ckpt_dir
            if ckpt.manifest.kind != "single":
                if explicit:
                    raise ConfigError(f"{ckpt_dir} is a {ckpt.manifest.kind} checkpoint; give single-domain adapters")
                continue
            domain = wanted.get(_domain_key(ckpt.domain))
            if domain is None:
                continue
            if domain in by_domain and by_domain[domain].path != ckpt_dir:
                raise ConfigError(f"two adapters for domain {domain!r}: {by_domain[domain].path} and {ckpt_dir}")
            by_domain[domain] = ckpt
    names = tuple(d for d in domains if d in by_domain)
    if len(names) < 3:
        raise ConfigError(
            f"the similarity–FSD correlation needs adapters for >= 3 of the analysed domains; found {list(names)}"
        )
    checkpoints = [by_domain[d] for d in names]
    check_mixable(checkpoints)
    try:
        matrix = fsd_matrix([c.adapter for c in checkpoints])
    except ValueError as exc:
        raise CheckpointError(str(exc)) from exc
    return names, matrix


def analyze_data(
    config: CorpusConfig,
    cache_dir: Path | None = None,
    adapters: Sequence[Path] = (),
    embedder: Embedder | None = None,
    progress: bool = False,
) -> CorpusAnalysis:
    """The whole dataset analysis of registered domains (what `adaptermix analyze-data` runs).

    Adapters are read first, so a bad `--adapters` fails before minutes of embedding.

    Args:
        config: the analysis settings.
        cache_dir: the adaptermix cache (corpora and embeddings); the default when None.
        adapters: checkpoints or folders of checkpoints for the Sec. 5.2 relation; none skips it.
        embedder: the sentence encoder; the embedded MiniLM (batch 64, `config.max_tokens`) when None.
        progress: show tqdm bars.

    Returns:
        The `CorpusAnalysis`.

    Raises:
        ConfigError: unknown domains, bad adapters, too few domains with adapters.
        DataError: unreadable corpora, a domain without words.
        CheckpointError: unreadable or incompatible checkpoints.
    """
    from adaptermix.data.cache import resolve_cache_dir

    cache = resolve_cache_dir(cache_dir)
    fsd = read_adapter_fsd(adapters, config.domains) if adapters else None
    data = load_domains(config.domains, cache)
    docs = {name: domain_documents(d, config.split) for name, d in data.items()}
    try:
        return analyze_documents(
            config, docs, embedder or MiniLMEmbedder(max_tokens=config.max_tokens), cache,
            fingerprints={name: d.fingerprint for name, d in data.items()}, adapter_fsd=fsd, progress=progress,
        )
    except ValueError as exc:
        if isinstance(exc, ConfigError | DataError | CheckpointError):
            raise
        raise DataError(str(exc)) from exc
