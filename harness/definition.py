"""The matrix definition (constraints/matrix.toml) → cells.

An axis value is a version, or a floating one resolved against the package index when cells are listed
(harness/releases/index.py): ``latest`` (the newest final, not yanked release; for transformers outside the gliner
release's declared range the cell installs it with an override) or, for transformers, ``latest-in-range`` (the
newest inside it). A resolved cell's id holds the concrete versions; ``Cell.floating`` says what was asked for.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import tomllib
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from harness.run.pins import LOCKS, ROOT, Cell, pyproject, suite_tools  # noqa: F401 (the definition's vocabulary)

MATRIX = ROOT / "constraints" / "matrix.toml"


def python(path: Path = MATRIX) -> str:
    with path.open("rb") as f:
        return tomllib.load(f)["python"]


FLOATING = ("latest", "latest-in-range")
UNRESOLVED: list[str] = []
"""Why floating cells were left out of the last listing (the index could not be read): shown by the report."""


def cells(path: Path = MATRIX, floating: bool = True) -> list[Cell]:
    """Every cell of the definition, in file order, without exclusions or duplicates (a floating cell that resolves
    to a pinned one is that cell). ``floating=False``: the pinned cells only, without asking the index."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    excluded = set(data.get("exclude", []))
    out: dict[str, Cell] = {}
    UNRESOLVED.clear()
    for group in data["group"]:
        for gliner, transformers, torch in itertools.product(group["gliner"], group["transformers"], group["torch"]):
            cell = Cell(torch, transformers, gliner, bool(group.get("override", False)))
            if {torch, transformers, gliner} & set(FLOATING):
                if not floating:
                    continue
                try:
                    cell = resolve(cell)
                except (LookupError, RuntimeError) as e:  # index.IndexUnavailable is a RuntimeError
                    UNRESOLVED.append(f"{cell.id}: {e}")
                    continue
            if cell.id not in excluded:
                out.setdefault(cell.id, cell)
    unknown = excluded - {c.id for c in _pinned(data)}
    if unknown:
        raise ValueError(f"{path}: exclude names cells that are not in any group: {sorted(unknown)}")
    return list(out.values())


def resolve(cell: Cell) -> Cell:
    """A cell with floating axes → the cell of today's releases (see the module doc)."""
    from harness.releases import index

    def pick(package: str, value: str, spec: str = "") -> str:
        if value not in FLOATING:
            return value
        if value == "latest-in-range" and package != "transformers":
            raise LookupError(f"latest-in-range is for transformers (gliner's declared range), not {package}")
        return str(index.latest(package, spec if value == "latest-in-range" else ""))

    gliner, torch = pick("gliner", cell.gliner), pick("torch", cell.torch)
    declared = index.requires("gliner", gliner, "transformers")
    transformers = pick("transformers", cell.transformers, declared)
    outside = Version(transformers) not in SpecifierSet(declared)
    asked = ",".join(f"{k}={v}" for k, v in cell.pins.items() if v in FLOATING)
    return Cell(torch, transformers, gliner, cell.override or outside, floating=asked)


def _pinned(data: dict) -> list[Cell]:
    return [Cell(t, tf, g) for group in data["group"]
            for g, tf, t in itertools.product(group["gliner"], group["transformers"], group["torch"])
            if not {t, tf, g} & set(FLOATING)]


def find(cell_id: str, path: Path = MATRIX) -> Cell:
    for cell in cells(path):
        if cell.id == cell_id:
            return cell
    raise KeyError(cell_id)
