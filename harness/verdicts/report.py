"""The matrix report, built from the cells' result files: reports/matrix.json (versioned), reports/matrix.md (a
torch × transformers table per gliner version, then the breaks with their repro commands) and a terminal summary.

Each cell of the definition is compared with what the rules of its expected verdicts predict first
(harness/verdicts/expected.py): for the pinned cells that comparison is what gates; floating cells on newer releases
are news, shown first and apart. A break found in every pinned cell that ran the suite does not depend on the
versions: it is listed once, apart (with how many ran), and left out of the table, so the table shows at a glance
which versions break (computed only when every pinned cell has a current result; results of ad-hoc cells never
count). Breaks that share
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
from harness.run import configs as configs_
from harness.run import junit, results
from harness.run.results import Break, CellResult
from harness.verdicts import config_report, rules
from harness.verdicts import expected as expected_

SCHEMA_VERSION = 5  # 2: "expected" (the comparison), "unresolved", in_definition, version_independent.computed;
# 3: "configs" (each config's fates per cell) and "configs_expected" (their comparison); 4: a cell's python (asked:
# requested.python, found: python), status "unavailable", "python_dependent" (the same pins, other findings);
# 5: expected verdicts from rules: each comparison entry's "news" (what is new in a floating cell; "" when pinned),
# state "now installable", "news" (its lines); version_independent.of (the definition's pinned cells; "over": those
# that ran the suite)
MARK = {"pass": "✓", "broken": "✗", "install-failed": "install-failed", "import-failed": "import-failed",
        "timeout": "timeout", "error": "error", "unavailable": "not run here"}


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
          expected: rules.Rules | None = None, config_results: list[dict[str, Any]] = (),
          definition_configs: list[str] | None = None, interrupted: list[dict[str, str]] = ()) -> dict[str, Any]:
    """The report as data. ``current`` maps cell id → the fingerprint a result of its runner must have now (see
    ``current_fingerprints``), to mark results from older code or pins; ``repro_runs``: the cells' latest repro runs;
    ``definition_cells`` and ``expected``: the matrix's cells and the rules of their expected verdicts (default: the
    files');
    ``config_results``: every saved config result (harness/run/configs.py), each marked ``current`` (see
    ``config_results``; unmarked: current);
    ``definition_configs``: the configs every run proves (default: the definition's);
    ``interrupted``: the cells whose latest run was stopped before it finished (results.interrupted)."""
    definition_cells = definition.cells() if definition_cells is None else definition_cells
    expected = expected_.load() if expected is None else expected
    if definition_configs is None:
        definition_configs = [c.name for c in configs_.expand(definition.configs(), configs_.ROOT)]

    def is_current(c: CellResult) -> bool:
        return (current is None or current.get(c["id"]) == c["fingerprint"]) and not c.get("selection")

    now = {c["id"]: c for c in cells if is_current(c)}
    ids = [c.id for c in definition_cells]
    news = expected_.news(definition_cells)
    pinned = [i for i in ids if i not in news]  # news is apart: a floating cell not run leaves this computable
    complete = all(i in now for i in pinned)
    of_definition = [now[i] for i in pinned] if complete else []
    common = common_breaks(of_definition)
    common_gliner = common_breaks(of_definition, "gliner_path")
    ran = [c for c in of_definition if c["status"] in ("pass", "broken")]
    repros = {r["id"]: r for r in repro_runs}
    out_cells = [{**c, "version_dependent_breaks": [b for b in c["breaks"] if _key(b) not in common],
                  "gliner_path_dependent_breaks": [b for b in _breaks(c, "gliner_path")
                                                   if _key(b) not in common_gliner],
                  "causes": junit.causes([b for b in c["breaks"] if _key(b) not in common]),
                  "current": is_current(c), "in_definition": c["id"] in ids,
                  "latest_repro": _repro_summary(repros[c["id"]]) if c["id"] in repros else None} for c in cells]
    proven = [{"current": True, **r} for r in config_results]
    names = list(dict.fromkeys([*definition_configs, *sorted({r["config"] for r in proven if r["current"]})]))
    ad_hoc = [results.cell_of(now[i]) for i in sorted(now) if i not in ids]
    compared = expected_.compare(definition_cells, now, expected, ad_hoc)
    compared_configs = _compared_configs(definition_cells, now, proven, expected, names, definition_configs, ad_hoc)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "summary": dict(Counter(c["status"] for c in cells)),
        "news": expected_.news_lines(compared) + expected_.news_lines(compared_configs),
        "expected": compared,
        "configs_expected": compared_configs,
        "configs": [{"config": name, "in_definition": name in definition_configs,
                     "cells": [config_report.entry(r) for r in proven if r["config"] == name]} for name in names],
        "unresolved": list(definition.UNRESOLVED),
        "python_dependent": python_dependent([now[i] for i in ids if i in now]),
        "version_independent": {"ptbr_path": _listed(of_definition, common, "breaks"),
                                "gliner_path": _listed(of_definition, common_gliner, "gliner_path"),
                                "computed": complete,
                                "over": len(ran), "of": len(pinned)},
        "cells": out_cells,
        "interrupted": _interrupted(interrupted, cells),
    }


def _interrupted(interrupted: list[dict[str, str]], cells: list[CellResult]) -> list[dict[str, Any]]:
    """Each stopped run with the status of the result its cell shows (any result, current or not), or None."""
    saved = {c["id"]: c for c in cells}
    return [{**i, "previous": saved[i["id"]]["status"] if i["id"] in saved else None} for i in interrupted]


def _listed(of_definition: list[CellResult], keys: set, part: str) -> list[dict[str, str]]:
    """The breaks of these keys, each once (as the first cell has it), in the keys' order."""
    seen = {}
    for c in of_definition:
        for b in _breaks(c, part):
            if _key(b) in keys:
                seen.setdefault(_key(b), b)
    return [seen[k] for k in sorted(seen)]


def _compared_configs(definition_cells: list[definition.Cell], now: dict[str, CellResult],
                      proven: list[dict[str, Any]], expected: rules.Rules, names: list[str],
                      definition_configs: list[str], ad_hoc: list[definition.Cell] = ()) -> list[dict[str, Any]]:
    """Each current config result compared with the rules (a cell that did not run the suite says why)."""
    now_configs: dict[str, dict[str, dict[str, Any]]] = {}
    for r in proven:
        if r["current"]:
            now_configs.setdefault(r["cell"], {})[r["config"]] = r
    unjudged = {i: c["status"] for i, c in now.items() if c["status"] not in ("pass", "broken")}
    return [{**e, "in_definition": e["config"] in definition_configs}
            for e in expected_.compare_configs(definition_cells, now_configs, expected, names, unjudged, ad_hoc)]


def python_dependent(cells: list[CellResult]) -> list[dict[str, Any]]:
    """Pins whose verdict differs between Pythons (cells with the same torch, transformers, gliner and override
    that each ran, on two or more Pythons, and whose status or findings are not the same): one entry per pins, each
    Python with its status and findings. A difference with the same packages is the interpreter's."""
    by_pins: dict[tuple, dict[str, CellResult]] = {}
    for c in cells:
        if expected_.judgeable(c):
            cell = results.cell_of(c)
            by_pins.setdefault((cell.torch, cell.transformers, cell.gliner, cell.override), {})[cell.python] = c
    out = []
    for (torch, transformers, gliner, _), on in sorted(by_pins.items()):
        seen = {python: (c["status"], tuple(expected_.findings(c))) for python, c in on.items()}
        if len(set(seen.values())) > 1:
            out.append({"pins": {"torch": torch, "transformers": transformers, "gliner": gliner},
                        "pythons": [{"python": p, "id": on[p]["id"], "status": seen[p][0], "findings": list(seen[p][1])}
                                    for p in sorted(seen, key=_version)]})
    return out


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
    """reports/matrix.md: news, the verdicts against the rules, the defects of every cell, a grid per gliner, each
    break with how to reproduce it, the configs, and the latest repro runs."""
    cells = report["cells"]
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["summary"].items()))
    lines = ["# PTBR version matrix", "", f"{len(cells)} cells: {counts}. Generated {report['generated_at']}.", ""]
    stopped = interrupted_lines(report)
    lines += [f"**Interrupted**: {line}" for line in stopped] + ([""] if stopped else [])
    for section in (_verdicts_markdown(report), _defects_markdown(report), _grids_markdown(cells),
                    _breaks_markdown(cells), config_report.markdown(report), _repros_markdown(cells)):
        lines += section
    return "\n".join(lines).rstrip() + "\n"


