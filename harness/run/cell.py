"""Run one cell: the one lifecycle every runner shares.

    reuse a current result → prepare (install into a virtualenv, or build an image) → read the installed versions →
    import the stack → run the propagation suite with xdist → classify → write the result atomically → clean up

A runner (a virtualenv here, a container in harness/run/docker.py, the image's own Python in harness/run/image.py) only
says how to prepare and how to run a Python command; everything else is here, once. Every way a run can end is a
result with a status, never a crash; an interrupt (Ctrl-C, SIGTERM) kills what the run started and leaves the
previous result as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.run import configs, junit, results, sources
from harness.run.configs import UserConfig
from harness.run.pins import ROOT, Cell, suite_tools
from harness.run.results import CellResult, Status

SUITE = ("tests/propagation",)
PINS_MARKER = ".ptbr-cell-pins"
PROBE_TIMEOUT_S = 300

# The installed versions, and whether the environment is whole: every file each distribution's RECORD lists is
# there with the size it lists (a stat per file, no hashing: ~0.7 s with torch; .pyc files are Python's to rewrite)
_PROBE = """import importlib.metadata as m, json, os, platform
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
def whole(f, d):
    try:
        return f.size is None or f.suffix == ".pyc" or os.stat(d.locate_file(f)).st_size == int(f.size)
    except (OSError, ValueError):
        return False
reqs = [r for r in (m.requires("gliner") or []) if r.replace(" ", "").startswith("transformers")]
installed, damaged = {}, {}
for d in m.distributions():
    name = d.metadata["Name"].lower().replace("_", "-")
    installed[name] = d.version
    lost = [str(f) for f in d.files or () if not whole(f, d)]
    if lost:
        damaged[name] = lost
print(json.dumps({"resolved": {n: version(n) for n in ("torch", "transformers", "gliner")},
                  "python": platform.python_version(), "damaged": damaged,
                  "gliner_requires": reqs[0] if reqs else None, "installed": dict(sorted(installed.items()))}))
"""
# uv's own words for "these pins cannot be installed together": the same inputs give the same verdict
RESOLVER_CONFLICT = re.compile(r"No solution found when resolving|ResolutionImpossible|conflicting dependencies")
# ... unless what failed is the request itself (a version the index does not have: a typo, or a release not yet
# mirrored): then a rerun may succeed, and the failure is never stored as a reusable verdict
MISSING_RELEASE = re.compile(r"there is no version of [\w.\[\]-]+==|not found in the package registry|"
                             r"No matching distribution found")


def settled(output: str) -> bool:
    """Whether an install failure is a verdict on the versions (the same inputs fail the same way)."""
    return bool(RESOLVER_CONFLICT.search(output)) and not MISSING_RELEASE.search(output)


@dataclass
class Options:
    timeout_s: float = 1200
    """For the import check and the suite together."""
    install_timeout_s: float = 3600
    rerun: bool = False
    pytest_args: Sequence[str] = ()
    """Arguments for pytest (test ids, -k, -x, ...): the run is then a repro run, stored apart from the cell's
    full result and never replacing it."""
    workers: str = "auto"
    log: Callable[[str], None] = print
    installer: list[str] = field(default_factory=sources.uv)
    suite: Sequence[str] = SUITE
    """What a full run runs."""
    complete: Callable[[CellResult], object] = lambda _result: None
    """Adds to a finished result before it is saved (the Docker repro commands: harness/run/docker.py)."""
    not_installable: Callable[[Cell], str | None] = lambda _cell: None
    """Why a pin cannot go on the cell's Python at all (its Requires-Python, no wheel for it), known before installing
    anything: the sessions ask the package index (harness/releases/index.py ``cell_problem``)."""
    complete_config: Callable[[dict], object] = lambda _result: None
    """The same for a config's result (harness/run/configs.py)."""
    matrix: bool = False
    """The cell is one of the matrix definition's: its repro command is its matrix session."""
    configs: Sequence[UserConfig] = ()
    """A user's configs to prove in the cell (harness/run/configs.py): after a full run that passed or broke, and
    on reuse those whose result is stale; never in a repro run."""
    configs_only: bool = False
    """Prove ``configs`` only (prepare the environment, check its versions): the suite does not run and the cell's
    own result is left as it is."""


