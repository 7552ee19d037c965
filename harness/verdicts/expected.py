"""Expected verdicts: the breaks of each cell of the definition that are known and accepted
(constraints/expected.toml), and each cell's current result compared with them.

A cell's verdict is its status and its *findings*: one line per field whose value arrived wrong
(``training.lr_others [ptbr]``) and one per cause that stopped tests (``cannot train: AttributeError: ...``), each
prefixed ``gliner's path: `` when it is on gliner's own ``train_model(**kwargs)`` path. Compared with the
expectation, a cell is:

- ``as expected``: same status, same findings;
- ``new break``: a finding (or a status) the expectation does not have: a regression, or a new finding to accept;
- ``fixed``: an expected finding that no longer happens (and nothing new);
- ``not run``: no current result (none, or one from other code or pins);
- ``not run here``: this machine cannot run the cell (no interpreter of its Python for a virtualenv): said with
  the fix, never a verdict and never a failure, except where every cell was asked for (``--require-all``);
- ``no expectation``: a cell the file does not know yet (a floating cell resolved to new releases): reported as a
  finding, never a failure;
- ``cannot judge``: the harness could not tell (error, timeout, an install or build that failed for another reason
  than a resolver conflict): always a failure, and never accepted.

A config proven in a cell (``--config``, or the definition's ``configs``: harness/run/configs.py) has a verdict of
its own there, under ``["<cell id>".configs."<config>"]``: its findings, one per key that does not arrive as
written (``training.warmup_steps: changed → 2``), per refusal and for a smoke training that failed. It is compared
the same way; a config the file does not name in a cell it knows is expected to have no finding, so a new config
with findings fails until they are accepted.

``nox -s accept`` rewrites the file from the current results (keeping each finding's ``why``) and prints the diff.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any, get_args

from harness import inputs
from harness.run import junit
from harness.run.pins import ROOT, Cell
from harness.run.results import CellResult, Status

EXPECTED = ROOT / "constraints" / "expected.toml"
GLINER_PATH = "gliner's path: "
HEADER = """\
# Expected verdicts of the version matrix (constraints/matrix.toml): for each cell, its status and the breaks that
# are known and accepted, each with why. The report compares every cell's current result with this file; `nox -s
# matrix` and the GitHub gate fail on any difference (a new break, a fixed one, another status) and on a cell the
# harness could not judge. `nox -s accept [-- <cell id> ...]` rewrites it from the current results, keeping each
# `why`, and prints the diff: review it, write the why of new entries, commit. See harness/verdicts/expected.py.
"""
FAILING = ("new break", "fixed", "cannot judge")
CELL_KEYS = ("status", "breaks", "configs")


def one_line(text: str) -> str:
    """A cause as one stable line: its first line, machine paths and object addresses left out."""
    line = text.strip().splitlines()[0] if text.strip() else text
    line = re.sub(r"(?<![\w.])/(?:[\w.+-]+/)+[\w.+-]*", "<path>", line)
    return re.sub(r"0x[0-9a-f]{6,}", "0x…", line)[:240]


def findings(result: CellResult) -> list[str]:
    """A result's findings (see the module doc), sorted."""
    out: set[str] = set()
    for prefix, found in (("", result["breaks"]), (GLINER_PATH, result["gliner_path"]["breaks"])):
        for b in found:
            if not b.get("cause"):
                out.add(f"{prefix}{b['field']} [{b['layer']}]")
        for k in junit.causes(found):
            out.add(f"{prefix}{one_line(k['cause'])}")
    return sorted(out)


def judgeable(result: CellResult) -> bool:
    """Whether a result can be compared (and accepted): the harness could tell what the versions do."""
    return result["status"] in ("pass", "broken", "import-failed") or bool(result.get("conclusive"))


