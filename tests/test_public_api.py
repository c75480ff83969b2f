"""The top-level API (issue 19): one lazy function per CLI command, each a thin wrapper over the stage function
the command calls, with the same frozen spec; `import adaptermix` stays light; the README's tour runs."""

from __future__ import annotations

import ast
import csv
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import adaptermix
from adaptermix.errors import AdapterMixError, ConfigError
from conftest import toy_domain_files, toy_rows

API = {"load", "train", "mix", "evaluate", "sweep", "run", "advise", "report"}
README = Path(__file__).resolve().parents[1] / "README.md"


# -- the surface -------------------------------------------------------------------------------------------------

def test_all_is_exactly_the_documented_api_and_every_name_resolves() -> None:
    assert set(adaptermix.__all__) == API and len(adaptermix.__all__) == len(API)
    for name in adaptermix.__all__:
        fn = getattr(adaptermix, name)
        assert callable(fn) and fn.__module__ == "adaptermix", name
        doc = fn.__doc__ or ""
        for part in ("Args:", "Returns:", "Raises:"):  # Google style, as STYLE.md asks
            assert part in doc, f"adaptermix.{name}'s docstring has no {part}"
        assert f"adaptermix.{name}(" in _tour(), f"the README's Python tour never calls adaptermix.{name}"