@dataclass
class Problem:
    """Why a step ended the run."""

    status: Status
    reason: str
    conclusive: bool = False


class Runner:
    """Where a cell runs: how to prepare its environment and how to run a Python command in it."""

    name: results.Runner = "venv"

    def fingerprint(self, cell: Cell) -> str:
        return results.fingerprint(cell, self.name)

    def installed(self) -> dict[str, str] | None:
        """The distributions installed now, where they can be read cheaply (None: cannot)."""
        return None

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        raise NotImplementedError

    def repair(self, cell: Cell, opts: Options, damaged: Sequence[str]) -> Problem | None:
        """Install the ``damaged`` distributions again (files missing or of another size than their RECORD says);
        a Problem where this runner cannot."""
        return Problem("error", f"cannot judge: the environment is damaged ({_damage(damaged)}) and a "
                                f"{self.name} runner cannot install it again: rebuild it")

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        """(the command that runs ``python *args`` in the environment with ``env`` added, the process environment).
        ``{stage}`` in an argument is the directory whose files the run keeps."""
        raise NotImplementedError

    def visible(self, path: Path) -> str:
        """A file or directory of this machine as the commands of ``argv`` see it (read-only)."""
        return str(path)

    def stop(self) -> None:
        """Remove whatever the run left behind (called in every outcome)."""


class Venv(Runner):
    """A virtualenv (a nox session's, or one of the cell's own): made with the cell's Python where it is missing or
    holds another, then the cell's pins installed with uv."""

    name: results.Runner = "venv"

    def __init__(self, python: Path) -> None:
        self.python = python

    def installed(self) -> dict[str, str] | None:
        if not self.python.exists():
            return None
        code, output = call([str(self.python), "-c", _PROBE], PROBE_TIMEOUT_S)
        try:
            return json.loads(output.strip().splitlines()[-1])["installed"] if code == 0 else None
        except (ValueError, IndexError, KeyError):
            return None

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        step = time.monotonic()
        problem = make_venv(self.python, cell, opts)
        if problem:
            return problem
        source, problem = install(cell, self.python, opts)
        result["timings"]["install_s"] = round(time.monotonic() - step, 1)
        result["torch_source"] = source
        return problem

    def repair(self, cell: Cell, opts: Options, damaged: Sequence[str]) -> Problem | None:
        opts.log(f"{cell.id}: the environment is damaged ({_damage(damaged)}): installing those again")
        return install(cell, self.python, opts, reinstall=damaged)[1]

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        # the cell's own environment is installed without byte-compiling every file (the largest stage of a cold
        # cell): Python writes the .pyc files of what the import check and the suite import, once, as they import it
        # (atomically, so xdist workers may race), even where the machine sets PYTHONDONTWRITEBYTECODE
        outer = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        return [str(self.python), *(a.replace("{stage}", str(stage)) for a in args)], {**outer, **env}


OWN_VENVS = ROOT / ".nox" / "cells"
"""The virtualenvs of cells on another Python than their nox session's (``own_venv``)."""


def own_venv(cell: Cell) -> Path:
    """The python of a virtualenv of the cell's own (made by ``make_venv`` when the cell runs)."""
    return OWN_VENVS / cell.id / "bin" / "python"


