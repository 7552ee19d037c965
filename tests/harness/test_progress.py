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


@pytest.mark.parametrize(("argv", "env", "parallel"), [
    (["nox", "-j", "2", "-s", "matrix"], {}, True),
    (["nox", "-j2"], {}, True),
    (["nox", "--parallel=4"], {}, True),
    (["nox", "-s", "matrix"], {"NOX_PARALLEL": "2"}, True),
    (["nox", "-j", "1"], {}, False),
    (["nox", "-s", "matrix"], {}, False),
    (["nox", "--parallel", "1", "--parallel-worker", "-s", "matrix(x)"], {"NOX_PARALLEL": "2"}, False),
])
def test_only_the_process_that_schedules_parallel_sessions_follows(argv, env, parallel: bool) -> None:
    """A worker's own output is what nox holds back: it must not print the log a second time."""
    assert progress.scheduling_in_parallel(argv, env) is parallel


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
