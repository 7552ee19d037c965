"""The README's fresh-machine commands are the ones CI runs: each begins with the same set-up line, and `.ci/run`
runs that line as written."""

from __future__ import annotations

import re

from support import ROOT

SETUP = "python3 -m venv --without-pip .tools && python3 -m pip --python .tools/bin/python install nox uv"


def fresh_machine_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("## On a fresh machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\|[^|]+\| `([^`]+)` \|$", section, re.MULTILINE)


def test_every_fresh_machine_command_begins_with_the_set_up_line() -> None:
    commands = fresh_machine_commands()
    assert len(commands) >= 2, "a command for the main job and one for the tests"
    for command in commands:
        assert command.startswith(f"{SETUP} && .tools/bin/nox -s "), command
    assert f"{SETUP} && .tools/bin/nox -s matrix -j 2" in commands, "the main job"
    assert f"{SETUP} && .tools/bin/nox -s tests" in commands, "the test command"


def test_ci_runs_the_set_up_line_and_the_test_command_as_the_readme_writes_them() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert SETUP in lines, ".ci/run installs nox and uv the way the README says"
    assert "nox -s tests" in lines, ".ci/run runs the README's test command (with .tools/bin on PATH)"
