"""PEFT LoRA directories made by PEFT on the tiny BERT: read, evaluated, mixed, FSD'd, pruned, exported back.

PEFT is the oracle: our evaluator's logits on an imported PEFT LoRA must equal `PeftModel`'s own on
the same inputs, and a mixture exported with `export-adapter --format peft` must give, loaded by
`PeftModel.from_pretrained`, the logits of our evaluator on that mixture.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import adaptermix
from adaptermix.analysis import fsd_matrix
from adaptermix.checkpoints import detect_format, read_checkpoint
from adaptermix.evaluation.evaluator import SLOT, Evaluator
from adaptermix.methods.model import load_state
from adaptermix.mixing import average
from adaptermix.pruning import magnitude_prune
from conftest import one_line_error, run_cli, toy_domain_files, toy_rows

peft = pytest.importorskip("peft")

SCALE = 6 / 4  # lora_alpha / r of the fixtures (not a power of two): folded into B on import


def _peft_model(encoder: Path, seed: int, target_modules: list[str], num_labels: int = 2):
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    base = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=num_labels)
    config = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=4, lora_alpha=6, target_modules=target_modules)
    model = peft.get_peft_model(base, config)
    # PEFT starts B at zero (ΔW = 0); random factors and head make the comparison meaningful.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.normal_(0, 0.3)
    return model.eval()


@pytest.fixture(scope="module")
def peft_dirs(tmp_path_factory, tiny_encoders) -> dict[str, Path]:
    """Two PEFT LoRAs (q, v; seeds 1, 2), one on query only saved as .bin, and a PEFT IA3."""
    root = tmp_path_factory.mktemp("peft")
    enc = tiny_encoders["bert"]
    out = {}
    for name, seed in (("a", 1), ("b", 2)):
        _peft_model(enc, seed, ["query", "value"]).save_pretrained(root / name)
        out[name] = root / name
    _peft_model(enc, 3, ["query"]).save_pretrained(root / "q_bin", safe_serialization=False)
    out["q_bin"] = root / "q_bin"
    # RoBERTa's head is classifier.dense + classifier.out_proj (BERT's: pooler + classifier).
    _peft_model(tiny_encoders["roberta"], 4, ["query", "value"]).save_pretrained(root / "roberta")
    out["roberta"] = root / "roberta"
    from transformers import BertForSequenceClassification

    ia3 = peft.get_peft_model(BertForSequenceClassification.from_pretrained(enc, num_labels=2),
                              peft.IA3Config(task_type=peft.TaskType.SEQ_CLS, target_modules=["query", "value"],
                                             feedforward_modules=[]))
    ia3.save_pretrained(root / "ia3")
    out["ia3"] = root / "ia3"
    return out


def _inputs(encoder: Path) -> dict[str, torch.Tensor]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(encoder)
    return dict(tok([r["text"] for r in toy_rows(12, seed=5)], padding=True, return_tensors="pt"))


def _our_logits(path: Path, inputs: dict[str, torch.Tensor], **options: str) -> torch.Tensor:
    """Logits of the evaluator (its resident model, slot and head) on a checkpoint of any format."""
    ckpt = read_checkpoint(path, **options)
    evaluator = Evaluator.for_checkpoint(ckpt)
    evaluator.check(ckpt)
    load_state(evaluator.base.model, SLOT, ckpt.adapter)
    evaluator.use_head(ckpt.name, ckpt.head, ckpt.manifest.label_names)
    with torch.inference_mode():
        return evaluator.base.model(**inputs).logits


def _peft_logits(path: Path, encoder: Path, inputs: dict[str, torch.Tensor], lora: bool = True) -> torch.Tensor:
    """PEFT's own logits (with `lora=False`: the same model with its LoRA switched off, head kept)."""
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=2)
    model = peft.PeftModel.from_pretrained(base, path).eval()
    with torch.inference_mode():
        if lora:
            return model(**inputs).logits
        for module in model.modules():
            if hasattr(module, "scaling") and isinstance(module.scaling, dict):
                module.scaling = {k: 0.0 for k in module.scaling}
        return model(**inputs).logits


@pytest.mark.parametrize("name", ["a", "q_bin", "roberta"])
def test_peft_lora_logits_equal_peft(peft_dirs, tiny_encoders, toy_domain, name):
    enc = tiny_encoders["roberta" if name == "roberta" else "bert"]
    inputs = _inputs(enc)
    theirs = _peft_logits(peft_dirs[name], enc, inputs)
    ours = _our_logits(peft_dirs[name], inputs, domain=toy_domain)
    diff = (ours - theirs).abs().max().item()
    print(f"PEFT {name}: max |logit difference| = {diff:.3g}")
    assert diff < 1e-5 and theirs.abs().max() > 0.1
    # The LoRA matters: without it the logits move far more than the tolerance.
    assert (_peft_logits(peft_dirs[name], enc, inputs, lora=False) - theirs).abs().max() > 1e-2


