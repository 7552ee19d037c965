"""`nox -s bisect`: the first release of one package whose verdict differs from the start of a range, with the other
two fixed, by bisection over the releases the index has in the range, running real cells.

    nox -s bisect -- --gliner 0.2.24 --transformers 4.57.3..5.24.0 [--torch 2.13.0] [--pre] [--yanked]

Each probe is an ordinary cell (harness/run/cell.py) in its own virtualenv under .nox/bisect/: its result lands in
reports/cells/<id>/ like any cell's, is reused while current (a second bisect over the same range runs nothing), and
shows in the report. A verdict is the cell's status and findings (harness/verdicts/expected.py) with version
numbers written as <v>, so "transformers 5.0.0 no longer accepts" and "transformers 5.1.0 no longer accepts" are one
verdict.

Bisection assumes the verdict changes once in the range: it probes the start, then at most ⌈log2(n)⌉ more releases
for n releases. When the probes show more than one change (A → B → A, or A → B → C) it says so: the first change
it names is then only the first among the releases it probed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import definition, inputs
from harness.definition import ROOT, Cell
from harness.releases import index
from harness.run import cell as cells
from harness.run import options, pins, results, runners
from harness.verdicts import expected, report
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

AXES = ("torch", "transformers", "gliner")
VENVS = ROOT / ".nox" / "bisect"

Verdict = tuple[str, frozenset[str]]


def verdict(result: results.CellResult) -> Verdict:
    """Status and findings, versions written as <v> (see the module doc)."""
    def general(text: str) -> str:
        return re.sub(r"\d+\.\d+(?:\.\d+)*(?:(?:a|b|rc|\.post|\.dev)\d+)?", "<v>", text)

    return result["status"], frozenset(general(f) for f in expected.findings(result))


@dataclass
class Outcome:
    versions: list[str]
    probed: dict[int, Any] = field(default_factory=dict)
    """Release index → what the probe returned (a verdict), in the order probed."""
    first: int | None = None
    """The first release whose verdict differs from the start's; None when no probed release differs."""

    @property
    def changes(self) -> list[int]:
        """Probed releases whose verdict differs from the previous probed release's, in version order."""
        order = sorted(self.probed)
        return [b for a, b in itertools.pairwise(order) if self.probed[a] != self.probed[b]]


def first_change(versions: list[str], probe: Callable[[str], Any]) -> Outcome:
    """Bisect: probe the start, then find the first release whose probe differs from it, with at most ⌈log2(n)⌉
    more probes (lower bound over releases 1..n-1, "none" included)."""
    out = Outcome(versions)

    def at(i: int) -> Any:
        if i not in out.probed:
            out.probed[i] = probe(versions[i])
        return out.probed[i]

    start = at(0)
    low, high = 1, len(versions)
    while low < high:
        middle = (low + high) // 2
        if at(middle) != start:
            high = middle
        else:
            low = middle + 1
    out.first = low if low < len(versions) else None
    return out


def budget(n: int) -> int:
    """The most cells a bisection over n releases runs."""
    return math.ceil(math.log2(n)) + 1 if n > 1 else n


def _axis(args: argparse.Namespace) -> tuple[str, str, str]:
    """(the package given as a range, its first and last release); ``inputs.Invalid`` for anything else."""
    ranged = [(name, getattr(args, name)) for name in AXES if ".." in (getattr(args, name) or "")]
    if len(ranged) != 1:
        raise inputs.Invalid(["give exactly one package as a range FIRST..LAST (e.g. --transformers 4.57.3..5.24.0)"
                              + (f", not {len(ranged)}" if ranged else "")])
    name, text = ranged[0]
    first, _, last = text.partition("..")
    problems = [f"--{name} {text}: {end or '(nothing)'} is not a version (PEP 440)" for end in (first, last)
                if not _is_version(end)]
    if not problems and Version(first) >= Version(last):
        problems.append(f"--{name} {text}: the range is {'empty' if first == last else 'reversed'}: FIRST must be "
                        f"older than LAST" + ("" if first == last else f" (--{name} {last}..{first})"))
    if problems:
        raise inputs.Invalid(problems)
    return name, first, last


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


class CannotAnswer(Exception):
    """The probes could not observe what the question asks: bisect stops with the reason (never "the verdict
    holds")."""


def observed(result: results.CellResult) -> bool:
    """A probe the question can rest on: the suite ran and was judged (pass or broken)."""
    return result["status"] in ("pass", "broken")


def passed(result: results.CellResult) -> int | None:
    """How many tests passed (None: no test ran)."""
    counts = result.get("tests")
    return counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"] if counts else None


def probe_cell(fixed: dict[str, str], name: str, version: str) -> Cell:
    """The cell of one probe; transformers outside the gliner release's declared range is installed with an
    override (the question is what the versions do, not whether gliner allows them)."""
    pins = {**fixed, name: version}
    declared = index.requires("gliner", pins["gliner"], "transformers")
    outside = Version(pins["transformers"]) not in SpecifierSet(declared)
    return Cell(pins["torch"], pins["transformers"], pins["gliner"], override=outside, python=definition.python())


def own_venv(cell: Cell) -> Path:
    """The python of a virtualenv of the probe's own (so a current result is reused: it was made in exactly this
    environment); the cell's runner makes it with the cell's Python."""
    return VENVS / cell.id / "bin" / "python"


