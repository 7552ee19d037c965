"""A cell in its Docker image: building it, the runner that runs the cell's lifecycle (harness/run/cell.py) with each
Python step in a container (offline, --network none), and the `docker build` / `docker run` commands the report
prints for a person to paste at a checkout's root on any machine.

The image also runs the lifecycle by itself (`python -m harness in-image`, its entry point): that is what a pasted
`docker run` does, writing the result under ./reports like a local run.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from harness.run import process, results, sources
from harness.run.configs import MOUNTED_ROOT
from harness.run.install import settled
from harness.run.junit import failing
from harness.run.options import Hooks, Options, Problem
from harness.run.output import Progress
from harness.run.pins import ROOT, Cell, extra_requirements, pyproject, suite_tools
from harness.run.process import tail
from harness.run.results import CellResult
from harness.run.runners import Runner

REPOSITORY = "ptbr-matrix"
WHEELHOUSE = ROOT / "wheelhouse"
IN_IMAGE = Path("/app")
IN_IMAGE_REPORTS = "/app/reports"
STAGE = "/out"
"""Where a container sees the run's stage directory (its JUnit XML goes there)."""


def uv_version(dockerfile: Path = ROOT / "Dockerfile") -> str:
    """The uv release the image installs with (the Dockerfile's UV_VERSION)."""
    return re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile.read_text(), re.MULTILINE)[1]


def wheelhouse_requirements(cell: Cell) -> tuple[list[str], list[str]]:
    """(torch index options and requirement, every other wheel) an offline build of ``cell`` needs: its lock
    file's pins (or its three pins), the project's build backend and uv."""
    torch = sources.torch_source(cell.torch, cell.python)
    project = pyproject()
    if cell.lock.is_file():
        pins = [line for line in cell.lock.read_text().splitlines()
                if line and not line.startswith(("#", "torch=="))]
    else:  # what the image installs, to be resolved with their dependencies
        pins = [f"transformers=={cell.transformers}", f"gliner[training]=={cell.gliner}",
                *project["project"]["dependencies"], *extra_requirements(), *suite_tools()]
    return [*torch.options, torch.requirement], [*pins, *project["build-system"]["requires"], f"uv=={uv_version()}"]


def tag(cell: Cell) -> str:
    return f"{REPOSITORY}:{cell.id}"


@functools.cache
def client() -> str:
    """The docker client to use: $PTBR_DOCKER, else the first `docker` on PATH that can build with BuildKit (a
    buildx plugin, or a client older than 23 with BuildKit built in)."""
    if os.environ.get("PTBR_DOCKER"):
        return os.environ["PTBR_DOCKER"]
    found = [str(Path(d) / "docker") for d in os.environ.get("PATH", "").split(os.pathsep)
             if (Path(d) / "docker").is_file() and os.access(Path(d) / "docker", os.X_OK)]
    for candidate in dict.fromkeys(found):
        if _ok([candidate, "buildx", "version"]):
            return candidate
        version = subprocess.run([candidate, "--version"], capture_output=True, text=True, check=False).stdout
        major = re.search(r"version (\d+)\.", version)
        if major and int(major[1]) < 23:
            return candidate
    return "docker"


