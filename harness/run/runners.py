"""Where a cell runs: a :class:`Runner` says how to prepare the environment and how to run a Python command in it.
Here a virtualenv (:class:`Venv`, made on the cell's Python where one is found) and this Python with the pins
already installed (:class:`Installed`, a cell's image); the container is harness/run/docker.py."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from harness.run import process, results, sources
from harness.run.install import install
from harness.run.options import Options, Problem
from harness.run.pins import ROOT, Cell
from harness.run.probe import _PROBE, PROBE_TIMEOUT_S, damage, minor
from harness.run.process import tail
from harness.run.results import CellResult


class Runner:
    """Where a cell runs: how to prepare its environment and how to run a Python command in it."""

    name: results.Runner = "venv"

    def fingerprint(self, cell: Cell) -> str:
        return results.fingerprint(cell, self.name)

    def installed(self) -> dict[str, str] | None:
        """The distributions installed now, where they can be read cheaply (None: cannot)."""
        return None

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        raise NotImplementedError

    def repair(self, cell: Cell, opts: Options, damaged: Sequence[str]) -> Problem | None:
        """Install the ``damaged`` distributions again (files missing or of another size than their RECORD says);
        a Problem where this runner cannot."""
        return Problem("error", f"cannot judge: the environment is damaged ({damage(damaged)}) and a "
                                f"{self.name} runner cannot install it again: rebuild it")

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        """(the command that runs ``python *args`` in the environment with ``env`` added, the process environment).
        ``{stage}`` in an argument is the directory whose files the run keeps."""
        raise NotImplementedError

    def visible(self, path: Path) -> str:
        """A file or directory of this machine as the commands of ``argv`` see it (read-only)."""
        return str(path)

    def stop(self) -> None:
        """Remove whatever the run left behind (called in every outcome)."""


class Venv(Runner):
    """A virtualenv (a nox session's, or one of the cell's own): made with the cell's Python where it is missing or
    holds another, then the cell's pins installed with uv."""

    name: results.Runner = "venv"

    def __init__(self, python: Path) -> None:
        self.python = python

    def installed(self) -> dict[str, str] | None:
        if not self.python.exists():
            return None
        code, output = process.call([str(self.python), "-c", _PROBE], PROBE_TIMEOUT_S)
        try:
            return json.loads(output.strip().splitlines()[-1])["installed"] if code == 0 else None
        except (ValueError, IndexError, KeyError):
            return None

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        step = time.monotonic()
        problem = make_venv(self.python, cell, opts)
        if problem:
            return problem
        source, problem = install(cell, self.python, opts)
        result["timings"]["install_s"] = round(time.monotonic() - step, 1)
        result["torch_source"] = source
        return problem

    def repair(self, cell: Cell, opts: Options, damaged: Sequence[str]) -> Problem | None:
        opts.log(f"{cell.id}: the environment is damaged ({damage(damaged)}): installing those again")
        return install(cell, self.python, opts, reinstall=damaged)[1]

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        # the cell's own environment is installed without byte-compiling every file (the largest stage of a cold
        # cell): Python writes the .pyc files of what the import check and the suite import, once, as they import it
        # (atomically, so xdist workers may race), even where the machine sets PYTHONDONTWRITEBYTECODE
        outer = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return [str(self.python), *(a.replace("{stage}", str(stage)) for a in args)], {**outer, **env}


OWN_VENVS = ROOT / ".nox" / "cells"
"""The virtualenvs of cells on another Python than their nox session's (``own_venv``)."""


def own_venv(cell: Cell) -> Path:
    """The python of a virtualenv of the cell's own (made by ``make_venv`` when the cell runs)."""
    return OWN_VENVS / cell.id / "bin" / "python"


class Interpreter(NamedTuple):
    python: str | None
    """A working CPython of the version asked for, or None."""
    why: str
    """Where there is none: the finder's words."""


def interpreter(version: str) -> Interpreter:
    """(a working CPython ``version`` of this machine, or None; and, when there is none, the finder's words): uv's
    interpreter discovery (uv-managed installs, then PATH), which never downloads one; where it finds none (it stops
    at a pyenv shim that fails for a version not selected), the interpreters pyenv installed, the system's and any
    ``python<version>`` on PATH, each run once to check it is that version."""
    code, output = process.call([*sources.uv(), "python", "find", "--no-project", version], PROBE_TIMEOUT_S,
                        env=sources.installer_env())
    found = output.strip().splitlines()[-1] if code == 0 and output.strip() else None
    if found:
        return Interpreter(found, "")
    for candidate in _candidates(version):
        code, said = process.call([str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          PROBE_TIMEOUT_S)
        if code == 0 and said.strip() == version:
            return Interpreter(str(candidate), "")
    return Interpreter(None, tail(output, 12))


def _candidates(version: str) -> list[Path]:
    """Interpreters of ``version`` this machine may have beside what uv finds: pyenv's installs (newest patch
    first), then ``python<version>`` in the usual places and on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    installed = sorted(pyenv.glob(f"{version}.*/bin/python{version}"),
                       key=lambda p: [int(x) if x.isdigit() else -1 for x in p.parts[-3].split(".")], reverse=True)
    on_path = [Path(d) for d in os.environ.get("PATH", "").split(os.pathsep) if d and "shims" not in Path(d).parts]
    named = [d / f"python{version}" for d in [Path("/usr/local/bin"), Path("/usr/bin"), *on_path]]
    return list(dict.fromkeys([*installed, *(p for p in named if p.is_file())]))


def make_venv(python: Path, cell: Cell, opts: Options) -> Problem | None:
    """Make the virtualenv of ``python`` with the cell's Python unless it already runs it; "unavailable" (the cell
    is not run here, said with the fix) where this machine has no such interpreter. Never another Python."""
    if python.exists():
        code, output = process.call([str(python), "-c", "import platform; print(platform.python_version())"],
                                    PROBE_TIMEOUT_S)
        if code == 0 and minor(output.strip()) == cell.python:
            return None
    found, why = interpreter(cell.python)
    if found is None:
        first = why.splitlines()[0].removeprefix("error: ") if why else f"uv python find {cell.python} found none"
        return Problem("unavailable", f"no Python {cell.python} on this machine ({first}): install it (`uv python "
                                      f"install {cell.python}`, pyenv or the system's packages) or run the cell in its "
                                      "image (-- --docker)" + (f"\n{why}" if why else ""))
    opts.log(f"{cell.id}: virtualenv on {found}")
    venv = python.parent.parent
    code, output = process.call([*sources.uv(), "venv", "--quiet", "--clear", "--python", found, str(venv)],
                                PROBE_TIMEOUT_S, env=sources.installer_env())
    if code != 0:
        return Problem("error", f"cannot make a virtualenv of {found} at {venv}:\n{tail(output)}")
    return None


class Installed(Runner):
    """This Python, with the cell's pins already installed (the cell's image): nothing to prepare."""

    def __init__(self, name: results.Runner, key: str, torch_source: str) -> None:
        self.name, self.key, self.source = name, key, torch_source

    def fingerprint(self, cell: Cell) -> str:
        return self.key

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        result["torch_source"] = self.source
        return None

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        return [sys.executable, *(a.replace("{stage}", str(stage)) for a in args)], {**os.environ, **env}
