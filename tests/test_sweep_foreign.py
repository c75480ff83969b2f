"""`adaptermix sweep --domain NAME=DIR`: PEFT and AdapterHub directories join a sweep as they are.

Those formats record no domain, so the flag names it; the sweep must then be the very study that
`adaptermix import` of the same directories gives (same adapter hashes, same rows), resume without
recomputing, and refuse bad input in one line before any store exists.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from adaptermix.checkpoints import read_checkpoint
from adaptermix.evaluation.engine import SweepWorker, WorkerConfig
from adaptermix.evaluation.spec import EvalSpec
from adaptermix.pipeline.adapters import read_adapters, sweep_dirs
from adaptermix.pipeline.sweep import SweepConfig, _Run
from adaptermix.store import Store
from conftest import one_line_error, run_cli, toy_domain_files

peft = pytest.importorskip("peft")


def _peft_lora(encoder: Path, out: Path, seed: int) -> Path:
    """A PEFT LoRA (r 4, α 6, query/value) with random factors and head, as `save_pretrained` writes it."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    base = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=2)
    config = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=4, lora_alpha=6, target_modules=["query", "value"])
    model = peft.get_peft_model(base, config)
    with torch.no_grad():  # PEFT starts B at zero: random factors make the adapter matter
        for name, param in model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.normal_(0, 0.3)
    model.save_pretrained(out)
    return out


def _adapterhub_lora(encoder: Path, out: Path, name: str, seed: int) -> Path:
    """An AdapterHub LoRA (r 4, α 8) with a 2-class head, as `save_adapter` writes it."""
    from adapters import AutoAdapterModel, LoRAConfig

    torch.manual_seed(seed)
    model = AutoAdapterModel.from_pretrained(encoder)
    model.add_adapter(name, config=LoRAConfig(r=4, alpha=8))
    model.add_classification_head(name, num_labels=2, id2label={0: "neg", 1: "pos"})
    with torch.no_grad():
        for key, param in model.named_parameters():
            if f".{name}." in key:
                param.normal_(0, 0.3)
    model.save_adapter(str(out), name, with_head=True)
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory, tiny_encoders, cache_dir) -> dict[str, Path]:
    """Our LoRA on dom0, a PEFT LoRA for dom1 and an AdapterHub LoRA for dom2 (folders named by domain)."""
    from adaptermix.training.config import TrainConfig
    from adaptermix.training.train import train

    root = tmp_path_factory.mktemp("foreign_sweep")
    enc = tiny_encoders["bert"]
    dom0, dom1, dom2 = toy_domain_files(root, 3, rows=60)
    train(TrainConfig(domain=dom0, out=root / "ours" / "dom0", method="lora", encoder=str(enc), preset="quickstart",
                      seed=7, adapter_size=4, learning_rate=5e-3, batch_size=16, max_steps=4, max_length=32,
                      cache_dir=cache_dir, progress=False))
    return {
        "root": root, "dom0": Path(dom0), "dom1": Path(dom1), "dom2": Path(dom2), "ours": root / "ours",
        "peft": _peft_lora(enc, root / "foreign" / "dom1", seed=1),
        "ah": _adapterhub_lora(enc, root / "foreign" / "dom2", "dom2", seed=2),
        "roberta": _peft_lora(tiny_encoders["roberta"], root / "roberta" / "dom1", seed=3),
    }


def _flags(cache_dir: Path) -> list[str]:
    return ["--max-examples", "16", "--max-length", "32", "--precision", "fp32", "--chunk-size", "3",
            "--cache-dir", str(cache_dir), "--quiet"]


def _named(study) -> list[str]:
    return ["--domain", f"{study['dom1']}={study['peft']}", "--domain", f"{study['dom2']}={study['ah']}"]


def _rows(store: Path) -> dict[str, float]:
    s = Store.read(store)
    try:
        return {r.key: r.accuracy for r in s.rows()}
    finally:
        s.close()


def _meta(store: Path):
    s = Store.read(store)
    try:
        return s.meta
    finally:
        s.close()


def test_foreign_dirs_sweep_as_their_imports_and_resume(study, cache_dir, tmp_path, capsys):
    direct = tmp_path / "direct.sqlite"
    argv = ["sweep", "--adapters", str(study["ours"]), *_named(study), "--store", str(direct), *_flags(cache_dir)]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    assert "12 evaluated now, 0 already stored" in out  # n = 3: 3 · 2² mixtures

    # The same directories converted first: the same study (hashes, names) and the same rows.
    imported = tmp_path / "imported"
    for dom, src in (("dom1", study["peft"]), ("dom2", study["ah"])):
        code, _, err = run_cli(["import", str(src), "--domain", str(study[dom]), "--out", str(imported / dom)], capsys)
        assert code == 0, err
    via_import = tmp_path / "via_import.sqlite"
    argv2 = ["sweep", "--adapters", str(study["ours"] / "dom0"), "--adapters", str(imported / "dom1"),
             "--adapters", str(imported / "dom2"), "--store", str(via_import), *_flags(cache_dir)]
    code, _, err = run_cli(argv2, capsys)
    assert code == 0, err
    rows = _rows(direct)
    assert len(rows) == 12 and rows == _rows(via_import)
    assert {key.split("|")[0] for key in rows} == {"dom0", "dom1", "dom2"}
    assert _meta(direct).fingerprints() == _meta(via_import).fingerprints()

    # Resumed, directly or from the imports: one study, nothing recomputed.
    code, out, err = run_cli(argv, capsys)
    assert code == 0 and "0 evaluated now, 12 already stored" in out, err
    code, out, err = run_cli([*argv2[:-len(_flags(cache_dir)) - 2], "--store", str(direct), *_flags(cache_dir)],
                             capsys)
    assert code == 0 and "0 evaluated now, 12 already stored" in out, err


