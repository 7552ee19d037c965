"""The house's shape, for both packages: PTBR (src/ptbr) and the harness (harness/). The harness has three concerns,
one folder each: run/ (running a cell and classifying what it saw) imports nothing else of the harness; verdicts/
(expected verdicts, the report, GitHub glue) and releases/ (the index, discover, drift, atlas, bisect) build on it;
sessions.py (what each nox session does) on all of them. Imports go one way (no cycle,
imports inside functions counted: an import hidden in a function is still a dependency); no module over 450 lines
and no function over 60, but for a declarative table, which says so beside it with a ``# declarative table`` comment
on the line above (its lines are not counted)."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest
from support import ROOT

PACKAGES = {"ptbr": ROOT / "src" / "ptbr", "harness": ROOT / "harness"}
MODULE_LINES, FUNCTION_LINES = 450, 60
TABLE = "# declarative table"


def _name(package: str, root: Path, path: Path) -> str:
    parts = (package, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(package: str) -> dict[str, set[str]]:
    """Every module of the package → the package's modules it imports, at the top or inside a function."""
    root = PACKAGES[package]
    modules = {_name(package, root, p): p for p in root.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == package:
                for alias in node.names:  # `from ptbr import train` imports ptbr.train
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.split(".")[0] == package}
        out[name] = {m for m in found if m != name and m in modules and m != package}
    return out


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_go_one_way(package: str) -> None:
    try:
        order = list(TopologicalSorter(imports(package)).static_order())
    except CycleError as e:
        raise AssertionError(f"an import cycle in {package}: {' → '.join(e.args[1])}") from e
    assert len(order) > 5, "the graph holds the package's modules"


def test_the_graph_sees_imports_inside_functions(tmp_path, monkeypatch) -> None:
    """The rule's own check: a cycle hidden in a function is found."""
    (tmp_path / "a.py").write_text("from ptbr import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from ptbr import a\n")
    monkeypatch.setitem(PACKAGES, "ptbr", tmp_path)
    with pytest.raises(AssertionError, match="import cycle"):
        test_imports_go_one_way("ptbr")


def test_every_function_the_noxfile_calls_exists() -> None:
    """The noxfile names sessions and calls harness functions: each it calls is there (the test environment has no
    nox to import the noxfile with, so it is read as code)."""
    import importlib

    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    called = {(node.value.id, node.attr) for node in ast.walk(tree) if isinstance(node, ast.Attribute)
              and isinstance(node.value, ast.Name) and node.value.id in ("sessions", "publishing")}
    missing = [f"{m}.{name}" for m, name in sorted(called)
               if not hasattr(importlib.import_module(f"harness.{m}"), name)]
    assert len(called) > 10, "the noxfile calls the harness"
    assert not missing, f"the noxfile calls what the harness does not have: {missing}"


def test_running_a_cell_imports_nothing_that_plans_or_renders() -> None:
    """What is under run/ is all a cell's verdict depends on in the harness: if it imported the report or the
    definition, editing those could change a verdict that their fingerprint says is current."""
    leaks = {m: sorted(d for d in deps if not d.startswith("harness.run")) for m, deps in imports("harness").items()
             if m.startswith("harness.run")}
    assert not any(leaks.values()), f"run/ imports outside run/: { {m: d for m, d in leaks.items() if d} }"


def test_the_harness_folders_are_its_three_concerns() -> None:
    folders = sorted(p.name for p in PACKAGES["harness"].iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert folders == ["releases", "run", "verdicts"]


def test_ptbr_never_imports_the_harness() -> None:
    """The border: PTBR is a library and a command; the harness runs `ptbr prove --json` and reads its output."""
    for path in PACKAGES["ptbr"].rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "harness" for n in names), f"{path.name} imports the harness"


def test_the_harness_reads_nothing_private_of_ptbr() -> None:
    """What a cell runs of PTBR is its command line; the harness may import public names (the atlas reads the
    forwarding table), never one that starts with an underscore."""
    for path in PACKAGES["harness"].rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "ptbr":
                assert not any(a.name.startswith("_") for a in node.names), f"{path.name}: {node.module}"
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__") \
                    and isinstance(node.value, ast.Name) and node.value.id in _ptbr_modules(text):
                raise AssertionError(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr} is private to PTBR")


def _ptbr_modules(text: str) -> set[str]:
    """The names a module binds to PTBR's modules (``from ptbr import forwarding``)."""
    return {a.asname or a.name for node in ast.walk(ast.parse(text)) if isinstance(node, ast.ImportFrom)
            and node.module == "ptbr" for a in node.names}


def _tables(tree: ast.Module, lines: list[str]) -> list[range]:
    """The line spans of statements marked as declarative tables (the comment on the line above them)."""
    return [range(node.lineno, (node.end_lineno or node.lineno) + 1) for node in ast.walk(tree)
            if isinstance(node, ast.stmt) and node.lineno >= 2 and lines[node.lineno - 2].strip().startswith(TABLE)]


def sizes() -> tuple[dict[str, int], dict[str, int]]:
    """(module → its lines outside tables, function → its lines) over both packages and the noxfile."""
    modules, functions = {}, {}
    for path in [ROOT / "noxfile.py", *(p for root in PACKAGES.values() for p in root.rglob("*.py"))]:
        text = path.read_text(encoding="utf-8")
        lines, tree = text.splitlines(), ast.parse(text)
        tables = _tables(tree, lines)
        name = str(path.relative_to(ROOT))
        modules[name] = sum(1 for n in range(1, len(lines) + 1) if not any(n in t for t in tables))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    not any(node.lineno in t for t in tables):
                functions[f"{name}:{node.lineno} {node.name}"] = (node.end_lineno or node.lineno) - node.lineno + 1
    return modules, functions


def test_no_module_over_450_lines_nor_function_over_60() -> None:
    modules, functions = sizes()
    assert not {m: n for m, n in modules.items() if n > MODULE_LINES}, "one idea per module"
    assert not {f: n for f, n in functions.items() if n > FUNCTION_LINES}, "a function reads as one step"
    assert modules["noxfile.py"] <= 200, "the noxfile's sessions are thin: the work is in harness/"