def interpreter(version: str) -> tuple[str | None, str]:
    """(a working CPython ``version`` of this machine, or None; and, when there is none, the finder's words): uv's
    interpreter discovery (uv-managed installs, then PATH), which never downloads one; where it finds none (it stops
    at a pyenv shim that fails for a version not selected), the interpreters pyenv installed, the system's and any
    ``python<version>`` on PATH, each run once to check it is that version."""
    code, output = call([*sources.uv(), "python", "find", "--no-project", version], PROBE_TIMEOUT_S,
                        env=sources.installer_env())
    found = output.strip().splitlines()[-1] if code == 0 and output.strip() else None
    if found:
        return found, ""
    for candidate in _candidates(version):
        code, said = call([str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                          PROBE_TIMEOUT_S)
        if code == 0 and said.strip() == version:
            return str(candidate), ""
    return None, tail(output, 12)


def _candidates(version: str) -> list[Path]:
    """Interpreters of ``version`` this machine may have beside what uv finds: pyenv's installs (newest patch
    first), then ``python<version>`` in the usual places and on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    installed = sorted(pyenv.glob(f"{version}.*/bin/python{version}"),
                       key=lambda p: [int(x) if x.isdigit() else -1 for x in p.parts[-3].split(".")], reverse=True)
    on_path = [Path(d) for d in os.environ.get("PATH", "").split(os.pathsep) if d and "shims" not in Path(d).parts]
    named = [d / f"python{version}" for d in [Path("/usr/local/bin"), Path("/usr/bin"), *on_path]]
    return list(dict.fromkeys([*installed, *(p for p in named if p.is_file())]))


def make_venv(python: Path, cell: Cell, opts: Options) -> Problem | None:
    """Make the virtualenv of ``python`` with the cell's Python unless it already runs it; "unavailable" (the cell
    is not run here, said with the fix) where this machine has no such interpreter. Never another Python."""
    if python.exists():
        code, output = call([str(python), "-c", "import platform; print(platform.python_version())"], PROBE_TIMEOUT_S)
        if code == 0 and _minor(output.strip()) == cell.python:
            return None
    found, why = interpreter(cell.python)
    if found is None:
        first = why.splitlines()[0].removeprefix("error: ") if why else f"uv python find {cell.python} found none"
        return Problem("unavailable", f"no Python {cell.python} on this machine ({first}): install it (`uv python "
                                      f"install {cell.python}`, pyenv or the system's packages) or run the cell in its "
                                      "image (-- --docker)" + (f"\n{why}" if why else ""))
    opts.log(f"{cell.id}: virtualenv on {found}")
    venv = python.parent.parent
    code, output = call([*sources.uv(), "venv", "--quiet", "--clear", "--python", found, str(venv)], PROBE_TIMEOUT_S,
                        env=sources.installer_env())
    if code != 0:
        return Problem("error", f"cannot make a virtualenv of {found} at {venv}:\n{tail(output)}")
    return None


class Installed(Runner):
    """This Python, with the cell's pins already installed (the cell's image): nothing to prepare."""

    def __init__(self, name: results.Runner, key: str, torch_source: str) -> None:
        self.name, self.key, self.source = name, key, torch_source

    def fingerprint(self, cell: Cell) -> str:
        return self.key

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        result["torch_source"] = self.source
        return None

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        return [sys.executable, *(a.replace("{stage}", str(stage)) for a in args)], {**os.environ, **env}


def repro(cell: Cell, tests: Sequence[str] = (), matrix: bool = False) -> str:
    """The nox command that reruns this cell (and only the given tests), quoted for any POSIX shell: its matrix
    session when the cell is one of the definition's (``matrix``), else the ad-hoc cell session."""
    if matrix:
        base = ["nox", "-s", f"matrix({cell.id})", "--"]
    else:
        base = ["nox", "-s", "cell", "--", "--cell", cell.id, *(["--override"] if cell.override else [])]
    return shlex.join([*base, *tests])


