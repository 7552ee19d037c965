"""A running step's output read as progress: uv's and BuildKit's steps, pytest's count, one log line per event
or every few seconds."""

from __future__ import annotations

import re
import time

from harness.run.options import Options
from harness.run.pins import Cell

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
