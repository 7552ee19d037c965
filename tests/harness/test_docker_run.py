"""A cell run in Docker goes through the same lifecycle as a venv cell (harness/run/cell.py) and ends, like it, in a
result with a status whatever happens: no engine, a failed build, a hang. A stand-in docker client is the boundary; the
harness is real."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import FAKE_DOCKER, junit_xml
from harness import definition
from harness.run import cell, docker, results, runners
from harness.run.options import Options

CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")
FAILING = "tests/propagation/test_layer2_transformers.py::test_frozen_component_has_no_trainable_parameters"


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    client = tmp_path / "bin" / "docker"
    client.parent.mkdir()
    client.write_text(FAKE_DOCKER.format(python=sys.executable))
    client.chmod(0o755)
    monkeypatch.setenv("PTBR_DOCKER", str(client))
    monkeypatch.setattr(docker, "_stage", lambda wheel: None)  # no copying of a 190 MB wheel into the checkout
    docker.client.cache_clear()

    def behave(**behaviour: object) -> None:
        behaviour.setdefault("junit", junit_xml(("test_ok", "ptbr", None)))
        (client.parent / "docker.json").write_text(json.dumps(behaviour))

    behave()
    yield behave
    docker.client.cache_clear()


def _calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "bin" / "docker.calls").read_text().splitlines()]


def _run(tmp_path: Path, **opts: object) -> results.CellResult:
    options = Options(log=lambda _m: None, rerun=True, hooks=docker.HOOKS, **opts)
    return cell.run(CELL, docker.Container(CELL), options, root=tmp_path / "cells")


def test_no_engine_is_an_error_result_that_says_so(fake_docker, tmp_path: Path) -> None:
    fake_docker(engine=False)
    result = _run(tmp_path)
    assert (result["status"], result["runner"], result["conclusive"]) == ("error", "docker", False)
    assert result["reason"].startswith("no Docker engine answers")


def test_a_base_image_that_cannot_be_pulled_leaves_the_cell_not_run_here(fake_docker, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTBR_BASE_IMAGE", raising=False)
    fake_docker(build_exit=1, build_output="#3 [internal] load metadata for docker.io/library/python:3.11-slim\n"
                                          "failed to do request: dial tcp: lookup registry-1.docker.io: no such host")
    result = _run(tmp_path)
    assert (result["status"], result["conclusive"]) == ("unavailable", False), \
        "no base image of the cell's Python here: not a verdict, and tried again next time"
    assert "no such host" in result["reason"], "the build's own last lines"
    assert "PTBR_BASE_IMAGE" in result["reason"], "what to do where no registry can be reached: a local base"
    assert ".ci/docker-engine 3.11" in result["reason"], "of the cell's Python, made by the script"
    assert not [c for c in _calls(tmp_path) if c[0] == "run"], "no container runs without its image"
    assert (tmp_path / "cells" / CELL.id / "build.log").is_file(), "the build's whole output is kept"


def test_failed_build_is_install_failed_with_the_builds_reason(fake_docker, tmp_path: Path) -> None:
    fake_docker(build_exit=1, build_output="#9 [deps 1/1] RUN uv pip install\nerror: No solution found when resolving")
    result = _run(tmp_path)
    assert (result["status"], result["conclusive"]) == ("install-failed", True), "a resolver conflict is a verdict"
    assert "No solution found" in result["reason"], "the build's own last lines"


def test_an_image_of_another_python_is_an_error_never_a_pass(fake_docker, tmp_path: Path) -> None:
    fake_docker(python="3.13.5")
    result = _run(tmp_path)
    assert (result["status"], result["conclusive"]) == ("error", False), "nothing it shows is about 3.11"
    assert "runs Python 3.13.5, the cell asks for 3.11" in result["reason"]
    assert not [c for c in _calls(tmp_path) if c[0] == "run" and "pytest" in c], "the suite does not run"


def test_a_missing_local_base_image_of_the_cells_python_leaves_it_not_run_here(fake_docker, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTBR_BASE_IMAGE", "ptbr-base")
    fake_docker(missing_images=["ptbr-base:3.11"])
    result = _run(tmp_path)
    assert result["status"] == "unavailable", "Debian has some Pythons only: a cell without its base is not run here"
    assert "no base image ptbr-base:3.11" in result["reason"]
    assert "bash .ci/docker-engine 3.11" in result["reason"]
    assert not [c for c in _calls(tmp_path) if c[0] in ("build", "run")], "nothing is built or run"


def test_ptbr_base_image_names_a_repository_not_one_image(fake_docker, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTBR_BASE_IMAGE", "ptbr-base:bookworm")
    result = _run(tmp_path)
    assert result["status"] == "error"
    assert "name a repository whose tags are Python versions" in result["reason"]


def test_hanging_container_times_out_and_is_removed(fake_docker, tmp_path: Path) -> None:
    fake_docker(hang=True)
    result = _run(tmp_path, timeout_s=3)
    assert result["status"] == "timeout"
    runs = [c for c in _calls(tmp_path) if c[0] == "run"]
    names = [r[r.index("--name") + 1] for r in runs]
    assert ["rm", "--force", *names] in _calls(tmp_path), "killing the client does not stop a container: rm it"


def test_every_step_runs_in_the_image_offline_with_the_cells_options(fake_docker, tmp_path: Path) -> None:
    broken = "AssertionError: training.freeze_components [transformers]: expected [], got ['x'] (rule)"
    fake_docker(junit=junit_xml(("test_frozen_component_has_no_trainable_parameters", "transformers", broken)),
                run_exit=1)
    result = _run(tmp_path, workers=3)
    assert (result["status"], [b["field"] for b in result["breaks"]]) == ("broken", ["training.freeze_components"])
    assert result["runner"] == "docker"
    assert result["image"] == {"tag": f"ptbr-matrix:{CELL.id}", "size_mb": 1392.9}
    assert {"build_s", "import_s", "suite_s"} <= set(result["timings"])
    assert result["fingerprint"] == results.fingerprint(CELL, "docker"), "a Docker result's own key"
    runs = [c for c in _calls(tmp_path) if c[0] == "run"]
    assert len(runs) == 3, "the version probe, the cell's one run (import, suite), the probe again (the " \
        "environment still whole before a verdict): each in a container"
    for run in runs:
        assert run[run.index("--network") + 1] == "none", "offline"
        assert f"ptbr-matrix:{CELL.id}" in run
    suite = runs[1]
    assert suite[suite.index("-n") + 1] == "3", "--workers reaches the container"
    assert suite[suite.index("--volume") + 1].endswith(":/out")
    assert "--junitxml=/out/junit.xml" in suite
    assert results.load(CELL.id, tmp_path / "cells") == result, "what is returned is what is saved"
    assert "--env PTBR_EXPECT=" + result["fingerprint"] in result["repro"]["docker_run"]


def test_a_venv_result_is_not_current_for_a_docker_run(fake_docker, fake_env, tmp_path: Path) -> None:
    python, installer, _, _ = fake_env
    venv = cell.run(CELL, runners.Venv(python), Options(installer=installer, log=lambda _m: None),
                    root=tmp_path / "cells")
    assert venv["status"] == "pass"
    again = cell.run(CELL, docker.Container(CELL), Options(log=lambda _m: None), root=tmp_path / "cells")
    assert again["runner"] == "docker", "the Docker run builds and runs the image instead of reusing the venv's"
    assert [c for c in _calls(tmp_path) if c[0] == "build"]
