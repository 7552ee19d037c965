"""The matrix report, built from the cells' result files: reports/matrix.json (versioned), reports/matrix.md (a
torch × transformers table per gliner version, then the breaks with their repro commands) and a terminal summary.

A break found in every cell that ran the suite does not depend on the versions: it is listed once, apart, and left
out of the table, so the table shows at a glance which versions break.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import Any

from harness import definition, results
from harness.results import Break, CellResult

SCHEMA_VERSION = 1
MARK = {"pass": "✓", "broken": "✗", "install-failed": "install-failed", "import-failed": "import-failed",
        "timeout": "timeout", "error": "error"}


def _key(b: Break) -> tuple[str, str, str]:
    return b["layer"], b["field"], b["test"]


def _breaks(c: CellResult, part: str) -> list[Break]:
    """A cell's breaks on PTBR's path ("breaks") or on gliner's own path ("gliner_path")."""
    return c["breaks"] if part == "breaks" else c["gliner_path"]["breaks"]


def common_breaks(cells: list[CellResult], part: str = "breaks") -> set[tuple[str, str, str]]:
    """Breaks present in every cell that ran the suite (at least two cells)."""
    ran = [c for c in cells if c["status"] in ("pass", "broken")]
    if len(ran) < 2:
        return set()
    sets = [{_key(b) for b in _breaks(c, part)} for c in ran]
    return set.intersection(*sets)


def build(cells: list[CellResult], current: dict[str, str] | None = None) -> dict[str, Any]:
    """The report as data. ``current`` maps cell id → today's fingerprint, to mark results from older code/pins."""
    common = common_breaks(cells)
    common_gliner = common_breaks(cells, "gliner_path")
    out_cells = []
    for c in cells:
        entry = dict(c)
        entry["version_dependent_breaks"] = [b for b in c["breaks"] if _key(b) not in common]
        entry["gliner_path_dependent_breaks"] = [b for b in c["gliner_path"]["breaks"] if _key(b) not in common_gliner]
        entry["current"] = (current is None or current.get(c["id"]) == c["fingerprint"]) and not c.get("selection")
        out_cells.append(entry)

    def listed(keys: set, part: str) -> list[dict[str, str]]:
        seen = {}
        for c in cells:
            for b in _breaks(c, part):
                if _key(b) in keys:
                    seen.setdefault(_key(b), b)
        return [seen[k] for k in sorted(seen)]

    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "summary": dict(Counter(c["status"] for c in cells)),
        "version_independent": {"ptbr_path": listed(common, "breaks"),
                                "gliner_path": listed(common_gliner, "gliner_path")},
        "cells": out_cells,
    }


def _fields(found: list[Break]) -> list[str]:
    """The distinct fields of some breaks (a test covering several lists them comma-separated)."""
    return sorted({f for b in found for f in b["field"].split(",")})


def _cell_text(c: dict[str, Any], most: int = 3) -> str:
    text = MARK[c["status"]]
    if c["status"] == "broken":
        fields = _fields(c["version_dependent_breaks"])
        if not fields:
            text += " (common only)"
        elif len(fields) <= most:
            text += " " + ", ".join(fields)
        else:
            text += f" {len(fields)} fields: " + ", ".join(fields[:most]) + ", …"
    if c["declared_support"].get("inside") is False:
        text += " ⚠"
    if c["gliner_path_dependent_breaks"]:
        text += " ᵍ"
    if c.get("selection"):
        return f"{text} (subset)"
    return text if c["current"] else f"{text} (stale)"


def markdown(report: dict[str, Any]) -> str:
    cells = report["cells"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["summary"].items()))
    lines = ["# PTBR version matrix", "", f"{len(cells)} cells: {counts}. Generated {report['generated_at']}.", "",
             "✓ pass · ✗ broken (fields broken in this cell only) · ⚠ outside gliner's declared transformers range "
             "(installed with an override) · ᵍ gliner's own train_model(**kwargs) path also broke · (stale) result "
             "from older code or pins", ""]
    independent = report["version_independent"]
    if independent["ptbr_path"] or independent["gliner_path"]:
        lines += ["## Version-independent defects (in every cell)", ""]
        for path, key in (("PTBR's path", "ptbr_path"), ("gliner's own path", "gliner_path")):
            for b in independent[key]:
                lines.append(f"- {path}, `{b['layer']}` `{b['field']}`: {b['message']} (`{b['test']}`)")
        lines.append("")
    by_gliner: dict[str, list[dict[str, Any]]] = {}
    for c in cells:
        by_gliner.setdefault(c["requested"]["gliner"], []).append(c)
    for gliner in sorted(by_gliner, key=_version):
        group = by_gliner[gliner]
        tfs = sorted({c["requested"]["transformers"] for c in group}, key=_version)
        torches = sorted({c["requested"]["torch"] for c in group}, key=_version)
        grid = {(c["requested"]["torch"], c["requested"]["transformers"]): c for c in group}
        lines += [f"## gliner {gliner}", "", "| torch \\ transformers | " + " | ".join(tfs) + " |",
                  "|---|" + "---|" * len(tfs)]
        for t in torches:
            row = [_cell_text(grid[(t, tf)]) if (t, tf) in grid else "" for tf in tfs]
            lines.append(f"| {t} | " + " | ".join(row) + " |")
        lines.append("")
    failing = [c for c in cells if c["status"] != "pass"]
    if failing:
        lines += ["## Breaks and how to reproduce them", ""]
        for c in failing:
            lines += [f"### {c['id']}: {c['status']}", ""]
            if c.get("reason"):
                lines += ["```", c["reason"], "```", ""]
            for b in c["version_dependent_breaks"] + c["gliner_path_dependent_breaks"]:
                lines.append(f"- `{b['layer']}` `{b['field']}`: {b['message']} (`{b['test']}`)")
            lines += ["", "Reproduce from a checkout's root, with nox (in a virtualenv):", "",
                      "```sh", c["repro"]["nox"], "```", ""]
            if c["repro"].get("docker_run"):
                lines += ["or in the cell's image (build it, then run the failing tests offline):", "", "```sh",
                          c["repro"]["docker_build"], c["repro"]["docker_run"], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def terminal(report: dict[str, Any]) -> str:
    lines = []
    for c in report["cells"]:
        extra = ", ".join(_fields(c["version_dependent_breaks"]))
        reason = (c.get("reason") or "").splitlines()[0] if c.get("reason") else ""
        detail = extra or reason
        lines.append(f"{MARK[c['status']]:<15}{c['id']:<42}{c['duration_s']:>7.1f} s  {detail}"[:160].rstrip())
    independent = report["version_independent"]["ptbr_path"] + report["version_independent"]["gliner_path"]
    if independent:
        lines.append(f"in every cell: {len(independent)} version-independent break(s), see reports/matrix.md")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["summary"].items()))
    lines.append(f"{len(report['cells'])} cells: {counts}")
    return "\n".join(lines)


def write(root: Path = results.REPORTS, cells_root: Path | None = None,
          current: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the report from every result file and write matrix.json and matrix.md atomically."""
    cells_root = cells_root or root / "cells"
    report = build(results.load_all(cells_root), current)
    results.write_atomic(root / "matrix.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    results.write_atomic(root / "matrix.md", markdown(report))
    return report


def current_fingerprints() -> dict[str, str]:
    return {c.id: results.fingerprint(c) for c in definition.cells()}


def _version(text: str) -> tuple:
    from packaging.version import Version

    return (Version(text),)