def load(path: Path = EXPECTED) -> dict[str, dict[str, Any]]:
    """Cell id → {"status", "breaks": [{"finding", "why"}]}; an absent file expects nothing. ``inputs.Invalid``
    with every problem (``file:line``, the key, what was expected) when the file cannot be used."""
    if not path.is_file():
        return {}
    data, at = inputs.toml(path)
    name, problems = inputs.shown(path), []
    statuses = get_args(Status)
    for cell_id, entry in data.items():
        line = at.get((cell_id,), 1)
        try:
            Cell.parse(cell_id)
        except ValueError as e:
            problems.append(f"{name}:{line}: {cell_id}: {e}")
        if not isinstance(entry, dict):
            problems.append(f'{name}:{line}: {cell_id}: expected a table ["<cell id>"] with status and breaks, got '
                            f"{entry!r}")
            continue
        for key in entry:
            if key not in CELL_KEYS:
                problems.append(f"{name}:{at.get((cell_id, key), line)}: {cell_id}: {key}: not a key of a cell's "
                                f"verdict (expected {', '.join(CELL_KEYS)})" + inputs.did_you_mean(key, CELL_KEYS))
        verdicts = entry.get("configs", {})
        for config, verdict in verdicts.items() if isinstance(verdicts, dict) else [("<config>", verdicts)]:
            if not isinstance(verdict, dict) or set(verdict) - {"findings"} or \
                    not _findings_ok(verdict.get("findings", [])):
                problems.append(f'{name}:{line}: {cell_id}: configs: expected ["{cell_id}".configs."<config>"] '
                                f'tables with findings = [{{ finding = "...", why = "..." }}], got {config}: '
                                f"{verdict!r}")
        if entry.get("status") not in statuses:
            problems.append(f"{name}:{at.get((cell_id, 'status'), line)}: {cell_id}: status: expected one of "
                            f"{', '.join(statuses)}, got {entry.get('status')!r}"
                            + inputs.did_you_mean(str(entry.get("status")), statuses))
        breaks = entry.get("breaks", [])
        where = f"{name}:{at.get((cell_id, 'breaks'), line)}: {cell_id}: breaks"
        if not isinstance(breaks, list):
            problems.append(f"{where}: expected a list of {{ finding = ..., why = ... }}, got {breaks!r}")
            continue
        if not _findings_ok(breaks):
            problems.append(f"{where}: expected {{ finding = \"...\", why = \"...\" }} (strings), got {breaks!r}")
    if problems:
        raise inputs.Invalid(problems)
    return data


def _findings_ok(found: object) -> bool:
    return isinstance(found, list) and all(
        isinstance(b, dict) and isinstance(b.get("finding"), str) and isinstance(b.get("why", ""), str)
        and not set(b) - {"finding", "why"} for b in found)


def config_findings(saved: dict[str, Any]) -> list[str] | None:
    """A config result's findings in one cell, sorted; None when it could not be judged."""
    found = saved.get("findings")
    return None if found is None else sorted({f["finding"] for f in found})


