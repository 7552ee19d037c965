"""A cell's JUnit XML → its breaks: layer, field(s), test id and the failure's first line (expected vs got)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.results import Break

GLINER_PATH = "gliner-kwargs"
# the suite's failure lines start with the precise field and layer: "training.lr_others [ptbr]: expected ..."
_HEAD = re.compile(r"^(?P<field>[\w.*]+) \[(?P<layer>[\w-]+)\]: ")


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
    return text.splitlines()[0] if text else "failed"


def breaks(path: Path) -> list[Break]:
    """Every failed or errored test case, with the layer and fields it declared (unmarked tests: layer "suite")."""
    out: list[Break] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        message = _message(problem)
        head = _HEAD.match(message)
        layer = head["layer"] if head else props.get("layer", "suite")
        field = head["field"] if head else props.get("fields", "") or "-"
        out.append(Break(layer=layer, field=field, test=_test_id(case), message=message))
    return out
