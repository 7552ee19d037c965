"""Expected verdicts as rules (constraints/expected.toml): each known finding, and each status other than pass,
written once with the versions where it holds, and the cells' expected verdicts derived from them.

A rule holds where any of its ``when`` alternatives matches a cell (no ``when``: every cell); an alternative is a
table of conditions that must all hold: PEP 440 specifiers over ``gliner``, ``transformers``, ``torch`` and
``python`` (``">=0.2.26,<0.2.29"``) and ``override`` (true: transformers installed outside gliner's declared range).
A finding or a why may name the cell's own versions as ``{gliner}``, ``{transformers}``, ``{torch}`` or ``{python}``,
so that one rule stands for a message that quotes them.

A cell's expected verdict (``predict``): the status of the first status rule that matches it (pass where none
does); where the suite runs (pass or broken), the findings of every finding rule without ``config`` that matches; for
each config, those of the rules that name it in ``config`` (one config, or a list of the configs where the finding
holds alike). So a cell no one has run yet is judged by what is known.

``derive`` writes the rules from observed verdicts, the way Web Platform Tests' ``update-expectations`` writes
conditional expectations: for each finding (with its why) the fewest, simplest alternatives that hold in every cell
where it was seen and in no cell where it was looked for and not seen (bounds at observed versions: ``>=`` where it
starts, ``<`` the first version without it, open above the newest), so that the rules reproduce every observation.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from harness import inputs
from harness.run.pins import ID, Cell
from harness.run.results import Status
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

VERSIONS = ("gliner", "transformers", "torch", "python")
CONDITIONS = (*VERSIONS, "override")
RAN = ("pass", "broken")
"""The statuses of a cell whose suite ran: where its findings are looked for."""
KINDS = {"status": ("status", "why", "when"), "finding": ("finding", "config", "why", "when")}
HEADER = """\
# Expected verdicts of the version matrix (constraints/matrix.toml), as rules: each status other than pass and each
# known finding, written once with the versions where it holds and why. A rule holds where any of its `when`
# alternatives matches a cell (none: every cell); an alternative's conditions all hold: PEP 440 specifiers over
# gliner, transformers, torch and python, and override (transformers outside gliner's declared range). A finding with
# `config` (a config, or a list of those where it holds alike) is one of theirs, proven in the cell. `{gliner}` (and
# {transformers}, {torch}, {python}) in a finding or why stands for the cell's own version. A cell's expected verdict
# is what the rules that match it say, so a new cell is judged without an accept. `nox -s accept` derives the rules
# again from the current results (and what these rules predict for cells that did not run), keeping each why, and
# prints the diff: review it, write the why of new entries, commit; a rule can also be written by hand. See
# harness/verdicts/rules.py.
"""

Alternative = dict[str, Any]
"""Conditions that must all hold: version name → specifier string, ``override`` → bool."""


@dataclass(frozen=True)
class Rule:
    kind: str
    """``status`` or ``finding``."""
    text: str
    """The status, or the finding (a template: see the module doc)."""
    why: str = ""
    when: tuple[Alternative, ...] = ()
    """Any of these; empty: every cell."""
    configs: tuple[str, ...] = ()
    """For a config's finding: the configs, by their names in the report (none: a finding of the suite)."""
    line: int = field(default=0, compare=False)
    """Where the rule is written (0: derived, not read)."""

    def holds(self, cell: Cell) -> bool:
        return not self.when or any(matches(alt, cell) for alt in self.when)

    def of(self, config: str | None) -> bool:
        """Whether this is a finding of ``config`` (None: of the suite)."""
        return self.kind == "finding" and (config in self.configs if config is not None else not self.configs)


