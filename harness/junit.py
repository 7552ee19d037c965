"""A cell's JUnit XML → what pytest executed and what broke: layer, field(s), test id, the failure's first line, and
for a failure that is not a value mismatch, the exception that caused it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from harness.results import Break

GLINER_PATH = "gliner-kwargs"
# the suite's failure lines start with the precise field and layer: "training.lr_others [ptbr]: expected ..."
# ("loss trace [e2e]: expected the golden trace ..." names a result, not a config field)
_HEAD = re.compile(r"^(?P<field>[\w.*]+(?: [\w.*]+)?) \[(?P<layer>[\w-]+)\]: ")
_EXCEPTION = re.compile(r"^(?:E\s+)?(?P<line>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit)\b.*)$")
_CRASHED = re.compile(r"worker '(?P<worker>\w+)' crashed while running '(?P<test>[^']+)'")
# frames that mean the failure happened while gliner built or ran its Trainer: the cell cannot train at all
_TRAINING_FRAMES = re.compile(r"in train_model\b|transformers/trainer\.py")
CANNOT_TRAIN = "cannot train"


class JUnitError(Exception):
    """The JUnit XML is missing or cannot be read: the run cannot be judged."""


@dataclass
class Outcome:
    counts: dict[str, int]
    """tests, failures, errors, skipped: what pytest executed."""
    breaks: list[Break]
    crashed: list[str]
    """Tests during which an xdist worker died (the process, not an assertion)."""

    @property
    def executed(self) -> int:
        return self.counts["tests"] - self.counts["skipped"]


def _test_id(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "")
    module = classname.replace(".", "/") + ".py" if classname else ""
    return f"{module}::{name}" if module else name


def _message(problem: ET.Element) -> str:
    """The assertion's own first line: the suite's ``field [layer]: expected X, got Y (rule)``."""
    text = (problem.get("message") or problem.text or "").strip()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("AssertionError: "):
            return line.removeprefix("AssertionError: ")
    return text.splitlines()[0].strip() if text else "failed"


def _cause(problem: ET.Element, message: str) -> str:
    """The exception behind a failure that is not a value mismatch: ``cannot train: TypeError: ...`` when it was
    raised while gliner built or ran its Trainer, else the exception line itself."""
    body = problem.text or ""
    lines = [m["line"].strip() for line in [message, *body.splitlines()] if (m := _EXCEPTION.match(line.strip()))]
    exception = lines[-1] if lines else message
    exception = re.sub(r"^[\w/.-]+\.py:\d+: ", "", exception)  # --tb=line puts "path:line: " first
    return f"{CANNOT_TRAIN}: {exception}" if _TRAINING_FRAMES.search(body) else exception


def parse(path: Path) -> Outcome:
    """Every failed or errored test case, with the layer and fields it declared (unmarked tests: layer "suite");
    JUnitError if the file is missing or malformed."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as e:
        raise JUnitError(f"pytest wrote no JUnit XML ({path.name})") from e
    except ET.ParseError as e:
        raise JUnitError(f"the JUnit XML cannot be read ({e})") from e
    counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    out: list[Break] = []
    crashed: list[str] = []
    for case in root.iter("testcase"):
        counts["tests"] += 1
        if case.find("skipped") is not None:
            counts["skipped"] += 1
        problem = case.find("failure")
        kind = "failures"
        if problem is None:
            problem, kind = case.find("error"), "errors"
        if problem is None:
            continue
        counts[kind] += 1
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        message = _message(problem)
        crash = _CRASHED.search(message) or _CRASHED.search(problem.text or "")
        if crash:
            crashed.append(_test_id(case))
            continue
        head = _HEAD.match(message)
        if head:  # a value arrived wrong: charged to that field
            out.append(Break(layer=head["layer"], field=head["field"], test=_test_id(case), message=message,
                             cause=None))
        else:  # the test could not prove its fields: charged to the test, with its exception
            cause = _cause(problem, message)
            out.append(Break(layer=props.get("layer", "suite"), field=props.get("fields", "") or "-",
                             test=_test_id(case), message=cause, cause=cause))
    return Outcome(counts=counts, breaks=out, crashed=crashed)
