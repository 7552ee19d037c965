"""A cell's Docker commands: what a person pastes must be what the harness runs, carry the cell and this machine's
package sources, keep the CA bundle out of the image, and run offline. No engine needed here (the shell and a
stand-in `docker` are the boundary); tests/harness/test_docker_engine.py builds and runs real images."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import definition
from harness.run import docker, results, sources
from harness.run.cell import repro as cell_repro

CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")
FAKE_DOCKER = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_DOCKER_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


@pytest.fixture
def local_wheel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """torch comes from a local wheel directory, as on machines that cannot reach the PyTorch CPU index."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = wheels / "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
    wheel.write_bytes(b"not really a wheel")
    monkeypatch.setattr(sources, "cpu_index_reachable", lambda: False)  # the machines' boundary: no CPU index,
    monkeypatch.setattr(sources, "find_links", lambda: (str(wheels),))   # a wheel directory pip is configured with
    monkeypatch.setenv("PTBR_DOCKER", "docker")  # the one on PATH, whatever this machine has
    docker.client.cache_clear()
    yield wheel
    docker.client.cache_clear()


def _build_args(argv: list[str]) -> dict[str, str]:
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--build-arg")


def test_build_command_carries_the_cell_and_where_torch_comes_from(local_wheel: Path) -> None:
    argv, wheel, source = docker.build_argv(CELL)
    args = _build_args(argv)
    assert argv[argv.index("--tag") + 1] == "ptbr-matrix:torch2.13.0-tf5.0.0-gliner0.2.29", "the tag is the cell id"
    assert {k.lower(): args[k] for k in ("TORCH", "TRANSFORMERS", "GLINER", "PYTHON")} == CELL.requested, \
        "built for the pins on the cell's Python"
    assert args["CELL"] == CELL.id, "the image finds the cell's lock file by its id"
    assert {"TORCH_INDEX", "TORCH_VARIANT"}.isdisjoint(args), \
        "a local CPU wheel is the same build as the CPU index's: the Dockerfile takes it from wheelhouse/"
    assert wheel == local_wheel, "the wheel is put in wheelhouse/ (the build context) before building"
    assert source.startswith("local-wheels:")


@pytest.mark.parametrize(("source", "expected"), [
    ("pytorch-cpu-index", {}),  # the Dockerfile's defaults are the CPU index and the +cpu build
    ("pypi", {"TORCH_INDEX": "", "TORCH_VARIANT": ""}),  # PyPI's default build: no index, no local label
])
def test_torch_index_arguments_follow_the_source(monkeypatch: pytest.MonkeyPatch, source: str,
                                                 expected: dict[str, str]) -> None:
    monkeypatch.setattr(sources, "torch_source", lambda v, _python: sources.TorchSource(source, [], f"torch=={v}"))
    args = _build_args(docker.build_argv(CELL)[0])
    assert {k: args[k] for k in ("TORCH_INDEX", "TORCH_VARIANT") if k in args} == expected


