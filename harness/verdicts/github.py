"""GitHub Actions glue, from the same files a person uses locally: the cells of a workflow's dynamic matrix (from
`nox --list --json`, so from constraints/matrix.toml), failure annotations, and the gate's verdict."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import definition, inputs
from harness.definition import ROOT, Cell
from harness.run.results import CODE, DOCKER_CODE


def listed_cells(tags: list[str]) -> list[dict[str, Any]]:
    """The matrix cells nox lists (all of them, or those with any of ``tags``): one entry per cell job. A floating
    cell runs as the ad-hoc cell of its versions: its job lists nox's sessions again, maybe after a release that
    would rename its matrix session."""
    listing = subprocess.run([sys.executable, "-m", "nox", "--list", "--json", "--tags", *(tags or ["matrix"])],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [{"id": s["call_spec"]["cell_id"], "session": "cell" if "floating" in s["tags"] else s["session"],
             "override": "override" in s["tags"], "python": Cell.parse(s["call_spec"]["cell_id"]).python}
            for s in json.loads(listing) if "matrix" in s["tags"]]


# What a pull request must change for the matrix to run (the workflow has no `paths:` filter: GitHub would leave a
# required check of a skipped workflow pending forever; the cells job lists no cell instead, and the gate passes)
PATHS = (*(f"{p}/*" if (ROOT / p).is_dir() else p for p in CODE + DOCKER_CODE), "constraints/*", "harness/*",
         "noxfile.py", ".github/workflows/matrix.yml")


def relevant(changed: list[str]) -> bool:
    """Whether a change can alter a verdict: a file of PATHS, or one of (or in) the configs the definition proves."""
    try:
        proven = [c.rstrip("/") for c in definition.configs()]
    except inputs.Invalid:  # an unusable definition is matched by PATHS (constraints/*) and reported by the cells job
        proven = []
    return any(fnmatch.fnmatch(name, pattern) for name in changed for pattern in PATHS) or \
        any(name == c or name.startswith(f"{c}/") for name in changed for c in proven)


def changed_files(base: str) -> list[str]:
    """The files a pull request changes: from its base commit to HEAD (the checkout needs the base: fetch-depth 0)."""
    out = subprocess.run(["git", "diff", "--name-only", f"{base}...HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def matrix(env: dict[str, str]) -> list[dict[str, Any]]:
    """The cells a workflow run covers: an ad-hoc cell when TORCH, TRANSFORMERS and GLINER are given (OVERRIDE
    "true" installs transformers outside gliner's range; PYTHON: its Python, default the definition's), else the
    cells with any of the space-separated TAGS; none for a pull request (BASE: its base commit) that changes nothing
    the matrix depends on (PATHS). Each entry names the cell's Python: its job sets it up."""
    if env.get("BASE") and not relevant(changed_files(env["BASE"])):
        return []
    versions = [env.get(k, "").strip() for k in ("TORCH", "TRANSFORMERS", "GLINER")]
    if any(versions):
        if not all(versions):
            raise ValueError("an ad-hoc cell needs torch, transformers and gliner versions")
        python = env.get("PYTHON", "").strip() or definition.python()
        if not definition.PYTHON.fullmatch(python):
            raise ValueError(f"not a Python: {python!r} (expected major.minor, e.g. 3.13)")
        cell = dataclasses.replace(Cell.parse("torch{}-tf{}-gliner{}".format(*versions)),  # validates each version
                                   python=python)
        return [{"id": cell.id, "session": "cell", "override": env.get("OVERRIDE") == "true", "python": cell.python}]
    tags = env.get("TAGS", "").split()
    cells = listed_cells(tags)
    if not cells:
        raise ValueError(f"no cell has any of the tags {tags} (tags look like torch2.13.0, tf5.0.0, gliner0.2.29, "
                         "py3.13)")
    return cells