def _verdicts_markdown(report: dict[str, Any]) -> list[str]:
    lines = []
    if report["news"]:
        lines += ["## News: releases newer than what this commit pins (floating cells; never the gate)", "",
                  "```", *report["news"], "```", ""]
    lines += ["## Against the expected verdicts (constraints/expected.toml)", "",
              expected_.summary(report["expected"]) + ".", ""]
    if report["configs"]:
        lines += [expected_.summary(report["configs_expected"], "config verdicts (config × cell)") + ".", ""]
    differences = expected_.lines(report["expected"]) + expected_.lines(report["configs_expected"])
    if differences:
        lines += ["```", *differences, "```", ""]
    if report["unresolved"]:
        lines += ["Floating cells left out (the package index could not be read):", "",
                  *[f"- {u}" for u in report["unresolved"]], ""]
    return lines


def _defects_markdown(report: dict[str, Any]) -> list[str]:
    """The defects of every cell that ran, and the verdicts that differ by Python alone."""
    lines = []
    independent = report["version_independent"]
    if not independent["computed"]:
        lines += ["Version-independent defects: not computed (not every cell of the definition has a current "
                  "result).", ""]
    if independent["ptbr_path"] or independent["gliner_path"]:
        lines += [f"## Version-independent defects (in every cell that ran, {independent['over']} of "
                  f"{independent['of']})", ""]
        for path, key in (("PTBR's path", "ptbr_path"), ("gliner's own path", "gliner_path")):
            for b in independent[key]:
                lines.append(f"- {path}, `{b['layer']}` `{b['field']}`: {b['message']} (`{b['test']}`)")
        lines.append("")
    if report["python_dependent"]:
        lines += ["## Python-dependent verdicts (the same packages, another verdict on another Python)", ""]
        for d in report["python_dependent"]:
            lines.append("- " + ", ".join(f"{k} {v}" for k, v in d["pins"].items()) + ":")
            lines += [f"  - Python {p['python']} (`{p['id']}`): {p['status']}"
                      + (f": {'; '.join(p['findings'])}" if p["findings"] else "") for p in d["pythons"]]
        lines.append("")
    return lines


