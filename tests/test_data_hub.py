"""The 13 paper domains load through the real hub code path from a local mirror of tiny Parquet files.

The mirror is generated at test time (no binaries committed) with each dataset's real layout and
column names, and `$ADAPTERMIX_HUB_ROOT` points at it; `snapshot_download` is monkeypatched where
the hub itself would be called, so nothing touches the network.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import huggingface_hub
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from adaptermix.data import get_domain
from adaptermix.data.hub import HUB_ROOT_ENV, HubDomain
from adaptermix.data.hub_catalog import HUB_DOMAINS
from adaptermix.errors import DataError

ROWS = 12  # rows per file


def _concrete(pattern: str) -> list[str]:
    """Real-looking file names for a glob pattern (hub shard names, or converted-Parquet folders)."""
    if pattern.count("*") == 2:  # "<config>/*/*.parquet": every split folder of a converted config
        return [pattern.replace("*", split, 1).replace("*", "0000") for split in ("train", "validation", "test")]
    return [pattern.replace("*", "0000" if "/*." in pattern else "00000-of-00001")]


def write_mirror(root: Path, spec: HubDomain, rows: int = ROWS) -> dict[str, int]:
    """Parquet files for every pattern of `spec` under `root/<repo_id>`; returns rows per source split."""
    counts: dict[str, int] = {}
    for split, patterns in spec.files.items():
        for pattern in patterns:
            for rel in _concrete(pattern):
                n = len(spec.label_names)
                labels: list[object] = [i % n for i in range(rows)]
                if spec.name == "rct":  # this repo stores labels as upper-case strings
                    labels = [spec.label_names[i % n].upper() for i in range(rows)]
                columns = {
                    spec.text_field: [f"{spec.name} {rel} text {i}" for i in range(rows)],
                    spec.label_field: labels,
                    "idx": list(range(rows)),
                }
                if spec.pair_field:
                    columns[spec.pair_field] = [f"second {i}" for i in range(rows)]
                path = root / spec.repo_id / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.table(columns), path)
                counts[split] = counts.get(split, 0) + rows
    return counts


def dataclasses_replace(spec: object, **changes: object) -> HubDomain:
    assert isinstance(spec, HubDomain)
    return dataclasses.replace(spec, **changes)


@pytest.mark.parametrize("spec", HUB_DOMAINS, ids=lambda s: s.name)
def test_each_paper_domain_loads_from_a_mirror(
    spec: HubDomain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counts = write_mirror(tmp_path, spec)
    monkeypatch.setenv(HUB_ROOT_ENV, str(tmp_path))
    assert get_domain(spec.name).available()[0]
    data = get_domain(spec.name).load()
    assert data.label_names == spec.label_names and data.is_pair == spec.is_pair
    if "test" in counts:  # the published test split is kept whole
        assert len(data.test) == counts["test"]
    assert sum(len(s) for s in data.splits().values()) == sum(counts.values())
    assert set(data.train.label) <= set(range(len(spec.label_names)))
    assert get_domain(spec.name).load().fingerprint == data.fingerprint


def test_glue_split_policy(tmp_path: Path) -> None:
    spec = dataclasses_replace(get_domain("mnli"), hub_root=tmp_path)
    write_mirror(tmp_path, spec, rows=100)
    data = spec.load()
    assert (len(data.train), len(data.validation), len(data.test)) == (90, 10, 100)
    assert all("validation_matched" in t for t in data.test.text)


def test_missing_mirror_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HUB_ROOT_ENV, str(tmp_path))
    ok, why = get_domain("sst2").available()
    assert not ok and "missing" in why
    with pytest.raises(DataError, match="lacks files"):
        get_domain("sst2").load()


def test_bad_label_names_file_and_row(tmp_path: Path) -> None:
    spec = dataclasses_replace(get_domain("sst2"), hub_root=tmp_path)
    path = tmp_path / spec.repo_id / "sst2/train-00000-of-00001.parquet"
    write_mirror(tmp_path, spec)
    pq.write_table(pa.table({"sentence": ["a", "b"], "label": [0, 7]}), path)
    with pytest.raises(DataError, match=r"train-00000-of-00001.parquet row 1: label 7"):
        spec.load()


def test_hub_path_uses_snapshot_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HUB_ROOT_ENV, raising=False)
    spec = get_domain("ag")
    assert isinstance(spec, HubDomain)
    write_mirror(tmp_path, spec)
    calls: list[dict[str, object]] = []

    def fake_snapshot(**kwargs: object) -> str:
        calls.append(kwargs)
        return str(tmp_path / spec.repo_id)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    assert spec.available() == (True, "cached")
    assert calls[-1]["local_files_only"] is True and calls[-1]["repo_type"] == "dataset"
    assert len(spec.load().test) == ROWS
    assert calls[-1]["allow_patterns"] == ["data/train-*.parquet", "data/test-*.parquet"]


def test_hub_unreachable_is_a_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(HUB_ROOT_ENV, raising=False)

    def offline(**kwargs: object) -> str:
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    assert get_domain("wiki").available() == (False, "needs the Hugging Face hub (not in the local HF cache)")
    with pytest.raises(DataError, match="needs OxAISH-AL-LLM/wiki_toxic from the Hugging Face hub"):
        get_domain("wiki").load()
