"""One cell's result files: their schema, atomic writes, and the one notion of "current".

reports/cells/<id>/result.json is the cell's full result (the whole suite ran); a run that selected tests or passed
other pytest arguments is a *repro run*, written to reports/cells/<id>/repro/result.json and never replacing it.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TypedDict

from harness.run.pins import ROOT, Cell

REPORTS = ROOT / "reports"
CELLS = REPORTS / "cells"
REPRO = "repro"
"""The sub-directory of a cell's directory that holds its latest repro run."""

Status = Literal["pass", "broken", "install-failed", "import-failed", "timeout", "error", "unavailable"]
"""``unavailable``: the cell cannot run on this machine (no interpreter of its Python): not a verdict."""
Runner = Literal["venv", "docker"]
# What a cell's verdict depends on besides its pins, lock file and torch source: the code under test, the suite and
# the part of the harness that runs a cell and classifies what it saw (harness/run/). The rest of harness/ (the
# definition, the report and expected verdicts, the GitHub glue, the atlas, drift, bisect, discover) plans runs or
# renders results: editing it reruns no cell. Files git does not ignore count even before they are added.
CODE = ("src", "tests/propagation", "tests/support.py", "tests/conftest.py", "examples", "harness/run",
        "pyproject.toml")
DOCKER_CODE = ("Dockerfile",)
"""What a Docker runner's result also depends on (the image is built from it)."""
IMAGE_ENTRY = ("harness/__init__.py", "harness/__main__.py", "harness/inputs.py", "harness/definition.py")
"""What the image's entry point (``python -m harness in-image``) imports beside harness/run/: it runs on the cell's
Python too, though it decides no verdict."""


def on_the_cells_python() -> list[str]:
    """The Python sources that run on a cell's own Python (its virtualenv or image): what vermin holds to the oldest
    Python the project supports."""
    return [p for p in (*CODE, *IMAGE_ENTRY) if p.endswith(".py") or ((ROOT / p).is_dir() and p != "examples")]


class Break(TypedDict):
    layer: str
    field: str
    """The field whose value was wrong; for a failure that is not a value mismatch, the fields the test covers
    (comma-separated), which it left unproven."""
    test: str
    message: str
    cause: str | None
    """None for a value mismatch; else the exception that stopped the test (``TypeError: ...``): breaks that share
    a cause are one finding."""


class CellResult(TypedDict):
    id: str
    requested: dict[str, str]
    resolved: dict[str, str] | None
    installed: dict[str, str] | None
    """Every distribution in the environment the suite ran in, with its version."""
    python: str | None
    """The interpreter's full version the cell ran on (``3.13.5``), as the environment reports it."""
    declared_support: dict[str, Any]
    torch_source: str | None
    status: Status
    reason: str | None
    conclusive: bool
    """True when rerunning with the same inputs would give the same status (pass, broken, a resolver conflict):
    only a conclusive result is ever reused."""
    breaks: list[Break]
    gliner_path: dict[str, Any]
    tests: dict[str, int] | None
    """What pytest executed: tests, failures, errors, skipped (from its JUnit XML)."""
    repro: dict[str, str | None]
    """nox: the command that reruns the failing tests locally; docker_build, docker_run: the same in the cell's
    image (run from a checkout's root)."""
    runner: Runner
    image: dict[str, Any] | None
    """For runner "docker": the image's tag and size."""
    duration_s: float
    timings: dict[str, float]
    """Seconds of each stage that ran: install_s (a virtualenv; no byte-compiling: import_s includes writing the
    .pyc files of what is imported) or build_s (an image, compiled at build), probe_s (reading the installed
    versions), then the cell's one run: import_s (its first step), suite_s, configs_s."""
    workers: int | None
    """The suite's xdist workers (1: none, the suite ran in the process that imported the stack)."""
    stack_imports: int | None
    """How many processes of the cell imported torch, transformers and gliner: the run's own (one, and one per xdist
    worker) as each recorded it, and one for configs proven in a process of their own."""
    fingerprint: str
    finished_at: str
    selection: list[str] | None
    """The pytest arguments of a repro run; None for the whole suite."""


