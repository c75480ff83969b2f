"""The CLI: happy path on tiny encoders, and every kind of bad input → one line, exit code 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from adaptermix.cli.main import main
from conftest import one_line_error, run_cli


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory, tiny_encoders, toy_domain, cache_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    out = {}
    for name, method in (("p1", "pfeiffer"), ("p2", "pfeiffer"), ("l1", "lora")):
        path = root / name
        try:
            main(["train", "--domain", toy_domain, "--method", method, "--encoder", str(tiny_encoders["bert"]),
                  "--preset", "quickstart", "--max-steps", "6", "--adapter-size", "8", "--max-length", "32",
                  "--cache-dir", str(cache_dir), "--out", str(path), "--quiet", "--seed", name[-1]])
        except SystemExit as exc:  # pragma: no cover - a failure here fails every dependent test
            raise AssertionError(f"training {name} failed with exit {exc.code}") from exc
        out[name] = path
    return out


def test_mix_and_evaluate(ckpts, tmp_path, cache_dir, capsys):
    out = tmp_path / "mix"
    code, stdout, err = run_cli(["mix", str(ckpts["p1"]), str(ckpts["p2"]), "--head-from", str(ckpts["p1"]),
                             "--out", str(out)], capsys)
    assert code == 0, err
    assert "mixture of 2" in stdout
    code, stdout, err = run_cli(["evaluate", str(out), "--json", "--cache-dir", str(cache_dir), "--max-length", "32"],
                            capsys)
    assert code == 0, err
    metrics = json.loads(stdout)
    assert 0 <= metrics["accuracy"] <= 1 and metrics["n"] > 0


def test_unknown_domain_lists_known_ones(capsys, tmp_path):
    code, _, err = run_cli(["train", "--domain", "sst3", "--out", str(tmp_path / "x")], capsys)
    one_line_error(code, err, "unknown domain 'sst3'", "sst2", "Known:")
    assert not (tmp_path / "x").exists()


def test_unknown_method_and_preset(capsys, tmp_path, toy_domain, tiny_encoders):
    code, _, err = run_cli(["train", "--domain", toy_domain, "--method", "adapterx", "--encoder",
                        str(tiny_encoders["bert"]), "--out", str(tmp_path / "x")], capsys)
    one_line_error(code, err, "unknown adapter method 'adapterx'", "houlsby", "lora", "pfeiffer")
    code, _, err = run_cli(["train", "--domain", toy_domain, "--preset", "bert-large", "--encoder",
                        str(tiny_encoders["bert"]), "--out", str(tmp_path / "x")], capsys)
    one_line_error(code, err, "unknown preset 'bert-large'", "bert-base")


def test_missing_checkpoint(capsys, tmp_path):
    code, _, err = run_cli(["evaluate", str(tmp_path / "nope")], capsys)
    one_line_error(code, err, "does not exist")


def test_corrupt_checkpoint(ckpts, capsys, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(ckpts["p1"], bad)
    (bad / "adapter.safetensors").write_bytes(b"not a safetensors file")
    code, _, err = run_cli(["evaluate", str(bad)], capsys)
    one_line_error(code, err, "adapter.safetensors", "not a readable safetensors")


def test_nan_weights_are_refused(ckpts, capsys, tmp_path):
    bad = tmp_path / "nan"
    shutil.copytree(ckpts["p1"], bad)
    tensors = load_file(str(bad / "adapter.safetensors"))
    key = sorted(tensors)[0]
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, str(bad / "adapter.safetensors"))
    code, _, err = run_cli(["evaluate", str(bad)], capsys)
    one_line_error(code, err, "NaN/Inf", key)


def test_mismatched_adapters_are_refused_and_nothing_is_written(ckpts, capsys, tmp_path):
    out = tmp_path / "mix"
    code, _, err = run_cli(["mix", str(ckpts["p1"]), str(ckpts["l1"]), "--head-from", str(ckpts["p1"]),
                        "--out", str(out)], capsys)
    one_line_error(code, err, "different adapter methods", "lora", "pfeiffer")
    assert list(tmp_path.iterdir()) == []  # no output, no temporary directory left behind


def test_existing_output_is_not_overwritten(ckpts, capsys, tmp_path):
    out = tmp_path / "mix"
    out.mkdir()
    code, _, err = run_cli(["mix", str(ckpts["p1"]), "--head-from", str(ckpts["p1"]), "--out", str(out)], capsys)
    one_line_error(code, err, "already exists", "--overwrite")


def test_malformed_data_file_names_file_and_line(capsys, tmp_path, tiny_encoders):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "fine", "label": "a"}\n{"text": "ok", "label": "b"}\n{not json\n')
    code, _, err = run_cli(["train", "--domain", str(path), "--encoder", str(tiny_encoders["bert"]),
                        "--out", str(tmp_path / "x")], capsys)
    one_line_error(code, err, "broken.jsonl", "3")


def test_bad_weights_option(ckpts, capsys, tmp_path):
    code, _, err = run_cli(["mix", str(ckpts["p1"]), "--head-from", str(ckpts["p1"]), "--out", str(tmp_path / "m"),
                        "--weights", "1,x"], capsys)
    one_line_error(code, err, "--weights")


def test_out_of_range_flag_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(["train", "--domain", "trec", "--out", str(tmp_path / "x"), "--lr", "-1"], capsys)
    one_line_error(code, err, "--lr", "greater than 0")
    code, _, err = run_cli(["sweep", "--adapters", str(tmp_path), "--store", str(tmp_path / "s.sqlite"),
                        "--workers", "0"], capsys)
    one_line_error(code, err, "--workers")
    assert not (tmp_path / "s.sqlite").exists()


def test_evaluate_takes_the_sweeps_precision(ckpts, cache_dir, capsys):
    from adaptermix.checkpoints import read_checkpoint

    base = ["evaluate", str(ckpts["p1"]), "--json", "--cache-dir", str(cache_dir), "--max-length", "32",
            "--split", "validation"]
    code, stdout, err = run_cli([*base, "--precision", "fp32"], capsys)
    assert code == 0, err
    fp32 = json.loads(stdout)
    # fp32 reproduces the manifest's metric, which training re-scores in fp32
    manifest = read_checkpoint(ckpts["p1"]).manifest.metrics["validation"]
    assert fp32["precision"] == "fp32" and fp32["accuracy"] == manifest["accuracy"]
    code, stdout, err = run_cli([*base, "--precision", "bf16"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["precision"] == "bf16"
    code, _, err = run_cli([*base, "--precision", "fp16"], capsys)
    one_line_error(code, err, "--precision")
