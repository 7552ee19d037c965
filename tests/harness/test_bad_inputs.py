"""Bad inputs to the harness's entry points (its files and the sessions' arguments), fed to real `nox` in a checkout:
each ends in a clear message (where, what was expected) and a non-zero exit, never a traceback or a false success;
and a broken definition does not take down the sessions that do not need it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

CELL = "torch2.13.0-tf5.16.1-gliner0.2.29"


def nox(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    python = os.environ.get("PTBR_NOX_PYTHON", sys.executable)
    return subprocess.run([python, "-m", "nox", "-f", str(checkout / "noxfile.py"), "--envdir",
                           str(checkout / ".nox"), *args], cwd=checkout, capture_output=True, text=True,
                          timeout=300, check=False)


def _edit(checkout: Path, name: str, old: str, new: str) -> None:
    path = checkout / name
    text = path.read_text()
    assert old in text, f"{name} no longer holds {old!r}: update this corpus"
    path.write_text(text.replace(old, new, 1))


DEFINITION = "constraints/matrix.toml"
EXPECTED = "constraints/expected.toml"
FIRST_TF = 'transformers = ["4.51.3"'
DEFINITION_CONFIGS = ('configs = ["examples/tiny.yaml", "tests/configs/team/team.yaml", '
                      '"tests/configs/upstream/config.yaml",\n           "tests/configs/flat/span.yaml", '
                      '"tests/configs/original/ptbr.yaml"]')
CORPUS = {
    # (file edits, session arguments, what the message must say)
    "a misspelled axis": ([(DEFINITION, FIRST_TF, 'transfomers = ["4.51.3"')], ["-s", f"matrix({CELL})"],
                          r"matrix\.toml:\d+: group 1: transfomers: not a key of a group .*"
                          r"did you mean transformers\?"),
    "a group with no axes": ([(DEFINITION, "\n[[group]]\n", "\n[[group]]\n\n[[group]]\n")], ["-s", "report"],
                             r"matrix\.toml:\d+: group 1: no axes"),
    "a TOML syntax error": ([(DEFINITION, "\n[[group]]\n", "\n[[group]\n")], ["-s", "accept"],
                            r"matrix\.toml:\d+:\d+: not valid TOML"),
    "a version that is not one": ([(DEFINITION, FIRST_TF, 'transformers = ["5.x"')], ["-s", "report"],
                                  r"matrix\.toml:\d+: group 1: transformers: '5\.x' is not a version \(PEP 440\)"),
    "expected verdicts that are not TOML": ([(EXPECTED, "status = ", "status = = ")], ["-s", "report"],
                                            r"expected\.toml:\d+:\d+: not valid TOML"),
    "an expected status that is none": ([(EXPECTED, 'status = "broken"', 'status = "broke"')], ["-s", "report"],
                                        r"expected\.toml:\d+: status 'broke': status: expected one of broken, "
                                        r".*did you mean broken\?"),
    "a condition that is no version specifier": ([(EXPECTED, 'gliner = "<0.2.29"', 'gliner = "before 0.2.29"')],
                                                 ["-s", "report"], r"expected\.toml:\d+: .*when: gliner: expected a "
                                                 r"PEP 440 specifier"),
    "accepting a cell that is none": ([], ["-s", "accept", "--", "torch2.13.0-tf5.16.2-gliner0.2.29"],
                                      rf"not a cell of the matrix definition; did you mean {CELL}\?"),
    "accepting a malformed id": ([], ["-s", "accept", "--", "gliner0.2.29"], r"gliner0\.2\.29: not a cell of the"),
    "an option no session has": ([], ["-s", f"matrix({CELL})", "--", "--profile", "my.yaml"],
                                 r"--profile: not an option of `nox -s matrix\(.*\)` nor one it passes to pytest"),
    "a config that is not there": ([], ["-s", f"matrix({CELL})", "--", "--config", "my.yaml"],
                                   r"--config my\.yaml: no such file or directory"),
    "proving configs with none given": ([(DEFINITION, DEFINITION_CONFIGS, "configs = []")],
                                        ["-s", f"matrix({CELL})", "--", "--configs-only"],
                                        r"--configs-only: no config to prove \(give --config PATH\)"),
    "configs-only with tests": ([], ["-s", f"matrix({CELL})", "--", "--configs-only", "--config", "examples",
                                     "-k", "lr"], r"--configs-only: proves configs only: give --config PATH and no "),
    "a definition config that is not there": ([(DEFINITION, '"examples/tiny.yaml"', '"examples/tiny.yml"')],
                                              ["-s", f"matrix({CELL})"],
                                              r"matrix\.toml:\d+: configs: examples/tiny\.yml: no such file"),
    "a typo of a harness option": ([], ["-s", f"matrix({CELL})", "--", "--rerum"], r"did you mean --rerun\?"),
    "a timeout that is no number": ([], ["-s", f"matrix({CELL})", "--", "--timeout", "soon"],
                                    r"argument --timeout: invalid float value: 'soon'"),
    "a number of workers that is none": ([], ["-s", f"matrix({CELL})", "--", "--workers", "0"],
                                         r"argument --workers: '0': a number of workers \(1: no xdist\) or auto"),
    "an ad-hoc cell id that is none": ([], ["-s", "cell", "--", "--cell", "torch2.13"],
                                       r"argument --cell: invalid parse value"),
    "a report option that is none": ([], ["-s", "report", "--", "--all"], r"--all: not an option"),
    "a group's Python that is no major.minor": ([(DEFINITION, FIRST_TF, 'python = ["3.13.1"]\n' + FIRST_TF)],
                                                ["-s", "report"], r"matrix\.toml:\d+: group 1: python: expected a "
                                                r"non-empty list of Pythons such as \[\"3\.11\", \"3\.13\"\]"),
    "an ad-hoc cell's Python that is none": ([], ["-s", "cell", "--", "--cell", CELL, "--python", "three"],
                                             r"--python three: expected a Python as major\.minor, e\.g\. 3\.13"),
    "a reversed bisect range": ([], ["-s", "bisect", "--", "--gliner", "0.2.24", "--transformers", "5.0.0..4.57.3"],
                                r"the range is reversed: FIRST must be older than LAST "
                                r"\(--transformers 4\.57\.3\.\.5\.0\.0\)"),
    "a bisect range with no end": ([], ["-s", "bisect", "--", "--gliner", "0.2.24", "--transformers", "4.57.3.."],
                                   r"\(nothing\) is not a version"),
    "a bisect pin that is no version": ([], ["-s", "bisect", "--", "--gliner", "0.2.24", "--transformers",
                                             "4.57.3..5.0.0", "--torch", "9.x"],
                                        r"--torch 9\.x: '9\.x' is not a version"),
    "a bisect of two ranges": ([], ["-s", "bisect", "--", "--gliner", "0.2.24..0.2.29", "--transformers",
                                    "4.57.3..5.0.0"], r"give exactly one package as a range"),
}


@pytest.mark.parametrize("case", CORPUS, ids=list(CORPUS))
def test_a_bad_input_ends_in_a_clear_message_and_a_failing_exit(checkout: Path, case: str) -> None:
    edits, args, message = CORPUS[case]
    for name, old, new in edits:
        _edit(checkout, name, old, new)
    run = nox(checkout, *args)
    out = run.stdout + run.stderr
    assert run.returncode != 0, f"{case}: exit 0 is a false success:\n{out[-2000:]}"
    assert "Traceback" not in out, f"{case}: a traceback instead of a message:\n{out[-3000:]}"
    assert re.search(message, out), f"{case}: the message does not say {message!r}:\n{out[-2000:]}"
    assert not (checkout / "reports" / "cells").exists(), f"{case}: refused before any cell ran"


def test_a_broken_definition_leaves_the_sessions_that_do_not_need_it(checkout: Path) -> None:
    _edit(checkout, DEFINITION, FIRST_TF, 'transfomers = ["4.51.3"')
    listed = nox(checkout, "-l")
    assert listed.returncode == 0, "listing never fails"
    assert "did you mean transformers?" in listed.stderr, "the listing says what is wrong"
    for offered in ("* tests", "* lint"):
        assert offered in listed.stdout, "sessions that need no definition are offered"
    matrix = nox(checkout, "-s", "matrix", "--no-venv")
    assert matrix.returncode != 0, "the matrix session fails with the problem (no cells must not mean success)"