def tail(text: str, lines: int = 12) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def _die_with_parent() -> None:
    """In the child: get SIGKILL if the harness dies without cleaning up (Linux), so nothing runs on."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def call(argv: Sequence[str], timeout: float, env: dict[str, str] | None = None, cwd: Path = ROOT,
         watch: Callable[[str], None] | None = None) -> tuple[int | None, str]:
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
        return code, out.read()


_EVENTS = {  # the lines worth a log line, per stage: uv's steps and downloads, BuildKit's steps
    "install": re.compile(r"^\s*(Resolved \d+ packages|Downloading \S+ \(|Prepared \d+ packages|"
                          r"Installed \d+ packages|Uninstalled \d+ packages)"),
    "build": re.compile(r"^#\d+ \[([\w-]+ \d+/\d+)\]"),
}
_COUNT = re.compile(r"\[\s*(\d+)/(\d+)\]")  # pytest's progress with console_output_style=count
_COLLECTED = re.compile(r"^(\d+) workers? \[(\d+) items?\]", re.MULTILINE)  # xdist, once every worker collected


class Progress:
    """One log line per stage and per notable event (a download, a build step, the first test count pytest prints
    and then one every ~10 s), so a long run shows where it is, also under `nox -j` and when not on a TTY."""

    def __init__(self, cell: Cell, opts: Options, stage: str, every_s: float = 10.0) -> None:
        self.cell, self.log, self.stage, self.every_s = cell, opts.log, stage, every_s
        self.pending, self.last, self.shown = "", -float("inf"), set()
        self.log(f"{cell.id}: {stage}")

    def __call__(self, text: str) -> None:
        *lines, self.pending = (self.pending + text).split("\n")
        if self.stage == "tests":
            collected = _COLLECTED.search("\n".join(lines))
            if collected and "collected" not in self.shown:
                self.shown.add("collected")
                self.log(f"{self.cell.id}: tests 0 of {collected[2]} done ({collected[1]} workers collected them)")
            counts = _COUNT.findall("".join(lines) + self.pending)
            if counts and time.monotonic() - self.last >= self.every_s:
                self.last = time.monotonic()
                self.log(f"{self.cell.id}: tests {counts[-1][0]} of {counts[-1][1]} done")
            return
        pattern = _EVENTS.get(self.stage)
        for line in lines if pattern else ():
            found = pattern.search(line)
            if found and found.group(0) not in self.shown:
                self.shown.add(found.group(0))
                self.log(f"{self.cell.id}: {self.stage}: {line.strip()[:120]}")


def requirements(cell: Cell) -> tuple[str, list[str], list[str]]:
    """(torch source, index options, requirements): the cell's pins and the test tools."""
    source, torch_args = sources.torch_source(cell.torch, cell.python)
    options, torch_pin = torch_args[:-1], torch_args[-1]
    return source, options, [torch_pin, f"transformers=={cell.transformers}", f"gliner[training]=={cell.gliner}",
                             *suite_tools()]


def install(cell: Cell, python: Path, opts: Options, reinstall: Sequence[str] = ()) -> tuple[str, Problem | None]:
    """Make ``python``'s environment hold exactly the cell's versions (with its lock file as constraints; packages
    that nothing asks for are removed); (torch source, None) or (source, why not). ``reinstall``: distributions to
    install again although their versions are the pinned ones (their files were damaged)."""
    source, options, reqs = requirements(cell)
    args = [*options, *reqs, "-e", str(ROOT)]
    if cell.lock.is_file():
        args += ["--constraint", str(cell.lock)]
    elif cell.exclude_newer:  # no lock file: what the pins leave open, as of the definition's date
        args += ["--exclude-newer", cell.exclude_newer]
    marker = python.parent.parent / PINS_MARKER
    # the lock file's content, not its path: after `nox -s lock` the environment is installed again
    wanted = json.dumps([args, cell.override, cell.lock.read_text() if cell.lock.is_file() else None])
    if marker.is_file() and marker.read_text() == wanted and not reinstall:
        opts.log(f"{cell.id}: environment is current, install skipped")
        return source, None
    marker.unlink(missing_ok=True)
    argv = [*opts.installer, "pip", "install", "--exact", "--python", str(python), *args,
            *(a for name in reinstall for a in ("--reinstall-package", name))]
    override = None
    if cell.override:  # install this transformers even where gliner declares it unsupported
        override = Path(tempfile.mkstemp(suffix=".txt", prefix="override-")[1])
        override.write_text(f"transformers=={cell.transformers}\n")
        argv += ["--override", str(override)]
    opts.log(f"{cell.id}: installing torch {cell.torch} ({source}), transformers {cell.transformers}, "
             f"gliner {cell.gliner}{' with override' if cell.override else ''}")
    try:
        code, output = call(argv, opts.install_timeout_s, env=sources.installer_env(compile_bytecode=False),
                            watch=Progress(cell, opts, "install"))
    finally:
        if override:
            override.unlink(missing_ok=True)
    if code is None:
        return source, Problem("timeout", f"the install did not finish within {opts.install_timeout_s:.0f} s")
    if code != 0:
        return source, Problem("install-failed", f"install exit {code}: {_why(output)}\n{tail(output)}",
                               conclusive=settled(output))
    marker.write_text(wanted)
    return source, None


