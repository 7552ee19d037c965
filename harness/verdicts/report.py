"""The matrix report, built from the cells' result files: reports/matrix.json (versioned), reports/matrix.md (a
torch × transformers table per gliner version, then the breaks with their repro commands) and a terminal summary.

Each cell of the definition is compared with its expected verdict first (harness/verdicts/expected.py): that comparison
is what gates. A break found in every cell of the definition that ran the suite does not depend on the versions: it is
listed once, apart, and left out of the table, so the table shows at a glance which versions break (computed only
when every cell of the definition has a current result; results of ad-hoc cells never count). Breaks that share
one exception (a cell that cannot train fails every test that trains) are one cause, listed with the tests and
fields it blocked. A cell's latest repro run (selected tests) is shown beside its full result, never in its place.
"""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import Any

from harness import definition
from harness.run import junit, results
from harness.run.results import Break, CellResult
from harness.verdicts import expected as expected_

SCHEMA_VERSION = 2  # 2: "expected" (the comparison), "unresolved", in_definition, version_independent.computed
MARK = {"pass": "✓", "broken": "✗", "install-failed": "install-failed", "import-failed": "import-failed",
        "timeout": "timeout", "error": "error"}


def _key(b: Break) -> tuple[str, str, str]:
    return b["layer"], b["field"], b["test"]


def _breaks(c: CellResult, part: str) -> list[Break]:
    """A cell's breaks on PTBR's path ("breaks") or on gliner's own path ("gliner_path")."""
    return c["breaks"] if part == "breaks" else c["gliner_path"]["breaks"]


def common_breaks(cells: list[CellResult], part: str = "breaks") -> set[tuple[str, str, str]]:
    """Breaks present in every one of ``cells`` that ran the suite (at least two cells)."""
    ran = [c for c in cells if c["status"] in ("pass", "broken")]
    if len(ran) < 2:
        return set()
    sets = [{_key(b) for b in _breaks(c, part)} for c in ran]
    return set.intersection(*sets)


def build(cells: list[CellResult], current: dict[str, str] | None = None, repro_runs: list[CellResult] = (),
          definition_cells: list[definition.Cell] | None = None,
          expected: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report as data. ``current`` maps cell id → the fingerprint a result of its runner must have now (see
    ``current_fingerprints``), to mark results from older code or pins; ``repro_runs``: the cells' latest repro runs;
    ``definition_cells`` and ``expected``: the matrix's cells and their expected verdicts (default: the files')."""
    definition_cells = definition.cells() if definition_cells is None else definition_cells
    expected = expected_.load() if expected is None else expected

    def is_current(c: CellResult) -> bool:
        return (current is None or current.get(c["id"]) == c["fingerprint"]) and not c.get("selection")

    now = {c["id"]: c for c in cells if is_current(c)}
    ids = [c.id for c in definition_cells]
    complete = all(i in now for i in ids)
    of_definition = [now[i] for i in ids if i in now] if complete else []
    common = common_breaks(of_definition)
    common_gliner = common_breaks(of_definition, "gliner_path")
    repros = {r["id"]: r for r in repro_runs}
    out_cells = []
    for c in cells:
        entry = dict(c)
        entry["version_dependent_breaks"] = [b for b in c["breaks"] if _key(b) not in common]
        entry["gliner_path_dependent_breaks"] = [b for b in c["gliner_path"]["breaks"] if _key(b) not in common_gliner]
        entry["causes"] = junit.causes(entry["version_dependent_breaks"])
        entry["current"] = is_current(c)
        entry["in_definition"] = c["id"] in ids
        entry["latest_repro"] = _repro_summary(repros[c["id"]]) if c["id"] in repros else None
        out_cells.append(entry)

    def listed(keys: set, part: str) -> list[dict[str, str]]:
        seen = {}
        for c in of_definition:
            for b in _breaks(c, part):
                if _key(b) in keys:
                    seen.setdefault(_key(b), b)
        return [seen[k] for k in sorted(seen)]

    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "summary": dict(Counter(c["status"] for c in cells)),
        "expected": expected_.compare(definition_cells, now, expected),
        "unresolved": list(definition.UNRESOLVED),
        "version_independent": {"ptbr_path": listed(common, "breaks"),
                                "gliner_path": listed(common_gliner, "gliner_path"),
                                "computed": complete,
                                "over": len(of_definition)},
        "cells": out_cells,
    }


def _repro_summary(r: CellResult) -> dict[str, Any]:
    return {"status": r["status"], "selection": r["selection"], "runner": r["runner"], "finished_at": r["finished_at"],
            "breaks": r["breaks"], "reason": r["reason"]}


def _value_fields(c: dict[str, Any]) -> list[str]:
    """The fields whose value arrived wrong in this cell only (breaks with a cause are counted as causes)."""
    return junit.fields_of([b for b in c["version_dependent_breaks"] if not b.get("cause")])


def _detail(c: dict[str, Any], most: int = 3) -> str:
    """What broke, short: each cause's label, then the fields whose value was wrong."""
    labels = [k["label"] for k in c["causes"]]
    fields = _value_fields(c)
    if len(fields) > most:
        fields = [f"{len(fields)} fields: " + ", ".join(fields[:most]) + ", …"]
    return ", ".join(labels + fields)


def _cell_text(c: dict[str, Any]) -> str:
    text = MARK[c["status"]]
    if c["status"] == "broken":
        text += " " + (_detail(c) or "(common only)")
    if c["declared_support"].get("inside") is False:
        text += " ⚠"
    if c["gliner_path_dependent_breaks"]:
        text += " ᵍ"
    if c.get("selection"):
        return f"{text} (subset)"
    if not c.get("in_definition", True):
        text += " (ad hoc)"
    return text if c["current"] else f"{text} (stale)"


