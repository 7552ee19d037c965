"""Sessions over one matrix definition (constraints/matrix.toml); each is a few lines calling harness/sessions.py.
`nox -l` lists them all with what each does (lock, wheelhouse, drift, build, hook, docs, ...); the main ones:

    nox -s tests                     the whole test suite in the default environment (the README's test command)
    nox -s matrix                    every cell of the version matrix, then the report (reports/matrix.md)
    nox -s "matrix(<cell id>)"       one cell; `nox -t gliner0.2.26` the cells with that version (`-t py3.13`: on
                                     that Python); `-j 2` in parallel
    nox -s cell -- --torch 2.13.0 --transformers 5.1.0 --gliner 0.2.25 [--python 3.13]    an ad-hoc cell
    nox -s matrix -- --config my.yaml    every key of my.yaml proven in every cell (in the report per config)
    nox -s image -- <cell id>        build a cell's Docker image (ptbr-matrix:<cell id>); `matrix -- --docker` runs it
    nox -s report                    rebuild the report from the cells' result files; compare with the rules' verdicts
    nox -s accept [-- <cell id>...]  derive the rules of constraints/expected.toml again from the current verdicts
    nox -s discover [-- --write]     releases newer than the definition's newest pins, and the cells to add
    nox -s bisect -- --gliner 0.2.24 --transformers 4.57.3..5.24.0    the first release whose verdict differs
    nox -s atlas [-- --verify N]     every gliner × transformers pair, predicted and verified (reports/atlas.{md,svg})
    nox -s mutation                  mutation testing of forwarding.py and compat.py (cosmic-ray; -- --sample N)

A pinned cell's session fails where its verdict is not what the rules of constraints/expected.toml predict, or it
cannot be judged; the options after `--` and bad inputs: harness/inputs.py (a message at file:line, never a traceback).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))  # nox's own script is not run from here: the harness beside this file
from harness import progress, publishing, sessions
from harness.releases import bisect as bisect_
from harness.releases import discover as discover_
from harness.releases import drift as drift_
from harness.sessions import plainly

nox.needs_version = ">=2026.10.20"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

LISTED = sessions.listing()
PYTHON = LISTED.python
# Under `nox -j N`: its N for the cells' sessions (each shares the cores); into a log or a pipe, nox holds each
# session's output until it ends: there (only there) a thread follows reports/progress.log so the progress shows
progress.at_import()


@nox.session(python=PYTHON)
@plainly
def tests(session: nox.Session) -> None:
    """The test suite in the default environment (CPU torch; the rest as of the definition's date), with xdist."""
    sessions.tests(session)


@nox.session(python=PYTHON, default=False)
@plainly
def mutation(session: nox.Session) -> None:
    """Mutation testing (cosmic-ray) of forwarding.py and compat.py in a copy of the tree (reports/mutation.json);
    -- --cell <id>: in that cell's versions; -- --union: the per-cell reports combined; see harness/mutation.py."""
    sessions.mutation(session, PYTHON)


@nox.session(python=PYTHON)
@plainly
def example(session: nox.Session) -> None:
    """Train the example config offline on CPU (writes out/tiny)."""
    sessions.example(session)


@nox.session(python=PYTHON)
@plainly
def lint(session: nox.Session) -> None:
    """ruff (Python), vermin (no API newer than the oldest supported Python where the cells run), hadolint
    (Dockerfile), actionlint and zizmor (GitHub workflows): any finding fails."""
    sessions.lint(session)


@nox.session(python=PYTHON, default=False)
@plainly
def reference(session: nox.Session) -> None:
    """Regenerate ptbr.schema.json from the schema (the reference is generated with the docs)."""
    sessions.reference(session)


@nox.session(python=PYTHON, default=False)
@plainly
def build(session: nox.Session) -> None:
    """Wheel and sdist in dist/, twine check, the wheel installed and run in a new virtualenv."""
    publishing.build(session, PYTHON)


@nox.session(python=PYTHON, default=False)
@plainly
def docs(session: nox.Session) -> None:
    """The documentation site into site/ (mkdocs --strict); -- --browser: every page checked in headless Chromium."""
    publishing.docs(session)


@nox.session(python=PYTHON, default=False)
@plainly
def hook(session: nox.Session) -> None:
    """`pre-commit try-repo` of the ptbr-validate hook on a good and a bad config."""
    publishing.hook(session)


@nox.session(python=PYTHON, reuse_venv=True, default=False, allow_parallel=True, tags=["matrix"])
# plain strings (-j sends them to workers); each cell is tagged with its versions: `nox -t gliner0.2.26`, `-t py3.13`
# (`floating`: resolved from floating axes; `override`: transformers installed outside gliner's declared range)
# With an unusable definition, one placeholder that stops with its problem (no parameters would make nox skip, exit 0)
@nox.parametrize("cell_id", [nox.param(c.id, id=c.id, tags=LISTED.tags(c)) for c in LISTED.cells]
                 or [nox.param("", id="unusable-definition")])
@plainly
def matrix(session: nox.Session, cell_id: str) -> None:
    """One cell of the version matrix: install its pins, check them, run the propagation suite, record the result."""
    LISTED.needed()
    sessions.run_cell(session, LISTED.cell(cell_id), LISTED)


@nox.session(python=PYTHON, reuse_venv=True, default=False, allow_parallel=True)
@plainly
def cell(session: nox.Session) -> None:
    """An ad-hoc cell: -- --torch X --transformers Y --gliner Z [--python 3.13] [--override], or -- --cell <id>
    [--override]."""
    sessions.ad_hoc_cell(session, LISTED)


@nox.session(name="report", venv_backend="none", default=False)
@plainly
def report(session: nox.Session) -> None:
    """Rebuild reports/matrix.{json,md} from the result files; exit 1 on a pinned cell not as the rules predict or not
    judged (--require-all, --news-fails, --explore; --expected-also FILE: another repository's config rules)."""
    LISTED.needed()
    sessions.report_session(session)


@nox.session(venv_backend="none", default=False)
@plainly
def accept(session: nox.Session) -> None:
    """Derive the rules of constraints/expected.toml again from the current verdicts (posargs: only these cell ids),
    keeping each why, and print the diff."""
    LISTED.needed()
    sessions.accept(session, LISTED)


@nox.session(venv_backend="none", default=False)
@plainly
def discover(session: nox.Session) -> None:
    """Releases newer than the definition's newest pins (torch, transformers, gliner) and the cells to add
    (-- --write appends them to constraints/matrix.toml)."""
    LISTED.needed()
    discover_.main(session.posargs, log=session.log)


@nox.session(venv_backend="none", default=False)
@plainly
def bisect(session: nox.Session) -> None:
    """The first release whose verdict differs from a range's start, by bisection over real cells (see
    harness/releases/bisect.py): -- --gliner 0.2.24 --transformers 4.57.3..5.24.0 [--torch X] [--pre] [--yanked]."""
    LISTED.needed()
    try:
        bisect_.main(session.posargs, log=session.log)
    except bisect_.CannotAnswer as e:
        session.error(f"bisect cannot answer: {e}")


@nox.session(venv_backend="none", default=False)
@plainly
def drift(session: nox.Session) -> None:
    """Static scan of the training API of every release from their wheels: reports/drift.{json,md}."""
    drift_.write(drift_.scan(log=session.log))
    session.log("reports/drift.md")


@nox.session(python=PYTHON, default=False)
@plainly
def atlas(session: nox.Session) -> None:
    """Every gliner × transformers pair, predicted and verified by real cells (-- --verify N [--shard I/K])."""
    sessions.atlas(session)


@nox.session(venv_backend="none", default=False)
@plainly
def image(session: nox.Session) -> None:
    """Build the Docker image of each given cell (posargs: cell ids, ad-hoc ones too; none: every cell), tagged
    ptbr-matrix:<id>."""
    sessions.image(session, LISTED)


@nox.session(python=PYTHON, default=False)
@plainly
def wheelhouse(session: nox.Session) -> None:
    """Every wheel the given cells' images need, in wheelhouse/ (PTBR_OFFLINE_BUILD=1 builds offline)."""
    sessions.wheelhouse(session, LISTED)


@nox.session(venv_backend="none", default=False)
@plainly
def lock(session: nox.Session) -> None:
    """Regenerate constraints/cells/<id>.txt: full transitive pins per cell (uv pip compile). Posargs: cell ids."""
    sessions.lock(session, LISTED)