def _why(output: str) -> str:
    """The line of an installer's output that says why: the resolver's "Because ...", else its last line."""
    kept = [line.strip() for line in output.splitlines() if line.strip()]
    because = next((line for line in kept if "Because" in line), None)
    return (because or (kept[-1] if kept else "no output")).removeprefix("cause: ").removeprefix("╰─▶ ")[:300]


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


def _minor(version: str) -> str:
    """3.13.5 → 3.13, as a cell names its Python."""
    return ".".join(version.split(".")[:2])


def _wrong_python(cell: Cell, found: str | None) -> str | None:
    """Why the environment cannot stand for the cell: it runs another Python than the cell asks for (an image built
    on another base, a virtualenv of another interpreter). Never a verdict: the cell was not observed."""
    if found is not None and _minor(found) == cell.python:
        return None
    return (f"the environment runs Python {found}, the cell asks for {cell.python}: nothing it shows is about "
            f"{cell.python} (a Docker base image of another Python? see README: Python versions)")


def new_result(cell: Cell, opts: Options, runner: results.Runner, key: str) -> CellResult:
    """A result that says "error" until a step sets its status."""
    return CellResult(
        id=cell.id, requested=cell.requested, resolved=None, installed=None,
        declared_support={"gliner_requires": None, "inside": None, "override": cell.override},
        torch_source=None, status="error", reason=None, conclusive=False, breaks=[],
        gliner_path={"status": "not-run", "breaks": []}, tests=None, python=None,
        repro={"nox": repro(cell, matrix=opts.matrix), "docker_build": None, "docker_run": None}, runner=runner,
        image=None,
        duration_s=0.0, timings={}, fingerprint=key, finished_at="",
        selection=list(opts.pytest_args) or None,
    )


@contextlib.contextmanager
def _terminations_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the run like Ctrl-C does (an exception, so every `finally` cleans up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run(cell: Cell, runner: Runner, opts: Options | None = None, root: Path = results.CELLS) -> CellResult:
    """Run one cell end to end and save its result; returns it (or the current result, when that is reused)."""
    opts = opts or Options()
    key = runner.fingerprint(cell)
    if opts.configs_only:
        return prove_only(cell, runner, opts, root)
    if not opts.pytest_args and not opts.rerun:
        saved = results.load(cell.id, root)
        if saved and results.reusable(saved, key, runner.installed()):
            opts.log(f"{cell.id}: result is current ({saved['status']}), skipped; --rerun to run it again")
            if configs.stale(cell.id, key, opts.configs, root):
                prove_only(cell, runner, opts, root)
            return saved
    start = time.monotonic()
    result = new_result(cell, opts, runner.name, key)
    final = results.result_dir(cell.id, bool(opts.pytest_args), root)
    final.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".run-", dir=results.cell_dir(cell.id, root)))
    stage.chmod(0o777)  # a container runs as the caller but may map it otherwise: it writes here
    try:
        with _terminations_interrupt():
            try:
                problem = _steps(cell, runner, opts, result, stage)
            except Exception as e:  # a defect of the harness itself: still a result, saying what happened
                problem = Problem("error", f"the harness failed: {type(e).__name__}: {e}")
            if not problem and opts.configs and not opts.pytest_args:  # the suite passed or broke: configs next
                step = time.monotonic()
                chosen = list(opts.configs) if opts.rerun else configs.stale(cell.id, key, opts.configs, root)
                prove_configs(cell, runner, opts, chosen, stage, root)
                result["timings"]["configs_s"] = round(time.monotonic() - step, 1)
        result["conclusive"] = problem.conclusive if problem else result["status"] in ("pass", "broken")
        if problem:
            result.update(status=problem.status, reason=problem.reason)
        standing = _standing(cell, root) if result["status"] == "unavailable" else None
        if standing:
            opts.log(f"{cell.id}: not run here ({problem.reason.splitlines()[0]}); its current "
                     f"{standing['runner']} result ({standing['status']}) stands")
            return standing
        result.update(duration_s=round(time.monotonic() - start, 1), finished_at=results.now())
        opts.complete(result)
        for kept in stage.iterdir():  # the run's logs replace the previous run's, then its result does
            if kept.is_file():
                kept.chmod(0o644)
                os.replace(kept, final / kept.name)
        results.save(result, root)
    finally:
        runner.stop()
        shutil.rmtree(stage, ignore_errors=True)
    opts.log(f"{cell.id}: {result['status']}" + (f" ({result['reason'].splitlines()[0]})" if result["reason"] else ""))
    for line in junit.broken_lines(result):
        opts.log(line)
    return result