@dataclass
class Rules:
    rules: list[Rule] = field(default_factory=list)

    def status(self, cell: Cell) -> tuple[str, str]:
        """The expected status and its why: the first status rule that holds, else pass."""
        for r in self.rules:
            if r.kind == "status" and r.holds(cell):
                return r.text, expand(r.why, cell)
        return "pass", ""

    def findings(self, cell: Cell, config: str | None = None) -> list[dict[str, str]]:
        """The findings expected in ``cell`` where its suite runs (of ``config``: where that config is proven),
        each with its why, sorted."""
        found: dict[str, str] = {}
        for r in self.rules:
            if r.of(config) and r.holds(cell):
                text = expand(r.text, cell)
                found[text] = "; ".join(w for w in (found.get(text), expand(r.why, cell)) if w)
        return [{"finding": f, "why": found[f]} for f in sorted(found)]

    def predict(self, cell: Cell) -> dict[str, Any]:
        """A cell's expected verdict: ``{"status", "why", "breaks": [{finding, why}] (none where the suite is not
        expected to run), "configs": {name: {"findings": [...]}}}`` for every config a rule names."""
        status, why = self.status(cell)
        names = sorted({c for r in self.rules for c in r.configs})
        return {"status": status, "why": why, "breaks": self.findings(cell) if status in RAN else [],
                "configs": {n: {"findings": self.findings(cell, n)} for n in names}}

    def whys(self) -> dict[tuple[str | None, str], str]:
        """(config, finding template) → its why, for findings seen again in a cell no rule predicted them for; a
        config's finding also under ("*", template), for the same finding of a config no rule names."""
        out: dict[tuple[str | None, str], str] = {}
        for r in self.rules:
            if r.kind == "finding" and r.why:
                for scope in (*r.configs, *(["*"] if r.configs else [None])):
                    out.setdefault((scope, r.text), r.why)
        return out


def matches(alt: Alternative, cell: Cell) -> bool:
    for key, want in alt.items():
        if key == "override":
            if cell.override != want:
                return False
        elif not SpecifierSet(want).contains(getattr(cell, key), prereleases=True):
            return False
    return True


def _version_pattern(name: str, version: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.]){re.escape(name)} {re.escape(version)}(?![\w\-–]|\.[0-9])", re.IGNORECASE)


def template(text: str, cell: Cell) -> str:
    """``text`` with the cell's own versions written as placeholders (``gliner 0.2.24`` → ``gliner {gliner}``)."""
    for name in VERSIONS:
        shown = "Python" if name == "python" else name
        text = _version_pattern(shown, getattr(cell, name)).sub(
            lambda m, name=name: m[0].split(" ")[0] + " {" + name + "}", text)
    return text


def expand(text: str, cell: Cell) -> str:
    """A template with the cell's versions in place of its placeholders."""
    for name in VERSIONS:
        text = text.replace("{" + name + "}", getattr(cell, name))
    return text


# ---- the file ----------------------------------------------------------------------------------------------------

def load(path: Path) -> Rules:
    """The rules of ``path`` (none when it does not exist), checked: ``inputs.Invalid`` with every problem at its
    ``file:line`` (the key, what was expected, a did-you-mean)."""
    if not path.is_file():
        return Rules()
    data, at = inputs.toml(path)
    name, problems, rules = inputs.shown(path), [], []
    for key in data:
        if key not in KINDS:
            hint = " (a table per cell id is the file's former layout: its verdicts are rules now; write them as " \
                "rules, or run the cells and `nox -s accept`)" if ID.fullmatch(key) else inputs.did_you_mean(key, KINDS)
            problems.append(f"{name}:{at.get((key,), 1)}: {key}: not a kind of rule (expected [[status]] or "
                            "[[finding]] tables)" + hint)
    for kind in KINDS:
        entries = data.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            problems.append(f"{name}:{at.get((kind,), 1)}: {kind}: expected [[{kind}]] tables")
            continue
        for n, entry in enumerate(entries):
            line = at.get((kind, n), at.get((kind,), 1))
            said = [f"{name}:{at.get((kind, n, k), line)}: {kind} {_label(entry)}: {m}"
                    for k, m in _problems(kind, entry)]
            problems += said
            if not said:
                rules.append(Rule(kind, entry[kind], entry.get("why", ""),
                                  tuple(entry.get("when", ())), _configs(entry.get("config")), line))
    if problems:
        raise inputs.Invalid(problems)
    return Rules(rules)


def _configs(written: str | list[str] | None) -> tuple[str, ...]:
    return () if written is None else (written,) if isinstance(written, str) else tuple(sorted(set(written)))


def _label(entry: dict[str, Any]) -> str:
    text = entry.get("finding", entry.get("status"))
    return repr(text if not isinstance(text, str) or len(text) < 60 else text[:57] + "...")


