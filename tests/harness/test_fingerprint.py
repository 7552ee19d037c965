"""Only harness/run/ decides a verdict, so only run/ (with the code under test and the suite) is an input of a cell's
fingerprint: an edit elsewhere reruns no cell (the import direction that makes this true: tests/test_layout.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.run import results
from harness.run.pins import Cell

CELL = Cell("2.13.0", "5.16.1", "0.2.29")


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