def _standing(cell: Cell, root: Path) -> CellResult | None:
    """The cell's saved full result where it is current for the runner that made it (a run in its image, where
    this machine lacks the cell's Python for a virtualenv): a cell not run here does not replace it."""
    saved = results.load(cell.id, root)
    if saved and saved.get("conclusive") and saved["fingerprint"] == results.fingerprint(cell, saved["runner"]):
        return saved
    return None


def prove_only(cell: Cell, runner: Runner, opts: Options, root: Path = results.CELLS) -> CellResult:
    """Prove the stale ones of ``opts.configs`` (all with ``opts.rerun``) in the prepared environment, without the
    suite; the cell's own result is not touched. Returns the (unsaved) result of preparing, which says why when
    the environment could not be prepared."""
    key = runner.fingerprint(cell)
    result = new_result(cell, opts, runner.name, key)
    chosen = list(opts.configs) if opts.rerun else configs.stale(cell.id, key, opts.configs, root)
    if not chosen:
        opts.log(f"{cell.id}: every config's result is current; --rerun to prove them again")
        result["status"] = "pass"
        return result
    results.cell_dir(cell.id, root).mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".configs-", dir=results.cell_dir(cell.id, root)))
    stage.chmod(0o777)
    try:
        with _terminations_interrupt():
            problem = _steps(cell, runner, opts, result, stage, suite=False)
            if problem:
                result.update(status=problem.status, reason=problem.reason)
                opts.log(f"{cell.id}: configs not proven: {problem.status}: {problem.reason.splitlines()[0]}")
                return result
            prove_configs(cell, runner, opts, chosen, stage, root)
            result["status"] = "pass"
    finally:
        runner.stop()
        shutil.rmtree(stage, ignore_errors=True)
    return result


PROVE_TIMEOUT_S = 900
"""For proving every config of a run in one process (each takes seconds)."""
PROOFS_SCHEMA = 2
"""The layout of ``ptbr prove --json`` this harness reads (src/ptbr/prove.py ``Proofs``)."""


def prove_configs(cell: Cell, runner: Runner, opts: Options, chosen: Sequence[UserConfig], stage: Path,
                  root: Path = results.CELLS) -> list[dict]:
    """Prove ``chosen`` in the cell's prepared environment with PTBR's own ``ptbr prove --json``, in one process, and
    save each config's result (harness/run/configs.py); returns them. A process that writes nothing readable is a
    result for each config that says why, never a crash."""
    if not chosen:
        return []
    key = runner.fingerprint(cell)
    work = stage / "prove"
    work.mkdir(exist_ok=True)
    work.chmod(0o777)
    args = ["-m", "ptbr", "prove", "--json", "--out", "{stage}/prove/proofs.json", "--work", "{stage}/prove/work",
            "--base", runner.visible(configs.base()), *(runner.visible(c.path) for c in chosen)]
    argv, env = runner.argv(args, {"HF_HUB_OFFLINE": "1"}, stage)
    opts.log(f"{cell.id}: proving {len(chosen)} config(s): {', '.join(c.name for c in chosen)}")
    start = time.monotonic()
    code, output = call(argv, PROVE_TIMEOUT_S, env=env)
    proven = _proofs(work / "proofs.json", len(chosen))
    if proven is None:
        why = f"did not finish within {PROVE_TIMEOUT_S} s" if code is None else f"exit {code}"
        proven = [{"error": f"ptbr prove {why}, no result:\n{tail(output, 6)}"} for _ in chosen]
    out = []
    for config, proof in zip(chosen, proven, strict=True):
        nox = shlex.split(repro(cell, (), opts.matrix))
        nox = shlex.join([*nox, *([] if "--" in nox else ["--"]), "--configs-only", "--rerun", "--config",
                          config.name])
        saved = configs.result(cell, runner.name, key, config, proof, nox)
        opts.complete_config(saved)
        configs.save(saved, root)
        out.append(saved)
        opts.log(f"{cell.id}: {config.name}: {configs.summary(saved)}")
    opts.log(f"{cell.id}: {len(chosen)} config(s) proven in {time.monotonic() - start:.1f} s")
    return out


