"""Expected verdicts: each cell of the definition compared with what the rules of constraints/expected.toml
(harness/verdicts/rules.py) predict for it, and news kept apart from regressions.

A cell's verdict is its status and its *findings*: one line per field whose value arrived wrong
(``training.lr_others [ptbr]``) and one per cause that stopped tests (``cannot train: AttributeError: ...``), each
prefixed ``gliner's path: `` when it is on gliner's own ``train_model(**kwargs)`` path. Compared with the
prediction, a cell is:

- ``as expected``: same status, same findings;
- ``new break``: a finding the rules do not predict, or a worse status (pass < broken < import-failed <
  install-failed): a regression, or a new finding to accept;
- ``now installable``: the rules predict install-failed (or import-failed) and the suite ran, with no finding they
  do not predict;
- ``fixed``: a predicted finding that no longer happens, or a better status (and nothing new);
- ``not run``: no current result (none, or one from other code or pins);
- ``not run here``: this machine cannot run the cell (no interpreter of its Python for a virtualenv): said with
  the fix, never a verdict and never a failure, except where every cell was asked for (``--require-all``);
- ``cannot judge``: the harness could not tell (error, timeout, a damaged environment, an install or build that
  failed for another reason than a resolver conflict): a failure, and never accepted.

The gate judges what the commit pins. A floating cell of the definition that resolves to a cell no pinned group has
(a release newer than the pins, or a combination they do not name) is *news* (``news``: what is new in it): shown
first, apart, and never failing the gate, the same commit getting the same verdict on any day; ``news_fails`` (the
nightly run) fails on news the rules do not predict.

A config proven in a cell (``--config``, or the definition's ``configs``: harness/run/configs.py) has a verdict of
its own there: its findings, one per key that does not arrive as written (``training.warmup_steps: changed → 2``),
per refusal and for a smoke training that failed, predicted by the rules that name the config and compared the same
way; a config no rule names is expected to have no finding, so a new config with findings fails until accepted.

``nox -s accept`` derives the rules again from the current results (``observe``, ``accept``) and prints the diff.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, TypedDict

from harness.run import junit
from harness.run.pins import ROOT, Cell
from harness.run.results import CellResult
from harness.verdicts import rules as rules_
from packaging.version import Version

EXPECTED = ROOT / "constraints" / "expected.toml"
GLINER_PATH = "gliner's path: "
FAILING = ("new break", "now installable", "fixed", "cannot judge")
UNPREDICTED = ("new break", "now installable", "fixed")
"""The states of a news cell that ``news_fails`` fails on: what the rules did not predict."""
SEVERITY = {"pass": 0, "broken": 1, "import-failed": 2, "install-failed": 3}
"""How far a status is from a cell that works, for "worse" and "better"."""


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


def load(path: Path = EXPECTED) -> rules_.Rules:
    """The expected verdicts: the rules of ``path`` (harness/verdicts/rules.py); none when it does not exist.
    ``inputs.Invalid`` with every problem (``file:line``, the key, what was expected) when the file cannot be used."""
    return rules_.load(path)


def config_findings(saved: dict[str, Any]) -> list[str] | None:
    """A config result's findings in one cell, sorted; None when it could not be judged."""
    found = saved.get("findings")
    return None if found is None else sorted({f["finding"] for f in found})


def news(cells: list[Cell]) -> dict[str, str]:
    """Cell id → what is new in it, for each floating cell that no pinned group has: the versions newer than every
    pin of their package (``transformers 5.25.0``), else the combination it tries."""
    pinned = [c for c in cells if not c.floating]
    ids = {c.id for c in pinned}
    out = {}
    for cell in cells:
        if not cell.floating or cell.id in ids:
            continue
        newer = [f"{name} {getattr(cell, name)}" for name in ("gliner", "transformers", "torch")
                 if all(Version(getattr(cell, name)) > Version(getattr(p, name)) for p in pinned)]
        out[cell.id] = " and ".join(newer) if newer else f"the combination {cell.id} ({cell.floating})"
    return out