def compare_configs(cells: list[Cell], current: dict[str, dict[str, dict[str, Any]]],
                    expected: dict[str, dict[str, Any]], names: list[str],
                    cannot_run: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Each of ``names`` in each cell of the definition against its expectation. ``current``: cell id → config
    name → its current config result; ``cannot_run``: cell id → its status, for cells whose current result says no
    config runs there (it did not install or import): ``cell did not run``, never a failure."""
    out = []
    for name in names:
        for cell in cells:
            entry: dict[str, Any] = {"id": cell.id, "config": name, "floating": cell.floating, "new": [], "fixed": []}
            saved, want = current.get(cell.id, {}).get(name), expected.get(cell.id)
            got = None if saved is None else config_findings(saved)
            if saved is None and cell.id in (cannot_run or {}):
                entry["state"] = "cell did not run"
            elif saved is None:
                entry["state"] = "not run"
            elif got is None:
                entry["state"] = "cannot judge"
                entry["new"] = [one_line(saved.get("error") or "no result")]
            elif want is None:
                entry["state"] = "no expectation"
                entry["new"] = got
            else:
                wanted = [f["finding"] for f in want.get("configs", {}).get(name, {}).get("findings", [])]
                entry["new"] = [f for f in got if f not in wanted]
                entry["fixed"] = [f for f in wanted if f not in got]
                entry["state"] = "new break" if entry["new"] else "fixed" if entry["fixed"] else "as expected"
            out.append(entry)
    return out


def config_session_failure(comparison: list[dict[str, Any]], matrix: bool, explore: bool = False) -> str | None:
    """Why the session that proved configs in a cell fails: a config not as expected (a matrix cell) or, in an
    ad-hoc cell, one with any finding or that could not be judged."""
    if explore:
        return None
    bad = failures(comparison) if matrix else [c for c in comparison if c["new"] or c["state"] == "cannot judge"]
    if not bad:
        return None
    return "\n".join(f"{c['config']} in {c['id']}: {c['state']}{changes(c)}" for c in bad)


def changes(c: dict[str, Any]) -> str:
    """An entry's new and fixed findings, one indented line each (``+``, ``-``), each line starting with a newline."""
    return "".join(f"\n  + {f}" for f in c["new"]) + "".join(f"\n  - {f}" for f in c["fixed"])


def compare(cells: list[Cell], current: dict[str, CellResult], expected: dict[str, dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """Each cell of the definition against its expectation. ``current``: cell id → its current full result."""
    out = []
    for cell in cells:
        entry: dict[str, Any] = {"id": cell.id, "floating": cell.floating, "new": [], "fixed": []}
        result, want = current.get(cell.id), expected.get(cell.id)
        if result is None:
            entry["state"] = "not run"
        elif result["status"] == "unavailable":
            entry["state"] = "not run here"
            entry["why"] = one_line(result.get("reason") or "")
        elif not judgeable(result):
            entry["state"] = "cannot judge"
            entry["new"] = [f"status {result['status']}: {one_line(result.get('reason') or '')}"]
        else:
            got = findings(result)
            if want is None:
                entry["state"] = "no expectation"
                entry["new"] = [f"status {result['status']}", *got]
            else:
                wanted = [b["finding"] for b in want.get("breaks", [])]
                entry["new"] = [f for f in got if f not in wanted]
                entry["fixed"] = [f for f in wanted if f not in got]
                status = f"status {result['status']} (expected {want['status']})"
                if result["status"] != want["status"]:  # a broken cell that passes now is a fix
                    (entry["fixed"] if result["status"] == "pass" else entry["new"]).insert(0, status)
                entry["state"] = "new break" if entry["new"] else "fixed" if entry["fixed"] else "as expected"
        out.append(entry)
    return out


def failures(comparison: list[dict[str, Any]], require_all: bool = False) -> list[dict[str, Any]]:
    """The cells that fail the gate: a difference or a cell that cannot be judged (``require_all``: also a cell
    that has not run, as in a workflow that ran every cell, or a config of the definition's that has not run in
    one; a config named with --config runs where it was asked)."""
    return [c for c in comparison if c["state"] in FAILING
            or (require_all and c["state"] in ("not run", "not run here") and c.get("in_definition", True))]


def session_failure(result: CellResult, comparison: dict[str, Any] | None, explore: bool = False) -> str | None:
    """Why the session that ran a cell fails, or None. A repro run (selected tests) stands on its own outcome: it
    fails unless those tests pass, whatever the cell's full result says (a pytest usage error judged nothing). A
    full run of a matrix cell fails when it is not as expected (``comparison``: its entry of ``compare``), an
    ad-hoc cell (no comparison) unless it passes. ``explore``: never."""
    if explore:
        return None
    if result.get("selection"):
        if result["status"] == "pass":
            return None
        why = (result.get("reason") or "").strip()
        found = "".join(f"\n{line}" for line in junit.broken_lines(result))
        return f"repro run of {result['id']}: {result['status']}" + (f": {why}" if why else "") + found
    if comparison is None:
        return None if result["status"] == "pass" else f"{result['id']} is {result['status']}"
    if failures([comparison]):
        return f"{result['id']} is not as expected ({comparison['state']})"
    return None


def lines(comparison: list[dict[str, Any]]) -> list[str]:
    """One line per cell that is not as expected, then its new and fixed findings, indented (a config that has not
    run in a cell is counted by ``summary`` only: most runs prove configs in some cells)."""
    out = []
    for c in comparison:
        if c["state"] == "as expected" or (c.get("config") and c["state"] in ("not run", "cell did not run")):
            continue
        floating = f" (floating: {c['floating']})" if c["floating"] else ""
        config = f" config {c['config']}" if c.get("config") else ""
        why = f": {c['why']}" if c.get("why") else ""
        out.append(f"{c['state'].upper()} {c['id']}{floating}{config}{why}")
        out += changes(c).splitlines()[1:]
    return out


def summary(comparison: list[dict[str, Any]], what: str = "cells") -> str:
    counts: dict[str, int] = {}
    for c in comparison:
        counts[c["state"]] = counts.get(c["state"], 0) + 1
    if counts.get("as expected") == len(comparison):
        return f"all {len(comparison)} {what} are as expected"
    return f"{len(comparison)} {what}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def dump(expected: dict[str, dict[str, Any]]) -> str:
    """The file's text: cells in id order, findings sorted (TOML strings written as JSON strings, which TOML reads)."""
    out = [HEADER]
    for cell_id in sorted(expected):
        e = expected[cell_id]
        out += ["", f"[{json.dumps(cell_id)}]", f"status = {json.dumps(e['status'])}"]
        if e.get("breaks"):
            out.append("breaks = [")
            out += [f"  {{ finding = {json.dumps(b['finding'], ensure_ascii=False)}, "
                    f"why = {json.dumps(b.get('why', ''), ensure_ascii=False)} }},"
                    for b in sorted(e["breaks"], key=lambda b: b["finding"])]
            out.append("]")
        else:
            out.append("breaks = []")
        for config in sorted(e.get("configs", {})):
            found = sorted(e["configs"][config].get("findings", []), key=lambda b: b["finding"])
            out += ["", f"[{json.dumps(cell_id)}.configs.{json.dumps(config)}]"]
            out += ["findings = ["] + [f"  {{ finding = {json.dumps(b['finding'], ensure_ascii=False)}, "
                                       f"why = {json.dumps(b.get('why', ''), ensure_ascii=False)} }},"
                                       for b in found] + ["]"] if found else ["findings = []"]
    return "\n".join(out) + "\n"


def accept(cells: list[Cell], current: dict[str, CellResult], expected: dict[str, dict[str, Any]],
           only: set[str] | None = None, current_configs: dict[str, dict[str, dict[str, Any]]] | None = None
           ) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """New expectations from the current results of the definition's cells (``only``: these ids), keeping the why
    of each finding that stays; cells no longer in the definition are dropped. ``current_configs`` (cell id →
    config → its current result): the configs' verdicts too, the why of each finding taken from the expectation,
    else from the result (PTBR's reason). Returns them and what was left as it was (no current result, or one that
    cannot be judged), with why."""
    ids = {c.id for c in cells}
    new = {i: e for i, e in expected.items() if i in ids}
    kept = []
    for cell in cells:
        if only is not None and cell.id not in only:
            continue
        result = current.get(cell.id)
        if result is None or not judgeable(result):
            why_not = "no current result" if result is None else \
                f"{result['status']} cannot be accepted ({one_line(result.get('reason') or '')})"
            kept.append(f"{cell.id}: {why_not}")
            continue
        why = {b["finding"]: b.get("why", "") for b in expected.get(cell.id, {}).get("breaks", [])}
        new[cell.id] = {"status": result["status"],
                        "breaks": [{"finding": f, "why": why.get(f, "")} for f in findings(result)],
                        **({"configs": expected[cell.id]["configs"]} if expected.get(cell.id, {}).get("configs")
                           else {})}
    for cell in cells:
        if only is not None and cell.id not in only:
            continue
        for config, saved in sorted((current_configs or {}).get(cell.id, {}).items()):
            if cell.id not in new:
                kept.append(f"{cell.id}: config {config}: the cell has no verdict to add it to")
                continue
            if config_findings(saved) is None:
                kept.append(f"{cell.id}: config {config}: cannot be judged ({one_line(saved.get('error') or '')})")
                continue
            old = expected.get(cell.id, {}).get("configs", {}).get(config, {}).get("findings", [])
            why = {b["finding"]: b.get("why", "") for b in old}
            mine = {f["finding"]: f.get("why", "") for f in saved["findings"]}
            new[cell.id]["configs"] = {**new[cell.id].get("configs", {}), config: {"findings": [
                {"finding": f, "why": why.get(f) or mine[f]} for f in config_findings(saved)]}}
    return new, kept


def diff(old: str, new: str, path: Path = EXPECTED) -> str:
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
