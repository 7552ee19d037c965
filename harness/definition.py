"""The matrix definition (constraints/matrix.toml) → cells.

An axis value is a version, or a floating one resolved against the package index when cells are listed
(harness/releases/index.py): ``latest`` (the newest final, not yanked release; for transformers outside the gliner
release's declared range the cell installs it with an override) or, for transformers, ``latest-in-range`` (the
newest inside it). A resolved cell's id holds the concrete versions; ``Cell.floating`` says what was asked for.

The file is checked as it is read (``read``): unknown keys, missing axes, values that are not versions, exclusions
of cells no group has, each reported at its line with a did-you-mean, all at once (``inputs.Invalid``).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from harness import inputs
from harness.run import configs as configs_
from harness.run.pins import (  # noqa: F401 (its vocabulary)
    LOCKS,
    ROOT,
    VERSION,
    Cell,
    extra_requirements,
    project,
    pyproject,
    suite_tools,
)

MATRIX = ROOT / "constraints" / "matrix.toml"
FLOATING = ("latest", "latest-in-range")
AXES = ("gliner", "transformers", "torch")
GROUP_KEYS = (*AXES, "python", "override")
PYTHON = re.compile(r"3\.[0-9]+")
TOP_KEYS = ("python", "configs", "exclude", "exclude_newer", "group")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
UNRESOLVED: list[str] = []
"""Why floating cells were left out of the last listing (the index could not be read): shown by the report."""


def read(path: Path = MATRIX, releases: bool = False) -> dict[str, Any]:
    """The definition's data, checked: every problem at once (``inputs.Invalid``), each with its ``file:line``, the
    key, what was expected and a did-you-mean. Versions must be PEP 440 versions (or a floating value) and, with
    ``releases`` and where the package index can be read, releases it has."""
    data, at = inputs.toml(path)
    say = _Problems(inputs.shown(path), at)
    for key in data:
        if key not in TOP_KEYS:
            say((key,), key, f"not a key of the definition (expected {', '.join(TOP_KEYS)})"
                + inputs.did_you_mean(key, TOP_KEYS))
    python_ = data.get("python")
    if not isinstance(python_, str) or not PYTHON.fullmatch(python_):
        say(("python",), "python", f"expected the cells' Python as a string such as \"3.11\", got {python_!r}")
    groups = data.get("group")
    if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
        say(("group",), "group", "expected at least one [[group]] table of gliner, transformers and torch")
        groups = []
    for n, group in enumerate(groups):
        _check_group(n, group, say)
    _check_configs(data.get("configs", []), say)
    newer = data.get("exclude_newer")
    if newer is not None and not (isinstance(newer, str) and DATE.fullmatch(newer)):
        say(("exclude_newer",), "exclude_newer", f"expected a date such as \"2026-12-04\" (a pinned cell without a "
            f"lock file resolves as of it), got {newer!r}")
    _check_exclude(data, say)
    if releases and not say.problems:
        for n, axis, _, message in _missing_releases(groups):
            say(("group", n, axis), f"group {n + 1}: {axis}", message)
    if say.problems:
        raise inputs.Invalid(say.problems)
    return data


class _Problems:
    """The problems found in a definition, each said at the line of its key (or of the nearest table above it)."""

    def __init__(self, name: str, at: dict[tuple[Any, ...], int]) -> None:
        self.name, self.at, self.problems = name, at, []

    def __call__(self, where: tuple[Any, ...], key: str, message: str) -> None:
        line = next((self.at[w] for w in (where, where[:-1], where[:2], where[:1]) if w in self.at), 1)
        self.problems.append(f"{self.name}:{line}: {key}: {message}")


def _check_group(n: int, group: dict[str, Any], say: _Problems) -> None:
    label = f"group {n + 1}"
    for key in group:
        if key not in GROUP_KEYS:
            say(("group", n, key), f"{label}: {key}", f"not a key of a group (expected {', '.join(GROUP_KEYS)})"
                + inputs.did_you_mean(key, GROUP_KEYS))
    if not any(axis in group for axis in AXES):
        say(("group", n), label, f"no axes: each group is a cross product of {', '.join(AXES)} (lists of versions)")
        return
    for axis in AXES:
        values = group.get(axis)
        if values is None:
            say(("group", n), label, f"no {axis} axis: each group needs {', '.join(AXES)} (a list of versions)")
        elif not isinstance(values, list) or not values:
            say(("group", n, axis), f"{label}: {axis}", f"expected a non-empty list of versions, got {values!r}")
        else:
            for problem in filter(None, (_value_problem(axis, value) for value in values)):
                say(("group", n, axis), f"{label}: {axis}", problem)
    pythons = group.get("python", [])
    if not isinstance(pythons, list) or (not pythons and "python" in group) or \
            not all(isinstance(v, str) and PYTHON.fullmatch(v) for v in pythons):
        say(("group", n, "python"), f"{label}: python", "expected a non-empty list of Pythons such as "
            f"[\"3.11\", \"3.13\"] (major.minor; without it, the definition's python), got {pythons!r}")
    if not isinstance(group.get("override", False), bool):
        say(("group", n, "override"), f"{label}: override", f"expected true or false, got {group['override']!r}")


def _check_configs(chosen: Any, say: _Problems) -> None:
    if not isinstance(chosen, list) or not all(isinstance(x, str) for x in chosen):
        say(("configs",), "configs", f"expected a list of config paths (files or directories), got {chosen!r}")
        return
    try:
        configs_.expand(chosen, ROOT)
    except configs_.BadConfigPath as e:
        for line in str(e).splitlines():
            say(("configs",), "configs", line.removeprefix("--config ") + " (paths are relative to the checkout)")


def _check_exclude(data: dict[str, Any], say: _Problems) -> None:
    """``exclude`` names cells of the groups (checked once the groups are sound)."""
    exclude = data.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(x, str) for x in exclude):
        say(("exclude",), "exclude", f"expected a list of cell ids, got {exclude!r}")
    elif not say.problems:
        pinned = {c.id for c in _pinned(data)}
        for cell_id in exclude:
            if cell_id not in pinned:
                say(("exclude",), "exclude", f"{cell_id!r} is not a cell of any group"
                    + inputs.did_you_mean(cell_id, pinned))


def _value_problem(axis: str, value: object) -> str | None:
    if not isinstance(value, str):
        return f"expected versions as strings (\"5.16.1\"), got {value!r}"
    if value in FLOATING:
        return None if value == "latest" or axis == "transformers" else \
            f"latest-in-range is for transformers (gliner's declared range), not {axis}"
    try:
        Version(value)
    except InvalidVersion:
        return f"{value!r} is not a version (PEP 440): expected e.g. \"5.16.1\", \"latest\"" + \
            (" or \"latest-in-range\"" if axis == "transformers" else "")
    if not re.fullmatch(VERSION, value):
        return f"{value!r}: write the version as the index does (e.g. {Version(value)})"
    return None


def _missing_releases(groups: list[dict[str, Any]]) -> list[tuple[int, str, str, str]]:
    """(group index, axis, version, message) for each pinned version the package index does not have; nothing where
    the index (or its cache) cannot be read."""
    from harness.releases import index

    out = []
    for axis in [a for a in AXES if any(a in g for g in groups)]:
        try:
            known = {r.version for r in index.releases(axis, pre=True)}
        except (index.IndexUnavailable, OSError, ValueError):
            continue
        for n, group in enumerate(groups):
            out += [(n, axis, v, f"{axis} {v} is not on the index ({index.url()})") for v in group.get(axis, [])
                    if v not in FLOATING and Version(v) not in known]
    return out


def check_pins(pins: dict[str, str]) -> None:
    """Versions given on a command line (an ad-hoc cell, a bisect's fixed packages): PEP 440 versions, and releases
    the index has where it can be read; ``inputs.Invalid`` naming each that is not."""
    problems = []
    for axis, value in pins.items():
        problem = "give a version (floating values are for the definition)" if value in FLOATING else \
            _value_problem(axis, value)
        if problem:
            problems.append(f"--{axis} {value}: {problem}")
    if not problems:
        problems = [f"--{axis} {v}: {m}" for _, axis, v, m in _missing_releases([{a: [v] for a, v in pins.items()}])]
    if problems:
        raise inputs.Invalid(problems)


def configs(path: Path = MATRIX) -> list[str]:
    """The configs every run of a cell proves (``configs``: paths relative to the checkout) unless --config names
    others."""
    return list(read(path).get("configs", []))


def as_of(path: Path = MATRIX) -> list[str]:
    """The installer's arguments that resolve what a commit leaves open as of the definition's date
    (``exclude_newer``): ``--exclude-newer <date>``, or none. The same environment on any day."""
    newer = read(path).get("exclude_newer")
    return ["--exclude-newer", newer] if newer else []


def python(path: Path = MATRIX) -> str:
    """The definition's Python: a group's cells run on it unless the group names its own (checked)."""
    return read(path)["python"]


def cells(path: Path = MATRIX, floating: bool = True, releases: bool = False) -> list[Cell]:
    """Every cell of the definition, in file order, without exclusions or duplicates (a floating cell that resolves
    to a pinned one is that cell). ``floating=False``: the pinned cells only, without asking the index.
    ``inputs.Invalid`` when the definition has problems (``releases``: also a pinned release the index lacks)."""
    data = read(path, releases)
    excluded = set(data.get("exclude", []))
    out: dict[str, Cell] = {}
    UNRESOLVED.clear()
    for group in data["group"]:
        for gliner, transformers, torch, python_ in _product(group, data["python"]):
            cell = Cell(torch, transformers, gliner, bool(group.get("override", False)), python=python_)
            if not cell.lock.is_file() and not {torch, transformers, gliner} & set(FLOATING):
                cell = dataclasses.replace(cell, exclude_newer=data.get("exclude_newer", ""))
            if {torch, transformers, gliner} & set(FLOATING):
                if not floating:
                    continue
                try:
                    cell = resolve(cell)
                except (LookupError, RuntimeError) as e:  # index.IndexUnavailable is a RuntimeError
                    UNRESOLVED.append(f"{cell.id}: {e}")
                    continue
            if cell.id not in excluded and (cell.id not in out or out[cell.id].floating):
                out[cell.id] = cell  # a pinned cell stays pinned when a floating one resolves to it
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
    return Cell(torch, transformers, gliner, cell.override or outside, floating=asked, python=cell.python)


def _product(group: dict, python_: str) -> itertools.product:
    """A group's cells as (gliner, transformers, torch, python) tuples: its Pythons, else the definition's."""
    return itertools.product(group["gliner"], group["transformers"], group["torch"], group.get("python", [python_]))


def _pinned(data: dict) -> list[Cell]:
    return [Cell(t, tf, g, python=py) for group in data["group"] for g, tf, t, py in _product(group, data["python"])
            if not {t, tf, g} & set(FLOATING)]


def find(cell_id: str, path: Path = MATRIX) -> Cell:
    for cell in cells(path):
        if cell.id == cell_id:
            return cell
    raise KeyError(cell_id)
