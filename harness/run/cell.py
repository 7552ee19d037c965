"""Run one cell: the one lifecycle every runner shares.

    reuse a current result → prepare (install into a virtualenv, or build an image) → read the installed versions →
    one run that imports the stack, runs the propagation suite and proves the configs (harness/run/cell_plugin.py)
    → classify → write the result atomically → clean up

A runner (a virtualenv here, a container in harness/run/docker.py, the image's own Python in harness/run/image.py) only
says how to prepare and how to run a Python command; everything else is here, once. Every way a run can end is a
result with a status, never a crash; an interrupt (Ctrl-C, SIGTERM) kills what the run started and leaves the
previous result as it was.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from harness.run import configs, junit, probe, process, records, results
from harness.run.configs import UserConfig
from harness.run.options import Options, Problem
from harness.run.output import Progress
from harness.run.pins import Cell, repro
from harness.run.process import staged, tail, terminations_interrupt
from harness.run.proving import Ended, prove_args, prove_configs, settle
from harness.run.results import CellResult
from harness.run.runners import Runner


def new_result(cell: Cell, opts: Options, runner: results.Runner, key: str) -> CellResult:
    """A result that says "error" until a step sets its status."""
    return CellResult(
        id=cell.id, requested=cell.requested, resolved=None, installed=None,
        declared_support={"gliner_requires": None, "inside": None, "override": cell.override},
        torch_source=None, status="error", reason=None, conclusive=False, breaks=[],
        gliner_path={"status": "not-run", "breaks": []}, tests=None, python=None,
        repro={"nox": repro(cell, matrix=opts.matrix), "docker_build": None, "docker_run": None}, runner=runner,
        image=None,
        duration_s=0.0, timings={}, workers=None, stack_imports=None, fingerprint=key, finished_at="",
        selection=list(opts.pytest_args) or None,
    )


def run(cell: Cell, runner: Runner, opts: Options | None = None, root: Path = results.CELLS) -> CellResult:
    """Run one cell end to end and save its result; returns it (or the current result, when that is reused).
    results.Busy where another run of the cell is in progress (nothing of it is touched)."""
    with results.running(cell.id, root):
        return _run(cell, runner, opts or Options(), root)


def _run(cell: Cell, runner: Runner, opts: Options, root: Path) -> CellResult:
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
    # the configs are proven in the suite's run, and kept only where the suite passed or broke (never in a repro run)
    chosen = [] if opts.pytest_args else list(opts.configs) if opts.rerun else configs.stale(cell.id, key,
                                                                                            opts.configs, root)
    with staged(results.cell_dir(cell.id, root), ".run-", runner.stop) as stage:
        with terminations_interrupt():
            ended = Ended(False, "", "")
            try:
                problem, ended = _steps(cell, runner, opts, result, stage, chosen)
            except Exception as e:  # a defect of the harness itself: still a result, saying what happened
                problem = Problem("error", f"the harness failed: {type(e).__name__}: {e}")
            if not problem and chosen:  # the suite passed or broke: its configs' results are kept
                step = time.monotonic()
                alone = settle(cell, runner, opts, chosen, stage, ended, root)
                result["timings"]["configs_s"] = round(result["timings"].get("configs_s", 0)
                                                       + time.monotonic() - step, 1)
                result["stack_imports"] = (result["stack_imports"] or 0) + alone
        result["conclusive"] = problem.conclusive if problem else result["status"] in ("pass", "broken")
        if problem:
            result.update(status=problem.status, reason=problem.reason)
        standing = _standing(cell, root) if result["status"] == "unavailable" else None
        if standing:
            opts.log(f"{cell.id}: not run here ({problem.reason.splitlines()[0]}); its current "
                     f"{standing['runner']} result ({standing['status']}) stands")
            return standing
        result.update(duration_s=round(time.monotonic() - start, 1), finished_at=results.now())
        opts.hooks.complete(result)
        for kept in stage.iterdir():  # the run's logs replace the previous run's, then its result does
            if kept.is_file():
                kept.chmod(0o644)
                os.replace(kept, final / kept.name)
        results.save(result, root)
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
    with staged(results.cell_dir(cell.id, root), ".configs-", runner.stop) as stage, terminations_interrupt():
        problem, _ = _steps(cell, runner, opts, result, stage, suite=False)
        if problem:
            result.update(status=problem.status, reason=problem.reason)
            opts.log(f"{cell.id}: configs not proven: {problem.status}: {problem.reason.splitlines()[0]}")
            return result
        prove_configs(cell, runner, opts, chosen, stage, root)
        result["status"] = "pass"
    return result


def _steps(cell: Cell, runner: Runner, opts: Options, result: CellResult, stage: Path,
           chosen: Sequence[UserConfig] = (), suite: bool = True) -> tuple[Problem | None, Ended]:
    """The steps after reuse: each returns a Problem that ends the run, or sets what it found in ``result``
    (``suite``: False stops once the installed versions are checked); and how the cell's one run ended."""
    ended = Ended(False, "", "")
    why = opts.hooks.not_installable(cell)
    if why:  # a verdict on the versions, like a resolver conflict
        return Problem("install-failed", f"{why} (the package index says so; nothing was installed)",
                       conclusive=True), ended
    problem = runner.prepare(cell, opts, result, stage)
    if problem:
        return problem, ended

    step = time.monotonic()
    info = probe.read(runner.argv, stage)
    if probe.lost(cell, info):
        problem = runner.repair(cell, opts, probe.lost(cell, info))
        info = problem or probe.read(runner.argv, stage)
        if isinstance(info, dict) and info["damaged"]:
            return Problem("error", f"cannot judge: the environment is damaged ({probe.damage(info['damaged'])}) "
                                    "and installing it again did not mend it"), ended
    result["timings"]["probe_s"] = round(time.monotonic() - step, 1)
    if isinstance(info, Problem):
        return info, ended
    resolved, requires, installed = info["resolved"], info["gliner_requires"], info["installed"]
    result.update(resolved=resolved, installed=installed, python=info.get("python"),
                  declared_support=probe.declared(resolved.get("transformers"), requires, cell.override))
    opts.log(f"{cell.id}: resolved " + ", ".join(f"{k} {v}" for k, v in resolved.items())
             + f" on Python {result['python']}")
    wrong_python = probe.wrong_python(cell, result["python"])
    if wrong_python:
        return Problem("error", wrong_python), ended
    mismatch = probe.mismatch(cell, resolved)
    if mismatch:
        return Problem("install-failed", mismatch, conclusive=True), ended
    if not suite:
        return None, ended
    verdict, ended = _verdict(cell, runner, opts, result, stage, chosen)
    if verdict is None or verdict.status == "import-failed":  # a verdict on the versions: only from
        after = probe.read(runner.argv, stage)  # the environment that was installed, whole, from first to last
        if not isinstance(after, dict) or after["damaged"] or after["installed"] != installed:
            changed = probe.damage(after["damaged"]) if isinstance(after, dict) and after["damaged"] else \
                "its distributions changed" if isinstance(after, dict) else after.reason.splitlines()[0]
            result.update(breaks=[], gliner_path={"status": "not-run", "breaks": []}, tests=None)
            return Problem("error", f"cannot judge: the environment was damaged during the run ({changed}): "
                                    "nothing it showed is about the versions; run the cell again"), ended
    return verdict, ended


