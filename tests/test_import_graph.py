"""The house's dependency rule: a stage imports only earlier stages (STYLE.md), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import adaptermix

ROOT = Path(adaptermix.__file__).parent
#: The pipeline stages in order, with the shared leaf modules first. A package may import only packages
#: listed before it; the top-level package, which assembles the public API, is exempt.
ORDER = ("_version", "errors", "deprecation", "fileio", "registry", "layers", "data", "methods", "checkpoints",
         "training", "mixing", "analysis", "pruning", "attacks", "evaluation", "store", "advice", "reporting",
         "pipeline", "cli")


def _package_edges(root: Path = ROOT) -> set[tuple[str, str, str]]:
    """(importing package, imported package, file) for every import of another adaptermix package, lazy
    imports inside functions included."""
    edges = set()
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if len(parts) == 1 and parts[0] == "__init__":
            continue
        pkg = parts[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                if name.startswith("adaptermix.") and name.split(".")[1] != pkg:
                    edges.add((pkg, name.split(".")[1], str(path.relative_to(root))))
    return edges


def test_every_package_is_in_the_order() -> None:
    packages = {p.parts[0] for p in (x.relative_to(ROOT).with_suffix("") for x in ROOT.rglob("*.py"))
                if p.parts[0] != "__init__"}
    assert packages <= set(ORDER), sorted(packages - set(ORDER))


def test_no_upward_arrow_and_so_no_circle_between_packages() -> None:
    rank = {name: i for i, name in enumerate(ORDER)}
    upward = sorted(f"{where}: {a} imports {b}" for a, b, where in _package_edges() if rank[b] > rank[a])
    assert upward == [], "\n".join(upward)


def test_the_check_sees_a_lazy_upward_arrow(tmp_path: Path) -> None:
    """Negative control: an import inside a function, from an earlier stage to a later one, is found."""
    (tmp_path / "mixing").mkdir()
    (tmp_path / "mixing" / "mixers.py").write_text("def f():\n    from adaptermix.pruning.magnitude import x\n")
    assert _package_edges(tmp_path) == {("mixing", "pruning", "mixing/mixers.py")}