def test_ca_bundle_goes_in_as_a_secret_never_as_a_build_argument(local_wheel: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ca = tmp_path / "proxy-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    argv, _, _ = docker.build_argv(CELL)
    assert argv[argv.index("--secret") + 1] == f"id=ca,src={ca}", "BuildKit mounts it only while installing"
    assert not [v for v in _build_args(argv).values() if str(ca) in v], "build arguments are stored in the image"


def test_offline_build_uses_only_the_wheelhouse_and_no_network(local_wheel: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTBR_OFFLINE_BUILD", "1")
    argv, _, _ = docker.build_argv(CELL)
    assert _build_args(argv)["OFFLINE"] == "1"
    assert argv[argv.index("--network") + 1] == "none", "an air-gapped build must not be able to reach an index"


def _paste(command: str, shell: str, workdir: Path, tmp_path: Path, **env: str) -> list[list[str]]:
    """Paste ``command`` into ``shell`` at ``workdir`` with a stand-in docker first on PATH; its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    log = tmp_path / "docker.log"
    log.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "PTBR_BASE_IMAGE")}
    subprocess.run([shell, "-c", command], cwd=workdir, check=True,
                   env={**base, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_DOCKER_LOG": str(log),
                        **env})
    return [json.loads(line) for line in log.read_text().splitlines()]


LAYER1_ID = ("tests/propagation/test_layer1_ptbr.py::test_value_crosses_into_gliner"
             "[training.weight_decay_other->args.others_weight_decay[values]]")


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_pasted_run_command_is_the_offline_run_of_the_failing_tests(local_wheel: Path, tmp_path: Path,
                                                                    shell: str) -> None:
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    command = docker.repro(CELL, [LAYER1_ID], expect="abc123")["docker_run"]
    got = _paste(command, shell, workdir, tmp_path)
    assert got == [["run", "--rm", "--network", "none", "--user", f"{os.getuid()}:{os.getgid()}",
                    "--volume", f"{workdir}/reports:/app/reports", "--env", "PTBR_EXPECT=abc123",
                    "ptbr-matrix:" + CELL.id, LAYER1_ID]], \
        "pasted in a shell: the image runs offline, as the caller, reports/ mounted; the test id survives quoting"
    assert (workdir / "reports").is_dir(), "it creates reports/ first, so the caller (not the daemon) owns it"
    assert sorted(p.name for p in workdir.iterdir()) == ["reports"], "no stray file from a cut-off test id"


@pytest.mark.parametrize("shell", ["bash", "sh"])
def test_pasted_build_command_names_no_path_of_the_machine_that_made_it(local_wheel: Path, tmp_path: Path,
                                                                        shell: str) -> None:
    ca = tmp_path / "proxy ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    command = docker.repro(CELL, [LAYER1_ID])["docker_build"]
    for machine_path in (str(local_wheel.parent), str(tmp_path), os.environ.get("SSL_CERT_FILE") or "/nonexistent",
                         docker.client() if "/" in docker.client() else "/nonexistent"):
        assert machine_path not in command, machine_path
    plain = _paste(command, shell, tmp_path, tmp_path)[0]
    assert (plain[:3], plain[-1]) == (["build", "--tag", f"ptbr-matrix:{CELL.id}"], ".")
    assert ("--secret" in plain, "BASE_IMAGE=" in " ".join(plain)) == (False, False), "both are optional"
    behind_proxy = _paste(command, shell, tmp_path, tmp_path, SSL_CERT_FILE=str(ca), PTBR_BASE_IMAGE="base")
    assert behind_proxy[0][behind_proxy[0].index("--secret") + 1] == f"id=ca,src={ca}", \
        "a CA bundle named by SSL_CERT_FILE goes in as a secret, even with a space in its path"
    assert f"BASE_IMAGE=base:{CELL.python}" in behind_proxy[0], \
        "the local base image of the cell's Python, in the repository PTBR_BASE_IMAGE names, is used"


def test_nox_repro_survives_pasting(tmp_path: Path) -> None:
    """Layer-1 ids hold `->` and brackets: unquoted, bash cuts the id and creates a file named like it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nox").write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    (bin_dir / "nox").chmod(0o755)
    for cell, command in ((CELL, cell_repro(CELL, [LAYER1_ID])),
                          (definition.Cell("2.13.0", "5.24.0", "0.2.23", override=True),
                           cell_repro(definition.Cell("2.13.0", "5.24.0", "0.2.23", override=True), [LAYER1_ID]))):
        for shell in ("bash", "sh"):
            out = subprocess.run([shell, "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True,
                                 env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
            argv = json.loads(out.stdout)
            assert argv[-1] == LAYER1_ID, f"{shell}: {command}"
            assert "--cell" in argv or f"matrix({cell.id})" in argv
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bin"], "no stray file"


def test_client_is_one_that_can_build_with_buildkit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On these machines the first docker on PATH is a new client without buildx; Debian's older one has BuildKit."""
    for name, version, buildx in (("new", "28.2.2", False), ("debian", "20.10.24+dfsg1", False)):
        d = tmp_path / name
        d.mkdir()
        (d / "docker").write_text(f"#!/bin/sh\n[ \"$1\" = buildx ] && exit {0 if buildx else 1}\n"
                                  f"echo 'Docker version {version}, build x'\n")
        (d / "docker").chmod(0o755)
    monkeypatch.delenv("PTBR_DOCKER", raising=False)
    monkeypatch.setenv("PATH", f"{tmp_path / 'new'}{os.pathsep}{tmp_path / 'debian'}")
    docker.client.cache_clear()
    try:
        assert docker.client() == str(tmp_path / "debian" / "docker")
    finally:
        docker.client.cache_clear()


def test_wheelhouse_holds_everything_an_offline_build_installs() -> None:
    cell = definition.find("torch2.13.0-tf5.16.1-gliner0.2.29")
    torch_args, others = docker.wheelhouse_requirements(cell)
    pinned = [line for line in cell.lock.read_text().splitlines() if "==" in line and not line.startswith("#")]
    assert torch_args[-1].startswith("torch==2.13.0")
    assert set(pinned) - set(others) == {"torch==2.13.0"}, "every pin of the lock file but torch (fetched apart)"
    dockerfile = (definition.ROOT / "Dockerfile").read_text()
    uv = re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile, re.MULTILINE)[1]
    assert f"uv=={uv}" in others, "the uv the image installs with"
    assert any(r.startswith("setuptools") for r in others), "the build backend, to install the project"


def test_dockerfile_defaults_follow_the_matrix_definition() -> None:
    dockerfile = (definition.ROOT / "Dockerfile").read_text()
    assert f"ARG PYTHON={definition.python()}\nARG BASE_IMAGE=python:${{PYTHON}}-slim" in dockerfile, \
        "the default base image is the official slim image of the cell's Python, by default the definition's"
    assert not re.search(r"^#\s*syntax=", dockerfile, re.MULTILINE), \
        "a syntax line makes BuildKit pull a frontend image from a registry"


def test_an_image_computes_the_fingerprint_of_the_host(checkout: Path) -> None:
    """The image holds a copy of the code without .git and computes its own fingerprint (the pasted `docker run`
    compares it with the report's): it must equal the checkout's. What the build context admits (.dockerignore) is
    what gets copied."""
    ignore = (checkout / ".dockerignore").read_text().splitlines()
    admitted = {line[1:] for line in ignore if line.startswith("!")}
    for path in results.CODE + results.DOCKER_CODE:
        assert path.split("/")[0] in admitted, f".dockerignore keeps {path} out of the image"
    for leftover in ("src/ptbr.egg-info/PKG-INFO", "tests/propagation/__pycache__/x.pyc"):  # installing, importing
        (checkout / leftover).parent.mkdir(parents=True, exist_ok=True)
        (checkout / leftover).write_text("x")
    torch = "torch==2.13.0+cpu"
    assert results.fingerprint(CELL, "docker", torch, root=checkout) == results.fingerprint(CELL, "docker", torch)


def test_wheelhouse_of_a_cell_without_lock_file_resolves_what_the_image_installs() -> None:
    cell = definition.Cell.parse("torch2.13.0-tf5.10.0-gliner0.2.29")
    assert not cell.lock.is_file()
    _, others = docker.wheelhouse_requirements(cell)
    assert {"transformers==5.10.0", "gliner[training]==0.2.29"} <= set(others), "the cell's pins"
    assert set(definition.suite_tools()) <= set(others), "the test tools the image's suite runs with"
    assert "pydantic>=2.7" in others, "the project's own dependencies (pyproject.toml)"
    assert "peft>=0.10" in others, "and its extras' (every cell proves the lora: keys)"


def test_a_local_torch_wheel_goes_only_into_a_cell_of_its_python(local_wheel: Path) -> None:
    on_313 = definition.Cell("2.13.0", "5.16.1", "0.2.29", python="3.13")
    source, args, wheel = docker._torch(on_313)
    assert (source, wheel) == ("pypi", None), "the local cp311 wheel cannot install on 3.13: PyPI's build instead"
    assert args == {"TORCH_INDEX": "", "TORCH_VARIANT": ""}
    assert docker._torch(definition.Cell("2.13.0", "5.16.1", "0.2.29"))[2] == local_wheel, "it does on 3.11"
