"""The reusable workflow (.github/workflows/prove.yml) proves another repository's configs: its steps, run here as
the runner runs them, against a second checkout that holds only configs and data, the way a caller's repository
looks. The cell job runs the nox session a person runs (with --config-root); the harness names the configs from the
caller's root and reads their data there; the report job's report and gate judge them by the caller's own rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from harness import definition
from harness.run import cell, configs, results
from harness.run.options import Options
from harness.run.runners import Venv

WORKFLOW = definition.ROOT / ".github" / "workflows" / "prove.yml"
CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")  # the versions the fake interpreter reports


def _step(job: str, having: str) -> dict:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"][job]["steps"]
    return next(s for s in steps if having in s.get("run", ""))


def _run(step: dict, cwd: Path, env: dict[str, str], path: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": path or os.environ["PATH"], "GITHUB_STEP_SUMMARY": os.devnull,
                               **{k: "" for k in step.get("env", {})}, **env})


def caller(root: Path) -> Path:
    """A team's repository: a config in its own layout, its data beside it, nothing of PTBR."""
    (root / "configs").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "train.json").write_text((definition.ROOT / "examples" / "train.json").read_text())
    text = (definition.ROOT / "examples" / "tiny.yaml").read_text().replace("examples/train.json", "data/train.json")
    (root / "configs" / "team.yaml").write_text(text)
    return root


def test_the_cell_job_proves_the_callers_configs_in_the_cells_image(tmp_path: Path) -> None:
    step = _step("cell", "--config-root caller")
    fake = tmp_path / "bin" / "nox"
    fake.parent.mkdir()
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    env = {"SESSION": f"matrix({CELL.id})", "CELL": CELL.id, "OVERRIDE": "false", "CONFIGS": "configs/ more.yaml"}
    proc = _run(step, tmp_path, env, f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    assert json.loads(proc.stdout) == ["-s", f"matrix({CELL.id})", "--", "--docker", "--explore", "--configs-only",
                                       "--config-root", "caller", "--config", "configs/", "--config", "more.yaml"], \
        "the session a person runs, on the caller's configs only, named from the caller's root"


def test_the_harness_names_a_callers_configs_from_its_root_and_reads_their_data_there(fake_env, tmp_path) -> None:
    team = caller(tmp_path / "caller")
    python, installer, behave, _ = fake_env
    behave(fate={"data": {"team.yaml": [{"key": "data.train_data", "path": "data/train.json", "replaced": False}]}})
    chosen = configs.expand(["configs/"], team)
    opts = Options(installer=installer, log=lambda _m: None, configs=chosen, configs_only=True, config_root=team)
    done = cell.run(CELL, Venv(python), opts, root=tmp_path / "cells")
    assert done["status"] == "pass", done["reason"]
    saved = configs.load(CELL.id, chosen[0], tmp_path / "cells")
    assert (saved["config"], saved["root"]) == ("configs/team.yaml", str(team)), "named as the team names it"
    key = saved["cell_fingerprint"]
    assert configs.is_current(saved, key), "current: the config and its data are found under the caller's root"
    (team / "data" / "train.json").write_text("[]")
    assert not configs.is_current(saved, key), "the caller's data changed: the result is stale"
    assert "--config-root" in saved["repro"]["nox"], "the repro proves it again from the same root"


def _saved(checkout: Path, team: Path, findings: list[str]) -> None:
    """What a cell job's artifact holds for the caller's config: its result, made in this checkout's code."""
    key = results.fingerprint(CELL, "docker", root=checkout)
    config = configs.UserConfig(team / "configs" / "team.yaml", "configs/team.yaml")
    proof = {"data": [], "keys": [], "smoke": {"status": "trained"},
             "findings": [{"finding": f, "why": "w"} for f in findings]}
    saved = configs.result(CELL, "docker", key, config, proof, "nox -s x", team)
    saved["findings"] = proof["findings"]
    configs.save(saved, checkout / "reports" / "cells")


def test_the_report_job_judges_the_callers_configs_by_its_own_rules(checkout: Path, python_with_nox: str) -> None:
    team = caller(checkout / "caller")
    _saved(checkout, team, ["training.warmup_steps: changed → 2"])
    report, gate = _step("report", "nox -s report"), _step("report", "github gate")
    rules = team / "ptbr-expected.toml"
    rules.write_text('[[finding]]\nconfig = "configs/team.yaml"\nfinding = "run.tags: ignored"\nwhy = "w"\n')
    proc = _run(report, checkout, {"EXPECTED": "ptbr-expected.toml"}, python_with_nox)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _run(gate, checkout, {}, python_with_nox).returncode == 1, \
        "a finding the caller's rules do not predict fails the gate (and the one they predict but did not happen)"
    rules.write_text('[[finding]]\nconfig = "configs/team.yaml"\nfinding = "training.warmup_steps: changed → 2"\n'
                     'why = "whole steps from a ratio"\n')
    assert _run(report, checkout, {"EXPECTED": "ptbr-expected.toml"}, python_with_nox).returncode == 0
    proc = _run(gate, checkout, {}, python_with_nox)
    assert proc.returncode == 0, f"as the caller's rules predict: the gate passes\n{proc.stdout}{proc.stderr}"
    written = json.loads((checkout / "reports" / "matrix.json").read_text())
    (mine,) = [e for e in written["configs_expected"] if e["config"] == "configs/team.yaml" and e["id"] == CELL.id]
    assert mine["state"] == "as expected"


def test_without_the_callers_rules_there_is_a_report_and_no_gate() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    gate = next(s for s in jobs["report"]["steps"] if "github gate" in s.get("run", ""))
    assert gate["if"] == "inputs.expected != ''"
    assert yaml.safe_load(WORKFLOW.read_text())[True]["workflow_call"]["inputs"]["configs"]["required"] is True
