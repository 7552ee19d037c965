"""Running a command of a cell: in its own process group, killed with it on a timeout, an interrupt or the harness's
own death; SIGTERM and SIGHUP end a run like Ctrl-C; a stage directory that is removed whatever happens; and nox's
own process (the scheduler of `nox -j N`, or nox running its sessions itself) stopping the whole run on Ctrl-C,
SIGTERM or SIGHUP."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from harness.run.pins import ROOT


def tail(text: str, lines: int = 12) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the harness dies without cleaning up (Linux), so nothing runs on."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Ran(NamedTuple):
    returncode: int | None
    """None: it did not finish within its time (its process group was killed)."""
    output: str
    """stdout and stderr together, as they came."""


def call(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT,
         watch: Callable[[str], None] | None = None) -> Ran:
    """Run a command in its own process group; (returncode, output). None as returncode: timed out (group killed).
    ``watch`` sees the output as it comes (progress). Any exception here (Ctrl-C, SIGTERM) kills the group first."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, preexec_fn=_die_with_parent)
        seen, deadline = 0, time.monotonic() + timeout
        try:
            while True:
                try:
                    code = proc.wait(timeout=max(min(1.0, deadline - time.monotonic()), 0.01))
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() >= deadline:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                        code = None
                        break
                if watch:
                    new = os.pread(out.fileno(), 1 << 20, seen)
                    seen += len(new)
                    if new:
                        watch(new.decode("utf-8", errors="replace"))
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        out.seek(0)
        return Ran(code, out.read())


@contextlib.contextmanager
def terminations_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C does (an exception, so every `finally` cleans up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        if not STOPPED_BY:  # nox's own process ends by it once nox is done (stop_run_on_signals)
            STOPPED_BY.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def staged(parent: Path, prefix: str, stop: Callable[[], None]) -> Iterator[Path]:
    """A run's stage: a new directory under ``parent`` that anyone may write (a container runs as the caller but may
    map it otherwise), for the run's logs and files until they are kept; on the way out, whatever happened (an
    interrupt too), ``stop`` (the runner's: a container is removed) and the directory is removed."""
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    stage.chmod(0o777)
    try:
        yield stage
    finally:
        stop()
        shutil.rmtree(stage, ignore_errors=True)


STOPPED_BY: list[int] = []
"""The signal that stopped the run (nox's own process), if one did."""


def stop_run_on_signals() -> None:
    """In nox's own process: Ctrl-C (even where a shell started it with SIGINT ignored, as `cmd &` does), SIGTERM
    (`kill`, a CI cancel) and SIGHUP (a terminal closing) all become the interrupt nox handles. Running the sessions
    itself, nox stops the one running (a cell stops its suite or containers and keeps its previous result). As the
    scheduler of a parallel run (``-j N``), whose sessions each run in a process and process group of their own (only
    this process receives a terminal's Ctrl-C), it stops every running session's group (SIGTERM, on which each cell
    stops likewise) and starts no queued one. Once nox is done, a run stopped by SIGTERM or SIGHUP ends by that
    signal (exit 143, 129), by Ctrl-C with nox's 130."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    atexit.register(_end_as_signalled)


def _stop(signum: int, _frame: object) -> None:
    if STOPPED_BY:  # a second signal while the sessions are being stopped: the stop is under way
        return
    STOPPED_BY.append(signum)
    print(f"nox > {signal.Signals(signum).name}: stopping the run: every running session, and no queued one starts",
          flush=True)
    raise KeyboardInterrupt(f"signal {signum}")


def _end_as_signalled() -> None:
    if STOPPED_BY and STOPPED_BY[0] != signal.SIGINT:
        signal.signal(STOPPED_BY[0], signal.SIG_DFL)
        os.kill(os.getpid(), STOPPED_BY[0])
