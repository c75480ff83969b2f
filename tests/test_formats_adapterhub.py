"""AdapterHub directories written by `save_adapter` on the tiny BERT: read exactly, used by every command.

AdapterHub is the oracle: our evaluator's logits on an adapter it saved must equal its own model's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from adapters import AutoAdapterModel, DoubleSeqBnConfig, LoRAConfig, SeqBnConfig

from adaptermix.checkpoints import detect_format, read_checkpoint
from adaptermix.evaluation.evaluator import SLOT, Evaluator
from adaptermix.methods.model import load_state
from conftest import one_line_error, run_cli, toy_rows

CONFIGS = {
    "pfeiffer": lambda: SeqBnConfig(reduction_factor=4),
    "houlsby": lambda: DoubleSeqBnConfig(reduction_factor=4),
    # alpha ≠ r: the scale α/r must survive the conversion (folded into B).
    "lora": lambda: LoRAConfig(r=4, alpha=12),
}
LABELS = ("bad", "good", "meh")


def _saved(encoder: Path, root: Path, method: str, with_head: bool, safetensors: bool) -> tuple[Path, object]:
    torch.manual_seed(7)
    model = AutoAdapterModel.from_pretrained(encoder)
    name = f"user_{method}"
    model.add_adapter(name, config=CONFIGS[method]())
    model.add_classification_head(name, num_labels=3, id2label=dict(enumerate(LABELS)))
    with torch.no_grad():  # AdapterHub starts its up-projections / B at zero: make the adapter matter
        for key, param in model.named_parameters():
            if f".{name}." in key:
                param.normal_(0, 0.3)
    model.set_active_adapters(name)
    model.active_head = name
    path = root / f"{method}-{with_head}-{safetensors}"
    model.save_adapter(str(path), name, with_head=with_head, use_safetensors=safetensors)
    return path, model.eval()


def _inputs(encoder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(encoder)
    return dict(tok([r["text"] for r in toy_rows(12, seed=9)], padding=True, return_tensors="pt"))


@pytest.mark.parametrize("method", list(CONFIGS))
@pytest.mark.parametrize("safetensors", [False, True])
def test_adapterhub_adapter_logits_equal_adapterhub(tiny_encoders, tmp_path, method, safetensors):
    enc = tiny_encoders["bert"]
    path, model = _saved(enc, tmp_path, method, True, safetensors)
    assert detect_format(path) == "adapterhub"
    ckpt = read_checkpoint(path)
    assert (ckpt.manifest.method, ckpt.manifest.label_names, ckpt.source_format) == (method, LABELS, "adapterhub")
    inputs = _inputs(enc)
    with torch.inference_mode():
        theirs = model(**inputs).logits  # type: ignore[operator]
    evaluator = Evaluator.for_checkpoint(ckpt)
    evaluator.check(ckpt)
    load_state(evaluator.base.model, SLOT, ckpt.adapter)
    evaluator.use_head(ckpt.name, ckpt.head, ckpt.manifest.label_names)
    with torch.inference_mode():
        ours = evaluator.base.model(**inputs).logits
    diff = (ours - theirs).abs().max().item()
    print(f"AdapterHub {method} ({'safetensors' if safetensors else 'pytorch_adapter.bin'}): "
          f"max |logit difference| = {diff:.3g}")
    assert diff < 1e-5 and theirs.abs().max() > 0.1


def test_headless_adapter_is_read_and_compared_but_never_evaluated(tiny_encoders, tmp_path, capsys):
    enc = tiny_encoders["bert"]
    bare, _ = _saved(enc, tmp_path, "pfeiffer", False, False)
    full, _ = _saved(enc, tmp_path, "pfeiffer", True, True)
    ckpt = read_checkpoint(bare)
    assert ckpt.head == {} and ckpt.manifest.label_names == ()
    code, _, err = run_cli(["fsd", str(bare), str(full), "--out", str(tmp_path / "fsd")], capsys)
    assert code == 0, err
    code, _, err = run_cli(["mix", str(bare), str(full), "--head-from", str(bare), "--domain", "x",
                            "--out", str(tmp_path / "m")], capsys)
    one_line_error(code, err, "without a classification head", "--head-from")
    assert not (tmp_path / "m").exists()


def test_adapterhub_directories_evaluate_and_import(tiny_encoders, toy_domain, cache_dir, tmp_path, capsys):
    enc = tiny_encoders["bert"]
    path, _ = _saved(enc, tmp_path, "lora", True, False)
    # Its head has 3 labels, the toy domain 2: evaluation refuses in one line.
    code, _, err = run_cli(["evaluate", str(path), "--domain", toy_domain, "--cache-dir", str(cache_dir)], capsys)
    one_line_error(code, err, "has labels")
    out = tmp_path / "imported"
    code, _, err = run_cli(["import", str(path), "--domain", "trec", "--out", str(out)], capsys)
    assert code == 0, err
    imported = read_checkpoint(out)
    assert imported.manifest.domain == "trec" and imported.manifest.label_names == LABELS
    assert imported.manifest.adapter_sha256 == read_checkpoint(path).manifest.adapter_sha256
    # Our own checkpoint directory is never re-imported.
    code, _, err = run_cli(["import", str(out), "--out", str(tmp_path / "again")], capsys)
    one_line_error(code, err, "already an adaptermix checkpoint")


def test_adapterhub_config_outside_our_presets_is_refused(tiny_encoders, tmp_path, capsys):
    model = AutoAdapterModel.from_pretrained(tiny_encoders["bert"])
    model.add_adapter("odd", config=SeqBnConfig(reduction_factor=4, non_linearity="swish"))
    model.save_adapter(str(tmp_path / "odd"), "odd")
    code, _, err = run_cli(["fsd", str(tmp_path / "odd"), "--out", str(tmp_path / "f")], capsys)
    one_line_error(code, err, "none of adaptermix's presets", "non_linearity")


def test_advise_takes_imported_adapterhub_adapters(tiny_encoders, cache_dir, tmp_path, capsys):
    # Issue 17: the advisor on AdapterHub adapters imported with their domains (2-label heads, as the toy domains).
    import json

    from conftest import toy_domain_files

    enc = tiny_encoders["bert"]
    imported = []
    for i, domain in enumerate(toy_domain_files(tmp_path, 3)):
        torch.manual_seed(i)
        model = AutoAdapterModel.from_pretrained(enc)
        model.add_adapter("user", config=CONFIGS["pfeiffer"]())
        model.add_classification_head("user", num_labels=2)
        with torch.no_grad():
            for key, param in model.named_parameters():
                if ".user." in key:
                    param.normal_(0, 0.3)
        model.save_adapter(str(tmp_path / f"hub{i}"), "user", with_head=True)
        out = tmp_path / f"ours{i}"
        code, _, err = run_cli(["import", str(tmp_path / f"hub{i}"), "--domain", domain, "--out", str(out)], capsys)
        assert code == 0, err
        imported.append(str(out))
    # All three keep AdapterHub's adapter name, "user": the advisor cannot tell them apart and says how.
    code, _, err = run_cli(["advise", *imported, "--groups", "2", "--strategy", "task_cosine"], capsys)
    one_line_error(code, err, "--name")
    for i, path in enumerate(imported):
        code, _, err = run_cli(["import", str(tmp_path / f"hub{i}"), "--domain", read_checkpoint(path).domain,
                                "--name", f"hub{i}", "--out", path, "--overwrite"], capsys)
        assert code == 0, err
    names = sorted(read_checkpoint(p).name for p in imported)
    assert names == ["hub0", "hub1", "hub2"]
    code, _, err = run_cli(["import", str(tmp_path / "hub0"), "--domain", "x", "--name", " ",
                            "--out", str(tmp_path / "unnamed")], capsys)
    one_line_error(code, err, "--name is empty")
    assert not (tmp_path / "unnamed").exists()
    code, out, err = run_cli(["advise", *imported, "--target", names[1], "--sizes", "2", "--json", "--budget", "1.0",
                              "--sweep-examples", "40", "--max-length", "32", "--cache-dir", str(cache_dir)], capsys)
    assert code == 0, err
    (rec,) = json.loads(out)["recommendations"]
    assert names[1] in rec["members"] and len(rec["members"]) == 2 and 0 <= rec["predicted_accuracy"] <= 1
