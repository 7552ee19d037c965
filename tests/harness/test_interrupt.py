"""Ctrl-C or SIGTERM in the middle of a cell (venv or Docker) stops it: nothing it started runs on, no container is
left, and the previous result is as it was. The harness runs in its own process, as under nox; the suite and the
docker client are stand-ins that hang."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import FAKE_DOCKER, junit_xml
from harness import definition

ROOT = Path(__file__).parents[2]
CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")
HARNESS = """
import signal, sys
# Ctrl-C as from a terminal, however this test was started: a shell running it in the background (`cmd &`) starts
# every child with SIGINT ignored, and Python keeps an inherited SIG_IGN
signal.signal(signal.SIGINT, signal.default_int_handler)
from harness import definition
from harness.run import cell, runners
from harness.run.options import Options
from harness.run import docker
this = definition.Cell("2.13.0", "5.0.0", "0.2.29")
runner = docker.Container(this) if {docker} else runners.Venv(__import__("pathlib").Path({python!r}))
opts = Options(installer=[{installer!r}], rerun=True, log=lambda m: print(m, flush=True))
cell.run(this, runner, opts, root=__import__("pathlib").Path({cells!r}))
"""


def _wait_for(path: Path, seconds: float = 30) -> None:
    end = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < end, f"{path.name} never appeared"
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _interrupt(script: str, started: Path, signum: int) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)  # `python -c` imports from its directory
    _wait_for(started)
    time.sleep(0.3)
    os.killpg(proc.pid, signum)  # what Ctrl-C does: the whole foreground group (here: the harness's group)
    out, _ = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_venv_cell_leaves_no_process_and_its_previous_result(fake_env, tmp_path, signum) -> None:
    python, installer, behave, _ = fake_env
    cells = tmp_path / "cells"
    previous = cells / CELL.id / "result.json"
    previous.parent.mkdir(parents=True)
    previous.write_text('{"status": "pass", "previous": true}')
    behave(hang=True)
    script = HARNESS.format(docker=False, python=str(python), installer=installer[0],
                            cells=str(cells))
    done = _interrupt(script, python.parent / "pytest.pid", signum)
    pid = int((python.parent / "pytest.pid").read_text())
    time.sleep(0.2)
    assert _gone(pid), "the suite stops with the harness"
    assert done.returncode != 0, "an interrupted run is not a finished one"
    assert json.loads(previous.read_text()) == {"status": "pass", "previous": True}, "the previous result is intact"
    assert sorted(p.name for p in previous.parent.iterdir()) == ["result.json"], "no half-written run is left"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_docker_cell_removes_its_container(tmp_path, monkeypatch, signum) -> None:
    client = tmp_path / "bin" / "docker"
    client.parent.mkdir()
    client.write_text(FAKE_DOCKER.format(python=sys.executable))
    client.chmod(0o755)
    (client.parent / "docker.json").write_text(json.dumps({"hang": True, "junit": junit_xml()}))
    monkeypatch.setenv("PTBR_DOCKER", str(client))
    cells = tmp_path / "cells"
    script = HARNESS.format(docker=True, python="", installer="", cells=str(cells))
    script = script.replace("cell.run(", "docker._stage = lambda wheel: None\ncell.run(")
    _interrupt(script, client.parent / "run.pid", signum)
    calls = [json.loads(line) for line in (client.parent / "docker.calls").read_text().splitlines()]
    names = [c[c.index("--name") + 1] for c in calls if c[0] == "run"]
    assert calls[-1] == ["rm", "--force", *names], "every container the run started is removed"
    assert _gone(int((client.parent / "run.pid").read_text())), "and the client is killed"
    assert not (cells / CELL.id / "result.json").exists(), "an interrupted run writes no result"