def _proofs(path: Path, expected: int) -> list[dict] | None:
    """The configs' results ``ptbr prove --json`` wrote, or None when there are none of this layout for each."""
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(written, dict) or written.get("schema_version") != PROOFS_SCHEMA:
        return None
    proven = written.get("configs")
    return proven if isinstance(proven, list) and len(proven) == expected else None


def _steps(cell: Cell, runner: Runner, opts: Options, result: CellResult, stage: Path, suite: bool = True
           ) -> Problem | None:
    """The steps after reuse: each returns a Problem that ends the run, or sets what it found in ``result``
    (``suite``: False stops once the installed versions are checked)."""
    why = opts.not_installable(cell)
    if why:  # a verdict on the versions, like a resolver conflict
        return Problem("install-failed", f"{why} (the package index says so; nothing was installed)", conclusive=True)
    problem = runner.prepare(cell, opts, result, stage)
    if problem:
        return problem

    step = time.monotonic()
    info = _probe(runner, stage)
    if _lost(cell, info):
        problem = runner.repair(cell, opts, _lost(cell, info))
        info = problem or _probe(runner, stage)
        if isinstance(info, dict) and info["damaged"]:
            return Problem("error", f"cannot judge: the environment is damaged ({_damage(info['damaged'])}) and "
                                    "installing it again did not mend it")
    result["timings"]["probe_s"] = round(time.monotonic() - step, 1)
    if isinstance(info, Problem):
        return info
    resolved, requires, installed = info["resolved"], info["gliner_requires"], info["installed"]
    result.update(resolved=resolved, installed=installed, python=info.get("python"),
                  declared_support=_declared(resolved.get("transformers"), requires, cell.override))
    opts.log(f"{cell.id}: resolved " + ", ".join(f"{k} {v}" for k, v in resolved.items())
             + f" on Python {result['python']}")
    wrong_python = _wrong_python(cell, result["python"])
    if wrong_python:
        return Problem("error", wrong_python)
    mismatch = _mismatch(cell, resolved)
    if mismatch:
        return Problem("install-failed", mismatch, conclusive=True)
    if not suite:
        return None
    verdict = _verdict(cell, runner, opts, result, stage)
    if verdict is None or verdict.status == "import-failed":  # a verdict on the versions: only from
        after = _probe(runner, stage)  # the environment that was installed, whole, from first to last
        if not isinstance(after, dict) or after["damaged"] or after["installed"] != installed:
            changed = _damage(after["damaged"]) if isinstance(after, dict) and after["damaged"] else \
                "its distributions changed" if isinstance(after, dict) else after.reason.splitlines()[0]
            result.update(breaks=[], gliner_path={"status": "not-run", "breaks": []}, tests=None)
            return Problem("error", f"cannot judge: the environment was damaged during the run ({changed}): "
                                    "nothing it showed is about the versions; run the cell again")
    return verdict


def _probe(runner: Runner, stage: Path) -> dict | Problem:
    """The installed versions and the files each distribution lacks (``_PROBE``), or why they cannot be read."""
    argv, env = runner.argv(["-c", _PROBE], {}, stage)
    code, output = call(argv, PROBE_TIMEOUT_S, env=env)
    if code is None:
        return Problem("timeout", f"reading the installed versions took over {PROBE_TIMEOUT_S} s")
    if code != 0:
        return Problem("import-failed", f"cannot read the installed versions:\n{tail(output)}")
    try:
        info = json.loads(output.strip().splitlines()[-1])
        if not {"resolved", "gliner_requires", "installed", "damaged"} <= set(info):
            raise KeyError
        return info
    except (ValueError, IndexError, KeyError, TypeError):
        return Problem("error", f"the version probe printed something unreadable:\n{tail(output)}")


def _lost(cell: Cell, info: dict | Problem) -> list[str]:
    """What an environment that should hold the cell's pins has lost: distributions with files missing or changed,
    and pins not installed at all (their metadata gone)."""
    if not isinstance(info, dict):
        return []
    return sorted({*info["damaged"], *(name for name in cell.pins if info["resolved"].get(name) is None)})


