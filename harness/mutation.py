"""Mutation testing: how many small changes to PTBR's forwarding table and compat module the suite notices.

cosmic-ray mutates a *copy* of the tree (this checkout is never touched) and runs the fast proving tests against each
mutant: layer 1 of the propagation suite, the completeness check, the forwarding unit tests and the config
reference (what each key goes to, as documented). A mutant is killed
when they fail. The score is killed / (killed + survived); survivors are listed with their diff in
reports/mutation.json, for a person to read (a survivor is a change no test sees: a missing test or dead code).

    nox -s mutation                       every mutant of forwarding.py and compat.py (about 35 minutes here)
    nox -s mutation -- --sample 8         a random sample (seeded), as CI runs it
    nox -s mutation -- --survivors reports/mutation.json    only what survived last time
    nox -s mutation -- --cell <id> src/ptbr/compat.py    in a matrix cell's versions (reports/mutation-<id>.json)
    nox -s mutation -- --cell <id> --functions _keep_warmup,trainer_accepts src/ptbr/compat.py   those functions only
    nox -s mutation -- --union                  the per-cell reports combined: a mutant survives only where it
                                                survives in every cell (compat's branches run in different cells)
"""

from __future__ import annotations

import ast
import json
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import inputs
from harness.definition import ROOT
from harness.run.results import REPORTS, write_atomic

MODULES = ("src/ptbr/forwarding.py", "src/ptbr/compat.py")
CELLS = {
    "torch2.13.0-tf4.57.6-gliner0.2.24": "Trainer(tokenizer=) still mapped by a deprecation shim (trainer_accepts): "
                                         "only a gliner that passes tokenizer= shows whether PTBR reads the shim",
    "torch2.13.0-tf5.14.1-gliner0.2.29": "warmup_ratio folded over the warmup by __post_init__ (_keep_warmup)",
    "torch2.13.0-tf5.16.1-gliner0.2.29": "the default environment's versions, for the union",
}
"""The cells where compat.py's version branches run, for its mutation testing (the nightly workflow's list, which a
test keeps the same). Not gliner 0.2.24 × transformers 5.0.0, where gliner_trainer_problem's branch runs: PTBR refuses
every config there, so the proving tests fail without any mutant."""
TESTS = ("tests/propagation/test_layer1_ptbr.py", "tests/propagation/test_layer1_surface.py",
         "tests/propagation/test_completeness.py", "tests/test_forwarding.py", "tests/test_surface.py",
         "tests/test_reference.py")
CONFIG = """[cosmic-ray]
module-path = "{module}"
timeout = 300.0
excluded-modules = []
test-command = "{command}"

[cosmic-ray.distributor]
name = "local"
"""


def _copy_tree(dest: Path) -> None:
    """The checkout's files (tracked and new ones git does not ignore), without build leftovers."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


def _sample(db: Path, keep: int, seed: int) -> None:
    """Keep ``keep`` mutants of the session, chosen with ``seed`` among the mutants in source order (job ids are
    random per session: the same seed picks the same mutations); cosmic-ray runs what is left."""
    with sqlite3.connect(db) as c:
        jobs = [j for (j,) in c.execute("SELECT job_id FROM mutation_specs ORDER BY start_pos_row, start_pos_col, "
                                        "operator_name, occurrence")]
        drop = set(jobs) - set(random.Random(seed).sample(jobs, min(keep, len(jobs))))
        c.executemany("DELETE FROM mutation_specs WHERE job_id = ?", [(j,) for j in drop])
        c.executemany("DELETE FROM work_items WHERE job_id = ?", [(j,) for j in drop])


def _annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions (line, column) of every type annotation of a module that imports
    ``from __future__ import annotations``: never evaluated, so a mutant there is one no test can kill."""
    tree = ast.parse(source)
    if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations"
                                                                                  for a in n.names)
               for n in tree.body):
        return []
    nodes = [n.returns for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nodes += [n.annotation for n in ast.walk(tree) if isinstance(n, (ast.arg, ast.AnnAssign))]
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in nodes if n is not None]


def _set_annotations_aside(db: Path, source: str) -> list[dict]:
    """Remove the session's mutants that lie inside a type annotation (before anything runs: about a quarter of
    the mutants, and of the time); returned as outcome ``annotation``."""
    spans = _annotation_spans(source)
    aside = []
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT job_id, module_path, operator_name, start_pos_row, start_pos_col, end_pos_row, "
                         "end_pos_col FROM mutation_specs").fetchall()
        for job, module, operator, *position in rows:
            start, end = tuple(position[:2]), tuple(position[2:])
            if any(first <= start and end <= last for first, last in spans):
                aside.append({"module": module, "operator": operator, "line": start[0], "outcome": "annotation",
                              "diff": None})
                c.execute("DELETE FROM mutation_specs WHERE job_id = ?", (job,))
                c.execute("DELETE FROM work_items WHERE job_id = ?", (job,))
    return aside


