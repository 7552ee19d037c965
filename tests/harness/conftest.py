"""Harness tests: fast, no real installs. A fake interpreter and a fake installer stand in for a cell's virtualenv
and uv (the boundary the harness drives through subprocesses); everything else is the real harness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import FAKE_INSTALLER, FAKE_PYTHON, junit_xml


@pytest.fixture
def fake_env(tmp_path: Path):
    """(python, installer argv, set behaviour) for a fake cell virtualenv."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(FAKE_PYTHON.format(python=sys.executable))
    python.chmod(0o755)
    installer = tmp_path / "uv.py"
    installer.write_text(FAKE_INSTALLER.format(python=sys.executable))
    installer.chmod(0o755)

    def behave(**behaviour):
        behaviour.setdefault("resolved", {"torch": "2.13.0+cpu", "transformers": "5.0.0", "gliner": "0.2.29"})
        behaviour.setdefault("requires", "transformers<5.17.0,>=4.51.3")
        behaviour.setdefault("junit", junit_xml(("test_ok", "ptbr", None)))
        (bin_dir / "behaviour.json").write_text(json.dumps(behaviour))

    behave()
    return python, [str(installer)], behave, installer


ROOT = Path(__file__).parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clean checkout of this work tree: its tracked files only (as they are now), no .git, no build leftovers."""
    dest = tmp_path / "checkout"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(autouse=True)
def no_package_index(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package index is out of reach (a refused local port) and nothing is cached: floating cells are left out
    of every listing, whatever this machine's reports/index/ holds. Tests of the index give it pages themselves."""
    monkeypatch.setenv("PTBR_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PTBR_INDEX_CACHE", str(tmp_path_factory.mktemp("index-cache")))


@pytest.fixture
def python_with_nox(tmp_path: Path) -> str:
    """A PATH whose `python` has nox, as after the workflow's `pip install nox`."""
    python = os.environ.get("PTBR_NOX_PYTHON", sys.executable)
    found = subprocess.run([python, "-c", "import nox"], capture_output=True, check=False)
    assert found.returncode == 0, f"{python} has no nox: run this through `nox -s tests` (or install nox)"
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python").write_text(f'#!/bin/sh\nexec "{python}" "$@"\n')  # not a symlink: a venv's python
    (shims / "python").chmod(0o755)                                         # finds its venv by its own path
    (shims / "nox").write_text(f'#!/bin/sh\nexec "{python}" -m nox "$@"\n')
    (shims / "nox").chmod(0o755)
    return f"{shims}{os.pathsep}{os.environ['PATH']}"
