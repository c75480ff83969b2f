"""Dataset analysis end to end on synthetic domains with a fake encoder: cache, JSON round trip, files, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from adaptermix.analysis.corpus.embeddings import cached_embeddings
from adaptermix.analysis.corpus.result import CorpusAnalysis, CorpusConfig
from adaptermix.analysis.corpus.run import analyze_documents
from adaptermix.analysis.corpus.writer import output_files, write_corpus_analysis
from adaptermix.errors import ConfigError
from conftest import one_line_error, run_cli
from corpus_fixtures import HashEmbedder

THEMES = {
    "finance": "stock market price trade bank shares profit",
    "sport": "goal match team player league coach season",
    "film": "movie actor film plot scene director cast",
}


def _corpus(theme: str, n: int = 40) -> list[str]:
    rng = np.random.default_rng(len(theme))
    words = THEMES[theme].split()
    return [f"{' '.join(rng.choice(words, 6))}. The {rng.choice(words)} was here!" for _ in range(n)]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory: pytest.TempPathFactory) -> CorpusAnalysis:
    config = CorpusConfig(domains=("finance", "sport", "film"), max_docs=30, n_topics=3, top_words=5, seed=1)
    docs = {t: _corpus(t) for t in THEMES}
    fsd = (("film", "sport", "finance"), np.array([[0, .40, .46], [.40, 0, .43], [.46, .43, 0]]))
    return analyze_documents(config, docs, HashEmbedder(), tmp_path_factory.mktemp("emb"),
                             fingerprints={"film": "f", "sport": "s", "finance": "x"}, adapter_fsd=fsd)


def test_analysis_has_every_part_in_domain_order(analysis: CorpusAnalysis) -> None:
    assert [r.domain for r in analysis.lengths] == ["finance", "sport", "film"]
    assert all(r.documents == 30 and r.avg_sentences_per_doc == 2.0 for r in analysis.lengths)
    sim = analysis.similarity_matrix
    assert sim.shape == (3, 3) and np.array_equal(np.diag(sim), np.ones(3)) and np.array_equal(sim, sim.T)
    assert [len(t.topics) for t in analysis.topics] == [3, 3, 3]
    assert analysis.fingerprints == ("x", "s", "f") and analysis.encoder == "hash-16"
    assert analysis.relation is not None and analysis.relation.n == 3
    assert analysis.relation.fsd == (0.43, 0.46, 0.40)  # finance–sport, finance–film, sport–film
    assert [name for name, _ in analysis.seconds] == ["lengths", "embeddings", "topics"]


def test_json_round_trip_is_exact(analysis: CorpusAnalysis) -> None:
    text = analysis.to_json()
    again = CorpusAnalysis.from_json(text)
    assert again == analysis
    assert again.to_json() == text and again.key == analysis.key
    no_relation = CorpusAnalysis.from_json(json.dumps({**json.loads(text), "relation": None}))
    assert no_relation.relation is None
    with pytest.raises(ValueError, match="schema"):
        CorpusAnalysis.from_json(json.dumps({**json.loads(text), "schema_version": 99}))


def test_embeddings_are_cached_in_safetensors(tmp_path: Path) -> None:
    enc = HashEmbedder()
    texts = ["a b c", "d e", "f"]
    first = cached_embeddings(texts, enc, tmp_path)
    second = cached_embeddings(texts, enc, tmp_path)
    assert enc.calls == 1 and np.array_equal(first, second)
    files = list((tmp_path / "embeddings").glob("*.safetensors"))
    assert len(files) == 1
    files[0].write_bytes(b"garbage")  # a torn cache entry is recomputed, never trusted
    assert np.array_equal(cached_embeddings(texts, enc, tmp_path), first) and enc.calls == 2
    cached_embeddings(texts[:2], enc, tmp_path)
    assert enc.calls == 3  # other texts, other key


def test_writer_writes_every_file_and_refuses_to_overwrite(analysis: CorpusAnalysis, tmp_path: Path) -> None:
    paths = write_corpus_analysis(analysis, tmp_path / "out")
    assert [p.name for p in paths] == list(output_files(True))
    for p in paths:
        assert p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert CorpusAnalysis.from_json((tmp_path / "out" / "corpus_analysis.json").read_text()) == analysis
    md = (tmp_path / "out" / "dataset_analysis.md").read_text()
    assert "## Table 3" in md and "#### sport" in md and "Spearman" in md
    assert (tmp_path / "out" / "table3_lengths.csv").read_text().count("\n") == 4
    with pytest.raises(ConfigError, match="already exists"):
        write_corpus_analysis(analysis, tmp_path / "out")
    assert len(write_corpus_analysis(analysis, tmp_path / "out", overwrite=True)) == len(paths)


def test_config_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="repeat"):
        CorpusConfig(domains=("a", "a"))
    with pytest.raises(ValueError):
        CorpusConfig(domains=("a",))
    with pytest.raises(ValueError):
        CorpusConfig(domains=("a", "b"), max_docs=0)


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["trec"], ("at least 2 domains",)),
        (["trec", "no_such_domain"], ("no_such_domain",)),
        (["trec", "sms_spam", "--topics", "0"], ("--topics",)),
        (["trec", "sms_spam", "--max-docs", "0"], ("--max-docs",)),
        (["trec", "sms_spam", "trec"], ("repeat",)),
    ],
)
def test_cli_bad_input_is_one_line(argv: list[str], needles: tuple[str, ...], tmp_path: Path, cache_dir: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["analyze-data", *argv, "--out", str(tmp_path), "--cache-dir", str(cache_dir)], capsys)
    one_line_error(code, err, *needles)


def test_cli_refuses_existing_output_and_bad_adapters(tmp_path: Path, cache_dir: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "corpus_analysis.json").write_text("{}")
    base = ["analyze-data", "trec", "sms_spam", "--cache-dir", str(cache_dir)]
    one_line_error(*run_cli([*base, "--out", str(tmp_path)], capsys)[::2], "already exists")
    one_line_error(*run_cli([*base, "--out", str(tmp_path / "new"), "--adapters", str(tmp_path)], capsys)[::2],
                   "manifest.json")


def test_key_can_be_computed_before_running(analysis: CorpusAnalysis) -> None:
    from adaptermix.analysis.corpus.result import analysis_key

    assert analysis_key(analysis.config, analysis.fingerprints, analysis.encoder) == analysis.key
    other = analysis.config.model_copy(update={"seed": 2})
    assert analysis_key(other, analysis.fingerprints, analysis.encoder) != analysis.key
