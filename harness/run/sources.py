"""Where packages come from: the PyTorch CPU index when reachable, else a local wheel directory the machine's pip is
configured with, else PyPI; and the installer (uv) told about the same places and CA bundle."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request
from functools import cache
from pathlib import Path
from typing import NamedTuple

TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@cache
def cpu_index_reachable() -> bool:
    try:
        with urllib.request.urlopen(f"{TORCH_CPU_INDEX}/torch/", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@cache
def find_links() -> tuple[str, ...]:
    """Local wheel directories pip is configured with (uv does not read pip's configuration)."""
    dirs = os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             check=False, timeout=30).stdout
        dirs += [d for line in out.splitlines() if "find-links" in line
                 for d in line.split("=", 1)[1].strip("'\" ").split()]
    except (OSError, subprocess.SubprocessError):
        pass
    return tuple(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


class TorchSource(NamedTuple):
    """Where a torch comes from, and how an installer is told."""

    where: str
    """``pytorch-cpu-index``, ``local-wheels:<directory>`` or ``pypi`` (a result's ``torch_source``)."""
    options: list[str]
    """The installer's index options (``--extra-index-url ...``, ``--find-links ...``)."""
    requirement: str
    """``torch==<version>``, with ``+cpu`` for a CPU build."""


def torch_source(version: str, python: str | None = None) -> TorchSource:
    """Where torch ``version`` for CPython ``python`` (major.minor; default this one) comes from. A local wheel counts
    only when it is built for that Python.

    CPU builds carry the local version ``+cpu``: pinning it keeps another index's default (CUDA) build of the same
    version from being picked instead.
    """
    if cpu_index_reachable():
        return TorchSource("pytorch-cpu-index", ["--extra-index-url", TORCH_CPU_INDEX], f"torch=={version}+cpu")
    wheel = local_torch_wheel(version, python)
    if wheel:
        label = "+cpu" if f"-{version}+cpu-" in wheel.name else ""
        return TorchSource(f"local-wheels:{wheel.parent}", ["--find-links", str(wheel.parent)],
                           f"torch=={version}{label}")
    return TorchSource("pypi", [], f"torch=={version}")


def local_torch_wheel(version: str, python: str | None = None) -> Path | None:
    """The wheel of torch ``version`` for CPython ``python`` (default this one) in the local wheel directories."""
    python = python or f"{sys.version_info.major}.{sys.version_info.minor}"
    pattern = re.compile(rf"torch-{re.escape(version)}(\+cpu)?-cp{python.replace('.', '')}-.*\.whl$")
    return next((wheel for directory in find_links() for wheel in sorted(Path(directory).iterdir())
                 if pattern.match(wheel.name)), None)


def uv() -> list[str]:
    """The uv command: on PATH, else the one installed next to this Python."""
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def installer_env(compile_bytecode: bool = True) -> dict[str, str]:
    """Environment for uv. ``compile_bytecode``: byte-compile every file it installs (imports are 2-3x slower without
    .pyc files where PYTHONDONTWRITEBYTECODE is set); a cell's virtualenv does without, and lets Python write the
    .pyc files of what it imports (harness/run/runners.py ``Venv.argv``). uv reads the CA bundle named by
    SSL_CERT_FILE (a TLS-intercepting proxy) from the environment as it is."""
    return {**os.environ, "UV_COMPILE_BYTECODE": "1" if compile_bytecode else "0"}
