"""What each process of a cell's one run records (harness/run/cell_plugin.py writes, harness/run/cell.py reads): one
JSON file per process under ``<stage>/processes/``, named by its pid; pytest's own process says it is the ``main``
one once it knows (a process the harness runs may inherit an xdist worker's environment from whoever ran the
harness, so the environment cannot tell). Standard library only: it is imported on the cell's Python too."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TypedDict

DIRECTORY = "processes"


class ConfigsStage(TypedDict):
    asked: int
    done: bool
    seconds: float | None
    exit: int | None
    """``ptbr prove``'s exit status."""
    error: str | None
    """A defect of PTBR that ``ptbr prove`` did not catch (its traceback)."""


class Record(TypedDict, total=False):
    role: str
    """``main`` (pytest's own process), ``worker`` (an xdist worker's) or ``starting`` (before pytest configured it:
    its import failed)."""
    pid: int
    imported: bool
    """The process imported torch, transformers and gliner."""
    import_s: float | None
    error: str | None
    """Why the stack did not import (the traceback's end)."""
    suite_s: float | None
    """From the session's start to its end (pytest's own process: the suite; a worker: the tests it ran)."""
    exitstatus: int | None
    """pytest's exit status, once the suite has finished."""
    configs: ConfigsStage


def write(stage: str | Path, record: Record) -> None:
    """A process's record, whole or not at all (a temporary file renamed)."""
    path = Path(stage, DIRECTORY, f"{record['pid']}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{record['pid']}.tmp")
    partial.write_text(json.dumps(record, indent=1), encoding="utf-8")
    os.replace(partial, path)


def read(stage: Path) -> list[Record]:
    """Every process's record; one that cannot be read is left out."""
    found = []
    for path in sorted((stage / DIRECTORY).glob("*.json")):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return found


def main(found: list[Record]) -> Record:
    """The record of pytest's own process: the one that says so, or the one process there was if it never got
    that far (workers start only once it has imported the stack); empty when there is none."""
    said = [r for r in found if r.get("role") == "main"]
    return said[0] if said else found[0] if len(found) == 1 and found[0].get("role") == "starting" else {}
