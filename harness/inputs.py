"""The harness's own inputs read the way PTBR reads a config: every problem at once, each with its place
(``file:line``), the key, what was expected and a did-you-mean; never a traceback.

``Invalid`` carries the problems; the sessions end with it as their message (exit 1, or 2 from ``python -m
harness``). ``Parser`` is an argparse parser whose errors are ``Invalid`` instead of an exit inside a nox session.
``toml`` reads a TOML file with the line of each table and key, for the messages.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from harness.run.options import cores
from harness.run.pins import ROOT, Cell, tomllib


class Invalid(Exception):
    """An input the harness cannot use; ``problems`` are one line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def shown(path: Path) -> str:
    """A path as a person at the checkout's root would type it."""
    return str(path.relative_to(ROOT)) if path.is_absolute() and path.is_relative_to(ROOT) else str(path)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


_HEADER = re.compile(r"^\s*(\[\[?)\s*(.+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[\w.-]+)\s*=""")


def lines(text: str) -> dict[tuple[Any, ...], int]:
    """The line of each table and key: ``(table,)`` or ``(array, n)`` for the n-th ``[[array]]`` (from 0), and that
    plus ``(key,)`` for a key in it; top-level keys are ``(key,)``. Good enough for messages; tomllib checks the
    syntax."""
    out: dict[tuple[Any, ...], int] = {}
    table: tuple[Any, ...] = ()
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            name = header[2].strip("\"'")
            if header[1] == "[[":
                seen[name] = seen.get(name, -1) + 1
                table = (name, seen[name])
            else:
                table = (name,)
            out.setdefault(table, number)
            continue
        key = _KEY.match(line)
        if key:
            out.setdefault((*table, key[1].strip("\"'")), number)
    return out


def toml(path: Path) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """(the file's data, the line of each table and key); ``Invalid`` for a file that cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise Invalid([f"{shown(path)}: cannot be read: {e.strerror or e}"]) from None
    except UnicodeDecodeError as e:
        raise Invalid([f"{shown(path)}: not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        place = f"{where[1]}:{where[2]}" if where else "1"
        raise Invalid([f"{shown(path)}:{place}: not valid TOML: {message}"]) from None
    return data, lines(text)


class Parser(argparse.ArgumentParser):
    """argparse for session arguments: a problem is ``Invalid`` (the session ends with it), not ``SystemExit``
    (which nox would take for the end of everything). No abbreviations: ``--re`` is not ``--rerun``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, allow_abbrev=False, add_help=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise Invalid([f"{self.prog}: {message}", self.format_usage().strip()])


# declarative table: a cell session's own options (`nox -s matrix -- ...`, `nox -s cell -- ...`): --docker (in the
# cell's image, offline: see Dockerfile), --rerun (even if its result is current), --explore (exit 0 whatever the
# verdict), --news-fails (a floating cell on releases newer than the pins, or an ad-hoc cell, fails where the rules do
# not predict its verdict; by default such news is reported apart and never fails), --timeout SECONDS (the cell's one
# run: import, suite and configs), --workers N|auto (xdist; default max(1, cores // N) under `nox -j N`, else the
# cores), --config PATH (repeatable; a directory: its *.yaml; default: the definition's `configs`: every key of each
# config proven in the cell with a smoke training, reports/cells/<id>/configs/, its verdict expected too),
# --configs-only (the configs without the suite), --no-configs (none, not even the definition's), --config-root DIR
# (where the configs are named from and their data read: another repository's root, default the checkout, with
# --config); an ad-hoc cell's --cell, --torch, --transformers, --gliner, --override, --python. Test files and ids under
# tests/ and pytest's selecting and printing options (-k, -m, -x, --lf, -v, ...) go to pytest and make the run a repro
# run, stored apart (reports/cells/<id>/repro/), never replacing the cell's full result (check_pytest_args); anything
# else is refused.
CELL_OPTIONS: dict[str, dict[str, Any]] = {
    "--rerun": {"action": "store_true"},
    "--explore": {"action": "store_true"},
    "--news-fails": {"action": "store_true"},
    "--timeout": {"type": float, "default": 1200},
    "--workers": {"type": lambda text: workers(text), "metavar": "N|auto"},
    "--cell": {"type": Cell.parse, "help": "an ad-hoc cell by id"},
    "--torch": {},
    "--transformers": {},
    "--gliner": {},
    "--override": {"action": "store_true"},
    "--python": {"help": "an ad-hoc cell's Python (major.minor; default the definition's)"},
    "--docker": {"action": "store_true"},
    "--config": {"action": "append", "metavar": "PATH"},
    "--configs-only": {"action": "store_true"},
    "--no-configs": {"action": "store_true"},
    "--config-root": {"metavar": "DIR"},
}


