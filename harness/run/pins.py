"""What a cell is: its three pins (torch, transformers, gliner) on a Python, its id and its lock file, and what every
cell installs besides its pins (pyproject.toml's dependencies and test tools). The matrix definition that lists cells is
harness/definition.py; this module is all a running cell needs of it."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib  # novermin (the fallback below)
except ModuleNotFoundError:  # Python 3.10: a cell's image runs the harness on the cell's Python, where pytest
    import tomli as tomllib  # brings tomli (the same parser, before it joined the standard library)


ROOT = Path(__file__).parents[2]
LOCKS = ROOT / "constraints" / "cells"
VERSION = r"[0-9][0-9a-z.+]*"  # PEP 440 public versions (with a local label): safe in a tag, a path, a shell word
PYTHON = r"3\.[0-9]+"
ID = re.compile(rf"torch({VERSION})-tf({VERSION})-gliner({VERSION})(?:-py({PYTHON}))?")
ID_PYTHON = "3.11"
"""The Python an id without ``-py<version>`` names: the one every cell ran on before Python was an axis, so that
each id recorded then (expected verdicts, lock files, reports) still names its cell. Fixed, not the definition's
default: an id means the same cell whatever the definition says."""


@dataclass(frozen=True, order=True)
class Cell:
    torch: str
    transformers: str
    gliner: str
    override: bool = False
    """Install this transformers even where the gliner release declares it unsupported."""
    floating: str = ""
    """For a cell resolved from floating axes, what they asked for (``transformers=latest-in-range``)."""
    python: str = ID_PYTHON
    """The interpreter's major.minor version."""
    exclude_newer: str = ""
    """For a pinned cell of the definition without a lock file: what its pins leave open resolves as of this date
    (the definition's ``exclude_newer``), so that a release made since changes nothing."""

    @property
    def id(self) -> str:
        on = "" if self.python == ID_PYTHON else f"-py{self.python}"
        return f"torch{self.torch}-tf{self.transformers}-gliner{self.gliner}{on}"

    @classmethod
    def parse(cls, cell_id: str, override: bool = False) -> Cell:
        """The cell an id names (torch<version>-tf<version>-gliner<version>[-py<version>]); ValueError if it names
        none."""
        match = ID.fullmatch(cell_id)
        if not match:
            raise ValueError(f"not a cell id: {cell_id!r} (expected e.g. torch2.13.0-tf5.0.0-gliner0.2.29, or "
                             "torch2.13.0-tf5.0.0-gliner0.2.29-py3.13 on another Python than 3.11)")
        torch, transformers, gliner, python = match.groups()
        return cls(torch, transformers, gliner, override=override, python=python or ID_PYTHON)

    @property
    def requested(self) -> dict[str, str]:
        """What the cell asks for: its pins and its Python (a result's ``requested``), and the date it resolves as of
        where it has one."""
        return {**self.pins, "python": self.python, **({"exclude_newer": self.exclude_newer} if self.exclude_newer
                                                        else {})}

    @property
    def lock(self) -> Path:
        """Full transitive pins for this cell (``nox -s lock``); used as constraints when the file exists."""
        return LOCKS / f"{self.id}.txt"

    @property
    def pins(self) -> dict[str, str]:
        return {"torch": self.torch, "transformers": self.transformers, "gliner": self.gliner}


def pyproject() -> dict:
    """The project's pyproject.toml: its dependencies, test tools and build backend are named there only."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def extras() -> list[str]:
    """The project's optional extras (pyproject.toml), all installed wherever the suite runs: a key of an optional
    section (lora: with peft) is proven in every cell like any other."""
    return sorted(pyproject()["project"].get("optional-dependencies", {}))


def extra_requirements() -> list[str]:
    """What :func:`extras` install."""
    return [r for name in extras() for r in pyproject()["project"]["optional-dependencies"][name]]


def project(root: Path) -> str:
    """The checkout at ``root`` with all its extras, as an installer's requirement."""
    return f"{root}[{','.join(extras())}]" if extras() else str(root)


def suite_tools() -> list[str]:
    """The test tools: pyproject.toml's `test` dependency group (also what the Docker image installs)."""
    return list(pyproject()["dependency-groups"]["test"])


def repro(cell: Cell, tests: Sequence[str] = (), matrix: bool = False) -> str:
    """The nox command that reruns this cell (and only the given tests), quoted for any POSIX shell: its matrix
    session when the cell is one of the definition's (``matrix``), else the ad-hoc cell session."""
    if matrix:
        base = ["nox", "-s", f"matrix({cell.id})", "--"]
    else:
        base = ["nox", "-s", "cell", "--", "--cell", cell.id, *(["--override"] if cell.override else [])]
    return shlex.join([*base, *tests])