def test_peft_lora_is_read_into_our_key_space(peft_dirs, toy_domain):
    assert detect_format(peft_dirs["a"]) == "peft"
    ckpt = adaptermix.load(peft_dirs["a"], domain=toy_domain)
    m = ckpt.manifest
    assert (ckpt.source_format, m.method, m.adapter_size, m.domain, m.label_names) == (
        "peft", "lora", 4, toy_domain, ("neg", "pos"))
    assert len(ckpt.adapter) == 2 * 2 * 2 and set(ckpt.head) == {f"heads.adapter.{i}.{p}" for i in (1, 4)
                                                                  for p in ("weight", "bias")}
    from safetensors.torch import load_file

    raw = load_file(str(peft_dirs["a"] / "adapter_model.safetensors"))
    key = "base_model.model.bert.encoder.layer.1.attention.self.value.lora_B.weight"
    assert torch.equal(ckpt.adapter["bert.encoder.layer.1.attention.self.value.loras.adapter.lora_B"],
                       raw[key] * SCALE)
    # A LoRA on query only is ours with zero factors on value (exact), read from a weights-only .bin.
    q = read_checkpoint(peft_dirs["q_bin"])
    assert not q.adapter["bert.encoder.layer.0.attention.self.value.loras.adapter.lora_A"].any()