PLUGIN = "harness.run.cell_plugin"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
"""What the suite's conftest sets before the stack is imported, set before the run's first step imports it."""


def _verdict(cell: Cell, runner: Runner, opts: Options, result: CellResult, stage: Path,
             chosen: Sequence[UserConfig]) -> tuple[Problem | None, Ended]:
    """The cell's one run (harness/run/cell_plugin.py): import the stack, run the suite, prove ``chosen``; then
    classify what it showed from the records its processes wrote and pytest's JUnit XML."""
    # --dist loadfile: a worker runs whole modules, so a module's shared fixtures (one crossing per profile, one
    # short training) are built once rather than once per worker; one worker: no xdist, the suite runs in the process
    # that imported the stack. -v with console_output_style=count: one line per test as it finishes, with "[n/N]"
    # (Progress shows a count seconds into the suite, not after a line of dots).
    picked = [a for a in opts.pytest_args if "::" in a or "/" in a or a.endswith(".py")]  # tests by path or id
    paths, base = prove_args(runner, opts, chosen)
    # --max-worker-restart 0: a worker that dies ends the run at once, its test named in the JUnit XML, rather than
    # being replaced (pytest-xdist 3.8 can deadlock under loadfile after replacing one: its issues #784 and #1378)
    xdist = ["-n", str(opts.workers), "--dist", "loadfile", "--max-worker-restart", "0"] if opts.workers > 1 else []
    args = ["-m", "pytest", "-p", PLUGIN, "--cell-record", "{stage}", *([] if picked else opts.suite), *xdist,
            "-v", "--tb=short", "-o", "console_output_style=count", "-p", "no:cacheprovider",
            "-m", "gliner_path or not gliner_path", "--junitxml={stage}/junit.xml",
            *[w for p in paths for w in ("--cell-prove", p)], *(["--cell-prove-base", base] if chosen else []),
            *opts.pytest_args]
    threads = os.environ.get("OMP_NUM_THREADS") or str(opts.threads)
    argv, env = runner.argv(args, {**OFFLINE, "OMP_NUM_THREADS": threads}, stage)
    opts.log(f"{cell.id}: one run: import, suite" + (f", {len(chosen)} config(s)" if chosen else "")
             + (f" ({opts.workers} xdist workers" if xdist else " (in one process") + f", {threads} thread(s) each)")
    start = time.monotonic()
    code, output = process.call(argv, opts.timeout_s, env=env, watch=Progress(cell, opts, "tests"))
    wall = round(time.monotonic() - start, 1)
    results.write_atomic(stage / "pytest.log", output)
    found = records.read(stage)
    result.update(workers=opts.workers, stack_imports=sum(1 for r in found if r.get("imported")))
    main = records.main(found)
    timings = result["timings"]
    timings["import_s"] = round(main["import_s"], 1) if main.get("import_s") is not None else wall
    ended = Ended(code is None, f"exit {code}" if code is None or code >= 0 else f"killed by signal {-code}",
                  tail(output, 6))
    if not main.get("imported"):
        if main.get("error"):
            return Problem("import-failed", tail(main["error"], 6)), ended
        if code is None:
            return Problem("timeout", f"importing the stack took over {opts.timeout_s:.0f} s"), ended
        return Problem("error", f"the run ended ({ended.how}) before it imported the stack:\n{tail(output)}"), ended
    done = main.get("configs") or {}
    timings["suite_s"] = round(main["suite_s"], 1) if main.get("suite_s") is not None else \
        round(wall - timings["import_s"], 1)
    if done.get("seconds") is not None:
        timings["configs_s"] = round(done["seconds"], 1)
    if done.get("error"):
        ended = Ended(False, "`ptbr prove` raised", tail(done["error"], 6))
    if main.get("exitstatus") is None:  # the suite did not finish
        if code is None:
            return Problem("timeout", f"the suite did not finish within {opts.timeout_s:.0f} s"), ended
        return classify(code, stage / "junit.xml", output, result, cell, opts.matrix), ended
    return classify(main["exitstatus"], stage / "junit.xml", output, result, cell, opts.matrix), ended


def signalled(signum: int) -> str:
    """A run killed by a signal, in words: "killed by signal 9 (SIGKILL; out of memory?)"."""
    import signal

    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = "an unknown signal"
    likely = {signal.SIGKILL: "; out of memory? the kernel's OOM killer sends it",
              signal.SIGSEGV: "; a crash in native code", signal.SIGTERM: "; stopped from outside",
              signal.SIGINT: "; interrupted"}.get(signum, "")
    return f"the suite was killed by signal {signum} ({name}{likely})"


def classify(code: int, xml: Path, output: str, result: CellResult, cell: Cell, matrix: bool = False
             ) -> Problem | None:
    """pytest's exit code and JUnit XML → the cell's status: pass and broken only when tests ran and the two agree;
    anything the harness cannot judge is an error that says why."""
    if code < 0 or code > 128:  # ended by a signal: Popen's -N, or 128+N from a shell or `docker run`
        return Problem("error", f"{signalled(-code if code < 0 else code - 128)}; the end of its output:\n"
                                f"{tail(output)}")
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
    result["repro"]["nox"] = repro(cell, junit.failing(result), matrix)
    result["status"] = "broken" if ptbr else "pass"
    return None
