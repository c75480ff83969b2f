"""Bad input found by trying the CLI as a user would (issue 10): each case is one line, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from adaptermix.cli.main import main
from adaptermix.errors import ConfigError
from adaptermix.fileio import check_writable
from adaptermix.store.synthetic import write_synthetic_store
from conftest import one_line_error, run_cli

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _files(root: Path) -> set[Path]:
    return set(root.rglob("*"))


# --- 1. an encoder folder without weights --------------------------------------------------------

@pytest.mark.parametrize("missing", ["weights", "tokenizer"])
def test_encoder_folder_without_weights_or_tokenizer(tiny_encoders, toy_domain, tmp_path, capsys, missing):
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoders["bert"], folder)
    if missing == "weights":
        (folder / "model.safetensors").unlink()
    else:
        for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            (folder / name).unlink(missing_ok=True)
    code, _, err = run_cli(["train", "--domain", toy_domain, "--encoder", str(folder), "--out", str(tmp_path / "o")],
                           capsys)
    if missing == "weights":
        one_line_error(code, err, str(folder), "no weights", "save_pretrained")
    else:
        one_line_error(code, err, str(folder), "tokenizer", "save_pretrained")
    assert not (tmp_path / "o").exists()


def test_encoder_folder_with_corrupt_weights(tiny_encoders, toy_domain, tmp_path, capsys):
    folder = tmp_path / "encoder"
    shutil.copytree(tiny_encoders["bert"], folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = run_cli(["train", "--domain", toy_domain, "--encoder", str(folder), "--out", str(tmp_path / "o")],
                           capsys)
    one_line_error(code, err, str(folder), "cannot load the weights")


# --- 2. --out that cannot be written ---------------------------------------------------------------

@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "study.sqlite"
    write_synthetic_store(path, domains=("a", "b", "c"))
    return path


def _bad_outs(tmp_path: Path, kind: str) -> list[tuple[Path, str]]:
    """(path, expected words) for each kind of unwritable --out."""
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me\n")
    a_dir = tmp_path / "a_dir"
    a_dir.mkdir()
    cases = [(a_file / "sub" / "x.parquet", "is under")]
    cases.append((a_dir, "existing folder") if kind == "file" else (a_file, "existing file"))
    if not IS_ROOT:  # root writes through chmod 0o555, so this case cannot fail there
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        cases.append((locked / "x.parquet", "cannot be written"))
    return cases


def test_export_with_an_unwritable_out(study, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    for out, words in _bad_outs(work, "file"):
        before = _files(work) | _files(study.parent)
        code, _, err = run_cli(["export", str(study), "--out", str(out)], capsys)
        one_line_error(code, err, "--out", str(out), words)
        assert _files(work) | _files(study.parent) == before  # nothing half-written, no temp files
    assert (work / "a_file").read_text() == "keep me\n"


def test_export_refuses_before_writing_either_file(study, tmp_path, capsys):
    # The evaluations file could be written but its aggregates sibling cannot: neither is written.
    (tmp_path / "x_aggregates.csv").mkdir()
    code, _, err = run_cli(["export", str(study), "--format", "csv", "--out", str(tmp_path / "x.csv")], capsys)
    one_line_error(code, err, "x_aggregates.csv", "existing folder")
    assert not (tmp_path / "x.csv").exists()


def test_plot_with_an_unwritable_out(study, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    for out, words in _bad_outs(work, "folder"):
        before = _files(work)
        code, _, err = run_cli(["plot", str(study), "--out", str(out)], capsys)
        one_line_error(code, err, "--out", str(out), words)
        assert _files(work) == before


def test_export_and_plot_still_work(study, tmp_path, capsys):
    code, out, err = run_cli(["export", str(study), "--format", "csv", "--out", str(tmp_path / "e" / "x.csv")],
                             capsys)
    assert code == 0, err
    assert (tmp_path / "e" / "x.csv").is_file() and (tmp_path / "e" / "x_aggregates.csv").is_file()
    assert not list((tmp_path / "e").glob(".*"))  # the write probe leaves nothing behind


@pytest.mark.skipif(not IS_ROOT, reason="only root can write through permission bits")
def test_check_writable_probes_for_real(tmp_path):
    # /proc refuses new files even to root; permission bits alone would say "writable".
    with pytest.raises(ConfigError, match="cannot be written"):
        check_writable(Path("/proc/adaptermix-out"), "folder")


# --- 3. a manifest of another schema version -----------------------------------------------------

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_encoders, toy_domain, cache_dir) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "c"
    main(["train", "--domain", toy_domain, "--encoder", str(tiny_encoders["bert"]), "--preset", "quickstart",
          "--max-steps", "2", "--adapter-size", "8", "--max-length", "32", "--cache-dir", str(cache_dir),
          "--out", str(path), "--quiet"])
    return path


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_manifest_of_another_schema_version_is_refused(ckpt, tmp_path, capsys, version):
    old = tmp_path / "old"
    shutil.copytree(ckpt, old)
    manifest = json.loads((old / "manifest.json").read_text())
    if version is None:
        del manifest["schema_version"]
    else:
        manifest["schema_version"] = version
    (old / "manifest.json").write_text(json.dumps(manifest))
    for argv in (["prune", str(old), "--sparsity", "0.5", "--out", str(tmp_path / "p")],
                 ["fsd", str(old), str(ckpt), "--out", str(tmp_path / "f")]):
        code, _, err = run_cli(argv, capsys)
        one_line_error(code, err, str(old / "manifest.json"), "reads only schema_version 1")
    assert not (tmp_path / "p").exists() and not (tmp_path / "f").exists()


def test_prune_of_a_current_manifest_still_works(ckpt, tmp_path, capsys):
    code, _, err = run_cli(["prune", str(ckpt), "--sparsity", "0.5", "--out", str(tmp_path / "p")], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["schema_version"] == 1


# --- 4. a label in test but never in train -------------------------------------------------------

def test_label_only_in_the_test_split_is_refused(tiny_encoders, tmp_path, capsys):
    folder = tmp_path / "three"
    folder.mkdir()
    (folder / "train.csv").write_text("text,label\n" + "".join(f"t{i},{'ab'[i % 2]}\n" for i in range(20)))
    (folder / "test.csv").write_text("text,label\nx,a\ny,b\nz,c\n")
    code, _, err = run_cli(["train", "--domain", str(folder), "--encoder", str(tiny_encoders["bert"]),
                            "--out", str(tmp_path / "o")], capsys)
    one_line_error(code, err, "domain 'three'", "label 'c'", "test split", "test.csv line 4", "never in the train")
    assert not (tmp_path / "o").exists()


def test_label_only_in_validation_of_a_single_file(tmp_path):
    from adaptermix.data.local import local_domain
    from adaptermix.errors import DataError

    path = tmp_path / "rare.csv"
    rows = [f"t{i},{'ab'[i % 2]}\n" for i in range(40)]
    # 'c' is one row; find a position that the seeded 8:1:1 split sends outside train.
    for pos in range(41):
        path.write_text("text,label\n" + "".join(rows[:pos]) + "rare one,c\n" + "".join(rows[pos:]))
        try:
            local_domain(path)
        except DataError as exc:
            assert "label 'c'" in str(exc) and f"rare.csv line {pos + 2}" in str(exc)
            assert "split" in str(exc) and "domain 'rare'" in str(exc)
            return
    pytest.fail("no position put the rare label outside train")


# --- 5. a mistyped option value ------------------------------------------------------------------

@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["train", "--domain", "trec", "--max-steps", "abc", "--out", "OUT"],
         ["--max-steps", "adaptermix train --help"]),
        (["train", "--domain", "trec", "--bogus", "1", "--out", "OUT"], ["--bogus", "adaptermix train --help"]),
        (["train", "--out", "OUT"], ["--domain"]),
        (["no-such-command"], ["no-such-command", "adaptermix --help"]),
        (["train", "--out", "OUT", "--domain", "trec", "--max-steps"], ["--max-steps", "requires an argument"]),
        (["sweep", "--adapters", "OUT", "--store", "OUT", "--workers", "two"], ["--workers"]),
    ],
    ids=["bad-int", "unknown-option", "missing-option", "unknown-command", "missing-value", "bad-int-sweep"],
)
def test_usage_errors_are_one_line(tmp_path, capsys, argv, needles):
    code, _, err = run_cli([str(tmp_path / "o") if a == "OUT" else a for a in argv], capsys)
    one_line_error(code, err, "adaptermix: error:", *needles)
    assert "Usage:" not in err and not (tmp_path / "o").exists()


# --- 6. an unclosed quote ------------------------------------------------------------------------

@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("ending", ["", "\n"])
def test_unclosed_quote_is_reported_where_it_opened(tiny_encoders, tmp_path, capsys, newline, ending):
    lines = ["text,label", "good,a", "fine,b", '"bad movie,a', "ok,b", "more,a", "last,b"]
    path = tmp_path / "quote.csv"
    path.write_bytes((newline.join(lines) + ending).encode())
    code, _, err = run_cli(["train", "--domain", str(path), "--encoder", str(tiny_encoders["bert"]),
                            "--out", str(tmp_path / "o")], capsys)
    one_line_error(code, err, "quote.csv line 4", "never closed")


def test_quote_opened_after_a_multiline_field(tmp_path):
    from adaptermix.data.local import read_rows
    from adaptermix.errors import DataError

    path = tmp_path / "multi.csv"
    path.write_text('text,label\n"two\nlines",a\nok,b\n"x\ny",b\nz,"unclosed\nrest,a\n')
    with pytest.raises(DataError, match=r"multi.csv line 7: a quoted field opened on this line is never closed"):
        read_rows(path)
    path.write_text('text,label\n"two\nlines",a\n"x"y,b\n')  # a quote closed too early
    with pytest.raises(DataError, match=r"multi.csv line 4: .*fix the quoting"):
        read_rows(path)
    path.write_text('text,label\n"two\nlines",a\nok,b\n')
    assert [where for where, _ in read_rows(path)] == [f"{path} line 2", f"{path} line 4"]  # where rows begin