def _ok(argv: Sequence[str]) -> bool:
    try:
        return subprocess.run(list(argv), capture_output=True, check=False, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def available() -> str | None:
    """None when a Docker engine answers, else why not."""
    if not _ok([client(), "info"]):
        return f"no Docker engine answers `{client()} info` (see docs/matrix.md: Docker)"
    return None


@functools.cache
def _bridgeless(docker: str) -> bool:
    """An engine started without its default bridge (as on machines with no private networking): builds then
    need the host's network to reach the package index."""
    return not _ok([docker, "network", "inspect", "bridge"])


def _torch(cell: Cell) -> tuple[str, dict[str, str], Path | None]:
    """(torch source, build arguments, a local wheel to put in wheelhouse/ first). The Dockerfile takes torch from
    wheelhouse/ when the wheel is there, else from the PyTorch CPU index: a local CPU wheel needs no argument."""
    source, _, requirement = sources.torch_source(cell.torch, cell.python)
    if source.startswith("local-wheels:"):
        wheel = sources.local_torch_wheel(cell.torch, cell.python)
        variant = requirement.partition("+")[2]
        return source, ({} if variant == "cpu" else {"TORCH_INDEX": "", "TORCH_VARIANT": variant}), wheel
    if source == "pypi":  # PyPI's build (with CUDA libraries): no index, no local label
        return source, {"TORCH_INDEX": "", "TORCH_VARIANT": ""}, None
    return source, {}, None  # the Dockerfile's defaults: the CPU index


def _build_args(cell: Cell) -> dict[str, str]:
    """The build arguments that say what the image holds (the same on every machine)."""
    args = {"PYTHON": cell.python, "CELL": cell.id, "TORCH": cell.torch, "TRANSFORMERS": cell.transformers,
            "GLINER": cell.gliner, **_torch(cell)[1]}
    if cell.override:
        args["OVERRIDE"] = "1"
    if cell.exclude_newer and not cell.lock.is_file():
        args["EXCLUDE_NEWER"] = cell.exclude_newer
    return args


def build_argv(cell: Cell) -> tuple[list[str], Path | None, str]:
    """(the docker build command as this machine runs it, a wheel to stage in wheelhouse/ first, torch source)."""
    source, _, wheel = _torch(cell)
    args = _build_args(cell)
    if base_image(cell):
        args["BASE_IMAGE"] = base_image(cell)
    if os.environ.get("PTBR_OFFLINE_BUILD"):
        args["OFFLINE"] = "1"
    argv = [client(), "build", "--tag", tag(cell)]
    for name, value in args.items():
        argv += ["--build-arg", f"{name}={value}"]
    cert = os.environ.get("SSL_CERT_FILE")
    if cert and Path(cert).is_file():  # a TLS-intercepting proxy's CA: a BuildKit secret, never in a layer
        argv += ["--secret", f"id=ca,src={cert}"]
    if os.environ.get("PTBR_OFFLINE_BUILD"):
        argv += ["--network", "none"]
    elif _bridgeless(client()):
        argv += ["--network", "host"]
    return [*argv, "."], wheel, source


class BadBaseImage(ValueError):
    """PTBR_BASE_IMAGE names a tag: it names a repository whose tags are Pythons."""


def base_image(cell: Cell) -> str | None:
    """The base image of the cell's build where PTBR_BASE_IMAGE names one (a repository of local images tagged by
    Python, as `.ci/docker-engine` makes them: ``ptbr-base`` → ``ptbr-base:3.13``); None: the Dockerfile's default,
    the official ``python:<version>-slim``."""
    repository = os.environ.get("PTBR_BASE_IMAGE")
    if not repository:
        return None
    if ":" in repository.rsplit("/", 1)[-1] or "@" in repository:
        raise BadBaseImage(f"PTBR_BASE_IMAGE={repository}: name a repository whose tags are Python versions "
                           f"(e.g. ptbr-base, whose ptbr-base:{cell.python} is the base of a Python {cell.python} "
                           "cell), not one image: `bash .ci/docker-engine` makes them and prints the name")
    return f"{repository}:{cell.python}"


def run_argv(cell: Cell, tests: Sequence[str] = (), expect: str | None = None, extra: Sequence[str] = ()
             ) -> list[str]:
    """The docker run of the image's own entry point, as a person pastes it: offline, as the calling user (so the
    result files are theirs), results into reports/ of the current directory; ``expect``: the fingerprint of the
    code the report was made from (the image refuses to run if it holds other code); ``extra``: more options
    (a config's mount)."""
    env = ["--env", f"PTBR_EXPECT={expect}"] if expect else []
    return ["docker", "run", "--rm", "--network", "none", "--user", "$(id -u):$(id -g)", "--volume",
            f"$PWD/reports:{IN_IMAGE_REPORTS}", *extra, *env, tag(cell), *tests]


def shell(argv: Sequence[str]) -> str:
    """Words quoted for any POSIX shell; a word with $ stays expandable (double quotes)."""
    return " ".join(f'"{a}"' if "$" in a else shlex.quote(a) for a in argv)


def repro(cell: Cell, tests: Sequence[str] = (), expect: str | None = None) -> dict[str, str]:
    """The two commands a person pastes at a checkout's root to reproduce the cell (only ``tests`` if given). They
    name no path of the machine that made them: a base image and a proxy's CA bundle are taken from the
    environment when set (PTBR_BASE_IMAGE, SSL_CERT_FILE); torch comes from wheelhouse/ when its wheel is there,
    else from its index."""
    words = ["docker", "build", "--tag", tag(cell)]
    for name, value in _build_args(cell).items():
        words += ["--build-arg", f"{name}={value}"]
    if _bridgeless(client()):  # the engine this report was made with has no bridge: builds use the host network
        words += ["--network", "host"]
    optional = (f'${{PTBR_BASE_IMAGE:+--build-arg BASE_IMAGE="$PTBR_BASE_IMAGE:{cell.python}"}} '
                '${SSL_CERT_FILE:+--secret id=ca,src="$SSL_CERT_FILE"}')
    build = f"DOCKER_BUILDKIT=1 {shell(words)} {optional} ."
    return {"docker_build": build, "docker_run": f"mkdir -p reports && {shell(run_argv(cell, tests, expect))}"}


def add_repro(result: CellResult) -> CellResult:
    """Fill in the Docker repro commands of a result (however it ran): they select the failing tests, and the image
    must hold the code of this run (a virtualenv run: the code of this checkout)."""
    cell = results.cell_of(result)
    expect = result["fingerprint"] if result["runner"] == "docker" else results.fingerprint(cell, "docker")
    result["repro"].update(repro(cell, failing(result), expect=expect))
    return result


def add_config_repro(saved: dict) -> dict:
    """Fill in the Docker commands that prove a config result's config alone again in its cell's image, with the
    checkout mounted read-only where the runner mounted it."""
    cell = Cell.parse(saved["cell"], bool(saved.get("override")))
    expect = saved["cell_fingerprint"] if saved["runner"] == "docker" else results.fingerprint(cell, "docker")
    name = saved["config"]
    mounts = ["--volume", f"$PWD:{MOUNTED_ROOT}:ro"]
    if Path(name).is_absolute():  # outside the checkout: its directory, at the same path
        mounts += ["--volume", f"{Path(name).parent}:{Path(name).parent}:ro"]
    mounted = name if Path(name).is_absolute() else f"{MOUNTED_ROOT}/{name}"
    run = run_argv(cell, ["--configs-only", "--config", mounted], expect, extra=mounts)
    saved["repro"].update(docker_build=repro(cell)["docker_build"], docker_run=f"mkdir -p reports && {shell(run)}")
    return saved


def _stage(wheel: Path) -> None:
    target = WHEELHOUSE / wheel.name
    if target.is_file() and target.stat().st_size == wheel.stat().st_size:
        return
    target.unlink(missing_ok=True)
    try:
        os.link(wheel, target)
    except OSError:
        shutil.copyfile(wheel, target)


def image_size_mb(cell: Cell) -> float | None:
    out = subprocess.run([client(), "image", "inspect", "--format", "{{.Size}}", tag(cell)], capture_output=True,
                         text=True, check=False)
    return round(int(out.stdout.strip()) / 1e6, 1) if out.returncode == 0 and out.stdout.strip() else None


def build(cell: Cell, opts: Options, log: Path) -> Problem | None:
    """Build the cell's image (its build output goes to ``log``); None, or why it failed (``unavailable``: no base
    image of the cell's Python here)."""
    problem = missing_base(cell)
    if problem:
        return problem
    argv, wheel, _ = build_argv(cell)
    if wheel:
        _stage(wheel)
    opts.log(f"{cell.id}: building {tag(cell)}")
    code, output = process.call(argv, opts.install_timeout_s, env={**os.environ, "DOCKER_BUILDKIT": "1"},
                        watch=Progress(cell, opts, "build"))
    log.parent.mkdir(parents=True, exist_ok=True)
    results.write_atomic(log, output)
    if code is None:
        return Problem("timeout", f"docker build did not finish within {opts.install_timeout_s:.0f} s")
    if code != 0:
        if not os.environ.get("PTBR_BASE_IMAGE") and "load metadata for docker.io/library/python:" in output:
            return Problem("unavailable", f"the base image python:{cell.python}-slim cannot be pulled (no "
                                          "registry?): make local base images (`bash .ci/docker-engine "
                                          f"{cell.python}`) and name their repository in PTBR_BASE_IMAGE\n"
                                          f"{tail(output, 4)}")
        return Problem("install-failed", f"docker build exit {code}:\n{tail(output)}",
                       conclusive=settled(output))
    return None


def missing_base(cell: Cell) -> Problem | None:
    """"unavailable" where the named local base image of the cell's Python is not on this machine (Debian ships
    some Pythons only: `.ci/docker-engine` says which)."""
    try:
        base = base_image(cell)
    except BadBaseImage as e:
        return Problem("error", str(e))
    if base is None or _ok([client(), "image", "inspect", base]):
        return None
    return Problem("unavailable", f"no base image {base} on this machine for a Python {cell.python} cell: make it "
                                  f"(`bash .ci/docker-engine {cell.python}`, where Debian has that Python), or run "
                                  f"where python:{cell.python}-slim can be pulled (unset PTBR_BASE_IMAGE)")


class Container(Runner):
    """The cell's image: prepared by building it; each Python step runs in a fresh container, offline, as the
    calling user, with the run's stage directory mounted. Containers are removed in every outcome."""

    name: results.Runner = "docker"
    _names = itertools.count()

    def __init__(self, cell: Cell) -> None:
        self.cell, self.started = cell, []
        self.mounts: dict[Path, str] = {}
        """Directories of this machine a container sees (read-only), at their paths there."""

    def visible(self, path: Path) -> str:
        """The checkout at /in/root (as a pasted `docker run` mounts it); anything else by its directory."""
        path = path.resolve()
        if path.is_relative_to(ROOT):
            self.mounts[ROOT] = str(MOUNTED_ROOT)
            return str(MOUNTED_ROOT / path.relative_to(ROOT))
        directory = path if path.is_dir() else path.parent
        target = self.mounts.setdefault(directory, f"/in/outside{len(self.mounts)}")
        return target if path.is_dir() else f"{target}/{path.name}"

    def prepare(self, cell: Cell, opts: Options, result: CellResult, stage: Path) -> Problem | None:
        result["torch_source"] = f"{_torch(cell)[0]} (image)"
        why = available()
        if why:
            return Problem("error", why)
        step = time.monotonic()
        problem = build(cell, opts, stage / "build.log")
        result["timings"]["build_s"] = round(time.monotonic() - step, 1)
        if not problem:
            result["image"] = {"tag": tag(cell), "size_mb": image_size_mb(cell)}
        return problem

    def argv(self, args: Sequence[str], env: dict[str, str], stage: Path) -> tuple[list[str], dict[str, str] | None]:
        name = f"ptbr-{self.cell.id}-{os.getpid()}-{next(self._names)}"
        self.started.append(name)
        envs = [w for k, v in env.items() for w in ("--env", f"{k}={v}")]
        argv = [client(), "run", "--rm", "--name", name, "--network", "none", "--user",
                f"{os.getuid()}:{os.getgid()}", "--volume", f"{stage}:{STAGE}",
                *[w for host, there in self.mounts.items() for w in ("--volume", f"{host}:{there}:ro")],
                "--workdir", str(IN_IMAGE),
                "--entrypoint", "python", *envs, tag(self.cell), *(a.replace("{stage}", STAGE) for a in args)]
        return argv, None

    def stop(self) -> None:
        """Kill and remove every container this run started (killing the client leaves its container running)."""
        if self.started:
            subprocess.run([client(), "rm", "--force", *self.started], capture_output=True, check=False, timeout=120)
            self.started.clear()


HOOKS = Hooks(complete=add_repro, complete_config=add_config_repro)
"""What a run adds to its results for Docker: the docker build and docker run that reproduce it."""
