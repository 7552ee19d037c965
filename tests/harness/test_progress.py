"""Progress under `nox -j N` where stdout is no terminal: the scheduling nox process prints the lines the cells
append to reports/progress.log as they come, not when a session ends."""

from __future__ import annotations

import io
import re
import threading
import time
from pathlib import Path

import pytest
from harness import progress


@pytest.mark.parametrize(("argv", "env", "jobs"), [
    (["nox", "-j", "2", "-s", "matrix"], {}, 2),
    (["nox", "-j2"], {}, 2),
    (["nox", "--parallel=4"], {}, 4),
    (["nox", "-s", "matrix"], {"NOX_PARALLEL": "2"}, 2),
    (["nox", "-j", "1"], {}, 1),
    (["nox", "-s", "matrix"], {}, 1),
    (["nox", "--parallel", "1", "--parallel-worker", "-s", "matrix(x)"], {"NOX_PARALLEL": "2"}, 1),
])
def test_only_the_process_that_schedules_parallel_sessions_counts_its_jobs(argv, env, jobs: int) -> None:
    """A worker's own output is what nox holds back: it must not print the log a second time, nor take itself for
    the scheduler."""
    assert progress.parallel_jobs(argv, env) == jobs


def test_auto_jobs_are_the_cores(monkeypatch) -> None:
    monkeypatch.setattr(progress, "cores", lambda: 6)
    assert progress.parallel_jobs(["nox", "-j", "auto"], {}) == 6, "nox's `auto`: one session per core"


def test_the_scheduler_tells_its_sessions_how_many_cells_share_the_cores(monkeypatch) -> None:
    monkeypatch.setattr(progress.sys.stdout, "isatty", lambda: True)  # no progress thread in this test
    env: dict[str, str] = {}
    stopping: list[bool] = []  # the scheduler's signal handling, not installed in this test's process
    progress.at_import(["nox", "-j", "3", "-s", "matrix"], env, on_signals=lambda: stopping.append(True))
    assert stopping == [True], "the scheduling process stops the whole run on signals"
    assert env == {progress.JOBS: "3"}, "exported for the sessions it starts (they inherit its environment)"
    assert progress.cells_at_once(True, env) == 3, "a session nox runs in parallel shares the cores with N-1 others"
    assert progress.cells_at_once(False, env) == 1, "one that runs alone (nox said it is no parallel session) does not"
    worker: dict[str, str] = {}
    progress.at_import(["nox", "--parallel", "1", "--parallel-worker", "-s", "matrix(x)"], worker,
                       on_signals=lambda: stopping.append(False))
    assert worker == {}, "a worker exports nothing: N is the scheduler's"
    assert stopping == [True], "nor handles the run's signals: its own cell stops on the SIGTERM nox sends it"
    progress.at_import(["nox", "-s", "matrix"], {}, on_signals=lambda: stopping.append(True))
    assert stopping == [True, True], "nox running its sessions itself stops the run on signals too"


def test_lines_appear_as_they_are_appended_and_only_new_ones(tmp_path: Path) -> None:
    log = tmp_path / "progress.log"
    log.write_text("10:00:00 an earlier run's line\n")
    out, stop = io.StringIO(), threading.Event()
    thread = progress.follow(log, out, every_s=0.05, stop=stop)
    write = progress.writer(lambda _m: None, log)
    write("torch2.13.0-tf5.16.1-gliner0.2.29: tests 40 of 171 done")
    deadline = time.monotonic() + 5
    while "tests 40 of 171" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    shown = out.getvalue()
    assert re.search(r"^nox > progress: \d\d:\d\d:\d\d torch2.13.0-tf5.16.1-gliner0.2.29: tests 40 of 171 done$",
                     shown, re.MULTILINE), f"a new line is printed while running: {shown!r}"
    assert "an earlier run" not in shown, "what was in the log before this run is not repeated"


def test_a_cell_session_takes_the_share_its_scheduler_leaves_it(monkeypatch) -> None:
    """The noxfile's cell sessions: nox says only whether the session runs in parallel; the scheduler's N comes from
    its environment (above), and the cell's workers and threads from both."""
    from types import SimpleNamespace

    from harness import sessions
    from harness.run import options

    monkeypatch.setattr(options, "cores", lambda: 4)
    monkeypatch.setenv(progress.JOBS, "2")

    def session(parallel: bool, *posargs: str) -> SimpleNamespace:  # what a nox session shows the harness
        return SimpleNamespace(posargs=["--no-configs", *posargs], name="matrix", log=lambda _m: None,
                               parallel=parallel)

    opts, _ = sessions.cell_options(session(True))
    assert (opts.workers, opts.threads) == (2, 1), "`-j 2` on 4 cores: half the cores, as xdist workers"
    opts, _ = sessions.cell_options(session(False))
    assert (opts.workers, opts.threads) == (4, 1), "a session run alone: every core"
    opts, _ = sessions.cell_options(session(True, "--workers", "1"))
    assert (opts.workers, opts.threads) == (1, 2), "one asked-for worker: its share's other core as a thread"
