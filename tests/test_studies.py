"""The reference studies committed under studies/: readable by the current code, and as complete as claimed."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptermix.checkpoints import read_checkpoint
from adaptermix.reporting.findings import VERDICTS, compute_findings
from adaptermix.reporting.study import load_study
from adaptermix.store import Store

STUDIES = Path(__file__).resolve().parent.parent / "studies"
CONVERGED = sorted(STUDIES.glob("offline-converged/*/study.sqlite"))


def test_the_converged_studies_are_committed() -> None:
    assert CONVERGED, "studies/offline-converged/<method>/study.sqlite is part of the repository"


@pytest.mark.parametrize("store", CONVERGED, ids=[p.parent.name for p in CONVERGED])
def test_a_converged_store_is_exhaustive_and_readable(store: Path) -> None:
    with Store.read(store) as s:  # refuses another schema version: migrate the store in the same commit
        n = len(s.meta.domains)
        assert s.count(condition="clean", mixer="average") == n * 2 ** (n - 1)  # every subset, every target
    study = load_study(store)
    assert study.n == n and all(r.correct is not None for r in study.sweep().rows)  # paired statistics need them
    assert all(f.verdict in VERDICTS for f in compute_findings(study))
    adapters = sorted((store.parent / "adapters").iterdir())
    assert [p.name for p in adapters] == sorted(study.meta.domains)
    for path in adapters:  # each adapter trained to convergence: the manifest says how training ended
        training = read_checkpoint(path).manifest.extra["training"]
        assert training["stop_reason"] in ("early_stopping", "epochs", "max_steps") and training["validation"]["curve"]


ABLATION = sorted(STUDIES.glob("ablation/*/study.sqlite"))


def test_the_ablation_stores_are_every_cell_of_the_full_design() -> None:
    from adaptermix.pipeline.ablation import FACTORS, AblationSection, cells, folder

    full = AblationSection(factors=tuple(FACTORS.names()), design="full")
    assert [p.parent.name for p in ABLATION] == sorted(folder(label) for label, _ in cells(full))


@pytest.mark.parametrize("store", ABLATION, ids=[p.parent.name for p in ABLATION])
def test_an_ablation_store_is_exhaustive_and_readable(store: Path) -> None:
    with Store.read(store) as s:  # refuses another schema version: migrate the store in the same commit
        n = len(s.meta.domains)
        assert n == 5 and s.count(condition="clean", mixer="average") == n * 2 ** (n - 1)
    study = load_study(store)
    assert all(f.verdict in VERDICTS for f in compute_findings(study))


VALIDATION = sorted(STUDIES.glob("offline-converged/*/validation.sqlite"))


@pytest.mark.parametrize("store", VALIDATION, ids=[p.parent.name for p in VALIDATION])
def test_a_committed_validation_sweep_is_exhaustive_over_the_studys_own_adapters(store: Path) -> None:
    # benchmarks/advisor_validation_floor.py reads it beside the test store: same adapters, validation split, every
    # mixture with its per-example bits (the partition race replays them).
    with Store.read(store) as s, Store.read(store.parent / "study.sqlite") as t:
        assert s.meta.eval_config.get("split") == "validation"
        shas = [{a.domain: a.adapter_sha256 for a in x.meta.adapters} for x in (s, t)]
        assert shas[0] == shas[1]
        n = len(s.meta.domains)
        rows = s.rows("clean", "average")
    assert len(rows) == n * 2 ** (n - 1) and all(r.correctness is not None for r in rows)
