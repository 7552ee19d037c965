"""One cell's result file (reports/cells/<id>/result.json): its schema, atomic writes, and whether it is current."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Literal, TypedDict

from harness.definition import ROOT, Cell

REPORTS = ROOT / "reports"
CELLS = REPORTS / "cells"

Status = Literal["pass", "broken", "install-failed", "import-failed", "timeout", "error"]
# What a cell's result depends on besides its pins: the code under test and the suite.
CODE = ("src", "tests/propagation", "tests/support.py", "tests/conftest.py", "examples", "pyproject.toml")


class Break(TypedDict):
    layer: str
    field: str
    test: str
    message: str


class CellResult(TypedDict):
    id: str
    requested: dict[str, str]
    resolved: dict[str, str] | None
    declared_support: dict[str, Any]
    torch_source: str | None
    status: Status
    reason: str | None
    breaks: list[Break]
    gliner_path: dict[str, Any]
    repro: dict[str, str | None]
    """nox: the command that reruns the failing tests locally; docker_build, docker_run: the same in the cell's
    image (run from a checkout's root)."""
    runner: Literal["venv", "docker"]
    image: dict[str, Any] | None
    """For runner "docker": the image's tag and size."""
    duration_s: float
    timings: dict[str, float]
    """install_s, import_s, suite_s: the steps that ran."""
    fingerprint: str
    finished_at: str
    selection: list[str] | None
    """The tests a repro run selected; None for the whole suite. A subset's result is never current."""


def cell_dir(cell_id: str, root: Path = CELLS) -> Path:
    return root / cell_id


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename: a reader never sees half a file, an interrupt never leaves one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as f:
        f.write(text)
    os.replace(f.name, path)


def save(result: CellResult, root: Path = CELLS) -> Path:
    path = cell_dir(result["id"], root) / "result.json"
    write_atomic(path, json.dumps(result, indent=2) + "\n")
    return path


def load(cell_id: str, root: Path = CELLS) -> CellResult | None:
    path = cell_dir(cell_id, root) / "result.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_all(root: Path = CELLS) -> list[CellResult]:
    return [r for p in sorted(root.glob("*/result.json")) if (r := load(p.parent.name, root)) is not None]


def _code_files(code: tuple[str, ...], root: Path) -> list[Path]:
    """The source files under ``code``: git's tracked files when this is a checkout, else every file except build
    leftovers (egg-info, caches) that installing and testing create."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", *code], cwd=root, capture_output=True, check=True)
        return sorted(root / name for name in listed.stdout.decode().split("\0") if name)
    except (OSError, subprocess.CalledProcessError):
        skip = ("__pycache__", ".pytest_cache")
        found = []
        for name in code:
            path = root / name
            candidates = path.rglob("*") if path.is_dir() else [path]
            found += [p for p in candidates if p.is_file() and not any(s in p.parts for s in skip)
                      and not any(part.endswith(".egg-info") for part in p.parts)]
        return sorted(found)


def fingerprint(cell: Cell, code: tuple[str, ...] = CODE, root: Path = ROOT) -> str:
    """Same pins (and lock file) and same code → same fingerprint: a result with it is current."""
    digest = hashlib.sha256(json.dumps([cell.pins, cell.override]).encode())
    if cell.lock.is_file():
        digest.update(cell.lock.read_bytes())
    for f in _code_files(code, root):
        if f.is_file():
            digest.update(str(f.relative_to(root)).encode())
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]