def _damage(damaged: Sequence[str] | dict[str, list[str]]) -> str:
    """Damaged distributions, short: each with its first missing or changed file."""
    if isinstance(damaged, dict):
        return "; ".join(f"{name}: {files[0]}" + (f" and {len(files) - 1} more" if len(files) > 1 else "")
                         for name, files in sorted(damaged.items()))
    return ", ".join(damaged)


def _verdict(cell: Cell, runner: Runner, opts: Options, result: CellResult, stage: Path) -> Problem | None:
    """Import the stack, run the suite and classify what it showed."""
    deadline = step = time.monotonic()
    deadline += opts.timeout_s
    opts.log(f"{cell.id}: import")
    argv, env = runner.argv(["-c", "import torch, transformers, gliner"], {}, stage)
    code, output = call(argv, opts.timeout_s, env=env)
    result["timings"]["import_s"] = round(time.monotonic() - step, 1)
    if code is None:
        return Problem("timeout", f"importing the stack took over {opts.timeout_s:.0f} s")
    if code != 0:
        return Problem("import-failed", tail(output, 6))

    # --dist loadfile: a worker runs whole modules, so a module's shared fixtures (one crossing per profile, one
    # short training) are built once rather than once per worker. -v with console_output_style=count: one line per
    # test as it finishes, with "[n/N]" (Progress shows a count seconds into the suite, not after a line of dots).
    chosen = [a for a in opts.pytest_args if "::" in a or "/" in a or a.endswith(".py")]  # tests by path or id
    args = ["-m", "pytest", *([] if chosen else opts.suite), "-n", opts.workers, "--dist", "loadfile",
            "-v", "--tb=short", "-o", "console_output_style=count", "-p", "no:cacheprovider",
            "-m", "gliner_path or not gliner_path", "--junitxml={stage}/junit.xml", *opts.pytest_args]
    argv, env = runner.argv(args, {"HF_HUB_OFFLINE": "1"}, stage)
    step = time.monotonic()
    code, output = call(argv, max(deadline - time.monotonic(), 1), env=env, watch=Progress(cell, opts, "tests"))
    result["timings"]["suite_s"] = round(time.monotonic() - step, 1)
    results.write_atomic(stage / "pytest.log", output)
    if code is None:
        return Problem("timeout", f"the suite did not finish within {opts.timeout_s:.0f} s")
    return classify(code, stage / "junit.xml", output, result, cell, opts.matrix)


def classify(code: int, xml: Path, output: str, result: CellResult, cell: Cell, matrix: bool = False
             ) -> Problem | None:
    """pytest's exit code and JUnit XML → the cell's status: pass and broken only when tests ran and the two agree;
    anything the harness cannot judge is an error that says why."""
    if code not in (0, 1):
        return Problem("error", f"pytest exit {code}:\n{tail(output)}")
    try:
        outcome = junit.parse(xml)
    except junit.JUnitError as e:
        return Problem("error", f"{e} (pytest exit {code}):\n{tail(output)}")
    result["tests"] = outcome.counts
    if outcome.crashed:
        return Problem("error", f"an xdist worker crashed while running {', '.join(outcome.crashed)}")
    if outcome.executed == 0:
        return Problem("error", f"no test ran ({outcome.counts['tests']} collected, {outcome.counts['skipped']} "
                                "skipped): nothing was proven")
    if (code == 1) != bool(outcome.breaks):
        return Problem("error", f"pytest exit {code} with {len(outcome.breaks)} failing test(s) in its JUnit XML:\n"
                                f"{tail(output)}")
    ptbr = [b for b in outcome.breaks if b["layer"] != junit.GLINER_PATH]
    gliner = [b for b in outcome.breaks if b["layer"] == junit.GLINER_PATH]
    result["breaks"], result["gliner_path"] = ptbr, {"status": "broken" if gliner else "pass", "breaks": gliner}
    result["repro"]["nox"] = repro(cell, failing(result), matrix)
    result["status"] = "broken" if ptbr else "pass"
    return None


def failing(result: CellResult) -> list[str]:
    """The tests that broke on PTBR's path: what a repro command selects."""
    return sorted({b["test"] for b in result["breaks"]})
