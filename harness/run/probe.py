"""What a cell's environment holds: the installed versions read by its own Python, whether every installed file is
whole, and how that compares with what the cell asks for (its pins, its Python, gliner's declared range)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.run import process
from harness.run.options import Problem
from harness.run.pins import Cell
from harness.run.process import tail

PROBE_TIMEOUT_S = 300
Command = Callable[[Sequence[str], dict[str, str], Path], tuple[list[str], dict[str, str] | None]]
"""A runner's ``argv``: (Python arguments, environment, stage) → (argv, environment)."""

# The installed versions, and whether the environment is whole: every file each distribution's RECORD lists is
# there with the size it lists (a stat per file, no hashing: ~0.7 s with torch; .pyc files are Python's to rewrite)
_PROBE = """import importlib.metadata as m, json, os, platform
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
def whole(f, d):
    try:
        return f.size is None or f.suffix == ".pyc" or os.stat(d.locate_file(f)).st_size == int(f.size)
    except (OSError, ValueError):
        return False
reqs = [r for r in (m.requires("gliner") or []) if r.replace(" ", "").startswith("transformers")]
installed, damaged = {}, {}
for d in m.distributions():
    name = d.metadata["Name"].lower().replace("_", "-")
    installed[name] = d.version
    lost = [str(f) for f in d.files or () if not whole(f, d)]
    if lost:
        damaged[name] = lost
print(json.dumps({"resolved": {n: version(n) for n in ("torch", "transformers", "gliner")},
                  "python": platform.python_version(), "damaged": damaged,
                  "gliner_requires": reqs[0] if reqs else None, "installed": dict(sorted(installed.items()))}))
"""


def read(command: Command, stage: Path) -> dict | Problem:
    """The installed versions and the files each distribution lacks (``_PROBE``), or why they cannot be read;
    ``command``: a runner's ``argv`` (how a Python command runs in the cell's environment)."""
    argv, env = command(["-c", _PROBE], {}, stage)
    code, output = process.call(argv, PROBE_TIMEOUT_S, env=env)
    if code is None:
        return Problem("timeout", f"reading the installed versions took over {PROBE_TIMEOUT_S} s")
    if code != 0:
        return Problem("import-failed", f"cannot read the installed versions:\n{tail(output)}")
    try:
        info = json.loads(output.strip().splitlines()[-1])
        if not {"resolved", "gliner_requires", "installed", "damaged"} <= set(info):
            raise KeyError
        return info
    except (ValueError, IndexError, KeyError, TypeError):
        return Problem("error", f"the version probe printed something unreadable:\n{tail(output)}")


def lost(cell: Cell, info: dict | Problem) -> list[str]:
    """What an environment that should hold the cell's pins has lost: distributions with files missing or changed,
    and pins not installed at all (their metadata gone)."""
    if not isinstance(info, dict):
        return []
    return sorted({*info["damaged"], *(name for name in cell.pins if info["resolved"].get(name) is None)})


def damage(damaged: Sequence[str] | dict[str, list[str]]) -> str:
    """Damaged distributions, short: each with its first missing or changed file."""
    if isinstance(damaged, dict):
        return "; ".join(f"{name}: {files[0]}" + (f" and {len(files) - 1} more" if len(files) > 1 else "")
                         for name, files in sorted(damaged.items()))
    return ", ".join(damaged)


def declared(resolved_tf: str | None, requires: str | None, override: bool) -> dict[str, object]:
    from packaging.requirements import Requirement
    from packaging.version import Version

    inside = None
    if resolved_tf and requires:
        inside = Version(resolved_tf) in Requirement(requires.split(";")[0]).specifier
    return {"gliner_requires": requires, "inside": inside, "override": override}


def mismatch(cell: Cell, resolved: dict[str, str | None]) -> str | None:
    wrong = [f"{name} {resolved.get(name)} (pinned {pin})" for name, pin in cell.pins.items()
             if (resolved.get(name) or "").split("+")[0] != pin]
    return f"resolved versions differ from the pins: {', '.join(wrong)}" if wrong else None


def minor(version: str) -> str:
    """3.13.5 → 3.13, as a cell names its Python."""
    return ".".join(version.split(".")[:2])


def wrong_python(cell: Cell, found: str | None) -> str | None:
    """Why the environment cannot stand for the cell: it runs another Python than the cell asks for (an image built
    on another base, a virtualenv of another interpreter). Never a verdict: the cell was not observed."""
    if found is not None and minor(found) == cell.python:
        return None
    return (f"the environment runs Python {found}, the cell asks for {cell.python}: nothing it shows is about "
            f"{cell.python} (a Docker base image of another Python? see docs/matrix.md: Python versions)")
