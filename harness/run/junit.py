"""A cell's JUnit XML → what pytest executed and what broke: layer, field(s), test id, the failure's first line, and
for a failure that is not a value mismatch, the exception that caused it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.run.results import Break, CellResult

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


def causes(found: list[Break]) -> list[dict[str, Any]]:
    """Breaks that are not value mismatches, grouped by the exception that caused them: one entry per cause, with
    a short label, the layers, the tests it stopped and the fields those tests left unproven."""
    grouped: dict[str, list[Break]] = {}
    for b in found:
        if b.get("cause"):
            grouped.setdefault(b["cause"], []).append(b)
    # a test that reports another's exception in its own words ("ptbr train exited 1: ... TypeError: ...") shares
    # its cause: merged into the cause whose exception its text holds
    def core(cause: str) -> str:  # the message, without "cannot train: " and the exception's type
        return re.sub(r"^[\w.]+(?:Error|Exception): ", "", cause.removeprefix(f"{CANNOT_TRAIN}: "))

    for cause in sorted(grouped, key=lambda c: len(core(c)), reverse=True):
        host = next((c for c in grouped if c != cause and core(c) in core(cause) and len(core(c)) < len(core(cause))),
                    None)
        if host:
            grouped[host] += grouped.pop(cause)
    out = []
    for cause, blocked in grouped.items():
        fields = fields_of(blocked)
        if len(blocked) == 1 and len(fields) <= 1:  # one test of one field: the field says it best
            label = fields[0] if fields else cause.split(":")[0]
        elif cause.startswith(CANNOT_TRAIN) or CANNOT_TRAIN in cause:  # also PTBR's own refusal
            label = CANNOT_TRAIN
        else:
            label = f"{cause.split(':')[0]} in {len(blocked)} tests"
        out.append({"cause": cause, "label": label, "layers": sorted({b["layer"] for b in blocked}),
                    "tests": sorted(b["test"] for b in blocked), "fields": fields})
    return out


def broken_lines(result: CellResult) -> list[str]:
    """``BROKEN <field> [<layer>]: <message>`` per value break and one line per cause, with what it stopped: what
    every runner prints as soon as a cell finishes."""
    lines = []
    for path, found in (("", result["breaks"]), (" (gliner's own path)", result["gliner_path"]["breaks"])):
        for b in found:
            if not b.get("cause"):
                head = f"{b['field']} [{b['layer']}]: "  # the suite's messages start with it
                lines.append(f"BROKEN {head}{b['message'].removeprefix(head)}{path}\n  {b['test']}")
        for k in causes(found):
            layers = ",".join(k["layers"])
            if len(k["tests"]) == 1 and len(k["fields"]) == 1:
                lines.append(f"BROKEN {k['fields'][0]} [{layers}]: {k['cause']}{path}\n  {k['tests'][0]}")
            else:
                fields = ", ".join(k["fields"][:6]) + (", …" if len(k["fields"]) > 6 else "")
                lines.append(f"BROKEN {k['cause']} [{layers}]: {len(k['tests'])} tests, {len(k['fields'])} fields "
                             f"unproven ({fields}){path}")
    return lines


def fields_of(found: list[Break]) -> list[str]:
    """The distinct fields of some breaks (a test covering several lists them comma-separated)."""
    return sorted({f for b in found for f in b["field"].split(",")})


def failing(result: CellResult) -> list[str]:
    """The tests that broke on PTBR's path: what a repro command selects."""
    return sorted({b["test"] for b in result["breaks"]})