class Comparison(TypedDict, total=False):
    """A cell (or a config in a cell) against what the rules predict: a row of the report's ``expected`` and
    ``configs_expected``."""

    id: str
    config: str
    """For a config's row: its name."""
    floating: str
    news: str
    """What is new in a floating cell (``transformers 5.25.0``), or "the ad-hoc cell <id>"; "" for a pinned one."""
    ad_hoc: bool
    """A cell run outside the definition (``nox -s cell``)."""
    state: str
    """as expected, new break, fixed, now installable, not run, not run here, cannot judge, cell did not run."""
    new: list[str]
    fixed: list[str]
    status: str
    seen: int
    why: str


def _entry(cell: Cell, new: dict[str, str], **more: Any) -> Comparison:
    return {"id": cell.id, "floating": cell.floating, "news": new.get(cell.id, ""), "new": [], "fixed": [], **more}


def _state(entry: dict[str, Any], installable: bool = False) -> str:
    return "new break" if entry["new"] else "now installable" if installable else \
        "fixed" if entry["fixed"] else "as expected"


def compare_configs(cells: list[Cell], current: dict[str, dict[str, dict[str, Any]]], expected: rules_.Rules,
                    names: list[str], cannot_run: dict[str, str] | None = None,
                    ad_hoc: list[Cell] = ()) -> list[Comparison]:
    """Each of ``names`` in each cell of the definition against its prediction. ``current``: cell id → config
    name → its current config result; ``cannot_run``: cell id → its status, for cells whose current result says no
    config runs there (it did not install or import): ``cell did not run``, never a failure. ``ad_hoc``: cells run
    outside the definition, judged alike and shown apart (as ``compare``); only the configs they proved."""
    out, new = [], {**news(cells), **{c.id: f"the ad-hoc cell {c.id}" for c in ad_hoc}}
    for name in names:
        for cell in [*cells, *(c for c in ad_hoc if name in current.get(c.id, {}))]:
            entry = _entry(cell, new, config=name, **({"ad_hoc": True} if cell in ad_hoc else {}))
            saved = current.get(cell.id, {}).get(name)
            got = None if saved is None else config_findings(saved)
            if saved is None and cell.id in (cannot_run or {}):
                entry["state"] = "cell did not run"
            elif saved is None:
                entry["state"] = "not run"
            elif got is None:
                entry["state"] = "cannot judge"
                entry["new"] = [one_line(saved.get("error") or "no result")]
            else:
                wanted = [f["finding"] for f in expected.findings(cell, name)]
                entry["seen"] = len(got)
                entry["new"] = [f for f in got if f not in wanted]
                entry["fixed"] = [f for f in wanted if f not in got]
                entry["state"] = _state(entry)
            out.append(entry)
    return out


def config_session_failure(comparison: list[dict[str, Any]], explore: bool = False,
                           news_fails: bool = False) -> str | None:
    """Why the session that proved configs in a cell fails: a config not as expected in a matrix cell; in an ad-hoc
    cell, one the rules do not predict only with ``news_fails``, or one that could not be judged (``failures``)."""
    if explore:
        return None
    bad = failures(comparison, news_fails=news_fails)
    if not bad:
        return None
    return "\n".join(f"{c['config']} in {c['id']}: {c['state']}{changes(c)}" for c in bad)


def changes(c: dict[str, Any]) -> str:
    """An entry's new and fixed findings, one indented line each (``+``, ``-``), each line starting with a newline."""
    return "".join(f"\n  + {f}" for f in c["new"]) + "".join(f"\n  - {f}" for f in c["fixed"])


