"""A cell in its Docker image: the `docker build` and `docker run` commands (the same ones the report prints for a
person to paste), building, running offline (--network none) and collecting the result the container writes.

The image runs the same cell runner as a local virtualenv (`python -m harness in-image`), so its result file has the
same format and the same report covers both.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from harness import results, sources
from harness.cell import Options, call, conclude, current, failing, new_result, tail
from harness.definition import ROOT, Cell, pyproject, suite_tools
from harness.results import CellResult

REPOSITORY = "ptbr-matrix"
WHEELHOUSE = ROOT / "wheelhouse"
IN_IMAGE_REPORTS = "/app/reports"


def uv_version(dockerfile: Path = ROOT / "Dockerfile") -> str:
    """The uv release the image installs with (the Dockerfile's UV_VERSION)."""
    return re.search(r"^ARG UV_VERSION=(\S+)$", dockerfile.read_text(), re.MULTILINE)[1]


def wheelhouse_requirements(cell: Cell) -> tuple[list[str], list[str]]:
    """(torch index options and requirement, every other wheel) an offline build of ``cell`` needs: its lock
    file's pins (or its three pins), the project's build backend and uv."""
    _, torch_args = sources.torch_source(cell.torch)
    project = pyproject()
    if cell.lock.is_file():
        pins = [line for line in cell.lock.read_text().splitlines()
                if line and not line.startswith(("#", "torch=="))]
    else:  # what the image installs, to be resolved with their dependencies
        pins = [f"transformers=={cell.transformers}", f"gliner[training]=={cell.gliner}",
                *project["project"]["dependencies"], *suite_tools()]
    return torch_args, [*pins, *project["build-system"]["requires"], f"uv=={uv_version()}"]


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
        return f"no Docker engine answers `{client()} info` (see README: Docker)"
    return None


@functools.cache
def _bridgeless(docker: str) -> bool:
    """An engine started without its default bridge (as on machines with no private networking): builds then
    need the host's network to reach the package index."""
    return not _ok([docker, "network", "inspect", "bridge"])


def _torch(cell: Cell) -> tuple[str, dict[str, str], Path | None]:
    """(torch source, build arguments, a local wheel to put in wheelhouse/ first)."""
    source, args = sources.torch_source(cell.torch)
    if source == "pytorch-cpu-index":
        return source, {}, None  # the Dockerfile's defaults
    if source.startswith("local-wheels:"):
        directory = Path(source.split(":", 1)[1])
        wheel = next(p for p in sorted(directory.iterdir()) if p.name.startswith(f"torch-{cell.torch}")
                     and p.suffix == ".whl")
        variant = args[-1].partition("+")[2]
        return source, {"TORCH_INDEX": "", "TORCH_VARIANT": variant}, wheel
    return source, {"TORCH_INDEX": "", "TORCH_VARIANT": ""}, None  # PyPI's build (with CUDA libraries)


def build_argv(cell: Cell) -> tuple[list[str], Path | None, str]:
    """(the docker build command, a wheel to stage in wheelhouse/ first, torch source), for this machine."""
    source, torch_args, wheel = _torch(cell)
    args = {"TORCH": cell.torch, "TRANSFORMERS": cell.transformers, "GLINER": cell.gliner, **torch_args,
            "TORCH_SOURCE": source}
    if cell.override:
        args["OVERRIDE"] = "1"
    if os.environ.get("PTBR_BASE_IMAGE"):
        args["BASE_IMAGE"] = os.environ["PTBR_BASE_IMAGE"]
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


def run_argv(cell: Cell, tests: Sequence[str] = (), user: str = '"$(id -u):$(id -g)"',
             volume: str = f'"$PWD/reports":{IN_IMAGE_REPORTS}') -> list[str]:
    """The docker run command: offline, as the calling user (so the result files are theirs), results into
    reports/ of the current directory. The defaults are shell words for a person to paste."""
    return [client(), "run", "--rm", "--network", "none", "--user", user, "--volume", volume, tag(cell), *tests]


def _shell(argv: Sequence[str]) -> str:
    return " ".join(a if a.startswith('"') or "$(" in a else shlex.quote(a) for a in argv)


def repro(cell: Cell, tests: Sequence[str] = ()) -> dict[str, str]:
    """The two commands a person pastes at a checkout's root to reproduce the cell (only ``tests`` if given)."""
    argv, wheel, _ = build_argv(cell)
    run = run_argv(cell, tests)
    if shutil.which("docker") == client():  # the usual client: named as a person types it
        argv[0] = run[0] = "docker"
    build = f"DOCKER_BUILDKIT=1 {_shell(argv)}"
    if wheel:
        build = f"cp {shlex.quote(str(wheel))} wheelhouse/ && {build}"
    return {"docker_build": build, "docker_run": f"mkdir -p reports && {_shell(run)}"}


def add_repro(result: CellResult, root: Path = results.CELLS) -> CellResult:
    """Fill in the Docker repro commands of a saved result (however it ran) and save it again."""
    cell = Cell(**result["requested"], override=bool(result["declared_support"].get("override")))
    result["repro"].update(repro(cell, failing(result)))
    results.save(result, root)
    return result


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


def build(cell: Cell, opts: Options, log: Path) -> str | None:
    """Build the cell's image (its build output goes to ``log``); None, or why it failed."""
    argv, wheel, _ = build_argv(cell)
    if wheel:
        _stage(wheel)
    opts.log(f"{cell.id}: building {tag(cell)}")
    code, output = call(argv, opts.install_timeout_s, env={**os.environ, "DOCKER_BUILDKIT": "1"})
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(output, encoding="utf-8")
    if code != 0:
        hint = ""
        if not os.environ.get("PTBR_BASE_IMAGE") and "load metadata for docker.io/library/python:" in output:
            hint = ("\n(no registry? make a local base image, e.g. `bash .ci/docker-engine`, and name it in "
                    "PTBR_BASE_IMAGE)")
        return f"docker build {'timed out' if code is None else f'exit {code}'}:\n{tail(output)}{hint}"
    return None


def run(cell: Cell, opts: Options, root: Path = results.CELLS) -> CellResult:
    """Build the cell's image and run the suite in it offline; save and return its result."""
    if previous := current(cell, opts, root):
        return previous
    start = time.monotonic()
    opts = dataclasses.replace(opts, runner="docker")
    result = new_result(cell, opts)
    why = available()
    if why:
        return conclude(result, "error", why, start, opts, root)
    out_dir = results.cell_dir(cell.id, root)
    result["torch_source"] = _torch(cell)[0]
    step = time.monotonic()
    why = build(cell, opts, out_dir / "build.log")
    result["timings"]["build_s"] = round(time.monotonic() - step, 1)
    if why:
        return conclude(result, "install-failed", why, start, opts, root)
    result["image"] = {"tag": tag(cell), "size_mb": image_size_mb(cell)}

    (out_dir / "result.json").unlink(missing_ok=True)  # the container writes a new one
    name = f"ptbr-{cell.id}-{os.getpid()}"
    argv = run_argv(cell, opts.pytest_args, user=f"{os.getuid()}:{os.getgid()}",
                    volume=f"{root.resolve()}:{IN_IMAGE_REPORTS}/cells")
    argv[2:2] = ["--name", name]
    opts.log(f"{cell.id}: running the suite in {tag(cell)} (--network none)")
    step = time.monotonic()
    code, output = call(argv, opts.timeout_s)
    if code is None:
        _ok([client(), "rm", "--force", name])
        return conclude(result, "timeout", f"the container did not finish within {opts.timeout_s:.0f} s", start,
                        opts, root)
    written = results.load(cell.id, root)
    if not written:
        return conclude(result, "error", f"the container wrote no result (exit {code}):\n{tail(output)}", start,
                        opts, root)
    timings = {**result["timings"], **written["timings"], "container_s": round(time.monotonic() - step, 1)}
    written.update(image=result["image"], torch_source=f"{result['torch_source']} (image)",
                   timings=timings, duration_s=round(time.monotonic() - start, 1))
    add_repro(written, root)
    opts.log(f"{cell.id}: {written['status']} in {tag(cell)}")
    return written
