"""Real images on a real engine: a failing cell, built and run offline by the harness, is reproduced by pasting the
report's two commands in a clean checkout; the image stays small and shares its torch layer with its siblings.

Needs a Docker engine (BuildKit) and, where no registry is reachable, PTBR_BASE_IMAGE (see .ci/docker-engine)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from harness import definition
from harness.run import cell, configs, docker
from harness.run.options import Options

pytestmark = pytest.mark.docker

SIBLING = definition.find("torch2.13.0-tf5.16.1-gliner0.2.29")
BROKEN = definition.find("torch2.13.0-tf4.51.3-gliner0.2.26")  # gliner 0.2.26 crashes in freeze_components
FAILING = "tests/propagation/test_layer2_transformers.py::test_frozen_component_has_no_trainable_parameters"
MAX_IMAGE_MB = 1500


def _inspect(image: str, template: str) -> Any:
    out = subprocess.run([docker.client(), "image", "inspect", "--format", template, image], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def _layers(image: str) -> list[str]:
    return _inspect(image, "{{json .RootFS.Layers}}")


def test_a_failing_cell_reproduces_from_the_pasted_commands(tmp_path: Path, checkout: Path) -> None:
    why = docker.available()
    if why:
        pytest.skip(f"{why}; start one with `bash .ci/docker-engine` (Docker tests run wherever an engine can)")
    opts = Options(log=lambda _m: None, rerun=True, hooks=docker.HOOKS)
    failed = docker.build(SIBLING, opts, tmp_path / "sibling-build.log")
    assert failed is None, failed

    result = cell.run(BROKEN, docker.Container(BROKEN), dataclasses.replace(opts, pytest_args=[FAILING]),
                      root=tmp_path / "cells")
    assert result["status"] == "broken", result["reason"]
    assert result["runner"] == "docker"
    assert [(b["field"], b["layer"]) for b in result["breaks"]] == [("training.freeze_components", "transformers")], \
        "the container's result names the broken field and layer, as a local run does"
    assert result["image"]["size_mb"] <= MAX_IMAGE_MB, "a CPU-only cell's image stays within 1.5 GB"
    assert not subprocess.run([docker.client(), "ps", "--all", "--quiet", "--filter", f"name=ptbr-{BROKEN.id}"],
                              capture_output=True, text=True, check=True).stdout.strip(), "no container is left"
    config = _inspect(docker.tag(BROKEN), "{{json .Config}}")
    assert config["User"] == "1000", "the image runs as a non-root user"
    assert not [e for e in config["Env"] if "SSL_CERT" in e or "/run/secrets" in e], \
        "the proxy's CA bundle was a build secret: nothing in the image points at it"
    base = len(_layers(docker.base_image(SIBLING) or f"python:{SIBLING.python}-slim"))
    sibling, broken = _layers(docker.tag(SIBLING)), _layers(docker.tag(BROKEN))
    # after the base image's layers: the venv, then torch (a rebuilt torch layer has new file times: a new digest)
    assert broken[:base + 2] == sibling[:base + 2], "cells with the same torch share the torch layer"
    assert broken[base + 2] != sibling[base + 2], "and differ from the next layer on (transformers, gliner)"

    for command in result["repro"].values():
        assert not [p for p in (str(definition.ROOT), "/opt/") if p in command], "no path of this machine"
    wheel = docker._torch(BROKEN)[2]
    if wheel:  # the README's step where the PyTorch CPU index is unreachable: the torch wheel in wheelhouse/
        shutil.copy(wheel, checkout / "wheelhouse")
    # a person's `docker` is one that builds (here: not the first on PATH, which lacks buildx)
    env = {**os.environ, "PATH": f"{Path(docker.client()).parent}{os.pathsep}{os.environ['PATH']}"}
    built = subprocess.run(["bash", "-c", result["repro"]["docker_build"]], cwd=checkout, capture_output=True,
                           text=True, timeout=1800, env=env)
    assert built.returncode == 0, f"the pasted docker build fails in a clean checkout:\n{built.stderr[-3000:]}"
    ran = subprocess.run(["bash", "-c", result["repro"]["docker_run"]], cwd=checkout, capture_output=True, text=True,
                         timeout=1200, env=env)
    assert ran.returncode == 1, f"the pasted docker run must fail as the cell did:\n{ran.stdout[-3000:]}"
    assert "BROKEN training.freeze_components [transformers]" in ran.stdout, "it says which field broke, in which layer"
    pasted = json.loads((checkout / "reports" / "cells" / BROKEN.id / "repro" / "result.json").read_text())
    assert (pasted["status"], pasted["selection"], pasted["runner"]) == ("broken", [FAILING], "docker"), \
        "and writes its result to reports/, as a repro run, saying where it ran"
    assert not (checkout / "reports" / "cells" / BROKEN.id / "result.json").exists(), "never as the full result"

    other = result["repro"]["docker_run"].replace(result["fingerprint"], "0123456789abcdef")
    refused = subprocess.run(["bash", "-c", other], cwd=checkout, capture_output=True, text=True, timeout=300,
                             env=env)
    assert refused.returncode == 2, "an image that holds other code than the report's does not run its tests"
    assert "holds other code" in refused.stderr


def test_a_config_is_proven_in_the_image_and_its_pasted_docker_run_reproduces_it(tmp_path: Path,
                                                                                   checkout: Path) -> None:
    why = docker.available()
    if why:
        pytest.skip(f"{why}; start one with `bash .ci/docker-engine` (Docker tests run wherever an engine can)")
    team = configs.expand(["tests/configs/team/team.yaml"], definition.ROOT)
    opts = Options(log=lambda _m: None, rerun=True, configs=team, configs_only=True, hooks=docker.HOOKS)
    assert cell.run(BROKEN, docker.Container(BROKEN), opts, root=tmp_path / "cells")["status"] == "pass"
    saved = configs.load(BROKEN.id, team[0], tmp_path / "cells")
    assert saved["runner"] == "docker"
    assert saved["fate"]["data"][0]["replaced"] is False, "the data the config names is read through the mount"
    assert "training.freeze_components: fails" in {f["finding"] for f in saved["findings"]}, \
        "gliner 0.2.26 reads config.labels_encoder when freezing: the team config's freeze fails there"
    env = {**os.environ, "PATH": f"{Path(docker.client()).parent}{os.pathsep}{os.environ['PATH']}"}
    ran = subprocess.run(["bash", "-c", saved["repro"]["docker_run"]], cwd=checkout, capture_output=True, text=True,
                         timeout=600, env=env)
    assert ran.returncode == 1, f"the pasted docker run fails as the config did:\n{ran.stdout[-3000:]}"
    assert "training.freeze_components: fails" in ran.stdout, "and says which key"
    pasted = configs.load(BROKEN.id, team[0], checkout / "reports" / "cells")
    assert pasted["findings"] == saved["findings"], "its result, in the checkout's reports/, is the same verdict"


def test_the_readme_set_up_line_works_where_python3_is_debians_own() -> None:
    """Debian's `python3` refuses `pip install` (PEP 668, externally managed); the README's set-up line must get past
    installing nox and uv there as well. Needs the package index and Debian's archive (--network host)."""
    why = docker.available()
    if why:
        pytest.skip(f"{why}; start one with `bash .ci/docker-engine` (Docker tests run wherever an engine can)")
    from test_readme import SETUP

    base = docker.base_image(SIBLING) or "debian:bookworm"  # a Debian whose python3 is its own
    ca = os.environ.get("SSL_CERT_FILE", "")
    mounts = ["-v", f"{ca}:/ca.pem:ro", "-e", "PIP_CERT=/ca.pem"] if ca and Path(ca).is_file() else []
    script = ("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "
              "python3-pip >/dev/null && cd /tmp && "
              "if python3 -m pip install nox 2>/tmp/refused; then echo 'not externally managed'; exit 3; fi && "
              "grep -q externally-managed-environment /tmp/refused && "
              f"{SETUP} && .tools/bin/nox --version && .tools/bin/python -m uv --version")
    run = subprocess.run([docker.client(), "run", "--rm", "--network", "host", *mounts, base, "sh", "-c", script],
                         capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, f"exit {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
    assert "uv " in run.stdout, "nox and uv run from .tools/"


def test_an_image_of_another_python_than_the_cell_asks_for_is_never_built() -> None:
    """The base image decides the interpreter: built on a 3.11 base, a 3.13 cell stops at the first step, saying
    so (the base stage only: seconds)."""
    why = docker.available()
    if why:
        pytest.skip(f"{why}; start one with `bash .ci/docker-engine` (Docker tests run wherever an engine can)")
    base = docker.base_image(SIBLING) or f"python:{SIBLING.python}-slim"
    run = subprocess.run([docker.client(), "build", "--target", "base", "--build-arg", "PYTHON=3.13",
                          "--build-arg", f"BASE_IMAGE={base}", "--network", "none", "--quiet", "."],
                         cwd=definition.ROOT, capture_output=True, text=True, timeout=300, check=False,
                         env={**os.environ, "DOCKER_BUILDKIT": "1"})
    assert run.returncode != 0, "a 3.11 image cannot stand for a 3.13 cell"
    assert f"the base image runs Python {SIBLING.python}." in run.stdout + run.stderr
    assert "the cell asks for 3.13" in run.stdout + run.stderr