def _escape(text: str) -> str:
    """A workflow command's message: %, CR and LF escaped as GitHub requires."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def annotations(report: dict[str, Any]) -> list[str]:
    """One ::error per cell that did not pass (its causes and breaks, or why it did not run, then the two commands
    that reproduce it), and per version-independent break on PTBR's path; one ::warning per config with findings in
    a cell (each key that does not arrive as written; the gate decides whether that is expected)."""
    lines = [f"::error title=PTBR's path breaks in every cell::{_escape(_break(b))}"
             for b in report["version_independent"]["ptbr_path"]]
    news = {e["id"] for e in report["expected"] if e.get("news")}
    for c in report["cells"]:
        if c["status"] != "pass":
            level = "notice" if c["id"] in news else "error"  # news never blocks: said, not flagged
            detail = "; ".join([k["cause"] for k in c["causes"]]
                               + [_break(b) for b in c["version_dependent_breaks"] if not b.get("cause")])
            detail = detail or c.get("reason") or ""
            how = [c["repro"]["docker_build"], c["repro"]["docker_run"]] if c["repro"].get("docker_run") \
                else [c["repro"]["nox"]]
            message = detail + "\nreproduce at a checkout's root:\n" + "\n".join(how)
            lines.append(f"::{level} title={c['id']}: {c['status']}::{_escape(message)}")
    for config in report.get("configs", []):
        for e in config["cells"]:
            if e["current"] and (e["findings"] or e["findings"] is None):
                found = [f["finding"] for f in e["findings"] or []] or [e.get("error") or "could not be judged"]
                how = [e["repro"][k] for k in ("nox", "docker_build", "docker_run") if e["repro"].get(k)]
                message = "\n".join(found) + "\nprove it again at a checkout's root:\n" + "\n".join(how)
                lines.append(f"::warning title={config['config']} in {e['id']}::{_escape(message)}")
    return lines


def _break(b: dict[str, str]) -> str:
    return f"{b['field']} [{b['layer']}]: {b['message']}"


def gate(report: dict[str, Any], require_all: bool = False, news_fails: bool = False) -> list[str]:
    """Why the matrix should block a merge: a pinned cell of the definition that differs from its expected verdict
    (a new break, a fixed one, another status) or that the harness could not judge (error, timeout, a failed build);
    ``require_all``: also a cell with no current result (a workflow that ran every cell). News (a floating cell on
    releases newer than the pins) never blocks a merge; ``news_fails`` (the nightly run): news the rules do not
    predict fails too."""
    from harness.verdicts import expected

    found = [*report["expected"], *report.get("configs_expected", [])]
    return expected.lines(expected.failures(found, require_all)) + \
        (expected.news_lines(expected.failures(found, news_fails=True)) if news_fails else [])


def news_issues(report: dict[str, Any]) -> list[dict[str, str]]:
    """One issue per release whose news the rules do not predict: a stable title (the nightly run updates the open
    issue of that title rather than opening another), the report's lines and the command that accepts them."""
    from harness.verdicts import expected

    found = [c for c in expected.failures([*report["expected"], *report.get("configs_expected", [])],
                                          news_fails=True) if c.get("news")]
    out = []
    for release in sorted({c["news"] for c in found}):
        mine = [c for c in found if c["news"] == release]
        ids = sorted({c["id"] for c in mine})
        body = ["The nightly matrix run found what the rules of constraints/expected.toml do not predict:", "", "```",
                *expected.news_lines(mine), "```", "",
                "If it is right, accept it (the rules are derived again, keeping every why), write the why of each "
                "new finding, and commit:", "", "```sh",
                *[f'nox -s "matrix({i})" -- --rerun' for i in ids], f"nox -s accept -- {' '.join(ids)}", "```"]
        out.append({"title": f"Matrix news: {release} is not as the rules predict", "body": "\n".join(body)})
    return out


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "cells":
        try:
            cells = matrix(dict(os.environ))
        except ValueError as e:
            # stderr: stdout goes to $GITHUB_OUTPUT; the runner reads workflow commands from both
            print(f"::error title=cannot list the cells::{_escape(str(e))}", file=sys.stderr)
            return 2
        if not cells:
            print("::notice title=matrix skipped::the pull request changes nothing the matrix depends on",
                  file=sys.stderr)
        print("cells=" + json.dumps(cells, separators=(",", ":")))
        return 0
    if command in ("annotate", "gate", "news"):
        with open(argv[1], encoding="utf-8") as f:
            report = json.load(f)
        if command == "news":  # one issue per release: DIR/<n>.title and DIR/<n>.md
            out_dir = Path(argv[2]) if len(argv) > 2 else Path("news")
            out_dir.mkdir(parents=True, exist_ok=True)
            for n, issue in enumerate(news_issues(report), 1):
                (out_dir / f"{n}.title").write_text(issue["title"] + "\n")
                (out_dir / f"{n}.md").write_text(issue["body"] + "\n")
                print(issue["title"])
            return 0
        out = annotations(report) if command == "annotate" else \
            gate(report, "--require-all" in argv[2:], "--news-fails" in argv[2:])
        print("\n".join(out))
        return 1 if command == "gate" and out else 0
    print("usage: python -m harness github (cells | annotate REPORT | gate REPORT [--require-all] [--news-fails] | "
          "news REPORT DIR)", file=sys.stderr)
    return 2
