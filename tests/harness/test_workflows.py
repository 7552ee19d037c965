"""The GitHub workflows run what a person runs: the matrix workflow's cells are nox's cells (so the definition's),
each cell job is the cell's nox session with --docker, and the report job's gate and annotations read the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness import definition
from harness.verdicts import github

WORKFLOW = definition.ROOT / ".github" / "workflows" / "matrix.yml"
NEW_GROUP = '\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.3.0"]\ntorch = ["2.7.1"]\n'


def _step(job: str, having: str) -> dict:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    return next(s for s in steps if having in s.get("run", ""))


def _run_step(step: dict, cwd: Path, env: dict[str, str], path: str,
              tmp: Path) -> tuple[subprocess.CompletedProcess, str]:
    """Run a step's script as the runner does (bash, the step's env, GITHUB_OUTPUT); (process, what it output)."""
    out = tmp / "github_output"
    out.write_text("")
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": path, "GITHUB_OUTPUT": str(out),
                               **{k: "" for k in step.get("env", {})}, **env})
    return proc, out.read_text()


def test_a_cell_added_to_the_definition_gets_its_job_with_no_edit_to_the_workflow(checkout: Path,
                                                                                  python_with_nox: str) -> None:
    matrix = checkout / "constraints" / "matrix.toml"
    matrix.write_text(matrix.read_text() + NEW_GROUP)
    proc, output = _run_step(_step("cells", "github cells"), checkout, {}, python_with_nox, checkout.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    listed = json.loads(output.removeprefix("cells="))
    assert [c["id"] for c in listed] == [c.id for c in definition.cells(matrix)], \
        "one job per cell of constraints/matrix.toml, in its order"
    assert "torch2.7.1-tf5.3.0-gliner0.2.29" in [c["id"] for c in listed]


def test_tags_select_cells_and_versions_make_an_ad_hoc_cell(python_with_nox: str, tmp_path: Path) -> None:
    step = _step("cells", "github cells")
    _, output = _run_step(step, definition.ROOT, {"TAGS": "gliner0.2.26 tf5.0.0"}, python_with_nox, tmp_path)
    want = [c.id for c in definition.cells() if c.gliner == "0.2.26" or c.transformers == "5.0.0"]
    assert sorted(c["id"] for c in json.loads(output.removeprefix("cells="))) == sorted(want), \
        "space-separated tags select the cells having any of them (nox -t)"
    proc, output = _run_step(step, definition.ROOT, {"TAGS": "gliner9.9"}, python_with_nox, tmp_path)
    assert (proc.returncode, output) == (2, ""), "tags that select nothing stop the run with a message"
    assert "no cell has any of the tags" in proc.stderr
    adhoc = {"TORCH": "2.13.0", "TRANSFORMERS": "5.1.0", "GLINER": "0.2.25", "OVERRIDE": "true"}
    _, output = _run_step(step, definition.ROOT, adhoc, python_with_nox, tmp_path)
    assert json.loads(output.removeprefix("cells=")) == [
        {"id": "torch2.13.0-tf5.1.0-gliner0.2.25", "session": "cell", "override": True, "python": "3.11"}]
    proc, output = _run_step(step, definition.ROOT, {**adhoc, "TORCH": "2.13.0; curl evil"}, python_with_nox,
                             tmp_path)
    assert (proc.returncode, output) == (2, ""), "a version that is not one never reaches a job"
    assert "not a cell id" in proc.stderr


@pytest.mark.parametrize(("entry", "configs", "argv"), [
    ({"id": "torch2.13.0-tf5.0.0-gliner0.2.29", "session": "matrix(torch2.13.0-tf5.0.0-gliner0.2.29)",
      "override": False}, "", ["-s", "matrix(torch2.13.0-tf5.0.0-gliner0.2.29)", "--", "--docker", "--explore"]),
    ({"id": "torch2.13.0-tf5.1.0-gliner0.2.25", "session": "cell", "override": True}, "",
     ["-s", "cell", "--", "--docker", "--explore", "--cell", "torch2.13.0-tf5.1.0-gliner0.2.25", "--override"]),
    ({"id": "torch2.13.0-tf5.0.0-gliner0.2.29", "session": "matrix(torch2.13.0-tf5.0.0-gliner0.2.29)",
      "override": False}, "configs/team.yaml configs/upstream",
     ["-s", "matrix(torch2.13.0-tf5.0.0-gliner0.2.29)", "--", "--docker", "--explore", "--config",
      "configs/team.yaml", "--config", "configs/upstream"]),
])
def test_a_cell_job_runs_the_cells_nox_session_in_docker(tmp_path: Path, entry: dict, configs: str,
                                                          argv: list[str]) -> None:
    step = _step("cell", "--docker")
    fake = tmp_path / "bin" / "nox"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    # the step's env maps names to ${{ matrix.cell.<key> }}; GitHub renders booleans as true/false
    keys = {name: expr.split("matrix.cell.")[1].strip(" }") for name, expr in step["env"].items()
            if "matrix.cell." in expr}
    env = {name: json.dumps(entry[key]) if isinstance(entry[key], bool) else entry[key] for name, key in keys.items()}
    assert step["env"]["CONFIGS"] == "${{ inputs.configs }}", "the workflow input names the configs"
    env["CONFIGS"] = configs
    proc, _ = _run_step(step, tmp_path, env, f"{fake.parent}{os.pathsep}{os.environ['PATH']}", tmp_path)
    assert json.loads(proc.stdout) == argv, "the job runs the nox session a person runs, in the cell's image"


def _report(*cells: dict, common: tuple = ()) -> dict:
    return {"expected": [], "version_independent": {"ptbr_path": list(common), "gliner_path": []}, "cells": list(cells)}


def _cell(cell_id: str, status: str, breaks: tuple = (), reason: str | None = None, causes: tuple = ()) -> dict:
    return {"id": cell_id, "status": status, "version_dependent_breaks": list(breaks), "reason": reason,
            "causes": list(causes),
            "repro": {"nox": "nox -s x", "docker_build": f"docker build -t ptbr-matrix:{cell_id} .",
                      "docker_run": f"docker run ptbr-matrix:{cell_id}"}}


BREAK = {"layer": "transformers", "field": "training.lr_others", "test": "t", "message": "crash\n100%",
         "cause": None}


def test_annotations_are_one_line_workflow_commands_with_both_repro_commands() -> None:
    cause = {"cause": "cannot train: TypeError: x", "label": "cannot train"}
    lines = github.annotations(_report(_cell("a", "pass"), _cell("b", "broken", (BREAK,), causes=(cause,))))
    assert lines == ["::error title=b: broken::cannot train: TypeError: x; training.lr_others [transformers]: "
                     "crash%0A100%25%0Areproduce at a checkout's root:%0Adocker build -t ptbr-matrix:b .%0A"
                     "docker run ptbr-matrix:b"], \
        "the cause once, then the value breaks; newlines and % escaped, as GitHub requires; build and run"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                               "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}).stdout.strip()


def test_a_pull_request_that_changes_nothing_the_matrix_reads_lists_no_cell_and_passes_the_gate(
        checkout: Path, python_with_nox: str) -> None:
    on = yaml.safe_load(WORKFLOW.read_text())[True]  # YAML 1.1 reads the key `on` as True
    assert on["pull_request"] is None, "no paths: filter (a skipped workflow leaves a required check pending)"
    _git(checkout, "init", "-q")
    _git(checkout, "add", "-A")
    _git(checkout, "commit", "-qm", "base")
    base = _git(checkout, "rev-parse", "HEAD")
    (checkout / "README.md").write_text("docs only\n")
    _git(checkout, "commit", "-qam", "docs")
    step = _step("cells", "github cells")
    proc, output = _run_step(step, checkout, {"BASE": base}, python_with_nox, checkout.parent)
    assert (proc.returncode, output.strip()) == (0, "cells=[]"), proc.stderr[-2000:]
    gate = yaml.safe_load(WORKFLOW.read_text())["jobs"]["gate"]["steps"][0]
    skipped = {"CELLS": "success", "LISTED": "[]", "CELL": "skipped", "REPORT": "skipped"}
    assert _run_step(gate, checkout, skipped, os.environ["PATH"], checkout.parent)[0].returncode == 0, \
        "the required check passes when nothing ran"
    failed = {**skipped, "LISTED": '[{"id": "x"}]', "CELL": "success", "REPORT": "failure"}
    assert _run_step(gate, checkout, failed, os.environ["PATH"], checkout.parent)[0].returncode == 1
    (checkout / "src" / "ptbr" / "forwarding.py").write_text("# changed\n")
    _git(checkout, "commit", "-qam", "code")
    _, output = _run_step(step, checkout, {"BASE": base}, python_with_nox, checkout.parent)
    assert len(json.loads(output.removeprefix("cells="))) == len(definition.cells()), "a change to PTBR runs all"


def test_every_upload_can_be_overwritten_by_a_rerun() -> None:
    uploads = [s for job in yaml.safe_load(WORKFLOW.read_text())["jobs"].values() for s in job.get("steps", [])
               if "upload-artifact" in s.get("uses", "")]
    assert len(uploads) == 7, "the cells', the report's, the atlas shards' and the atlas', the mutation runs' (3)"
    assert all(s["with"].get("overwrite") is True for s in uploads), \
        "'Re-run failed jobs' uploads an artifact of the same name again"


def test_the_nightly_mutation_cells_are_the_harness_s() -> None:
    from harness import mutation

    listed = list(mutation.CELLS)
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert jobs["mutation-cell"]["strategy"]["matrix"]["cell"] == listed, \
        "the workflow runs compat.py's mutants in the cells harness/mutation.py CELLS names"
    assert set(listed) <= {c.id for c in definition.cells()}, "each is a cell of the matrix"
    assert "--union" in jobs["mutation-union"]["steps"][-2]["run"]


def test_the_gate_fails_on_a_config_not_as_expected_and_annotations_name_its_keys() -> None:
    config_entry = {"id": "a", "config": "team.yaml", "floating": "", "state": "new break",
                    "new": ["training.warmup_steps: changed → 2"], "fixed": []}
    built = {**_report(_cell("a", "pass")), "expected": [], "configs_expected": [config_entry],
             "configs": [{"config": "team.yaml", "cells": [
                 {"id": "a", "current": True, "findings": [{"finding": "training.warmup_steps: changed → 2"}],
                  "repro": {"nox": "nox -s x -- --configs-only --config team.yaml", "docker_build": None,
                            "docker_run": None}}]}]}
    assert github.gate(built) == ["NEW BREAK a config team.yaml", "  + training.warmup_steps: changed → 2"], \
        "a key whose fate changed fails the gate like a cell's break"
    assert github.annotations(built)[-1] == (
        "::warning title=team.yaml in a::training.warmup_steps: changed → 2%0Aprove it again at a checkout's root:"
        "%0Anox -s x -- --configs-only --config team.yaml"), "each config with findings is annotated, with its repro"


def test_a_change_to_a_config_the_definition_proves_runs_the_matrix() -> None:
    named = definition.configs()
    assert github.relevant([named[1]]), f"{named[1]} is proven in every cell"
    assert not github.relevant(["docs/notes.md"])


def test_each_cell_job_sets_up_its_cells_python(python_with_nox: str, tmp_path: Path) -> None:
    step = _step("cells", "github cells")
    _, output = _run_step(step, definition.ROOT, {"TAGS": "py3.13"}, python_with_nox, tmp_path)
    listed = json.loads(output.removeprefix("cells="))
    assert [(c["id"], c["python"]) for c in listed] == [(c.id, "3.13") for c in definition.cells() if
                                                        c.python == "3.13"], "the py3.13 tag selects the 3.13 cells"
    adhoc = {"TORCH": "2.13.0", "TRANSFORMERS": "5.16.1", "GLINER": "0.2.29", "PYTHON": "3.12"}
    _, output = _run_step(step, definition.ROOT, adhoc, python_with_nox, tmp_path)
    assert json.loads(output.removeprefix("cells=")) == [
        {"id": "torch2.13.0-tf5.16.1-gliner0.2.29-py3.12", "session": "cell", "override": False, "python": "3.12"}]
    proc, output = _run_step(step, definition.ROOT, {**adhoc, "PYTHON": "3.12; curl evil"}, python_with_nox, tmp_path)
    assert (proc.returncode, output) == (2, ""), "a Python that is not one never reaches a job"
    assert "not a Python: '3.12; curl evil'" in proc.stderr
    setup = next(s for s in yaml.safe_load(WORKFLOW.read_text())["jobs"]["cell"]["steps"]
                 if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version"].split() == ["${{", "matrix.cell.python", "}}", definition.python()], \
        "the cell's Python, and the definition's for nox's sessions (the last one is the default `python`)"
