"""Run one cell: install its pinned versions into its virtualenv, check what resolved, import, run the propagation
suite with xdist, and write its result file. Every failure mode ends in a result with a status, never a crash."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness import junit, results, sources
from harness.definition import ROOT, Cell, suite_tools
from harness.results import CellResult, Status

SUITE = ("tests/propagation",)
PINS_MARKER = ".ptbr-cell-pins"

_RESOLVED = """import importlib.metadata as m, json
out = {}
for name in ("torch", "transformers", "gliner"):
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = None
reqs = [r for r in (m.requires("gliner") or []) if r.replace(" ", "").startswith("transformers")]
print(json.dumps({"resolved": out, "gliner_requires": reqs[0] if reqs else None}))
"""


@dataclass
class Options:
    timeout_s: float = 1200
    """For the import check and the suite together."""
    install_timeout_s: float = 3600
    rerun: bool = False
    pytest_args: Sequence[str] = ()
    workers: str = "auto"
    log: Callable[[str], None] = print
    installer: list[str] = field(default_factory=sources.uv)
    installed_from: str | None = None
    """Set where the cell's pins are already installed (a cell's Docker image): no install step, and this is
    recorded as the torch source."""
    runner: Literal["venv", "docker"] = "venv"


def repro(cell: Cell, tests: Sequence[str] = ()) -> str:
    """The nox command that reruns this cell (and only the given tests)."""
    if cell.id in _default_ids():
        base = f'nox -s "matrix({cell.id})" --'
    else:
        base = f"nox -s cell -- --torch {cell.torch} --transformers {cell.transformers} --gliner {cell.gliner}"
        base += " --override" if cell.override else ""
    return f"{base} --rerun" + "".join(f" {t}" for t in tests)


def _default_ids() -> set[str]:
    from harness import definition

    return {c.id for c in definition.cells()}


def tail(text: str, lines: int = 12) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def call(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None,
         cwd: Path = ROOT) -> tuple[int | None, str]:
    """Run a command in its own process group; (returncode, output). None as returncode: timed out (group killed)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = None
        except BaseException:  # Ctrl-C: take the whole process group down with us
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        out.seek(0)
        return code, out.read()


def requirements(cell: Cell) -> tuple[str, list[str], list[str]]:
    """(torch source, index options, requirements): the cell's pins and the test tools."""
    source, torch_args = sources.torch_source(cell.torch)
    options, torch_pin = torch_args[:-1], torch_args[-1]
    return source, options, [torch_pin, f"transformers=={cell.transformers}", f"gliner[training]=={cell.gliner}",
                             *suite_tools()]


def install(cell: Cell, python: Path, opts: Options) -> tuple[str, str | None]:
    """Install the cell's versions into ``python``'s environment; (torch source, None) or (source, reason)."""
    source, options, reqs = requirements(cell)
    args = [*options, *reqs, "-e", str(ROOT)]
    if cell.lock.is_file():
        args += ["--constraint", str(cell.lock)]
    marker = python.parent.parent / PINS_MARKER
    wanted = json.dumps([args, cell.override])
    if marker.is_file() and marker.read_text() == wanted:
        opts.log(f"{cell.id}: environment is current, install skipped")
        return source, None
    argv = [*opts.installer, "pip", "install", "--python", str(python), *args]
    override = None
    if cell.override:  # install this transformers even where gliner declares it unsupported
        override = Path(tempfile.mkstemp(suffix=".txt", prefix="override-")[1])
        override.write_text(f"transformers=={cell.transformers}\n")
        argv += ["--override", str(override)]
    opts.log(f"{cell.id}: installing torch {cell.torch} ({source}), transformers {cell.transformers}, "
             f"gliner {cell.gliner}{' with override' if cell.override else ''}")
    try:
        code, output = call(argv, opts.install_timeout_s, env=sources.installer_env())
    finally:
        if override:
            override.unlink(missing_ok=True)
    if code != 0:
        why = "timed out" if code is None else f"exit {code}"
        return source, f"install {why}:\n{tail(output)}"
    marker.write_text(wanted)
    return source, None


def _declared(resolved_tf: str | None, requires: str | None, override: bool) -> dict[str, object]:
    from packaging.requirements import Requirement
    from packaging.version import Version

    inside = None
    if resolved_tf and requires:
        inside = Version(resolved_tf) in Requirement(requires.split(";")[0]).specifier
    return {"gliner_requires": requires, "inside": inside, "override": override}


def _mismatch(cell: Cell, resolved: dict[str, str | None]) -> str | None:
    wrong = [f"{name} {resolved.get(name)} (pinned {pin})" for name, pin in cell.pins.items()
             if (resolved.get(name) or "").split("+")[0] != pin]
    return f"resolved versions differ from the pins: {', '.join(wrong)}" if wrong else None


def selection(opts: Options) -> list[str]:
    """The test ids among the pytest arguments: a run with some runs those instead of the suite."""
    return [a for a in opts.pytest_args if not a.startswith("-")]


