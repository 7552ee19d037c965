"""`nox -s discover`: the releases of torch, transformers and gliner newer than the newest the definition pins, and
the cells that would test them, as a [[group]] to paste into constraints/matrix.toml (or `-- --write` to append it).

Each new release is paired with the newest pinned versions of the other two packages: a new transformers with the
newest gliner (installed with an override where gliner's declared range excludes it), a new gliner with the newest
transformers inside its declared range, a new torch with the newest gliner and its newest pinned transformers. A
Python newer than the definition's newest that the newest gliner, torch and transformers all install on (their
Requires-Python and wheels, from the index) gets the same cell on that Python.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from harness import definition, inputs
from harness.definition import Cell
from harness.releases import index
from packaging.specifiers import SpecifierSet
from packaging.version import Version


def newer(pinned: list[Cell]) -> dict[str, list[index.Release]]:
    """Package → its releases newer than the newest pinned one (yanked ones included, flagged)."""
    out = {}
    for package in ("torch", "transformers", "gliner"):
        newest = max((Version(getattr(c, package)) for c in pinned), default=Version("0"))
        out[package] = [r for r in index.releases(package) if r.version > newest]
    return out


def cells_for(found: dict[str, list[index.Release]], pinned: list[Cell]) -> list[Cell]:
    """The cells that test the new releases (see the module doc); yanked releases are left out."""
    gliner = max((c.gliner for c in pinned), key=Version)
    torch = max((c.torch for c in pinned), key=Version)
    declared = index.requires("gliner", gliner, "transformers")
    in_range = [c.transformers for c in pinned if c.gliner == gliner and Version(c.transformers) in
                SpecifierSet(declared)]
    transformers = max(in_range or [c.transformers for c in pinned if c.gliner == gliner], key=Version)
    out = []
    for r in (r for r in found["transformers"] if not r.yanked):
        out.append(Cell(torch, str(r), gliner, override=r.version not in SpecifierSet(declared)))
    for r in (r for r in found["gliner"] if not r.yanked):
        out.append(Cell(torch, str(index.latest("transformers", index.requires("gliner", str(r), "transformers"))),
                        str(r)))
    out += [Cell(str(r), transformers, gliner) for r in found["torch"] if not r.yanked]
    return out


def newer_pythons(pinned: list[Cell], default: str) -> list[Cell]:
    """Cells on each Python newer than the definition's newest (one minor after another, up to the first one
    something cannot go on) that the newest gliner, the newest torch and that gliner's newest transformers in range
    all install on; empty where the index cannot be read."""
    gliner = max((c.gliner for c in pinned), key=Version)
    torch = max((c.torch for c in pinned), key=Version)
    declared = SpecifierSet(index.requires("gliner", gliner, "transformers"))
    transformers = max([c.transformers for c in pinned if c.gliner == gliner and Version(c.transformers) in declared]
                       or [c.transformers for c in pinned if c.gliner == gliner], key=Version)
    newest = max([default, *(c.python for c in pinned)], key=Version)
    out = []
    for minor in range(int(newest.split(".")[1]) + 1, 30):
        python = f"3.{minor}"
        cell = Cell(torch, transformers, gliner, override=Version(transformers) not in declared, python=python)
        try:
            index.releases("torch"), index.releases("gliner"), index.releases("transformers")  # readable at all
        except index.IndexUnavailable:
            return []
        if index.cell_problem(cell):
            break
        out.append(cell)
    return out


def groups(new: list[Cell], default: str | None = None) -> str:
    """TOML [[group]]s for the cells, one per cell (a cross product would add cells nobody asked for); a cell on
    another Python than ``default`` (the definition's) names it."""
    text = []
    for c in new:
        text += ["", "[[group]]", f'gliner = ["{c.gliner}"]', f'transformers = ["{c.transformers}"]',
                 f'torch = ["{c.torch}"]'] + ([f'python = ["{c.python}"]'] if c.python != (default or c.python)
                                              else []) + (["override = true"] if c.override else [])
    return "\n".join(text) + "\n"


def main(argv: list[str], log: Callable[[str], None] = print) -> int:
    parser = inputs.Parser(prog="nox -s discover --", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="append the groups to constraints/matrix.toml")
    args = parser.parse_args(argv)
    pinned = definition.cells(definition.MATRIX, floating=False)
    found = newer(pinned)
    for package, releases in found.items():
        newest = max((getattr(c, package) for c in pinned), key=Version)
        listed = ", ".join(f"{r}{' (yanked)' if r.yanked else ''}" for r in releases) or "none"
        log(f"{package}: newer than {newest}: {listed}")
    default = definition.python()
    pythons = newer_pythons(pinned, default)
    newest_python = max([default, *(c.python for c in pinned)], key=Version)
    log(f"python: newer than {newest_python} and supported by the newest pins: "
        + (", ".join(c.python for c in pythons) or "none"))
    new = [c for c in [*(dataclasses.replace(c, python=default) for c in cells_for(found, pinned)), *pythons]
           if c.id not in {p.id for p in pinned}]
    if not new:
        log("no cells to add: the definition pins the newest releases and Pythons")
        return 0
    log(f"{len(new)} cell(s) to add to constraints/matrix.toml:" + groups(new, default))
    if args.write:
        with definition.MATRIX.open("a", encoding="utf-8") as f:
            f.write(f"\n# added by `nox -s discover --write`{groups(new, default)}")
        log(f"appended to {definition.MATRIX}; accept their verdicts once they ran: nox -s accept")
    return 0
