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
from test_news import _result as result_of

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


PARALLEL_CELLS = ("torch2.6.0-tf4.51.3-gliner0.2.29", "torch2.6.0-tf4.57.6-gliner0.2.29",
                  "torch2.6.0-tf5.0.0-gliner0.2.29")


def _fake_engine(tmp_path: Path) -> Path:
    """A docker client whose suite runs hang, answering each image's version probe with its cell's pins."""
    client = tmp_path / "engine" / "docker"
    client.parent.mkdir()
    client.write_text(FAKE_DOCKER.format(python=sys.executable))
    client.chmod(0o755)
    (client.parent / "docker.json").write_text(json.dumps({"hang": True, "junit": junit_xml(),
                                                           "versions_of_tag": True}))
    return client


def _suite_runs(client: Path) -> list[list[str]]:
    calls = client.parent / "docker.calls"
    lines = calls.read_text().splitlines() if calls.is_file() else []
    return [c for c in map(json.loads, lines) if c[0] == "run" and any(a.startswith("--junitxml") for a in c)]


def _processes_of(path: Path) -> list[str]:
    found = subprocess.run(["pgrep", "-fa", str(path)], capture_output=True, text=True, check=False).stdout
    return [line for line in found.splitlines() if "pgrep" not in line]


@pytest.mark.parametrize(("signum", "code", "jobs"), [
    (signal.SIGINT, 130, 2), (signal.SIGTERM, -signal.SIGTERM, 2), (signal.SIGHUP, -signal.SIGHUP, 2),
    ("ignored SIGINT", 130, 2), (signal.SIGTERM, -signal.SIGTERM, 1), (signal.SIGINT, 130, 1),
], ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGINT-ignored-at-start", "SIGTERM-without-j", "SIGINT-without-j"])
def test_a_signal_to_a_parallel_run_stops_every_cell_at_once(checkout: Path, tmp_path: Path, signum, code,
                                                             jobs: int) -> None:
    """Real `nox -j 2` over three cells (the third queued), each in its Docker image behind a stand-in engine whose
    suite hangs: the signal, as a terminal or `kill` sends it to nox's process group, ends the run within seconds
    with the signal's exit status, every container removed, nothing of a cell left running, the queued cell never
    started, a cell's previous result kept, and the report saying which runs were stopped."""
    client = _fake_engine(tmp_path)
    result_of(checkout, PARALLEL_CELLS[0], "pass")  # a previous run's result, of older code (the cell runs again)
    previous = checkout / "reports" / "cells" / PARALLEL_CELLS[0] / "result.json"
    previous.write_text(previous.read_text().replace('"fingerprint": "', '"fingerprint": "older-'))
    before = previous.read_text()
    env = {**os.environ, "PTBR_DOCKER": str(client), "PTBR_INDEX_URL": "http://127.0.0.1:9/simple"}
    env.pop("NOX_PARALLEL", None)
    python = os.environ.get("PTBR_NOX_PYTHON", sys.executable)
    ignore = signum == "ignored SIGINT"  # as a shell's `cmd &` starts it: Ctrl-C must still stop the run
    proc = subprocess.Popen([python, "-m", "nox", "-f", str(checkout / "noxfile.py"), "--envdir",
                             str(checkout / ".nox"), "-j", str(jobs), "-s", *(f"matrix({c})" for c in PARALLEL_CELLS),
                             "--", "--docker"], cwd=checkout, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore else None)
    end = time.monotonic() + 120
    while len(_suite_runs(client)) < jobs:
        assert proc.poll() is None, f"nox ended before two cells' suites started:\n{proc.communicate()[0][-2000:]}"
        assert time.monotonic() < end, "two cells' suites never started"
        time.sleep(0.2)
    time.sleep(1)
    os.killpg(proc.pid, signal.SIGINT if ignore else signum)
    sent = time.monotonic()
    out, _ = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    assert proc.returncode == code, f"the run ends as the signal asks ({code}), got {proc.returncode}:\n{out[-2000:]}"
    assert took < 15, f"stopped within seconds, took {took:.1f} s"
    time.sleep(0.5)
    assert _processes_of(client) == [], "no docker client of a cell runs on"
    assert _processes_of(checkout / "noxfile.py") == [], "no session of the run runs on"
    started = {a for run in _suite_runs(client) for a in run if a.startswith("ptbr-matrix:")}
    assert len(started) == jobs, f"no queued cell started: {started}"
    calls = [json.loads(line) for line in (client.parent / "docker.calls").read_text().splitlines()]
    named = {run[run.index("--name") + 1] for run in calls if run[0] == "run"}
    removed = {name for c in calls if c[:2] == ["rm", "--force"] for name in c[2:]}
    assert named <= removed, "every container a cell started is removed"
    assert previous.read_text() == before, "a stopped cell's previous result is kept"
    report = (checkout / "reports" / "matrix.md").read_text()
    assert f"**Interrupted**: {PARALLEL_CELLS[0]}: its run of " in report, "the report says which runs were stopped"
    assert "the result shown is the previous run's (pass)" in report
    if jobs == 2:
        assert f"**Interrupted**: {PARALLEL_CELLS[1]}: its run of " in report
        assert "it has no result" in report


def test_two_runs_of_one_cell_at_once_the_second_is_refused_touching_nothing(fake_env, tmp_path) -> None:
    """A second harness starting the same cell while the first runs it (two terminals, a CI retry) would install
    into the same virtualenv and race for its files: refused, naming the run in progress; the first goes on."""
    python, installer, behave, _ = fake_env
    cells = tmp_path / "cells"
    behave(hang=True)
    script = HARNESS.format(docker=False, python=str(python), installer=installer[0], cells=str(cells))
    first = subprocess.Popen([sys.executable, "-c", script], start_new_session=True, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        _wait_for(python.parent / "pytest.pid")
        second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                                timeout=60, check=False)
        assert second.returncode != 0
        assert f"{CELL.id}: another run of this cell is in progress (pid {first.pid}, started " in second.stderr
        assert first.poll() is None, "the first run goes on"
        assert not (cells / CELL.id / "result.json").exists(), "and the second wrote nothing"
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.communicate(timeout=60)