def main(argv: list[str], log: Callable[[str], None] = print) -> int:
    parser = inputs.Parser(prog="nox -s bisect --", description=__doc__.split("\n\n")[0])
    for name in AXES:
        parser.add_argument(f"--{name}", help="a version, or FIRST..LAST for the package to bisect")
    parser.add_argument("--pre", action="store_true", help="include pre-releases")
    parser.add_argument("--yanked", action="store_true", help="include yanked releases (an exact pin installs them)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per cell")
    parser.add_argument("--workers", default="auto", help="xdist workers per cell")
    args = parser.parse_args(argv)
    args.torch = args.torch or max((c.torch for c in definition.cells(floating=False)), key=Version)
    name, first, last = _axis(args)
    fixed = {a: getattr(args, a) for a in AXES if a != name}
    if not all(fixed.values()):
        raise inputs.Invalid([f"give the versions of {', '.join(a for a in AXES if a != name)}"])
    definition.check_pins(fixed)
    found = [r for r in index.between(name, first, last, args.pre) if args.yanked or not r.yanked]
    versions = [str(r) for r in found]
    if len(versions) < 2 or versions[0] != str(Version(first)) or versions[-1] != str(Version(last)):
        raise inputs.Invalid([f"{name} {first}..{last}: the index has {versions or 'no releases'} there; both ends "
                              "must be releases it has" + ("" if args.yanked else
                                                            " (yanked releases left out: --yanked)")])
    log(f"bisecting {name} over {len(versions)} releases {versions[0]}..{versions[-1]} with "
        + ", ".join(f"{k} {v}" for k, v in fixed.items()) + f": at most {budget(len(versions))} cells")
    opts = options.Options(timeout_s=args.timeout, workers=args.workers, log=log)
    ran: dict[str, results.CellResult] = {}
    matrix_ids = {c.id for c in definition.cells()}

    def probe(version: str) -> Verdict:
        cell = probe_cell(fixed, name, version)
        log(f"probe {len(ran) + 1}: {cell.id}")
        opts.matrix = cell.id in matrix_ids
        result = cells.run(cell, runners.Venv(own_venv(cell)), opts)
        ran[version] = result
        end = version in (versions[0], versions[-1])
        if not expected.judgeable(result) or (end and not observed(result)):
            # an error or a timeout says nothing about the versions; an end that cannot be installed or imported
            # leaves nothing to compare with
            which = "the range's start" if version == versions[0] else "the range's end" if end else "a probe"
            raise CannotAnswer(f"{which}, {cell.id}, ended {result['status']}: "
                               f"{(result['reason'] or '').strip().splitlines()[0] if result['reason'] else ''}"
                               f"\nbisect needs it judged (pass or broken) to compare; {result['repro']['nox']}")
        return verdict(result)

    outcome = first_change(versions, probe)
    report.write(current=report.current_fingerprints())
    if all(passed(ran[v]) == 0 for v in ran) and len({verdict(r) for r in ran.values()}) == 1:
        found = "; ".join(expected.findings(ran[versions[0]])) or ran[versions[0]]["status"]
        raise CannotAnswer(f"every probe ({', '.join(ran)}) failed every test for the same reason: {found}\n"
                           "the suite observed nothing it could compare: fix that first, then bisect")
    for line in describe(outcome, name, ran):
        log(line)
    return 0


def describe(outcome: Outcome, name: str, ran: dict[str, results.CellResult]) -> list[str]:
    """What the bisection found, for people."""
    v = outcome.versions
    probed = ", ".join(v[i] for i in sorted(outcome.probed))
    lines = [f"{len(outcome.probed)} cells probed ({probed}) of {len(v)} releases; budget {budget(len(v))}"]
    start = ran[v[0]]
    if outcome.first is None:
        lines.append(f"no probed release of {name} differs from {v[0]} ({start['status']}): the verdict holds over "
                     f"{v[0]}..{v[-1]} as far as bisection can tell")
        return lines
    hit = ran[v[outcome.first]]
    before = expected.findings(start)
    after = expected.findings(hit)
    unproven = "" if outcome.first - 1 in outcome.probed or outcome.first == 1 else \
        f"; {v[outcome.first - 1]} was not run: it shares {v[0]}'s verdict by bisection"
    if hit["status"] == "install-failed":  # a resolver conflict: what the packages declare, not what they do
        conflict = [re.sub(r"^install exit \d+: ", "", line) for line in (hit["reason"] or "").strip().splitlines()]
        lines.append(f"FIRST DIFFERENT: {name} {v[outcome.first]} cannot be installed together with "
                     + ", ".join(f"{k} {x}" for k, x in results.cell_of(hit).pins.items() if k != name)
                     + f" (a declared range, not a forwarding verdict: {conflict[0] if conflict else 'see its log'}; "
                     f"{v[0]}..{v[outcome.first - 1]}: {start['status']}){unproven}")
    else:
        lines.append(f"FIRST DIFFERENT: {name} {v[outcome.first]} ({hit['status']}; {v[0]}..{v[outcome.first - 1]}: "
                     f"{start['status']}){unproven}")
    lines += [f"  + {f}" for f in after if f not in before] + [f"  - {f}" for f in before if f not in after]
    again = pins.repro(results.cell_of(hit), ["--rerun"], hit["id"] in {c.id for c in definition.cells()})
    lines.append(f"reproduce: {again} (its failing tests are listed in reports/cells/{hit['id']}/result.json)")
    if len(outcome.changes) > 1:
        seen = ", ".join(f"{v[i]} ({ran[v[i]]['status']})" for i in outcome.changes)
        lines.append(f"WARNING: the verdict changes {len(outcome.changes)} times among the probed releases (at "
                     f"{seen}): bisection assumes one change, so {v[outcome.first]} is the first change among "
                     "the releases probed, not necessarily in the range; run the cells between to see each")
    return lines
