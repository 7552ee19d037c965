"""Sessions: `tests` (the suite in the default environment), `example` (train the example), `lint`.

torch comes from the PyTorch CPU index when it is reachable, else from a local wheel directory the machine's pip is
configured with (``PIP_FIND_LINKS`` / ``pip config``), else from PyPI (the default build, with CUDA libraries).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request
from functools import cache
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "uv|virtualenv"
# uv does not byte-compile by default: without .pyc files (and with PYTHONDONTWRITEBYTECODE set, as on these
# machines) every `import transformers` compiles it again, 2-3x slower
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).parent
PYTHON = "3.11"
TORCH = "2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TEST_DEPS = ["pytest>=8", "pytest-xdist>=3.5", "pytest-randomly>=3.15"]


@cache
def _cpu_index_reachable() -> bool:
    try:
        with urllib.request.urlopen(f"{TORCH_CPU_INDEX}/torch/", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _find_links() -> list[str]:
    """Local wheel directories pip is configured with on this machine (uv does not read pip's configuration)."""
    dirs = os.environ.get("PIP_FIND_LINKS", "").split()
    try:
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                             check=False).stdout
        dirs += [d for line in out.splitlines() if "find-links" in line
                 for d in line.split("=", 1)[1].strip("'\" ").split()]
    except OSError:
        pass
    return list(dict.fromkeys(d for d in dirs if Path(d).is_dir()))


def torch_source(version: str) -> tuple[str, list[str]]:
    """Where torch ``version`` comes from: (source, installer arguments ending with the requirement).

    The CPU builds carry the local version ``+cpu``: pinning it makes sure no other index's default (CUDA) build of
    the same version is picked instead.
    """
    if _cpu_index_reachable():
        return "pytorch-cpu-index", ["--extra-index-url", TORCH_CPU_INDEX, f"torch=={version}+cpu"]
    pattern = re.compile(rf"torch-{re.escape(version)}(\+cpu)?-.*\.whl$")
    for directory in _find_links():
        for wheel in Path(directory).iterdir():
            match = pattern.match(wheel.name)
            if match:
                return f"local wheels ({directory})", ["--find-links", directory, f"torch=={version}{match[1] or ''}"]
    return "pypi", [f"torch=={version}"]


def install_torch(session: nox.Session, version: str = TORCH) -> str:
    source, args = torch_source(version)
    session.log(f"torch {version} from {source}")
    session.install(*args)
    return source


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite in the default environment (CPU torch, latest gliner), with xdist."""
    install_torch(session)
    session.install("-e", ".", *TEST_DEPS)
    session.run("python", "-c", "import torch, transformers, gliner; print('torch', torch.__version__, "
                "'transformers', transformers.__version__, 'gliner', gliner.__version__)")
    env = {"HF_HUB_OFFLINE": "1", "PYTHONHASHSEED": "0"}
    session.log("gliner's own train_model(**kwargs) path, for information (its failures are gliner's defects):")
    session.run("pytest", "-n", "0", "-q", "--tb=line", "-p", "no:randomly", "-m", "gliner_path", "tests/propagation",
                env=env, success_codes=[0, 1])
    session.log("the suite:")
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


@nox.session(python=PYTHON)
def example(session: nox.Session) -> None:
    """Train the example config offline on CPU (writes out/tiny)."""
    install_torch(session)
    session.install("-e", ".")
    session.run("ptbr", "validate", "examples/tiny.yaml", env={"HF_HUB_OFFLINE": "1"})
    session.run("ptbr", "train", "examples/tiny.yaml", *session.posargs, env={"HF_HUB_OFFLINE": "1"})


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the package, tests and this file."""
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "noxfile.py")


@nox.session(python=PYTHON, default=False)
def reference(session: nox.Session) -> None:
    """Regenerate the README's config reference and ptbr.schema.json from the schema."""
    install_torch(session)
    session.install("-e", ".")
    session.run("python", "-m", "ptbr.reference", "README.md", "ptbr.schema.json")