def _grids_markdown(cells: list[dict[str, Any]]) -> list[str]:
    """One torch × transformers grid per gliner (and Python, where there are several), with the legend."""
    lines = ["✓ pass · ✗ broken (fields broken in this cell only) · ⚠ outside gliner's declared transformers range "
             "(installed with an override) · ᵍ gliner's own train_model(**kwargs) path also broke · (stale) result "
             "from older code or pins · (ad hoc) not a cell of the definition · not run here: this machine lacks "
             "the cell's Python (the reason is below)", ""]
    by_gliner: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for c in cells:
        by_gliner.setdefault((c["requested"]["gliner"], _python(c)), []).append(c)
    several = len({python for _, python in by_gliner}) > 1
    for gliner, python in sorted(by_gliner, key=lambda k: (_version(k[0]), _version(k[1]))):
        group = by_gliner[(gliner, python)]
        tfs = sorted({c["requested"]["transformers"] for c in group}, key=_version)
        torches = sorted({c["requested"]["torch"] for c in group}, key=_version)
        grid = {(c["requested"]["torch"], c["requested"]["transformers"]): c for c in group}
        lines += [f"## gliner {gliner}" + (f" on Python {python}" if several else ""), "",
                  "| torch \\ transformers | " + " | ".join(tfs) + " |", "|---|" + "---|" * len(tfs)]
        for t in torches:
            row = [_cell_text(grid[(t, tf)]) if (t, tf) in grid else "" for tf in tfs]
            lines.append(f"| {t} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def _breaks_markdown(cells: list[dict[str, Any]]) -> list[str]:
    """Each cell that did not pass: its reason, causes and breaks, and the commands that reproduce it."""
    failing = [c for c in cells if c["status"] != "pass"]
    lines = ["## Breaks and how to reproduce them", ""] if failing else []
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
                      "set SSL_CERT_FILE, without a registry PTBR_BASE_IMAGE: docs/matrix.md, Docker):", "", "```sh",
                      c["repro"]["docker_build"], c["repro"]["docker_run"], "```", ""]
    return lines


