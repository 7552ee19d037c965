"""Installing a cell's pins into a virtualenv with uv: its lock file as constraints (or its date), the transformers
override, a marker that skips an install already done, and whether a failure is a verdict on the versions."""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from harness.run import process, sources
from harness.run.options import Options, Problem
from harness.run.output import Progress
from harness.run.pins import ROOT, Cell, project, suite_tools
from harness.run.process import tail

PINS_MARKER = ".ptbr-cell-pins"

# uv's own words for "these pins cannot be installed together": the same inputs give the same verdict
RESOLVER_CONFLICT = re.compile(r"No solution found when resolving|ResolutionImpossible|conflicting dependencies")

# ... unless what failed is the request itself (a version the index does not have: a typo, or a release not yet
# mirrored): then a rerun may succeed, and the failure is never stored as a reusable verdict
MISSING_RELEASE = re.compile(r"there is no version of [\w.\[\]-]+==|not found in the package registry|"
                             r"No matching distribution found")


def settled(output: str) -> bool:
    """Whether an install failure is a verdict on the versions (the same inputs fail the same way)."""
    return bool(RESOLVER_CONFLICT.search(output)) and not MISSING_RELEASE.search(output)


class Requirements(NamedTuple):
    """What a cell's environment is installed from."""

    source: str
    """Where torch comes from (a result's ``torch_source``)."""
    options: list[str]
    """The installer's index options for torch."""
    requirements: list[str]
    """The cell's pins and the test tools."""


class Installing(NamedTuple):
    source: str
    """Where torch came from."""
    problem: Problem | None
    """Why the environment does not hold the cell's versions; None when it does."""


def requirements(cell: Cell) -> Requirements:
    torch = sources.torch_source(cell.torch, cell.python)
    return Requirements(torch.where, torch.options, [torch.requirement, f"transformers=={cell.transformers}",
                                                     f"gliner[training]=={cell.gliner}", *suite_tools()])


def install(cell: Cell, python: Path, opts: Options, reinstall: Sequence[str] = ()) -> Installing:
    """Make ``python``'s environment hold exactly the cell's versions (with its lock file as constraints; packages
    that nothing asks for are removed); (torch source, None) or (source, why not). ``reinstall``: distributions to
    install again although their versions are the pinned ones (their files were damaged)."""
    source, options, reqs = requirements(cell)
    args = [*options, *reqs, "-e", project(ROOT)]
    if cell.lock.is_file():
        args += ["--constraint", str(cell.lock)]
    elif cell.exclude_newer:  # no lock file: what the pins leave open, as of the definition's date
        args += ["--exclude-newer", cell.exclude_newer]
    marker = python.parent.parent / PINS_MARKER
    # the lock file's content, not its path: after `nox -s lock` the environment is installed again
    wanted = json.dumps([args, cell.override, cell.lock.read_text() if cell.lock.is_file() else None])
    if marker.is_file() and marker.read_text() == wanted and not reinstall:
        opts.log(f"{cell.id}: environment is current, install skipped")
        return Installing(source, None)
    marker.unlink(missing_ok=True)
    argv = [*opts.installer, "pip", "install", "--exact", "--python", str(python), *args,
            *(a for name in reinstall for a in ("--reinstall-package", name))]
    opts.log(f"{cell.id}: installing torch {cell.torch} ({source}), transformers {cell.transformers}, "
             f"gliner {cell.gliner}{' with override' if cell.override else ''}")
    with override_file(cell) as override:
        code, output = process.call([*argv, *override], opts.install_timeout_s,
                                    env=sources.installer_env(compile_bytecode=False),
                                    watch=Progress(cell, opts, "install"))
    if code is None:
        return Installing(source, Problem("timeout",
                                          f"the install did not finish within {opts.install_timeout_s:.0f} s"))
    if code != 0:
        return Installing(source, Problem("install-failed", f"install exit {code}: {_why(output)}\n{tail(output)}",
                                          conclusive=settled(output)))
    marker.write_text(wanted)
    return Installing(source, None)


@contextlib.contextmanager
def override_file(cell: Cell) -> Iterator[list[str]]:
    """uv's arguments that install the cell's transformers even where its gliner declares it unsupported (an
    ``--override`` file, removed after), or none for a cell without ``override``."""
    if not cell.override:
        yield []
        return
    path = Path(tempfile.mkstemp(suffix=".txt", prefix="override-")[1])
    try:
        path.write_text(f"transformers=={cell.transformers}\n")
        yield ["--override", str(path)]
    finally:
        path.unlink(missing_ok=True)


def _why(output: str) -> str:
    """The line of an installer's output that says why: the resolver's "Because ...", else its last line."""
    kept = [line.strip() for line in output.splitlines() if line.strip()]
    because = next((line for line in kept if "Because" in line), None)
    return (because or (kept[-1] if kept else "no output")).removeprefix("cause: ").removeprefix("╰─▶ ")[:300]