def markdown(report: dict[str, Any]) -> str:
    cells = report["cells"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["summary"].items()))
    lines = ["# PTBR version matrix", "", f"{len(cells)} cells: {counts}. Generated {report['generated_at']}.", ""]
    lines += ["## Against the expected verdicts (constraints/expected.toml)", "",
              expected_.summary(report["expected"]) + ".", ""]
    differences = expected_.lines(report["expected"])
    if differences:
        lines += ["```", *differences, "```", ""]
    if report["unresolved"]:
        lines += ["Floating cells left out (the package index could not be read):", "",
                  *[f"- {u}" for u in report["unresolved"]], ""]
    independent = report["version_independent"]
    if not independent["computed"]:
        lines += ["Version-independent defects: not computed (not every cell of the definition has a current "
                  "result).", ""]
    if independent["ptbr_path"] or independent["gliner_path"]:
        lines += [f"## Version-independent defects (in every one of the definition's {independent['over']} cells)",
                  ""]
        for path, key in (("PTBR's path", "ptbr_path"), ("gliner's own path", "gliner_path")):
            for b in independent[key]:
                lines.append(f"- {path}, `{b['layer']}` `{b['field']}`: {b['message']} (`{b['test']}`)")
        lines.append("")
    lines += ["✓ pass · ✗ broken (fields broken in this cell only) · ⚠ outside gliner's declared transformers range "
              "(installed with an override) · ᵍ gliner's own train_model(**kwargs) path also broke · (stale) result "
              "from older code or pins · (ad hoc) not a cell of the definition", ""]
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
            for k in c["causes"]:
                lines.append(f"- {k['cause']} (`{'`, `'.join(k['layers'])}`): stopped {len(k['tests'])} test(s), "
                             f"leaving {len(k['fields'])} field(s) unproven: {', '.join(k['fields'])}")
                lines += [f"  - `{t}`" for t in k["tests"]]
            for b in [b for b in c["version_dependent_breaks"] if not b.get("cause")]:
                lines.append(f"- `{b['layer']}` `{b['field']}`: {b['message']} (`{b['test']}`)")
            for k in junit.causes(c["gliner_path_dependent_breaks"]):
                lines.append(f"- gliner's own path: {k['cause']}: stopped {len(k['tests'])} test(s)")
            for b in [b for b in c["gliner_path_dependent_breaks"] if not b.get("cause")]:
                lines.append(f"- gliner's own path, `{b['layer']}` `{b['field']}`: {b['message']} (`{b['test']}`)")
            lines += ["", "Reproduce from a checkout's root, with nox (in a virtualenv):", "",
                      "```sh", c["repro"]["nox"], "```", ""]
            if c["repro"].get("docker_run"):
                lines += ["or in the cell's image (build it, then run the failing tests offline; behind a TLS proxy "
                          "set SSL_CERT_FILE, without a registry PTBR_BASE_IMAGE: see README, Docker):", "", "```sh",
                          c["repro"]["docker_build"], c["repro"]["docker_run"], "```", ""]
    repro_runs = [c for c in cells if c["latest_repro"]]
    if repro_runs:
        lines += ["## Latest repro runs (selected tests; the table shows full runs only)", ""]
        for c in repro_runs:
            r = c["latest_repro"]
            lines.append(f"- {c['id']}: {r['status']} ({r['runner']}, {r['finished_at']}): "
                         f"`{' '.join(r['selection'] or [])}`")
    return "\n".join(lines).rstrip() + "\n"


def terminal(report: dict[str, Any]) -> str:
    lines = []
    for c in report["cells"]:
        extra = _detail(c)
        reason = (c.get("reason") or "").splitlines()[0] if c.get("reason") else ""
        detail = extra or reason
        lines.append(f"{MARK[c['status']]:<15}{c['id']:<42}{c['duration_s']:>7.1f} s  {detail}"[:160].rstrip())
    independent = report["version_independent"]["ptbr_path"] + report["version_independent"]["gliner_path"]
    if independent:
        lines.append(f"in every cell: {len(independent)} version-independent break(s), see reports/matrix.md")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["summary"].items()))
    lines.append(f"{len(report['cells'])} result(s): {counts}")
    lines += expected_.lines(report["expected"])
    lines.append("against the expected verdicts: " + expected_.summary(report["expected"]))
    return "\n".join(lines)


def write(root: Path = results.REPORTS, cells_root: Path | None = None, current: dict[str, str] | None = None,
          definition_cells: list[definition.Cell] | None = None,
          expected: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Build the report from every result file and write matrix.json and matrix.md atomically."""
    cells_root = cells_root or root / "cells"
    report = build(results.load_all(cells_root), current, results.load_all(cells_root, repro=True), definition_cells,
                   expected)
    results.write_atomic(root / "matrix.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    results.write_atomic(root / "matrix.md", markdown(report))
    return report


def current_fingerprints(cells_root: Path = results.CELLS) -> dict[str, str]:
    """Cell id → the fingerprint its saved result must have to be current, for the runner that made it: every cell
    of the definition (a venv result, where there is none yet) and every other cell that has a result (ad hoc)."""
    saved = {r["id"]: r for r in results.load_all(cells_root)}
    out = {c.id: results.fingerprint(c) for c in definition.cells() if c.id not in saved}
    out.update({i: results.fingerprint(results.cell_of(r), r["runner"]) for i, r in saved.items()})
    return out


def _version(text: str) -> tuple:
    from packaging.version import Version

    return (Version(text),)