def test_commands_take_peft_directories_as_they_are(peft_dirs, toy_domain, cache_dir, tmp_path, capsys):
    a, b = str(peft_dirs["a"]), str(peft_dirs["b"])
    code, out, err = run_cli(["evaluate", a, "--domain", toy_domain, "--cache-dir", str(cache_dir), "--json"], capsys)
    assert code == 0, err
    assert 0 <= json.loads(out)["accuracy"] <= 1

    code, _, err = run_cli(["fsd", a, b, "--out", str(tmp_path / "fsd")], capsys)
    assert code == 0, err
    adapters = [read_checkpoint(p).adapter for p in (a, b)]
    assert json.loads((tmp_path / "fsd" / "fsd.json").read_text())["matrix"] == fsd_matrix(adapters).tolist()

    code, _, err = run_cli(["mix", a, b, "--head-from", a, "--domain", toy_domain, "--out", str(tmp_path / "mix")],
                           capsys)
    assert code == 0, err
    mixed = read_checkpoint(tmp_path / "mix")
    expected = average(adapters)
    assert all(torch.equal(mixed.adapter[k], expected[k]) for k in expected)
    assert mixed.domain == toy_domain and [x.name for x in mixed.manifest.members] == ["a", "b"]

    code, _, err = run_cli(["prune", a, "--sparsity", "0.5", "--domain", toy_domain, "--out", str(tmp_path / "pr")],
                           capsys)
    assert code == 0, err
    pruned = read_checkpoint(tmp_path / "pr").adapter
    assert all(torch.equal(pruned[k], v) for k, v in magnitude_prune(adapters[0], 0.5, "global").items())

    for argv in (["greedy", a, b, "--l", "1"], ["sparse-mix", a, b, "--l", "2", "--m", "1", "--sparsity", "0.5"]):
        code, _, err = run_cli([*argv, "--head-from", b, "--domain", toy_domain, "--out", str(tmp_path / argv[0])],
                               capsys)
        assert code == 0, err
        assert read_checkpoint(tmp_path / argv[0]).domain == toy_domain

    code, out, err = run_cli(["attack", a, "--attack", "fgsm", "--domain", toy_domain, "--attack-examples", "8",
                              "--cache-dir", str(cache_dir), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    assert summary["n_examples"] == 8 and summary["accuracy_under_attack"] <= summary["clean_accuracy"]


def test_import_writes_our_checkpoint(peft_dirs, toy_domain, tmp_path, capsys):
    out = tmp_path / "imported"
    code, stdout, err = run_cli(["import", str(peft_dirs["a"]), "--domain", toy_domain, "--out", str(out)], capsys)
    assert code == 0, err
    assert detect_format(out) == "adaptermix" and "lora, size 4" in stdout
    direct, imported = read_checkpoint(peft_dirs["a"], domain=toy_domain), read_checkpoint(out)
    assert imported.manifest.adapter_sha256 == direct.manifest.adapter_sha256
    assert all(torch.equal(imported.head[k], v) for k, v in direct.head.items())


@pytest.mark.parametrize("mixer", [["average"], ["ties", "--space", "delta", "--rank", "3"]])
def test_lora_mixture_exported_for_peft_gives_our_logits(peft_dirs, tiny_encoders, toy_domain, tmp_path, capsys,
                                                         mixer):
    mix, exported = tmp_path / "mix", tmp_path / "peft"
    a, b = str(peft_dirs["a"]), str(peft_dirs["b"])
    argv = ["mix", a, b, "--head-from", a, "--domain", toy_domain, "--mixer", *mixer, "--out", str(mix)]
    assert run_cli(argv, capsys)[0] == 0
    code, _, err = run_cli(["export-adapter", str(mix), "--format", "peft", "--out", str(exported)], capsys)
    assert code == 0, err
    inputs = _inputs(tiny_encoders["bert"])
    theirs = _peft_logits(exported, tiny_encoders["bert"], inputs)
    ours = _our_logits(mix, inputs)
    diff = (ours - theirs).abs().max().item()
    print(f"PEFT round trip of a LoRA mixture ({' '.join(mixer)}): max |logit difference| = {diff:.3g}")
    assert diff < 1e-5
    # And the export reads back as the same mixture.
    back = read_checkpoint(exported, domain=toy_domain)
    assert all(torch.allclose(back.adapter[k], v) for k, v in read_checkpoint(mix).adapter.items())


def test_lora_mixture_exported_for_adapterhub_loads_with_load_adapter(peft_dirs, tiny_encoders, toy_domain,
                                                                       tmp_path, capsys):
    import adapters

    exported = tmp_path / "ah"
    code, _, err = run_cli(["export-adapter", str(peft_dirs["a"]), "--format", "adapterhub", "--out", str(exported)],
                           capsys)
    assert code == 0, err
    inputs = _inputs(tiny_encoders["bert"])
    model = adapters.AutoAdapterModel.from_pretrained(tiny_encoders["bert"])
    name = model.load_adapter(str(exported), with_head=True, use_safetensors=True)
    model.set_active_adapters(name)
    model.eval()
    with torch.inference_mode():
        theirs = model(**inputs).logits
    diff = (_our_logits(peft_dirs["a"], inputs, domain=toy_domain) - theirs).abs().max().item()
    print(f"AdapterHub round trip: max |logit difference| = {diff:.3g}")
    assert diff < 1e-5


def test_unknown_directory_is_one_line_naming_found_and_expected(tmp_path, capsys):
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "weights.npz").write_bytes(b"x")
    (odd / "notes.txt").write_text("hi")
    code, _, err = run_cli(["fsd", str(odd), "--out", str(tmp_path / "f")], capsys)
    one_line_error(code, err, "found notes.txt, weights.npz", "expected manifest.json", "PEFT", "AdapterHub")
    assert "incomplete" not in err and not (tmp_path / "f").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(*run_cli(["evaluate", str(empty)], capsys)[::2], "an empty folder")


def test_peft_ia3_is_refused_in_one_line(peft_dirs, toy_domain, tmp_path, capsys):
    code, _, err = run_cli(["evaluate", str(peft_dirs["ia3"]), "--domain", toy_domain], capsys)
    one_line_error(code, err, "PEFT IA3", "LoRA only")
    code, _, err = run_cli(["import", str(peft_dirs["ia3"]), "--domain", toy_domain, "--out", str(tmp_path / "x")],
                           capsys)
    one_line_error(code, err, "PEFT IA3")
    assert not (tmp_path / "x").exists()


def test_missing_domain_is_asked_by_flag_and_nothing_is_written(peft_dirs, tmp_path, capsys):
    out = tmp_path / "imported"
    code, _, err = run_cli(["import", str(peft_dirs["a"]), "--out", str(out)], capsys)
    one_line_error(code, err, "records no domain", "--domain")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    a = str(peft_dirs["a"])
    code, _, err = run_cli(["mix", a, "--head-from", a, "--out", str(out)], capsys)
    one_line_error(code, err, "--domain")
    assert not out.exists()
    one_line_error(*run_cli(["evaluate", a], capsys)[::2], "peft checkpoint, which records no domain", "--domain")


def test_bottleneck_cannot_be_exported_for_peft(peft_dirs, tmp_path, capsys):
    import adapters
    from adapters import SeqBnConfig

    enc_dir = Path(read_checkpoint(peft_dirs["a"]).manifest.base.encoder)
    model = adapters.AutoAdapterModel.from_pretrained(enc_dir)
    model.add_adapter("bn", config=SeqBnConfig(reduction_factor=4))
    model.add_classification_head("bn", num_labels=2)
    model.save_adapter(str(tmp_path / "bn"), "bn", with_head=True)
    code, _, err = run_cli(["export-adapter", str(tmp_path / "bn"), "--format", "peft", "--out", str(tmp_path / "o")],
                           capsys)
    one_line_error(code, err, "PEFT cannot load", "--format adapterhub")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_peft_lora_on_minilm_logits_equal_peft(tmp_path):
    """The real default encoder: a PEFT LoRA that also trained the pooler (read from the file, not the base)."""
    from transformers import BertForSequenceClassification

    from adaptermix.methods.encoder import resolve_encoder

    enc = Path(resolve_encoder("minilm"))
    torch.manual_seed(0)
    base = BertForSequenceClassification.from_pretrained(enc, num_labels=3)
    config = peft.LoraConfig(task_type=peft.TaskType.SEQ_CLS, r=8, lora_alpha=20, target_modules=["query", "value"],
                             modules_to_save=["classifier", "pooler"])
    model = peft.get_peft_model(base, config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                param.add_(torch.randn_like(param) * 0.05)
    model.save_pretrained(tmp_path / "minilm-lora")
    inputs = _inputs(enc)
    with torch.inference_mode():
        theirs = model.eval()(**inputs).logits
    ours = _our_logits(tmp_path / "minilm-lora", inputs, domain="trec", encoder="minilm")
    diff = (ours - theirs).abs().max().item()
    print(f"PEFT LoRA on MiniLM: max |logit difference| = {diff:.3g}")
    assert diff < 1e-5


def test_import_of_the_package_stays_light():
    import subprocess
    import sys

    code = "import sys, adaptermix; print(callable(adaptermix.load), 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


class _Payload:
    """Stands for pickled code: `torch.load(weights_only=True)` must refuse to build it."""


def test_bin_with_pickled_objects_is_refused_not_run(peft_dirs, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "adapter_config.json").write_text((peft_dirs["a"] / "adapter_config.json").read_text())
    torch.save({"base_model.model.x": _Payload()}, bad / "adapter_model.bin")
    code, _, err = run_cli(["fsd", str(bad), "--out", str(tmp_path / "f")], capsys)
    one_line_error(code, err, "adapter_model.bin is not a readable weights-only torch file", "safetensors")


def test_export_refuses_bad_format_and_existing_out(peft_dirs, tmp_path, capsys):
    a = str(peft_dirs["a"])
    one_line_error(*run_cli(["export-adapter", a, "--format", "onnx", "--out", str(tmp_path / "o")], capsys)[::2],
                   "--format 'onnx'", "peft or adapterhub")
    (tmp_path / "o").mkdir()
    one_line_error(*run_cli(["export-adapter", a, "--format", "peft", "--out", str(tmp_path / "o")], capsys)[::2],
                   "already exists", "--overwrite")
    assert list((tmp_path / "o").iterdir()) == []


def test_sweep_over_peft_directories_says_to_import_them(peft_dirs, tmp_path, capsys):
    """A sweep needs each adapter's domain, which a PEFT directory does not record: one line naming `import`."""
    store = tmp_path / "s.sqlite"
    for given in (peft_dirs["a"], peft_dirs["a"].parent):
        code, _, err = run_cli(["sweep", "--adapters", str(given), "--store", str(store)], capsys)
        one_line_error(code, err, "adaptermix import", "PEFT")
    assert not store.exists()


def test_advise_takes_imported_peft_adapters(peft_dirs, tiny_encoders, cache_dir, tmp_path, capsys):
    # Issue 17: the advisor on PEFT LoRAs imported with their domains, partners (the default strategy,
    # raced) and a partition; task vectors of imported adapters are their raw weights (no init recorded).
    third = tmp_path / "c"
    _peft_model(tiny_encoders["bert"], 5, ["query", "value"]).save_pretrained(third)
    domains = toy_domain_files(tmp_path, 3)
    imported = []
    for src, domain in zip((peft_dirs["a"], peft_dirs["b"], third), domains, strict=True):
        out = tmp_path / Path(domain).stem
        code, _, err = run_cli(["import", str(src), "--domain", domain, "--out", str(out)], capsys)
        assert code == 0, err
        imported.append(str(out))
    names = [read_checkpoint(p).name for p in imported]
    code, out, err = run_cli(["advise", *imported, "--target", names[0], "--sizes", "2,3", "--json", "--budget", "1.0",
                              "--sweep-examples", "40", "--max-length", "32", "--cache-dir", str(cache_dir)], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["strategy"] == "combined+race" and [r["k"] for r in doc["recommendations"]] == [2, 3]
    assert doc["recommendations"][1]["members"] == sorted(names) and 0 < doc["cost"]["fraction"] <= 1
    code, out, err = run_cli(["advise", *imported, "--groups", "2", "--strategy", "task_cosine", "--json",
                              "--max-length", "32", "--cache-dir", str(cache_dir)], capsys)
    assert code == 0, err
    groups = [r["members"] for r in json.loads(out)["recommendations"]]
    assert sorted(m for g in groups for m in g) == sorted(names) and len(groups) == 2
