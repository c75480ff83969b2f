"""`adaptermix attack`: the happy path on a tiny checkpoint and every bad input as one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adaptermix.cli.main import main
from conftest import one_line_error, run_cli


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, tiny_encoders, toy_domain, cache_dir) -> Path:
    path = tmp_path_factory.mktemp("attack") / "toy"
    try:
        main(["train", "--domain", toy_domain, "--method", "pfeiffer", "--encoder", str(tiny_encoders["bert"]),
              "--preset", "quickstart", "--max-steps", "6", "--adapter-size", "8", "--max-length", "32",
              "--cache-dir", str(cache_dir), "--out", str(path), "--quiet"])
    except SystemExit as exc:  # pragma: no cover
        raise AssertionError(f"training failed with exit {exc.code}") from exc
    return path


def _args(ckpt: Path, cache_dir: Path, *extra: str) -> list[str]:
    return ["attack", str(ckpt), "--attack-examples", "8", "--max-length", "32", "--cache-dir", str(cache_dir), *extra]


def test_fgsm_json_and_examples_out(ckpt, cache_dir, tmp_path, capsys):
    out = tmp_path / "ex.jsonl"
    code, stdout, err = run_cli(_args(ckpt, cache_dir, "--attack", "fgsm", "--json", "--examples-out", str(out)),
                                capsys)
    assert code == 0, err
    s = json.loads(stdout)
    for key in ("attack", "n_examples", "clean_accuracy", "accuracy_under_attack", "attack_success_rate",
                "n_skipped", "avg_perturbed_words_pct", "avg_queries", "params"):
        assert key in s
    assert s["attack"] == "fgsm" and s["n_examples"] == 8 and s["params"]["epsilon"] == 0.01
    assert s["accuracy_under_attack"] <= s["clean_accuracy"]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 8 and {"text", "perturbed_text", "label", "prediction", "perturbed_prediction",
                                "swaps"} <= set(lines[0])
    # the same seed gives the same sample and result
    code, again, _ = run_cli(_args(ckpt, cache_dir, "--attack", "fgsm", "--json"), capsys)
    assert {k: v for k, v in json.loads(again).items() if k != "seconds"} == \
        {k: v for k, v in s.items() if k != "seconds"}


@pytest.mark.parametrize(("flags", "needle"), [
    (["--attack", "fgsm", "--epsilon", "-0.5"], "epsilon"),
    (["--attack", "fgsm", "--epsilon", "nan"], "epsilon"),
    (["--attack", "hotflip"], "unknown attack"),
])
def test_bad_flags_before_any_work(flags, needle, tmp_path, capsys):
    code, _, err = run_cli(["attack", str(tmp_path / "no-such-ckpt"), *flags], capsys)
    one_line_error(code, err, needle)


def test_bad_vectors_files(tmp_path, capsys):
    code, _, err = run_cli(["attack", str(tmp_path), "--attack", "textfooler", "--vectors",
                            str(tmp_path / "missing.txt")], capsys)
    one_line_error(code, err, "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("good 0.1 0.2\nbad 0.3 oops\n")
    code, _, err = run_cli(["attack", str(tmp_path), "--attack", "textfooler", "--vectors", str(bad)], capsys)
    one_line_error(code, err, "bad.txt:2")


def test_existing_or_unwritable_examples_out(ckpt, cache_dir, tmp_path, capsys):
    exists = tmp_path / "x.jsonl"
    exists.write_text("keep me\n")
    code, _, err = run_cli(_args(ckpt, cache_dir, "--attack", "fgsm", "--examples-out", str(exists)), capsys)
    one_line_error(code, err, "already exists")
    assert exists.read_text() == "keep me\n"
    code, _, err = run_cli(_args(ckpt, cache_dir, "--attack", "fgsm", "--examples-out",
                                 str(tmp_path / "nope" / "x.jsonl")), capsys)
    one_line_error(code, err, "not writable")


def test_pair_task_without_second_text(ckpt, cache_dir, tmp_path, capsys):
    data = tmp_path / "pairs.csv"
    rows = [f"the movie {i},{'good film' if i != 5 else ''},{'pos' if i % 2 else 'neg'}" for i in range(40)]
    data.write_text("text,text_pair,label\n" + "\n".join(rows) + "\n")
    code, _, err = run_cli(_args(ckpt, cache_dir, "--attack", "fgsm", "--domain", str(data)), capsys)
    one_line_error(code, err, "text_pair")


@pytest.mark.slow
def test_textfooler_with_user_vectors(ckpt, cache_dir, tmp_path, capsys):
    from attack_fixtures import toy_vectors

    v = toy_vectors()
    path = tmp_path / "toy.vec"
    rows = zip(v.words, v.matrix.tolist(), strict=True)
    path.write_text("".join(f"{w} {' '.join(map(str, row))}\n" for w, row in rows))
    code, stdout, err = run_cli(_args(ckpt, cache_dir, "--attack", "textfooler", "--vectors", str(path), "--json"),
                                capsys)
    assert code == 0, err
    s = json.loads(stdout)
    assert s["attack"] == "textfooler" and s["params"]["vectors"] == "file:toy.vec"
    assert "stand-in for USE" in s["params"]["sentence_encoder"]
    assert s["accuracy_under_attack"] <= s["clean_accuracy"]
