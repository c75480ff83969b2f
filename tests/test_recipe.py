"""A recipe end to end on tiny encoders: train, sweep, report; the second run reuses everything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adaptermix.cli.main import main
from adaptermix.errors import ConfigError
from adaptermix.pipeline import load_recipe, run_recipe
from adaptermix.store import Store
from conftest import toy_domain_files


def _recipe(tmp_path: Path, encoder: Path, cache: Path) -> Path:
    domains = toy_domain_files(tmp_path, 3)
    recipe = {
        "name": "tiny", "out": str(tmp_path / "run"), "encoder": str(encoder), "method": "pfeiffer",
        "preset": "quickstart", "domains": domains, "cache_dir": str(cache),
        "train": {"max_steps": 8, "adapter_size": 8, "max_length": 32},
        "eval": {"max_length": 32}, "sweep": {"mode": "exhaustive", "chunk_size": 3},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_recipe_trains_sweeps_reports_and_reuses(tmp_path, tiny_encoders, cache_dir, capsys):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir)
    first = run_recipe(load_recipe(path), progress=False)
    assert len(first.trained) == 3
    assert first.sweep.evaluated == 3 * 2**2
    assert [r.domain for r in first.rows] == ["dom0", "dom1", "dom2"]
    for p in first.report_paths:
        assert p.is_file() and p.stat().st_size > 0
    with Store.read(first.store) as store:
        assert store.count() == 12

    # Second run through the CLI: nothing trained, nothing evaluated, same table.
    try:
        main(["run", str(path), "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    out = capsys.readouterr().out
    assert "trained 0 adapter(s) (3 reused)" in out
    assert "0 mixtures evaluated, 12 reused" in out
    assert "| dom0 |" in out


def test_bad_recipe_field_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nout: y\ndomains: [sms_spam]\nsweep: {mode: everything}\n")
    with pytest.raises(ConfigError, match="sweep.mode"):
        load_recipe(path)


def test_changed_training_settings_fail_before_training_when_a_store_exists(tmp_path, tiny_encoders, cache_dir):
    path = _recipe(tmp_path, tiny_encoders["bert"], cache_dir)
    run_recipe(load_recipe(path), progress=False)
    recipe = yaml.safe_load(path.read_text())
    recipe["train"]["max_steps"] = 9
    path.write_text(yaml.safe_dump(recipe))
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "adapters").rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match="delete the store"):
        run_recipe(load_recipe(path), progress=False)
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "run" / "adapters").rglob("*") if p.is_file()}
    assert before == after  # nothing was retrained