def test_import_adaptermix_is_light() -> None:
    """torch, transformers, AdapterHub and numpy load only when a function is called (a fresh interpreter)."""
    heavy = ("torch", "transformers", "adapters", "numpy")
    code = ("import sys, adaptermix; adaptermix.__all__; adaptermix.__version__; "
            f"print(','.join(m for m in {heavy!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == "", f"import adaptermix loaded {done.stdout.strip()}"


def test_version_is_one_leaf_value_that_matches_the_package_metadata() -> None:
    from adaptermix._version import __version__

    assert adaptermix.__version__ == __version__ == importlib.metadata.version("adaptermix")


def test_no_module_reads_the_top_level_package() -> None:
    """Reading `adaptermix.__version__` (or any top-level name) from inside the package is an import circle:
    the package assembles the stages, so the stages must not reach back up to it."""
    root = Path(adaptermix.__file__).parent
    top = set(API) | {"__version__"}
    found = []
    for path in root.rglob("*.py"):
        if path == root / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(a.name == "adaptermix" for a in node.names):
                found.append(f"{path.relative_to(root)}: import adaptermix")
            elif isinstance(node, ast.ImportFrom) and node.module == "adaptermix" and node.level == 0:
                found += [f"{path.relative_to(root)}: from adaptermix import {a.name}" for a in node.names
                          if a.name in top]
    assert found == [], "\n".join(found)


# -- bad arguments: the package's error type, one clear line ----------------------------------------------------

def _one_line(exc: pytest.ExceptionInfo[BaseException], *needles: str) -> None:
    assert isinstance(exc.value, AdapterMixError), type(exc.value)
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg


@pytest.mark.parametrize(("call", "needles"), [
    (lambda: adaptermix.train(domain="trec"), ("TrainConfig", "out", "required")),
    (lambda: adaptermix.train(domain="trec", out="x", learning_rate=-1), ("learning_rate", "greater than 0")),
    (lambda: adaptermix.train(domain="trec", out="x", bogus=1), ("TrainConfig has no field 'bogus'", "domain")),
    (lambda: adaptermix.train(domain="trec", out="x", patience=3), ("patience needs an explicit budget",)),
    (lambda: adaptermix.train("trec"), ("expected a TrainConfig, got str",)),
    (lambda: adaptermix.mix(["a", "b"], head_from="a", out="o", mixer="tiez"), ("tiez", "ties")),
    (lambda: adaptermix.evaluate("ckpt", precision="fp16"), ("precision", "bf16")),
    (lambda: adaptermix.evaluate("ckpt", mixers="ties"), ("no mixers or conditions", "adaptermix.sweep")),
    (lambda: adaptermix.sweep(adapters="ckpt"), ("SweepConfig", "store", "required")),
    (lambda: adaptermix.sweep(adapters="ckpt", store="s.sqlite", mode="random"), ("mode", "exhaustive")),
    (lambda: adaptermix.sweep(adapters="ckpt", store="s.sqlite", spec={"mixers": "nope"}), ("nope",)),
])
def test_a_bad_argument_is_one_config_error_line(call: Any, needles: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as exc:
        call()
    _one_line(exc, *needles)


def test_a_spec_and_its_fields_together_are_refused() -> None:
    from adaptermix.evaluation.spec import EvalSpec
    from adaptermix.training.config import TrainConfig

    with pytest.raises(ConfigError) as exc:
        adaptermix.train(TrainConfig(domain="trec", out=Path("x")), seed=1)
    _one_line(exc, "TrainConfig", "seed", "not both")
    with pytest.raises(ConfigError) as exc:
        adaptermix.evaluate("ckpt", EvalSpec(), split="validation")
    _one_line(exc, "EvalSpec", "split", "not both")


def test_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    from adaptermix.store import StoreError

    with pytest.raises(StoreError) as exc:
        adaptermix.report(tmp_path / "missing.sqlite")
    _one_line(exc, "missing.sqlite", "study .sqlite")
    (tmp_path / "notes.sqlite").write_text("not a database")
    with pytest.raises(StoreError) as exc:
        adaptermix.report(tmp_path / "notes.sqlite")
    _one_line(exc, "notes.sqlite")
    with pytest.raises(ConfigError) as exc:
        adaptermix.run(tmp_path / "missing.yaml")
    _one_line(exc, "missing.yaml", "does not exist")
    with pytest.raises(AdapterMixError) as exc:
        adaptermix.evaluate(tmp_path / "no-checkpoint")
    _one_line(exc, "no-checkpoint")


# -- thin wrappers: the same result as the stage function, on tiny random encoders -------------------------------

TINY = {"method": "pfeiffer", "preset": "quickstart", "seed": 7, "adapter_size": 8, "learning_rate": 5e-3,
        "batch_size": 16, "max_steps": 6, "max_length": 32, "progress": False}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, tiny_encoders: dict[str, Path], cache_dir: Path) -> dict[str, Any]:
    """Two tiny adapters trained through `adaptermix.train` (one from fields, one from a TrainConfig)."""
    from adaptermix.training.config import TrainConfig

    root = tmp_path_factory.mktemp("api")
    domains = toy_domain_files(root, 2, rows=80)
    common = {**TINY, "encoder": str(tiny_encoders["bert"]), "cache_dir": cache_dir}
    first = adaptermix.train(domain=domains[0], out=root / "adapters" / "dom0", **common)
    second = adaptermix.train(TrainConfig(domain=domains[1], out=root / "adapters" / "dom1", **common))
    return {"root": root, "domains": domains, "common": common, "results": (first, second),
            "adapters": root / "adapters", "cache": cache_dir}


def _same_tensors(a: dict[str, Any], b: dict[str, Any]) -> None:
    import torch

    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_train_is_the_training_stage_on_the_same_config(study: dict[str, Any]) -> None:
    from adaptermix.training.config import TrainConfig
    from adaptermix.training.train import train

    api = study["results"][0]
    direct = train(TrainConfig(domain=study["domains"][0], out=study["root"] / "direct-dom0", **study["common"]))
    assert api.losses == direct.losses and api.steps == direct.steps
    assert api.validation.accuracy == direct.validation.accuracy and api.test.accuracy == direct.test.accuracy
    a, b = adaptermix.load(api.path), adaptermix.load(direct.path)
    _same_tensors(a.adapter, b.adapter)
    _same_tensors(a.head, b.head)


def test_mix_is_mix_checkpoints_with_the_same_mixspec(study: dict[str, Any], tmp_path: Path) -> None:
    from adaptermix.mixing.checkpoints import mix_checkpoints
    from adaptermix.mixing.spec import MixSpec

    members = [study["adapters"] / "dom0", study["adapters"] / "dom1"]
    head = members[0]
    spec = MixSpec(mixer="ties", params={"density": 0.5})
    direct = adaptermix.load(mix_checkpoints(members, head, tmp_path / "direct", spec=spec))
    for out, kwargs in (("fields", {"mixer": "ties", "density": 0.5}), ("params", {"mixer": "ties",
                        "params": {"density": 0.5}}), ("spec", {"spec": spec})):
        mixed = adaptermix.load(adaptermix.mix(members, head_from=head, out=tmp_path / out, **kwargs))
        _same_tensors(mixed.adapter, direct.adapter)
        _same_tensors(mixed.head, direct.head)
        assert mixed.manifest.config["mixer"] == direct.manifest.config["mixer"], out
    average = adaptermix.load(adaptermix.mix(members, head, tmp_path / "average", weights=[0.25, 0.75]))
    _same_tensors(average.adapter, adaptermix.load(mix_checkpoints(members, head, tmp_path / "average-direct",
                                                                   weights=[0.25, 0.75])).adapter)


def test_evaluate_is_evaluate_checkpoint_with_the_same_evalspec(study: dict[str, Any]) -> None:
    from adaptermix.evaluation.evaluator import evaluate_checkpoint
    from adaptermix.evaluation.spec import EvalSpec

    path = study["adapters"] / "dom1"
    direct = evaluate_checkpoint(path, None, "validation", 5, 32, study["cache"], "fp32")
    spec = EvalSpec(split="validation", max_examples=5, max_length=32, precision="fp32")
    for got in (adaptermix.evaluate(path, spec, cache_dir=study["cache"]),
                adaptermix.evaluate(adaptermix.load(path), split="validation", max_examples=5, max_length=32,
                                    precision="fp32", cache_dir=study["cache"])):
        assert (got.accuracy, got.macro_f1, got.n) == (direct.accuracy, direct.macro_f1, direct.n)
    assert direct.n == 5
    with pytest.raises(ConfigError) as exc:
        adaptermix.evaluate(adaptermix.load(path), encoder="bert-base-uncased")
    _one_line(exc, "adaptermix.load")


def _rows(store: Path) -> list[tuple[Any, ...]]:
    from adaptermix.store import Store

    with Store.read(store) as s:
        return [(r.mixer, r.target, r.members, r.accuracy, r.macro_f1, r.n_examples, r.pair_fsd)
                for r in s.rows(mixer=None)]


def test_sweep_and_report_are_the_pipeline_and_reporting_functions(study: dict[str, Any], tmp_path: Path) -> None:
    from adaptermix.evaluation.spec import EvalSpec
    from adaptermix.pipeline import SweepConfig, run_sweep
    from adaptermix.reporting.report import write_html_report

    spec = {"max_examples": 16, "max_length": 32, "precision": "fp32", "mixers": "average,ties"}
    common = {"adapters": (study["adapters"],), "spec": EvalSpec(**spec), "chunk_size": 2,
              "cache_dir": study["cache"], "progress": False}
    direct = run_sweep(SweepConfig(store=tmp_path / "direct" / "study.sqlite", **common))
    api = adaptermix.sweep(adapters=study["adapters"], store=tmp_path / "api" / "study.sqlite", spec=spec,
                           chunk_size=2, cache_dir=study["cache"], progress=False)
    counts = (api.planned, api.evaluated, api.reused, api.exhaustive_count)
    assert counts == (direct.planned, direct.evaluated, direct.reused, direct.exhaustive_count)
    assert counts == (8, 8, 0, 8)  # 2 targets × 2 subsets (k = 1, 2) × 2 mixers
    assert _rows(api.store) == _rows(direct.store)
    again = adaptermix.sweep(SweepConfig(store=api.store, **common))  # a spec object too; the rows are reused
    assert (again.evaluated, again.reused) == (0, 8)

    index = adaptermix.report(api.store)
    assert index == api.store.parent / "report" / "index.html"
    reference = write_html_report(api.store, tmp_path / "reference")
    assert sorted(p.name for p in index.parent.iterdir()) == sorted(p.name for p in reference.parent.iterdir())
    assert _body(index) == _body(reference)

    overview = adaptermix.report([api.store, direct.store], out=tmp_path / "overview")
    assert overview == tmp_path / "overview" / "index.html"
    page = overview.read_text(encoding="utf-8")
    # With `out`, each study's report lies under it, in a folder named after the study, linked relatively.
    links = re.findall(r'<a href="([^"#]+/index.html)">', page)
    assert len(links) == 2 and all((overview.parent / link).is_file() for link in links)


def _body(index: Path) -> str:
    """The page without its footer (which names the folder written to)."""
    return re.sub(r"<footer>.*?</footer>", "", index.read_text(encoding="utf-8"), flags=re.S)


def test_run_is_load_recipe_then_run_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run` reads the recipe as `adaptermix run` does (the run itself is tested end to end in test_recipe and
    the README tour below)."""
    import adaptermix.pipeline as pipeline

    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "r", "out": str(tmp_path / "out"), "domains": ["trec"]}))
    calls: list[tuple[Any, bool]] = []
    monkeypatch.setattr(pipeline, "run_recipe", lambda recipe, progress=True: calls.append((recipe, progress)))
    adaptermix.run(path, progress=False)
    adaptermix.run(path, out=tmp_path / "elsewhere")
    recipe = pipeline.load_recipe(path)
    adaptermix.run(recipe, out=tmp_path / "third")
    assert calls == [(recipe, False), (pipeline.load_recipe(path, out=tmp_path / "elsewhere"), True),
                     (pipeline.load_recipe(path, out=tmp_path / "third"), True)]
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError) as exc:
        adaptermix.run(path, out=tmp_path / "a-file")
    _one_line(exc, "a-file", "not a folder")


# -- the README's Python tour runs as written, on tiny encoders and toy domains ---------------------------------

def _tour() -> str:
    """The first ```python block under `## Python API` in README.md."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, "README.md's Python API section has no ```python block"
    return match.group(1)


def test_the_readme_tour_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_encoders: dict[str, Path],
                              cache_dir: Path) -> None:
    """The tour's code, with three stand-ins so it runs in seconds: the paper's domains are toy CSV files of the
    same names, training gets a tiny encoder and budget, and the recipe is a tiny one. Each stand-in must find its
    text, so a tour that changes shape fails here instead of going stale."""
    data = tmp_path / "data"
    data.mkdir()
    for i, name in enumerate(("trec", "sms_spam", "rotten_tomatoes")):
        with (data / f"{name}.csv").open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(toy_rows(80, seed=i))
    # The tour sets method and preset itself; the stand-in adds the tiny encoder and budget.
    tiny = {k: v for k, v in TINY.items() if k not in ("method", "preset")} | {"encoder": str(tiny_encoders["bert"])}
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny", "out": str(tmp_path / "recipe-run"), "encoder": str(tiny_encoders["bert"]),
        "domains": [str(data / "trec.csv"), str(data / "sms_spam.csv")], "preset": "quickstart",
        "train": {"max_steps": 4, "adapter_size": 8, "max_length": 32}, "eval": {"max_length": 32},
    }))
    code = _tour()
    for old, new in (('domain=name', 'domain=f"{DATA}/{name}.csv"'),
                     ('preset="quickstart"', 'preset="quickstart", **TINY'),
                     ('"recipes/quickstart.yaml"', "RECIPE")):
        assert old in code, f"the README tour no longer contains {old!r}: update this test's stand-ins"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ADAPTERMIX_CACHE", str(cache_dir))
    exec(compile(code, str(README), "exec"), {"DATA": str(data), "TINY": tiny, "RECIPE": str(recipe)})  # noqa: S102
    assert (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "recipe-run" / "report" / "index.html").is_file()


def test_tests_never_fill_the_home_cache() -> None:
    # conftest points the default cache at a private folder: a command run without --cache-dir (the
    # advisor's text embeddings were one) writes there, not into ~/.cache/adaptermix.
    from adaptermix.data.cache import default_cache_dir

    assert default_cache_dir().resolve() != (Path.home() / ".cache" / "adaptermix").resolve()