def _problems(kind: str, entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, what is wrong) for each problem of one rule."""
    out = []
    for key in entry:
        if key not in KINDS[kind]:
            out.append((key, f"{key}: not a key of a [[{kind}]] rule (expected {', '.join(KINDS[kind])})"
                        + inputs.did_you_mean(key, KINDS[kind])))
    statuses = [s for s in get_args(Status) if s != "pass"]
    if kind == "status" and entry.get("status") not in statuses:
        out.append(("status", f"status: expected one of {', '.join(statuses)} (pass is what no rule says), got "
                    f"{entry.get('status')!r}" + inputs.did_you_mean(str(entry.get("status")), statuses)))
    if kind == "finding" and not (isinstance(entry.get("finding"), str) and entry["finding"]):
        out.append(("finding", f"finding: expected the finding as a string, got {entry.get('finding')!r}"))
    if "why" in entry and not isinstance(entry["why"], str):
        out.append(("why", f"why: expected a string, got {entry['why']!r}"))
    config = entry.get("config", "-")
    if not (isinstance(config, str) or (isinstance(config, list) and config
                                        and all(isinstance(c, str) for c in config))):
        out.append(("config", f"config: expected a config's name or a list of them, got {config!r}"))
    if "when" not in entry:  # every cell
        return out
    when = entry["when"]
    if not isinstance(when, list) or not when or not all(isinstance(a, dict) and a for a in when):  # [] holds nowhere
        return [*out, ("when", f"when: expected a list of alternatives such as [{{ gliner = \"<0.2.29\" }}, "
                       f"{{ transformers = \">=5\", override = true }}] (leave it out for every cell), got {when!r}")]
    for alt in when:
        for key, value in alt.items():
            if key not in CONDITIONS:
                out.append(("when", f"when: {key}: not a condition (expected {', '.join(CONDITIONS)})"
                            + inputs.did_you_mean(key, CONDITIONS)))
            elif key == "override" and not isinstance(value, bool):
                out.append(("when", f"when: override: expected true or false, got {value!r}"))
            elif key != "override":
                try:
                    SpecifierSet(value)
                except (InvalidSpecifier, TypeError):
                    out.append(("when", f"when: {key}: expected a PEP 440 specifier such as \">=5.0,<5.16\", got "
                                f"{value!r}"))
    return out


def dump(rules: Rules) -> str:
    """The file's text: status rules, then the suite's findings, then each config's, each sorted."""
    out = [HEADER]

    def order(r: Rule) -> tuple:
        return (r.kind != "status", r.configs, r.text, r.why)

    for r in sorted(rules.rules, key=order):
        out += ["", f"[[{r.kind}]]"]
        if len(r.configs) == 1:
            out.append(f"config = {_string(r.configs[0])}")
        elif r.configs:
            out += ["config = [", *(f"  {_string(c)}," for c in r.configs), "]"]
        out.append(f"{r.kind} = {_string(r.text)}")
        if r.when:
            alts = ", ".join("{ " + ", ".join(f"{k} = {_value(v)}" for k, v in _ordered(a)) + " }" for a in r.when)
            out.append(f"when = [{alts}]")
        out.append(f"why = {_string(r.why)}")
    return "\n".join(out) + "\n"


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a TOML basic string


def _value(v: object) -> str:
    return "true" if v is True else "false" if v is False else _string(str(v))


def _ordered(alt: Alternative) -> list[tuple[str, Any]]:
    return sorted(alt.items(), key=lambda kv: CONDITIONS.index(kv[0]))


# ---- derivation --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Observed:
    """One cell's verdict as seen (or, for a cell that did not run, as the rules predicted it)."""
    cell: Cell
    status: str
    findings: dict[str | None, dict[str, str]]
    """Scope (None: the suite; else a config) → each finding seen there → its why. A scope is absent where it was
    not looked at (the suite of a cell that did not run it, a config not proven there)."""


