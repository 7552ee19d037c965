"""Progress of running cells, visible while they run, also under `nox -j N`.

Each cell's session logs its stages and test counts (harness/run/output.py ``Progress``) to nox and appends them, one
line each, to reports/progress.log. Under ``-j`` nox holds a session's output until it ends; on a terminal its live
board shows each session's latest line, but where stdout is not a terminal (CI logs, a pipe) nothing appears for
minutes. There the nox process that schedules the sessions (it imports the noxfile too) follows progress.log and
prints each new line as it comes (``follow``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import TextIO

from harness.run import process
from harness.run.options import cores
from harness.run.results import REPORTS

LOG = REPORTS / "progress.log"


def writer(log: Callable[[str], None], path: Path = LOG) -> Callable[[str], None]:
    """A cell's log: ``log`` (nox's), and one line in ``path`` per message."""

    def write(message: str) -> None:
        log(message)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as f:  # one short write in append mode: lines from cells never mix
            f.write(f"{time.strftime('%H:%M:%S')} {message}\n")

    return write


JOBS = "PTBR_NOX_JOBS"
"""How many sessions nox's scheduling process runs at once (``-j N``), exported for the sessions it starts (each a
``nox --parallel-worker`` process that inherits its environment and is told no more than that it is one)."""


def parallel_jobs(argv: list[str], env: dict[str, str]) -> int:
    """N where this process is nox scheduling sessions in parallel (``-j N`` / ``--parallel N``, ``auto``: the cores,
    or NOX_PARALLEL); 1 in one of the workers it starts (``--parallel-worker``) and without."""
    if "--parallel-worker" in argv:
        return 1
    value = env.get("NOX_PARALLEL")
    for i, arg in enumerate(argv):
        if arg in ("-j", "--parallel") and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--parallel="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-j") and len(arg) > 2:
            value = arg[2:]
    if value == "auto":
        return cores()
    return int(value) if value is not None and value.isdigit() and int(value) > 0 else 1


def cells_at_once(parallel: bool, env: dict[str, str] | None = None) -> int:
    """How many cells share the cores with a session's: the scheduler's N (:data:`JOBS`) in a session nox runs in
    parallel (``session.parallel``), else 1."""
    value = (os.environ if env is None else env).get(JOBS, "1")
    return int(value) if parallel and value.isdigit() and int(value) > 0 else 1


def follow(path: Path = LOG, out: TextIO | None = None, every_s: float = 1.0,
           stop: threading.Event | None = None) -> threading.Thread:
    """Print each line appended to ``path`` from now on to ``out`` (stdout), prefixed ``nox > progress:``, in a
    daemon thread (it ends with the process, or when ``stop`` is set)."""
    out = out or sys.stdout
    stop = stop or threading.Event()
    start = path.stat().st_size if path.is_file() else 0

    def run() -> None:
        seen, pending = start, ""
        while not stop.wait(every_s):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size < seen:  # the log was removed and begun again
                seen = 0
            if size == seen:
                continue
            with path.open("rb") as f:
                f.seek(seen)
                chunk = f.read(size - seen)
            seen = size
            *lines, pending = (pending + chunk.decode("utf-8", errors="replace")).split("\n")
            if lines:
                out.write("".join(f"nox > progress: {line}\n" for line in lines))
                out.flush()

    thread = threading.Thread(target=run, name="ptbr-progress", daemon=True)
    thread.start()
    return thread


def at_import(argv: list[str] | None = None, env: MutableMapping[str, str] | None = None,
              on_signals: Callable[[], None] = process.stop_run_on_signals) -> None:
    """What the noxfile does as nox imports it: in nox's own process (not a worker of a parallel run), stop the whole
    run on Ctrl-C, SIGTERM and SIGHUP (:func:`harness.run.process.stop_run_on_signals`); in the scheduling process of a
    parallel run, export its N (:data:`JOBS`, so each cell's session shares the cores: harness/run/options.py
    ``share``) and, where its stdout is not a terminal (nox would hold the cells' output back and draws no live
    board), ``follow`` the progress log."""
    argv = sys.argv if argv is None else argv
    env = os.environ if env is None else env
    if "--parallel-worker" not in argv:  # nox's own process: a worker stops on the SIGTERM nox sends it
        on_signals()
    jobs = parallel_jobs(argv, dict(env))
    if jobs > 1:
        env[JOBS] = str(jobs)
        if not sys.stdout.isatty():
            follow()
