"""A pytest plugin for a cell's one run (``-p harness.run.cell_plugin``, harness/run/cell.py): the stack is imported
once per process, and every stage of the cell runs where it already is.

    import torch, transformers, gliner  (the run's first step, before the suite's conftests)
    → the propagation suite  → the configs: ``ptbr prove`` in this process, once the suite's verdict is written

It runs on the cell's Python (a virtualenv or an image), so it uses only the standard library, pytest and PTBR's
command line. Each process of the run (pytest's, and each xdist worker's) writes one record under
``--cell-record DIR``/processes/: how long its import took or why it failed, and for pytest's own process the suite's
exit status and the configs' stage (harness/run/records.py). A stack that does not import ends the run at once (exit
:data:`IMPORT_FAILED`), before any test is collected.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import pytest
from harness.run import records

STACK = "torch,transformers,gliner"
IMPORT_FAILED = 3
"""The exit status of a run whose stack did not import (its record says why)."""

_RECORD: records.Record = {}
_SUITE_STARTED: list[float] = []
_SESSION: list[pytest.Session] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ptbr-cell", "a version-matrix cell's run (harness/run/cell_plugin.py)")
    group.addoption("--cell-record", metavar="DIR", help="where each process of the run writes its record")
    group.addoption("--cell-prove", action="append", default=[], metavar="CONFIG",
                    help="a config to prove with `ptbr prove` once the suite has run (repeatable)")
    group.addoption("--cell-prove-base", metavar="DIR", help="where the configs' relative data paths are read")
    group.addoption("--cell-stack", default=STACK, metavar="MODULES",
                    help=f"the modules whose import is the run's first step (default {STACK})")


def _write(directory: str | None) -> None:
    if directory:
        records.write(directory, _RECORD)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """The import check, before anything else imports the stack: a failure here is the cell's import-failed."""
    known = early_config.known_args_namespace
    directory = known.cell_record
    _RECORD.update(role="starting", pid=os.getpid(), imported=False, import_s=None, error=None)
    start = time.monotonic()
    try:
        for name in known.cell_stack.split(","):
            __import__(name)
    except Exception:  # whatever importing raised is the verdict's reason
        _RECORD.update(import_s=round(time.monotonic() - start, 2), error=traceback.format_exc()[-4000:])
        _write(directory)
        print(f"the stack did not import:\n{_RECORD['error']}", file=sys.stderr)
        raise SystemExit(IMPORT_FAILED) from None
    _RECORD.update(imported=True, import_s=round(time.monotonic() - start, 2))
    _write(directory)


def pytest_configure(config: pytest.Config) -> None:
    _RECORD["role"] = "worker" if hasattr(config, "workerinput") else "main"  # xdist gives a worker its input
    _write(config.getoption("cell_record"))


def pytest_sessionstart(session: pytest.Session) -> None:
    _SUITE_STARTED.append(time.monotonic())


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the suite's own finishing (its JUnit XML is written): record its exit status, then, in pytest's own
    process, prove the configs."""
    config = session.config
    directory = config.getoption("cell_record")
    _SESSION.append(session)
    _RECORD.update(suite_s=round(time.monotonic() - _SUITE_STARTED[0], 2) if _SUITE_STARTED else None,
                   exitstatus=int(exitstatus))
    asked = config.getoption("cell_prove")
    if _RECORD.get("role") != "main" or not asked or not directory:
        _write(directory)
        return
    _RECORD["configs"] = {"asked": len(asked), "done": False, "seconds": None, "exit": None, "error": None}
    _write(directory)
    start = time.monotonic()
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        _RECORD["configs"].update(_prove(asked, config.getoption("cell_prove_base"), Path(directory, "prove")))
    _RECORD["configs"].update(done=True, seconds=round(time.monotonic() - start, 2))
    _write(directory)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """pytest's own process ends as soon as pytest is done with it: Python's clean-up of the stack's modules takes
    about a second and writes nothing the run keeps (its output is flushed; every file it wrote is closed). A worker
    is left to xdist, which ends it."""
    if _RECORD.get("role") == "main" and config.getoption("cell_record") and _SESSION:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(_SESSION[0].exitstatus))


def _prove(configs: list[str], base: str | None, out: Path) -> dict[str, Any]:
    """``ptbr prove`` in this process, which it leaves as it found it: the environment and the working directory are
    restored, whatever proving does."""
    from ptbr import cli

    environ, here = dict(os.environ), Path.cwd()
    out.mkdir(parents=True, exist_ok=True)
    argv = ["prove", "--json", "--out", str(out / "proofs.json"), "--work", str(out / "work"),
            *(["--base", base] if base else []), *configs]
    try:
        return {"exit": cli.main(argv)}
    except Exception:  # a defect of PTBR: the configs it did not write say so, and the run goes on
        return {"error": traceback.format_exc()[-4000:]}
    finally:
        os.environ.clear()
        os.environ.update(environ)
        os.chdir(here)