def current(cell: Cell, opts: Options, root: Path = results.CELLS) -> CellResult | None:
    """The cell's saved result when it is current (same pins and code, whole suite) and no rerun is asked."""
    previous = results.load(cell.id, root)
    if previous and previous["fingerprint"] == results.fingerprint(cell) and not previous.get("selection") \
            and not selection(opts) and not opts.rerun:
        opts.log(f"{cell.id}: result is current ({previous['status']}), skipped; --rerun to run it again")
        return previous
    return None


def new_result(cell: Cell, opts: Options) -> CellResult:
    """A result that says "error" until a step sets its status."""
    return CellResult(
        id=cell.id, requested=cell.pins, resolved=None,
        declared_support={"gliner_requires": None, "inside": None, "override": cell.override},
        torch_source=None, status="error", reason=None, breaks=[],
        gliner_path={"status": "not-run", "breaks": []},
        repro={"nox": repro(cell), "docker_build": None, "docker_run": None}, runner=opts.runner, image=None,
        duration_s=0.0, timings={}, fingerprint=results.fingerprint(cell), finished_at="",
        selection=selection(opts) or None,
    )


def conclude(result: CellResult, status: Status, reason: str | None, start: float, opts: Options,
             root: Path = results.CELLS) -> CellResult:
    """Set the final status, time the run, save the result."""
    result.update(status=status, reason=reason, duration_s=round(time.monotonic() - start, 1),
                  finished_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    results.save(result, root)
    opts.log(f"{result['id']}: {status}" + (f" ({reason.splitlines()[0]})" if reason else ""))
    return result


def run(cell: Cell, python: Path, opts: Options | None = None, root: Path = results.CELLS) -> CellResult:
    """Run one cell end to end and save its result. Returns the saved result (or the current one, skipped)."""
    opts = opts or Options()
    if previous := current(cell, opts, root):
        return previous
    start = time.monotonic()
    out_dir = results.cell_dir(cell.id, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = new_result(cell, opts)
    chosen = selection(opts)

    def finish(status: Status, reason: str | None = None) -> CellResult:
        return conclude(result, status, reason, start, opts, root)

    if opts.installed_from:
        source, problem = opts.installed_from, None
    else:
        step = time.monotonic()
        source, problem = install(cell, python, opts)
        result["timings"]["install_s"] = round(time.monotonic() - step, 1)
    result["torch_source"] = source
    if problem:
        return finish("install-failed", problem)

    code, output = call([str(python), "-c", _RESOLVED], 300)
    if code != 0:
        return finish("import-failed", f"cannot read installed versions:\n{tail(output)}")
    info = json.loads(output.strip().splitlines()[-1])
    result["resolved"] = info["resolved"]
    result["declared_support"] = _declared(info["resolved"].get("transformers"), info["gliner_requires"],
                                           cell.override)
    opts.log(f"{cell.id}: resolved " + ", ".join(f"{k} {v}" for k, v in info["resolved"].items()))
    mismatch = _mismatch(cell, info["resolved"])
    if mismatch:
        return finish("install-failed", mismatch)

    deadline = step = time.monotonic()
    deadline += opts.timeout_s
    code, output = call([str(python), "-c", "import torch, transformers, gliner"], opts.timeout_s)
    result["timings"]["import_s"] = round(time.monotonic() - step, 1)
    if code is None:
        return finish("timeout", f"importing the stack took over {opts.timeout_s:.0f} s")
    if code != 0:
        return finish("import-failed", tail(output, 6))

    xml = out_dir / "junit.xml"
    xml.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONHASHSEED": "0", "HF_HUB_OFFLINE": "1"}
    # --dist loadfile: a worker runs whole modules, so a module's shared fixtures (one crossing per profile, one
    # short training) are built once rather than once per worker
    argv = [str(python), "-m", "pytest", *([] if chosen else SUITE), "-n", opts.workers, "--dist", "loadfile",
            "-q", "--tb=line",
            "-p", "no:cacheprovider", "-m", "gliner_path or not gliner_path", f"--junitxml={xml}", *opts.pytest_args]
    step = time.monotonic()
    code, output = call(argv, max(deadline - time.monotonic(), 1), env=env)
    result["timings"]["suite_s"] = round(time.monotonic() - step, 1)
    (out_dir / "pytest.log").write_text(output, encoding="utf-8")
    if code is None:
        return finish("timeout", f"the suite did not finish within {opts.timeout_s:.0f} s")
    if code not in (0, 1) or not xml.is_file():
        return finish("error", f"pytest exit {code}:\n{tail(output)}")
    found = junit.breaks(xml)
    ptbr = [b for b in found if b["layer"] != junit.GLINER_PATH]
    gliner = [b for b in found if b["layer"] == junit.GLINER_PATH]
    result["breaks"], result["gliner_path"] = ptbr, {"status": "broken" if gliner else "pass", "breaks": gliner}
    result["repro"]["nox"] = repro(cell, failing(result))
    return finish("broken" if ptbr else "pass")


def failing(result: CellResult) -> list[str]:
    """The tests that broke on PTBR's path: what a repro command selects."""
    return sorted({b["test"] for b in result["breaks"]})