def _repros_markdown(cells: list[dict[str, Any]]) -> list[str]:
    repro_runs = [c for c in cells if c["latest_repro"]]
    lines = ["## Latest repro runs (selected tests; the table shows full runs only)", ""] if repro_runs else []
    for c in repro_runs:
        r = c["latest_repro"]
        lines.append(f"- {c['id']}: {r['status']} ({r['runner']}, {r['finished_at']}): "
                     f"`{' '.join(r['selection'] or [])}`")
    return lines


def interrupted_lines(report: dict[str, Any]) -> list[str]:
    """One line per cell whose latest run was stopped before it finished."""
    return [f"{i['id']}: its run of {i['at']} was stopped before it finished; "
            + (f"the result shown is the previous run's ({i['previous']})" if i["previous"] else "it has no result")
            for i in report.get("interrupted", [])]


def terminal(report: dict[str, Any]) -> str:
    lines = []
    for c in report["cells"]:
        extra = _detail(c)
        reason = (c.get("reason") or "").splitlines()[0] if c.get("reason") else ""
        detail = extra or reason
        lines.append(f"{MARK[c['status']]:<15}{c['id']:<42}{c['duration_s']:>7.1f} s  {detail}"[:160].rstrip())
    independent = report["version_independent"]["ptbr_path"] + report["version_independent"]["gliner_path"]
    if independent:
        over = report["version_independent"]
        lines.append(f"in every cell that ran ({over['over']} of {over['of']}): {len(independent)} "
                     "version-independent break(s), see reports/matrix.md")
    counts = ", ".join(f"{n} {s}" for s, n in sorted(report["summary"].items()))
    for d in report["python_dependent"]:
        lines.append("PYTHON-DEPENDENT " + ", ".join(f"{p['id']} {p['status']} ({len(p['findings'])} finding(s))"
                                                     for p in d["pythons"]))
    lines.append(f"{len(report['cells'])} result(s): {counts}")
    lines += [f"INTERRUPTED {line}" for line in interrupted_lines(report)]
    lines += [f"NEWS {line}" if not line.startswith(" ") else line for line in report["news"]]
    lines += expected_.lines(report["expected"])
    lines.append("against the expected verdicts: " + expected_.summary(report["expected"]))
    if report["configs"]:
        lines += expected_.lines(report["configs_expected"])
        lines.append("configs: " + expected_.summary(report["configs_expected"], "config verdicts"))
    return "\n".join(lines)


def write(root: Path = results.REPORTS, cells_root: Path | None = None, current: dict[str, str] | None = None,
          definition_cells: list[definition.Cell] | None = None,
          expected: rules.Rules | None = None, definition_configs: list[str] | None = None
          ) -> dict[str, Any]:
    """Build the report from every result file and write matrix.json and matrix.md atomically."""
    cells_root = cells_root or root / "cells"
    proven = config_report.results_of(cells_root, current is not None)
    report = build(results.load_all(cells_root), current, results.load_all(cells_root, repro=True), definition_cells,
                   expected, proven, definition_configs, results.interrupted(cells_root))
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


def _python(c: CellResult) -> str:
    """The Python a cell asked for (results from before the axis: the id's default)."""
    return c["requested"].get("python", definition.Cell.parse(c["id"]).python)


def _version(text: str) -> tuple:
    from packaging.version import Version

    return (Version(text),)
