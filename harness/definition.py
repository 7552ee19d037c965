"""The matrix definition (constraints/matrix.toml) → cells."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[1]
MATRIX = ROOT / "constraints" / "matrix.toml"
LOCKS = ROOT / "constraints" / "cells"
VERSION = r"[0-9][0-9a-z.+]*"  # PEP 440 public versions (with a local label): safe in a tag, a path, a shell word
ID = re.compile(rf"torch({VERSION})-tf({VERSION})-gliner({VERSION})")


@dataclass(frozen=True, order=True)
class Cell:
    torch: str
    transformers: str
    gliner: str
    override: bool = False
    """Install this transformers even where the gliner release declares it unsupported."""

    @property
    def id(self) -> str:
        return f"torch{self.torch}-tf{self.transformers}-gliner{self.gliner}"

    @classmethod
    def parse(cls, cell_id: str, override: bool = False) -> Cell:
        """The cell an id names (torch<version>-tf<version>-gliner<version>); ValueError if it names none."""
        match = ID.fullmatch(cell_id)
        if not match:
            raise ValueError(f"not a cell id: {cell_id!r} (expected e.g. torch2.13.0-tf5.0.0-gliner0.2.29)")
        return cls(*match.groups(), override=override)

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


def suite_tools() -> list[str]:
    """The test tools: pyproject.toml's `test` dependency group (also what the Docker image installs)."""
    return list(pyproject()["dependency-groups"]["test"])


def python(path: Path = MATRIX) -> str:
    with path.open("rb") as f:
        return tomllib.load(f)["python"]


def cells(path: Path = MATRIX) -> list[Cell]:
    """Every cell of the definition, in file order, without exclusions or duplicates."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    excluded = set(data.get("exclude", []))
    out: dict[str, Cell] = {}
    for group in data["group"]:
        for gliner, transformers, torch in itertools.product(group["gliner"], group["transformers"], group["torch"]):
            cell = Cell(torch, transformers, gliner, bool(group.get("override", False)))
            if cell.id not in excluded:
                out.setdefault(cell.id, cell)
    unknown = excluded - {c.id for c in _all(data)}
    if unknown:
        raise ValueError(f"{path}: exclude names cells that are not in any group: {sorted(unknown)}")
    return list(out.values())


def _all(data: dict) -> list[Cell]:
    return [Cell(t, tf, g) for group in data["group"]
            for g, tf, t in itertools.product(group["gliner"], group["transformers"], group["torch"])]


def find(cell_id: str, path: Path = MATRIX) -> Cell:
    for cell in cells(path):
        if cell.id == cell_id:
            return cell
    raise KeyError(cell_id)
