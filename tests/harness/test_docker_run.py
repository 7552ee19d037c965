"""A cell run in Docker ends, like a venv cell, in a result with a status whatever happens: no engine, a failed build,
a container that writes nothing or hangs. A stand-in docker client is the boundary; the harness is real."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fakes import FAKE_DOCKER
from harness import cell, definition, docker, results

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
        (client.parent / "docker.json").write_text(json.dumps(behaviour))

    behave()
    yield behave
    docker.client.cache_clear()


def _calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "bin" / "docker.calls").read_text().splitlines()]


def _run(tmp_path: Path, **opts: object) -> results.CellResult:
    options = cell.Options(log=lambda _m: None, rerun=True, **opts)
    return docker.run(CELL, options, root=tmp_path / "cells")


def _in_image_result(status: str, breaks: list[dict]) -> dict:
    """The result the runner in the image writes (its own fingerprint: the code it holds)."""
    result = cell.new_result(CELL, cell.Options(runner="docker", pytest_args=[FAILING]))
    result.update(status=status, breaks=breaks, timings={"import_s": 3.5, "suite_s": 8.5},
                  torch_source="local-wheels:/opt/wheels", finished_at="2026-11-26T00:00:00+00:00")
    return result


def test_no_engine_is_an_error_result_that_says_so(fake_docker, tmp_path: Path) -> None:
    fake_docker(engine=False)
    result = _run(tmp_path)
    assert (result["status"], result["runner"]) == ("error", "docker")
    assert result["reason"].startswith("no Docker engine answers")


def test_failed_build_is_install_failed_with_the_builds_reason(fake_docker, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PTBR_BASE_IMAGE", raising=False)
    fake_docker(build_exit=1, build_output="#3 [internal] load metadata for docker.io/library/python:3.11-slim\n"
                                          "failed to do request: dial tcp: lookup registry-1.docker.io: no such host")
    result = _run(tmp_path)
    assert result["status"] == "install-failed"
    assert "no such host" in result["reason"], "the build's own last lines"
    assert "PTBR_BASE_IMAGE" in result["reason"], "and what to do where no registry can be reached"
    assert not [c for c in _calls(tmp_path) if c[0] == "run"], "no container runs without its image"
    assert (tmp_path / "cells" / CELL.id / "build.log").is_file(), "the build's whole output is kept"


def test_container_that_writes_no_result_is_an_error(fake_docker, tmp_path: Path) -> None:
    fake_docker(run_exit=125)
    result = _run(tmp_path)
    assert result["status"] == "error"
    assert result["reason"].startswith("the container wrote no result (exit 125)")


def test_hanging_container_times_out_and_is_removed(fake_docker, tmp_path: Path) -> None:
    fake_docker(hang=True)
    result = _run(tmp_path, timeout_s=2)
    assert result["status"] == "timeout"
    run = next(c for c in _calls(tmp_path) if c[0] == "run")
    name = run[run.index("--name") + 1]
    assert ["rm", "--force", name] in _calls(tmp_path), "killing the client does not stop the container: rm it"


def test_the_containers_result_is_kept_and_completed_on_the_host(fake_docker, tmp_path: Path) -> None:
    broken = {"layer": "transformers", "field": "training.freeze_components", "test": FAILING, "message": "crash"}
    fake_docker(result=_in_image_result("broken", [broken]), run_exit=1)
    result = _run(tmp_path, pytest_args=[FAILING])
    assert (result["status"], result["breaks"]) == ("broken", [broken]), "the verdict is the container's"
    assert result["runner"] == "docker"
    assert result["image"] == {"tag": f"ptbr-matrix:{CELL.id}", "size_mb": 1392.9}
    assert {"build_s", "import_s", "suite_s", "container_s"} <= set(result["timings"])
    assert result["repro"]["docker_run"].endswith(f"ptbr-matrix:{CELL.id} {FAILING}"), \
        "the repro runs the image on the failing test only"
    run = next(c for c in _calls(tmp_path) if c[0] == "run")
    assert run[run.index("--network") + 1] == "none", "the suite runs offline"
    assert run[run.index("--volume") + 1] == f"{(tmp_path / 'cells').resolve()}:/app/reports/cells"
    assert results.load(CELL.id, tmp_path / "cells") == result, "what is returned is what is saved"
