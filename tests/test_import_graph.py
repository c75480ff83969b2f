"""The house's dependency rule: a stage imports only earlier stages (STYLE.md), checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

import adaptermix

ROOT = Path(adaptermix.__file__).parent
#: The pipeline stages in order, with the shared leaf modules first. A package may import only packages
#: listed before it; the top-level package, which assembles the public API, is exempt.
ORDER = ("_version", "errors", "deprecation", "fileio", "registry", "layers", "signs", "data", "methods", "checkpoints",
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


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test)


def _module_edges(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the modules of the tree under `root` it imports at module level.

    The rules of Python's own import: `from a.b import c` imports `a.b` and, when `c` is a module,
    `a.b.c`; importing `a.b.c` first imports its packages `a` and `a.b`, except the ones the importer
    itself lives in (they are already being imported). Imports inside functions and under
    `if TYPE_CHECKING:` run later or never, so they are left out: a circle only through them is not one
    that breaks an import.
    """
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for stmt in ast.parse(path.read_text(encoding="utf-8")).body:
            if _is_type_checking(stmt) or not isinstance(stmt, ast.Import | ast.ImportFrom | ast.Try | ast.If):
                continue
            for node in ast.walk(stmt):
                if isinstance(node, ast.ImportFrom):
                    base = package[: len(package) - node.level + 1] if node.level else []
                    mod = ".".join([*base, *([node.module] if node.module else [])])
                    targets = [mod, *(f"{mod}.{a.name}" for a in node.names)]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                else:
                    continue
                for target in targets:
                    if target not in modules or target == name:
                        continue
                    edges[name].add(target)
                    bits = target.split(".")
                    edges[name] |= {p for p in (".".join(bits[:i]) for i in range(1, len(bits)))
                                    if p in modules and p != name and not name.startswith(p + ".")}
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == v:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_circle_between_modules() -> None:
    """No module-level import circle, inside a package or across: a submodule imports its siblings, never
    its own package's `__init__` (which imports it back)."""
    edges = _module_edges()
    found = [" ↔ ".join(c) + "\n    " + "\n    ".join(f"{a} -> {sorted(edges[a] & set(c))}" for a in c)
             for c in _cycles(edges)]
    assert found == [], "\n".join(found)


def test_the_check_sees_a_circle_through_a_package(tmp_path: Path) -> None:
    """Negative control: a submodule that imports its own package (which imports it) is a circle; the same
    import inside a function or under TYPE_CHECKING is not."""
    pkg = tmp_path / "adaptermix" / "mixing"
    pkg.mkdir(parents=True)
    (tmp_path / "adaptermix" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from adaptermix.mixing.mixers import f\n")
    (pkg / "ops.py").write_text("def g():\n    return 1\n")
    (pkg / "mixers.py").write_text("from adaptermix.mixing import ops\n\ndef f():\n    return ops.g()\n")
    (pkg / "mix.py").write_text("from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import adaptermix.mixing\n"
                                "\ndef h():\n    from adaptermix.mixing import f\n")
    root = tmp_path / "adaptermix"
    assert _cycles(_module_edges(root)) == [["adaptermix.mixing", "adaptermix.mixing.mixers"]]
    (pkg / "mixers.py").write_text("import adaptermix.mixing.ops as ops\n\ndef f():\n    return ops.g()\n")
    assert _cycles(_module_edges(root)) == []


def test_mixing_flows_one_way() -> None:
    """Inside `mixing/` the core flows layout → ops → mixers → mix: no module imports a later one."""
    chain = [f"adaptermix.mixing.{m}" for m in ("layout", "ops", "mixers", "mix")]
    edges = _module_edges()
    backward = [f"{a} imports {b}" for i, a in enumerate(chain) for b in chain[i + 1 :] if b in edges[a]]
    assert backward == []
    assert all(chain[i] in edges[chain[i + 1]] for i in range(len(chain) - 1))