def test_foreign_adapter_hash_is_stable_and_reaches_workers(study, cache_dir, tmp_path):
    """Read twice, a foreign directory hashes the same (the store's study key); the worker config, sent to
    processes and Ray actors as plain data, carries its domain."""
    dirs = sweep_dirs([study["ours"]], {str(study["dom1"]): study["peft"], str(study["dom2"]): study["ah"]})
    assert [d for _, d in dirs] == [None, str(study["dom1"]), str(study["dom2"])]
    first, again = read_adapters(dirs), read_adapters(dirs)
    assert [c.manifest.adapter_sha256 for c in first] == [c.manifest.adapter_sha256 for c in again]
    assert [c.name for c in first] == ["dom0", "dom1", "dom2"]
    direct = read_checkpoint(study["peft"], str(study["dom1"]))
    assert direct.manifest.adapter_sha256 == first[1].manifest.adapter_sha256

    cfg = SweepConfig(adapters=(study["ours"],), domains={str(study["dom1"]): study["peft"]},
                      store=tmp_path / "s.sqlite", cache_dir=cache_dir, progress=False,
                      spec=EvalSpec(max_length=32, max_examples=8, precision="fp32"))
    run = _Run(cfg)
    try:
        # A worker's config is plain data: rebuilt from JSON (as it crosses to a Ray actor), it is the same config.
        wc = run.worker_config
        wire = json.loads(json.dumps({f.name: getattr(wc, f.name) for f in dataclasses.fields(wc) if f.name != "spec"}))
        sent = WorkerConfig(**{**wire, "paths": tuple(wire["paths"]), "domains": tuple(map(tuple, wire["domains"]))},
                            spec=EvalSpec.model_validate_json(wc.spec.model_dump_json()))
        assert sent == run.worker_config and sent.domains == ((str(study["peft"]), str(study["dom1"])),)
        worker = SweepWorker(sent)
        assert [c.domain for c in worker.checkpoints] == [str(study["dom0"].resolve()), str(study["dom1"])]
    finally:
        run.close()


def test_foreign_dir_without_domain_names_the_flag(study, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    for given in (study["peft"], study["peft"].parent):
        code, _, err = run_cli(["sweep", "--adapters", str(given), "--store", str(store)], capsys)
        one_line_error(code, err, "PEFT", "--domain NAME=")
    code, _, err = run_cli(["sweep", "--adapters", str(study["ah"]), "--store", str(store)], capsys)
    one_line_error(code, err, "AdapterHub", "--domain NAME=")
    assert not store.exists()


def test_bad_domain_flags_are_one_line_and_make_no_store(study, tmp_path, capsys):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("hi")
    d1, d2, peft_dir = str(study["dom1"]), str(study["dom2"]), str(study["peft"])
    ours = ["--adapters", str(study["ours"])]
    cases = [
        ([*ours, "--domain", peft_dir], ["NAME=DIR"]),
        ([*ours, "--domain", f"{d1}="], ["NAME=DIR"]),
        ([*ours, "--domain", f"{d1}={tmp_path / 'missing'}"], ["--domain", "does not exist"]),
        ([*ours, "--domain", f"{d1}={junk}"], ["--domain", "found notes.txt", "PEFT"]),
        ([*ours, "--domain", f"{d1}={study['ours'] / 'dom0'}"], ["adaptermix checkpoint", "--adapters"]),
        ([*ours, "--domain", f"{d1}={peft_dir}", "--domain", f"{d1}={study['ah']}"], ["given twice"]),
        ([*ours, "--domain", f"{d1}={peft_dir}", "--domain", f"{d2}={peft_dir}"], ["one domain"]),
        ([*ours, "--domain", f"{study['dom0']}={peft_dir}"], ["two adapters are named 'dom0'"]),
        ([*ours, "--domain", f"no_such_domain={peft_dir}"], ["--domain no_such_domain="]),
        ([*ours, "--domain", f"{d1}={study['roberta']}"], ["different base encoders"]),
        (["--targets", "dom0"], ["--adapters DIR", "--domain NAME=DIR"]),
    ]
    for argv, needles in cases:
        store = tmp_path / "s.sqlite"
        code, _, err = run_cli(["sweep", *argv, "--store", str(store)], capsys)
        one_line_error(code, err, *needles)
        assert not store.exists(), argv
