"""Warnings are errors where the project controls them, and only there: a library's own warning never turns a
propagation test into a field break (the suite runs against many library versions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(("module", "fails"), [("ptbr.loader", True), ("harness.run.cell", True),
                                               ("transformers.trainer", False), ("numpy.core", False)])
def test_a_warning_is_an_error_only_where_the_project_issues_it(tmp_path: Path, module: str, fails: bool) -> None:
    (tmp_path / "test_w.py").write_text(
        "import warnings\n"
        "def test_warns():\n"
        f"    warnings.warn_explicit('something', RuntimeWarning, 'x.py', 1, module={module!r})\n")
    done = subprocess.run([sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "-p", "no:randomly",
                           "-p", "no:cacheprovider", "-q", str(tmp_path / "test_w.py"), "--rootdir", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (done.returncode == 1) is fails, f"a warning from {module} {'fails' if fails else 'passes'}:\n{done.stdout}"