def compare(cells: list[Cell], current: dict[str, CellResult], expected: rules_.Rules,
            ad_hoc: list[Cell] = ()) -> list[Comparison]:
    """Each cell of the definition against its prediction. ``current``: cell id → its current full result.
    ``ad_hoc``: cells run outside the definition (``nox -s cell``), judged by the same rules and shown like news:
    apart from the pinned cells, never failing the gate but with ``news_fails``."""
    out, new = [], {**news(cells), **{c.id: f"the ad-hoc cell {c.id}" for c in ad_hoc}}
    for cell in [*cells, *ad_hoc]:
        entry = _entry(cell, new, **({"ad_hoc": True} if cell in ad_hoc else {}))
        result = current.get(cell.id)
        if result is None:
            entry["state"] = "not run"
        elif result["status"] == "unavailable":
            entry["state"] = "not run here"
            entry["why"] = one_line(result.get("reason") or "")
        elif not judgeable(result):
            entry["state"] = "cannot judge"
            entry["new"] = [f"status {result['status']}: {one_line(result.get('reason') or '')}"]
        else:
            status, why = expected.status(cell)
            ran = result["status"] in rules_.RAN
            got = findings(result) if ran else []
            wanted = [f["finding"] for f in expected.findings(cell)] if ran else []
            entry["new"] = [f for f in got if f not in wanted]
            entry["fixed"] = [f for f in wanted if f not in got]
            entry["status"], entry["seen"] = result["status"], len(got)
            if result["status"] != status:
                line = f"status {result['status']} (expected {status}" + (f": {why})" if why else ")")
                worse = SEVERITY.get(result["status"], 9) > SEVERITY.get(status, 9)
                (entry["new"] if worse else entry["fixed"]).insert(0, line)
            entry["state"] = _state(entry, ran and status not in rules_.RAN)
        out.append(entry)
    return out


def failures(comparison: list[dict[str, Any]], require_all: bool = False, news_fails: bool = False
             ) -> list[dict[str, Any]]:
    """The entries that fail the gate: a pinned cell with a difference or that cannot be judged (``require_all``:
    also one that has not run, as in a workflow that ran every cell, or a config of the definition's that has not
    run in one; a config named with --config runs where it was asked). News never fails it, except with
    ``news_fails``, where news the rules did not predict does."""
    def fails(c: dict[str, Any]) -> bool:
        if c.get("ad_hoc") and c["state"] == "cannot judge":  # an ad-hoc run that judged nothing
            return True
        if c.get("news"):
            return news_fails and c["state"] in UNPREDICTED
        return c["state"] in FAILING or (require_all and c["state"] in ("not run", "not run here")
                                         and c.get("in_definition", True))

    return [c for c in comparison if fails(c)]


def session_failure(result: CellResult, comparison: dict[str, Any] | None, explore: bool = False,
                    news_fails: bool = False) -> str | None:
    """Why the session that ran a cell fails, or None. A repro run (selected tests) stands on its own outcome: it
    fails unless those tests pass, whatever the cell's full result says (a pytest usage error judged nothing). A
    full run of a matrix cell fails when it is not as expected (``comparison``: its entry of ``compare``; news and an
    ad-hoc cell only with ``news_fails``, or an ad-hoc cell that judged nothing), a cell without an entry unless it
    passes. ``explore``: never."""
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
    if failures([comparison], news_fails=news_fails):
        return f"{result['id']} is not as expected ({comparison['state']})"
    return None


def lines(comparison: list[dict[str, Any]]) -> list[str]:
    """One line per pinned cell that is not as expected, then its new and fixed findings, indented (a config that
    has not run in a cell is counted by ``summary`` only: most runs prove configs in some cells). News: see
    ``news_lines``."""
    out = []
    for c in comparison:
        if c.get("news") or c["state"] == "as expected" or \
                (c.get("config") and c["state"] in ("not run", "cell did not run")):
            continue
        config = f" config {c['config']}" if c.get("config") else ""
        why = f": {c['why']}" if c.get("why") else ""
        out.append(f"{c['state'].upper()} {c['id']}{config}{why}")
        out += changes(c).splitlines()[1:]
    return out


def news_lines(comparison: list[dict[str, Any]]) -> list[str]:
    """One line per news entry that ran: what is new, and whether the rules predicted what it did."""
    out = []
    for c in comparison:
        if not c.get("news") or c["state"] in ("not run", "cell did not run"):
            continue
        what = f"{c['news']} is new ({c['id']}" + (f", config {c['config']}" if c.get("config") else "") + ")"
        if c.get("ad_hoc"):
            what = c["news"] + (f", config {c['config']}" if c.get("config") else "")
        if c["state"] == "as expected":
            seen = c.get("seen", 0)
            if c.get("config"):
                doing = f"{seen} finding(s)" if seen else "every key arrives as written"
            else:
                doing = {"pass": "PTBR's path passes", "broken": "PTBR's path breaks"}.get(
                    c.get("status", ""), f"it is {c.get('status')}") + (f" with {seen} finding(s)" if seen else "")
            out.append(f"{what}: {doing}, as the rules predict")
        elif c["state"] in UNPREDICTED:
            out.append(f"{what}: {'a finding the rules do not predict' if c['new'] else c['state']}:")
            out += changes(c).splitlines()[1:]
        else:
            out.append(f"{what}: {c['state']}" + (f": {c['why']}" if c.get("why") else "")
                       + "".join(f": {f}" for f in c["new"]))
    return out