@dataclass
class CellArgs:
    """A cell session's arguments, parsed (:data:`CELL_OPTIONS`), and those it passes to pytest."""

    rerun: bool
    explore: bool
    news_fails: bool
    timeout: float
    workers: int | None
    cell: Cell | None
    torch: str | None
    transformers: str | None
    gliner: str | None
    override: bool
    python: str | None
    docker: bool
    config: list[str] | None
    configs_only: bool
    no_configs: bool
    config_root: str | None
    pytest_args: list[str] = field(default_factory=list)


def workers(text: str) -> int:
    """--workers: a number of xdist workers (1: none), or ``auto``: one per core."""
    if text == "auto":
        return cores()
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a number of workers (1: no xdist) or auto (one per core)")
    return int(text)


def cell_args(posargs: list[str], session: str) -> CellArgs:
    """A cell session's arguments; ``Invalid`` for one that is neither its own nor one it passes to pytest."""
    parser = Parser(prog=f"nox -s {session} --")
    for option, kwargs in CELL_OPTIONS.items():
        parser.add_argument(option, **kwargs)
    args, pytest_args = parser.parse_known_args(posargs)
    check_pytest_args(pytest_args, list(CELL_OPTIONS), session)
    return CellArgs(**vars(args), pytest_args=pytest_args)


# pytest options a repro run passes on (anything else starting with "-" is refused before a cell installs): the
# ones that select tests or change what pytest prints. Those followed by a value take the next argument.
PYTEST_FLAGS = ("-x", "--exitfirst", "-v", "-vv", "-vvv", "-q", "-s", "-l", "--showlocals", "--lf", "--last-failed",
                "--ff", "--failed-first", "--sw", "--stepwise", "--full-trace", "--no-header", "-ra", "-rA",
                "--collect-only", "--co")
PYTEST_VALUED = ("-k", "-m", "--tb", "--maxfail", "--durations", "-p", "-o", "-W", "--log-level", "--log-cli-level",
                 "--capture", "-r", "--deselect", "--ignore")


def check_pytest_args(args: list[str], harness_options: list[str], session: str) -> None:
    """What a cell session passes to pytest (the arguments its own parser did not take): test files and ids that
    exist under tests/, and the pytest options above. A typo of a harness option (``--rerum``) or an option that
    does not apply here (``--config``) is refused with the reason, before anything installs."""
    problems = []
    values = iter(args)
    for arg in values:
        option = arg.split("=", 1)[0]
        if not arg.startswith("-"):
            path = ROOT / arg.split("::", 1)[0]
            if not path.exists() or not path.is_relative_to(ROOT / "tests"):
                problems.append(f"{arg}: not a test file or test id under tests/ (e.g. "
                                "tests/propagation/test_layer1_training_args.py::test_name)")
        elif option in PYTEST_VALUED or any(arg.startswith(f) and len(arg) > 2 for f in ("-k", "-m", "-p", "-o", "-W")):
            if "=" not in arg and option in PYTEST_VALUED:
                next(values, None)
        elif option not in PYTEST_FLAGS:
            close = did_you_mean(option, harness_options)
            problems.append(f"{arg}: not an option of `nox -s {session}` nor one it passes to pytest" + (close or (
                f" (its options: {', '.join(o for o in harness_options if o.startswith('--'))}; pytest's: "
                f"{', '.join(PYTEST_FLAGS + PYTEST_VALUED)})")))
    if problems:
        raise Invalid(problems)
