"""harness/ has three concerns, one folder each, and imports go one way: run/ (running a cell and classifying what
it saw) imports nothing else of the harness; verdicts/ (expected verdicts, the report, GitHub glue) and releases/
(the index, discover, drift, atlas, bisect) build on it. Only run/ decides a verdict, so only run/ (with the code
under test and the suite) is an input of a cell's fingerprint."""

from __future__ import annotations

import ast
import subprocess
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from harness.run import results
from harness.run.pins import ROOT, Cell

HARNESS = ROOT / "harness"
CELL = Cell("2.13.0", "5.16.1", "0.2.29")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every harness module → the harness modules it imports (at the top or inside a function)."""
    modules = {_module(p): p for p in HARNESS.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
                for alias in node.names:  # `from harness.run import cell` imports harness.run.cell
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in modules else node.module)
            elif isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("harness")}
        out[name] = {m for m in found if m != name and m in modules}
    return out


def test_imports_inside_the_harness_have_no_cycle() -> None:
    try:
        order = list(TopologicalSorter(imports()).static_order())
    except CycleError as e:
        raise AssertionError(f"an import cycle blurs which module decides what: {e.args[1]}") from e
    assert "harness.run.cell" in order


def test_running_a_cell_imports_nothing_that_plans_or_renders() -> None:
    """What is under run/ is all a cell's verdict depends on in the harness: if it imported the report or the
    definition, editing those could change a verdict that their fingerprint says is current."""
    leaks = {m: sorted(d for d in deps if not d.startswith("harness.run")) for m, deps in imports().items()
             if m.startswith("harness.run")}
    assert not any(leaks.values()), f"run/ imports outside run/: { {m: d for m, d in leaks.items() if d} }"


def test_the_folders_are_the_three_concerns() -> None:
    folders = sorted(p.name for p in HARNESS.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert folders == ["releases", "run", "verdicts"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_an_edit_reruns_a_cell_only_where_it_can_change_its_verdict(checkout: Path) -> None:
    """On a git checkout (the fingerprint lists files with git): editing what plans runs or renders results leaves
    every result current; editing PTBR, the suite or the cell lifecycle makes it stale."""
    _git(checkout, "init", "-q")
    _git(checkout, "add", "-A")
    before = results.fingerprint(CELL, "venv", "torch==2.13.0+cpu", root=checkout)

    def edited(name: str) -> str:
        path = checkout / name
        original = path.read_text()
        path.write_text(original + "\n# an edit\n")
        try:
            return results.fingerprint(CELL, "venv", "torch==2.13.0+cpu", root=checkout)
        finally:
            path.write_text(original)

    for renders in ("harness/releases/atlas.py", "harness/verdicts/report.py", "harness/verdicts/github.py",
                    "harness/releases/bisect.py", "harness/definition.py", "README.md", "noxfile.py"):
        assert edited(renders) == before, f"{renders} plans or renders: editing it must rerun no cell"
    for decides in ("src/ptbr/forwarding.py", "harness/run/cell.py", "harness/run/junit.py",
                    "tests/propagation/conftest.py", "pyproject.toml"):
        assert edited(decides) != before, f"{decides} can change a verdict: editing it must make results stale"