def summary(comparison: list[dict[str, Any]], what: str = "cells") -> str:
    """The pinned entries' states counted (news apart)."""
    pinned = [c for c in comparison if not c.get("news")]
    counts: dict[str, int] = {}
    for c in pinned:
        counts[c["state"]] = counts.get(c["state"], 0) + 1
    if counts.get("as expected") == len(pinned):
        return f"all {len(pinned)} pinned {what} are as expected"
    return f"{len(pinned)} pinned {what}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def observe(cells: list[Cell], current: dict[str, CellResult], expected: rules_.Rules, only: set[str] | None = None,
            current_configs: dict[str, dict[str, dict[str, Any]]] | None = None
            ) -> tuple[list[rules_.Observed], list[str]]:
    """What accepting sees in each cell of the definition: its current result where it has a judgeable one (among
    ``only``, if given), else what ``expected`` predicts for it, so that no verdict it has not seen is contradicted.
    Each finding keeps its why: the rule's that predicted it, else one with the same finding elsewhere, else (a
    config's) PTBR's reason. Returns them and what was left as predicted, with why."""
    whys = expected.whys()
    observed, kept = [], []

    def why(cell: Cell, config: str | None, finding: str, predicted: dict[str, str], own: str = "") -> str:
        if predicted.get(finding):
            return predicted[finding]
        said = rules_.template(finding, cell)
        return rules_.expand(whys.get((config, said), whys.get(("*", said) if config else (None, said), own)), cell)

    for cell in cells:
        wanted = expected.predict(cell)
        result = current.get(cell.id) if only is None or cell.id in only else None
        if result is not None and not judgeable(result):
            kept.append(f"{cell.id}: {result['status']} cannot be accepted ({one_line(result.get('reason') or '')})")
            result = None
        elif result is None and (only is None or cell.id in only):
            kept.append(f"{cell.id}: no current result")
        scopes: dict[str | None, dict[str, str]] = {}
        if result is None:
            status = wanted["status"]
            if status in rules_.RAN:
                scopes[None] = {b["finding"]: b["why"] for b in wanted["breaks"]}
        else:
            status = result["status"]
            if status in rules_.RAN:
                predicted = {b["finding"]: b["why"] for b in expected.findings(cell)}
                scopes[None] = {f: why(cell, None, f, predicted) for f in findings(result)}
        mine = (current_configs or {}).get(cell.id, {}) if only is None or cell.id in only else {}
        for config in sorted({*wanted["configs"], *mine}):
            predicted = {b["finding"]: b["why"] for b in expected.findings(cell, config)}
            saved = mine.get(config)
            if saved is not None and config_findings(saved) is None:
                kept.append(f"{cell.id}: config {config}: cannot be judged ({one_line(saved.get('error') or '')})")
                saved = None
            if saved is None:
                scopes[config] = predicted
            else:
                own = {f["finding"]: f.get("why", "") for f in saved["findings"]}
                scopes[config] = {f: why(cell, config, f, predicted, own[f]) for f in config_findings(saved)}
        observed.append(rules_.Observed(cell, status, scopes))
    return observed, kept


def accept(cells: list[Cell], current: dict[str, CellResult], expected: rules_.Rules, only: set[str] | None = None,
           current_configs: dict[str, dict[str, dict[str, Any]]] | None = None) -> tuple[rules_.Rules, list[str]]:
    """New rules derived from what ``observe`` sees (keeping every why), and what it left as predicted."""
    observed, kept = observe(cells, current, expected, only, current_configs)
    return rules_.derive(observed, expected), kept


def dump(expected: rules_.Rules) -> str:
    return rules_.dump(expected)


def diff(old: str, new: str, path: Path = EXPECTED) -> str:
    name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