def derive(observed: Sequence[Observed], old: Rules | None = None) -> Rules:
    """The fewest, simplest rules that reproduce every observation (see the module doc). A rule of ``old`` with the
    same status, or the same finding and why, keeps its conditions (written by hand, or derived before) while they
    still reproduce the observations, and a status rule its why: accepting changes only what the results force."""
    cells = [o.cell for o in observed]
    before = old.rules if old is not None else []
    out = []

    def keep_or_derive(kind: str, text: str, why: str, scope: str | None, seen: set[int], unseen: set[int]) -> Rule:
        mine = () if scope is None else (scope,)
        for r in before:
            if r.kind == kind and r.text == text and (kind == "status" or (r.of(scope) and r.why == why)) and \
                    all(r.holds(cells[i]) for i in seen) and not any(r.holds(cells[i]) for i in unseen):
                return Rule(kind, text, r.why, r.when, mine)
        return Rule(kind, text, why, conditions(cells, seen, unseen), mine)

    for status in sorted({o.status for o in observed} - {"pass"}):
        seen = {i for i, o in enumerate(observed) if o.status == status}
        out.append(keep_or_derive("status", status, "", None, seen, set(range(len(observed))) - seen))
    scopes = sorted({s for o in observed for s in o.findings}, key=lambda s: s or "")
    for scope in scopes:
        looked = [i for i, o in enumerate(observed) if scope in o.findings]
        groups: dict[tuple[str, str], set[int]] = {}
        for i in looked:
            for finding, why in observed[i].findings[scope].items():
                key = (template(finding, cells[i]), template(why, cells[i]))
                groups.setdefault(key, set()).add(i)
        for (text, why), seen in sorted(groups.items()):
            out.append(keep_or_derive("finding", text, why, scope, seen, set(looked) - seen))
    return Rules(_merged(out))


def _merged(rules: list[Rule]) -> list[Rule]:
    """Config findings that hold alike (the same finding, why and conditions) in several configs: one rule naming
    them all."""
    out: list[Rule] = []
    alike: dict[tuple, int] = {}
    for r in rules:
        key = (r.text, r.why, json.dumps(r.when, sort_keys=True))
        if r.configs and key in alike:
            at = alike[key]
            out[at] = Rule(r.kind, r.text, r.why, r.when, tuple(sorted({*out[at].configs, *r.configs})))
        else:
            if r.configs:
                alike[key] = len(out)
            out.append(r)
    return out


def conditions(cells: Sequence[Cell], seen: set[int], unseen: set[int]) -> tuple[Alternative, ...]:
    """The fewest alternatives (then the simplest) that together hold in every ``seen`` cell and none of the
    ``unseen`` (indexes into ``cells``): a greedy set cover over conjunctions of one interval per condition."""
    if not unseen:
        return ()
    atoms = {name: _atoms(cells, name) for name in CONDITIONS}
    seen_mask, unseen_mask = _mask(seen), _mask(unseen)
    candidates: list[tuple[int, int, Alternative]] = []

    def extend(start: int, mask: int, cost: int, alt: Alternative) -> None:
        """Add one more condition (after those in ``alt``) while the conjunction still holds in a cell not seen; a
        conjunction that holds in none is a candidate, never extended (more conditions: less coverage, more cost)."""
        for at in range(start, len(CONDITIONS)):
            name = CONDITIONS[at]
            for value, more, held in atoms[name]:
                narrower = mask & held
                if not narrower & seen_mask:
                    continue
                if narrower & unseen_mask:
                    extend(at + 1, narrower, cost + more, {**alt, name: value})
                else:
                    candidates.append((narrower, cost + more, {**alt, name: value}))

    extend(0, seen_mask | unseen_mask, 0, {})
    chosen: list[Alternative] = []
    left = seen_mask
    while left:
        best = min(candidates, key=lambda c: (-bin(c[0] & left).count("1"), c[1], json.dumps(c[2], sort_keys=True)),
                   default=None)
        if best is None or not best[0] & left:
            raise ValueError("no conditions separate these cells (two observations of the same cell disagree)")
        chosen.append(best[2])
        left &= ~best[0]
    return tuple(chosen)


def _mask(indexes: Iterable[int]) -> int:
    return sum(1 << i for i in indexes)


def _atoms(cells: Sequence[Cell], name: str) -> list[tuple[Any, int, int]]:
    """(condition value, cost, mask of the cells it holds for) for each interval of the values seen of ``name``:
    ``>=low``, ``<next``, both; ``override``: true or false. The interval of every value is no condition."""
    if name == "override":
        return [(v, 1, _mask(i for i, c in enumerate(cells) if c.override == v)) for v in (True, False)]
    values = sorted({Version(getattr(c, name)) for c in cells})
    out = []
    for lo, hi in itertools.combinations_with_replacement(range(len(values)), 2):
        if lo == 0 and hi == len(values) - 1:
            continue
        parts = ([f">={values[lo]}"] if lo > 0 else []) + ([f"<{values[hi + 1]}"] if hi < len(values) - 1 else [])
        held = _mask(i for i, c in enumerate(cells) if values[lo] <= Version(getattr(c, name)) <= values[hi])
        out.append((",".join(parts), len(parts), held))
    return out