def _keep_functions(db: Path, functions: set[str]) -> None:
    """Keep the mutants inside these functions (cosmic-ray records each mutant's enclosing definition)."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT job_id, definition_name FROM mutation_specs").fetchall()
        drop = [(job,) for job, name in rows if name not in functions]
        c.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
        c.executemany("DELETE FROM work_items WHERE job_id = ?", drop)


def _keep_only(db: Path, survivors: set[tuple[str, str, int]]) -> None:
    """Keep the mutants at the (module, operator, line) of a previous run's survivors (a superset where one line
    has several mutants of one operator): rerun what survived after writing tests for it."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT job_id, module_path, operator_name, start_pos_row FROM mutation_specs").fetchall()
        drop = [(job,) for job, module, operator, line in rows if (module, operator, line) not in survivors]
        c.executemany("DELETE FROM mutation_specs WHERE job_id = ?", drop)
        c.executemany("DELETE FROM work_items WHERE job_id = ?", drop)


def outcomes(db: Path) -> list[dict]:
    """Every mutant a cosmic-ray session ran, with its outcome: killed, survived, or what the worker reported
    (timeout, incompetent)."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT s.module_path, s.operator_name, s.start_pos_row, r.test_outcome, r.worker_outcome, "
                         "r.diff FROM mutation_specs s JOIN work_results r ON r.job_id = s.job_id").fetchall()
    out = []
    for module, operator, line, test, worker, diff in rows:
        outcome = (test or worker or "").lower()
        out.append({"module": module, "operator": operator, "line": line, "outcome": outcome, "diff": diff})
    return out


class Unscorable(Exception):
    """The environment cannot judge mutants: the tests fail on the code as it is."""


def run(modules: list[str], sample: int | None, seed: int, cosmic_ray: str,
        survivors: set[tuple[str, str, int]] | None = None, report: Path | None = None,
        label: str | None = None, functions: list[str] | None = None) -> dict:
    """Run the session in a copy of the tree; returns the report (also written to ``report``); ``label`` names the
    environment (a matrix cell's id)."""
    start = time.monotonic()
    command = " ".join(["env", "PYTHONPATH=src", "HF_HUB_OFFLINE=1", shlex.quote(sys.executable), "-m", "pytest",
                        "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-n", "2", *TESTS])
    found: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ptbr-mutation-") as tmp:
        tree = Path(tmp)
        _copy_tree(tree)
        baseline = subprocess.run(command, shell=True, cwd=tree, capture_output=True, text=True)
        if baseline.returncode != 0:  # every mutant would count as killed
            raise Unscorable(f"the proving tests fail without any mutant here ({label or 'this environment'}), so "
                             "no mutant can be judged:\n" + "\n".join(baseline.stdout.splitlines()[-8:]))
        for i, module in enumerate(modules):
            config, db = tree / f"cr-{i}.toml", tree / f"cr-{i}.sqlite"
            config.write_text(CONFIG.format(module=module, command=command))
            subprocess.run([cosmic_ray, "init", str(config), str(db)], cwd=tree, check=True)
            aside = _set_annotations_aside(db, (tree / module).read_text())
            found += [] if functions else aside  # annotations are counted for whole modules only
            if functions:
                _keep_functions(db, set(functions))
            if survivors is not None:
                _keep_only(db, survivors)
                found = [f for f in found if (f["module"], f["operator"], f["line"]) in survivors]
            if sample is not None:
                _sample(db, max(1, sample // len(modules)), seed)
            subprocess.run([cosmic_ray, "exec", str(config), str(db)], cwd=tree, check=True)
            found += outcomes(db)
    return summarise(found, modules, sample, seed, time.monotonic() - start, report, label, functions)


def summarise(found: list[dict], modules: list[str], sample: int | None, seed: int, seconds: float,
              path: Path | None = None, label: str | None = None, functions: list[str] | None = None) -> dict:
    """The report of a session's outcomes, written to ``path`` (reports/mutation.json by default)."""
    killed = sum(1 for f in found if f["outcome"] == "killed")
    survived = [f for f in found if f["outcome"] == "survived"]
    annotation = sum(1 for f in found if f["outcome"] == "annotation")
    report = {
        "schema_version": 1, "environment": label, "versions": _versions(), "modules": modules,
        "tests": list(TESTS), "functions": functions, "sample": sample, "seed": seed,
        "mutants": len(found), "killed": killed, "survived": len(survived), "annotation": annotation,
        "other": len(found) - killed - len(survived) - annotation,
        "score": round(killed / (killed + len(survived)), 3) if killed + len(survived) else None,
        "duration_s": round(seconds, 1), "survivors": survived,
    }
    write_atomic(path or REPORTS / "mutation.json", json.dumps(report, indent=2) + "\n")
    return report


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("torch", "transformers", "gliner"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _mutant(s: dict) -> tuple[str, str, int, str]:
    return s["module"], s["operator"], s["line"], s["diff"]


def union(reports: list[dict]) -> dict:
    """Several full runs of the same modules in different environments, combined: a mutant is killed when some
    environment's tests kill it (its branch runs there), and survives only where it survives in every one."""
    if not reports:
        raise ValueError("no per-cell mutation reports (reports/mutation-<cell id>.json): run nox -s mutation -- "
                         "--cell <id> first")
    if len({(tuple(r["modules"]), tuple(r.get("functions") or ())) for r in reports}) != 1 \
            or any(r["sample"] is not None for r in reports):
        raise ValueError("a union needs full runs (no --sample) of the same modules (and --functions) in every report")
    left = set.intersection(*({_mutant(s) for s in r["survivors"]} for r in reports))
    ran = max(r["killed"] + r["survived"] for r in reports)
    survivors = [s for s in reports[0]["survivors"] if _mutant(s) in left]
    return {"environments": [r["environment"] or "default" for r in reports], "modules": reports[0]["modules"],
            "functions": reports[0].get("functions"),
            "judged": ran, "survived": len(survivors), "killed": ran - len(survivors),
            "score": round((ran - len(survivors)) / ran, 3) if ran else None, "survivors": survivors,
            "per_environment": {r["environment"] or "default": r["score"] for r in reports}}


def main(argv: list[str]) -> int:
    parser = inputs.Parser(prog="python -m harness.mutation")
    parser.add_argument("modules", nargs="*", default=list(MODULES))
    parser.add_argument("--sample", type=int, help="run this many mutants, chosen at random (seeded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cosmic-ray", default=str(Path(sys.executable).with_name("cosmic-ray")))
    parser.add_argument("--survivors", type=Path, help="run only the survivors of this earlier report "
                        "(reports/mutation.json): after writing tests for them")
    parser.add_argument("--report", type=Path, help="where to write the report (default: reports/mutation.json)")
    parser.add_argument("--functions", type=lambda s: s.split(","), help="only the mutants inside these functions, "
                        "comma-separated (e.g. compat.py's version branches)")
    parser.add_argument("--label", help="the environment's name in the report (a matrix cell's id)")
    parser.add_argument("--union", nargs="*", type=Path, metavar="REPORT",
                        help="combine per-cell reports (default: reports/mutation-*.json) into reports/"
                             "mutation-union.json")
    args = parser.parse_args(argv)
    if args.union is not None:
        paths = args.union or sorted(REPORTS.glob("mutation-*.json"))
        try:
            combined = union([json.loads(p.read_text()) for p in paths if p.name != "mutation-union.json"])
        except (ValueError, OSError, KeyError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        write_atomic(REPORTS / "mutation-union.json", json.dumps(combined, indent=2) + "\n")
        for name, score in combined["per_environment"].items():
            print(f"{name}: score {score}")
        print(f"union of {len(combined['environments'])}: {combined['killed']} killed, {combined['survived']} "
              f"survived everywhere; score {combined['score']}")
        for s in combined["survivors"]:
            print(f"SURVIVED EVERYWHERE {s['module']}:{s['line']} {s['operator']}\n{s['diff']}")
        return 0
    survivors = None
    if args.survivors:
        earlier = json.loads(args.survivors.read_text())["survivors"]
        survivors = {(s["module"], s["operator"], s["line"]) for s in earlier}
    try:
        report = run(args.modules, args.sample, args.seed, args.cosmic_ray, survivors, args.report, args.label,
                     args.functions)
    except Unscorable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{report['mutants']} mutants: {report['killed']} killed, {report['survived']} survived, "
          f"{report['annotation']} in annotations (never evaluated), {report['other']} other (timeouts, incompetent);"
          f" score {report['score']}; {report['duration_s']:.0f} s")
    for s in report["survivors"]:
        print(f"SURVIVED {s['module']}:{s['line']} {s['operator']}\n{s['diff']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except inputs.Invalid as e:
        print(e, file=sys.stderr)
        sys.exit(2)