def now() -> str:
    """When a run finished, as results record it (UTC, to the second)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def cell_of(result: CellResult) -> Cell:
    """The cell a result is of."""
    return Cell(**result["requested"], override=bool(result["declared_support"].get("override")))


def cell_dir(cell_id: str, root: Path = CELLS) -> Path:
    return root / cell_id


def result_dir(cell_id: str, repro: bool, root: Path = CELLS) -> Path:
    """Where a run's files go: the cell's directory, or its repro/ sub-directory for a repro run."""
    return cell_dir(cell_id, root) / REPRO if repro else cell_dir(cell_id, root)


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename: a reader never sees half a file, an interrupt never leaves one. The
    file is readable by others (0644), like any report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(name, 0o644)
        os.replace(name, path)
    except BaseException:  # a full disk, an interrupt: no half-written file is left, the previous one stays
        Path(name).unlink(missing_ok=True)
        raise


def save(result: CellResult, root: Path = CELLS) -> Path:
    path = result_dir(result["id"], bool(result.get("selection")), root) / "result.json"
    write_atomic(path, json.dumps(result, indent=2) + "\n")
    return path


def load(cell_id: str, root: Path = CELLS, repro: bool = False) -> CellResult | None:
    path = result_dir(cell_id, repro, root) / "result.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_all(root: Path = CELLS, repro: bool = False) -> list[CellResult]:
    """Every cell's full result (or, with ``repro``, every cell's latest repro run); unreadable files are skipped."""
    found = root.glob(f"*/{REPRO}/result.json" if repro else "*/result.json")
    ids = sorted(p.parent.parent.name if repro else p.parent.name for p in found)
    return [r for cell_id in ids if (r := load(cell_id, root, repro)) is not None]


INTERRUPTED = "interrupted.json"
LOCKS = ".locks"


class Busy(Exception):
    """Another run of the same cell holds it (two `nox` runs of one cell at once would install into one virtualenv
    and race for its result files)."""


@contextlib.contextmanager
def running(cell_id: str, root: Path = CELLS) -> Iterator[None]:
    """Hold the cell for one run: an exclusive lock on reports/cells/.locks/<id> (released by the kernel when the
    process ends, however it ends). Busy, naming the holder, where another run holds it."""
    import fcntl

    (root / LOCKS).mkdir(parents=True, exist_ok=True)
    with (root / LOCKS / cell_id).open("a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise Busy(f"{cell_id}: another run of this cell is in progress ({holder}); nothing of it was changed: "
                       "wait for that run to end, or stop it") from None
        f.truncate(0)
        f.write(f"pid {os.getpid()}, started {now()}")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)


def mark_interrupted(cell_id: str, root: Path = CELLS) -> None:
    """Record that a run of this cell was stopped (Ctrl-C, SIGTERM) before it finished: its result, if any, is the
    previous run's (the report says so until a run of the cell finishes)."""
    write_atomic(cell_dir(cell_id, root) / INTERRUPTED, json.dumps({"id": cell_id, "at": now()}) + "\n")


def clear_interrupted(cell_id: str, root: Path = CELLS) -> None:
    (cell_dir(cell_id, root) / INTERRUPTED).unlink(missing_ok=True)


def interrupted(root: Path = CELLS) -> list[dict[str, str]]:
    """The cells whose latest run was stopped before it finished: {id, at}."""
    out = []
    for path in sorted(root.glob(f"*/{INTERRUPTED}")):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            out.append({"id": path.parent.name, "at": "?"})
    return out


def _code_files(code: tuple[str, ...], root: Path) -> list[Path]:
    """The source files under ``code``: in a checkout, what git tracks plus new files it does not ignore; else
    (an image holds no .git) every file except the leftovers that installing and testing create."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *code],
                                cwd=root, capture_output=True, check=True)
        return sorted({root / name for name in listed.stdout.decode().split("\0") if name})
    except (OSError, subprocess.CalledProcessError):
        skip = ("__pycache__", ".pytest_cache")
        found = []
        for name in code:
            path = root / name
            candidates = path.rglob("*") if path.is_dir() else [path]
            found += [p for p in candidates if p.is_file() and not any(s in p.parts for s in skip)
                      and not any(part.endswith(".egg-info") for part in p.parts)]
        return sorted(found)


def fingerprint(cell: Cell, runner: Runner = "venv", torch: str | None = None, root: Path = ROOT) -> str:
    """The one key of "still valid": the cell's pins, Python and override, its lock file's content, which torch build is
    installed (``torch==2.13.0+cpu`` and ``torch==2.13.0`` differ; a local wheel and the CPU index do not), the
    runner, and every file of the code, the suite and the harness (and the Dockerfile for Docker). A saved result is
    current only while its fingerprint equals this."""
    from harness.run import sources

    torch = torch if torch is not None else sources.torch_source(cell.torch, cell.python).requirement
    digest = hashlib.sha256(json.dumps([cell.requested, cell.override, runner, torch]).encode())
    digest.update(cell.lock.read_bytes() if cell.lock.is_file() else b"no lock file")
    for f in _code_files(CODE + (DOCKER_CODE if runner == "docker" else ()), root):
        if f.is_file():
            digest.update(str(f.relative_to(root)).encode() + b"\0")
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def reusable(saved: CellResult | None, key: str, installed: dict[str, str] | None = None) -> bool:
    """A saved full result stands for a new run: conclusive, of the same inputs, and (where the environment can be
    read and the result ran in one) run in the environment that is installed now."""
    same_environment = installed is None or saved is None or saved.get("installed") is None \
        or saved["installed"] == installed
    return bool(saved and saved.get("conclusive") and not saved.get("selection") and saved["fingerprint"] == key
                and same_environment)
