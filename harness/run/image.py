"""The Docker image's entry point (`python -m harness in-image`): run the cell the image was built for, on the
image's own Python, with the lifecycle of harness/run/cell.py; its result goes under reports/ (mounted from the host).
PTBR_EXPECT names the fingerprint of the code a report was made from: an image that holds other code says so and
runs nothing (exit 2)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from harness.run import cell, configs, docker, options, process, results, runners
from harness.run.pins import Cell


def cell_of_image() -> Cell:
    """The cell the image was built for (its build arguments, kept in its environment)."""
    env = os.environ
    return Cell(env["PTBR_CELL_TORCH"], env["PTBR_CELL_TRANSFORMERS"], env["PTBR_CELL_GLINER"],
                bool(env.get("PTBR_CELL_OVERRIDE")), python=env["PTBR_CELL_PYTHON"],
                exclude_newer=env.get("PTBR_CELL_EXCLUDE_NEWER", ""))


def in_image(argv: list[str], matrix: bool = False) -> int:
    """``argv``: pytest arguments, or ``--config PATH`` (repeatable; the checkout mounted at /in/root, as the
    report's `docker run` does) with ``--configs-only``; ``matrix``: the cell is one of the definition's (its repro
    command is its matrix session)."""
    env = os.environ
    parser = argparse.ArgumentParser(prog="docker run ... ptbr-matrix:<id>", add_help=False)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--configs-only", action="store_true")
    asked, argv = parser.parse_known_args(argv)
    try:
        chosen = configs.expand(asked.config)
    except configs.BadConfigPath as e:
        print(f"{e}\n(a config must be under the mounted checkout: --volume \"$PWD:{configs.MOUNTED_ROOT}:ro\")",
              file=sys.stderr)
        return 2
    this = cell_of_image()
    variant = env.get("PTBR_CELL_TORCH_VARIANT", "")
    key = results.fingerprint(this, "docker", f"torch=={this.torch}" + (f"+{variant}" if variant else ""))
    expected = env.get("PTBR_EXPECT")
    if expected and expected != key:
        print(f"{docker.tag(this)} holds other code (fingerprint {key}) than the report was made from ({expected}): "
              "rebuild it with the report's `docker build` command from a checkout of the report's commit",
              file=sys.stderr)
        return 2
    source = Path(sys.prefix, "torch-source")
    runner = runners.Installed("docker", key, source.read_text().strip() if source.is_file() else "image")
    opts = options.Options(rerun=True, pytest_args=argv, hooks=docker.HOOKS, matrix=matrix, configs=chosen,
                           configs_only=asked.configs_only)
    result = cell.run(this, runner, opts)
    if asked.configs_only:
        proven = [configs.load(this.id, c) for c in chosen]
        found = [c.name for c, s in zip(chosen, proven, strict=True) if not s or s["findings"] != []]
        print(f"{this.id}: {len(found)} of {len(chosen)} config(s) with findings" + (f": {', '.join(found)}" if found
                                                                                     else ""))
        return 0 if result["status"] == "pass" and not found else 1
    log = results.result_dir(this.id, bool(argv)) / "pytest.log"
    if result["status"] != "pass" and log.is_file():
        print(process.tail(log.read_text(encoding="utf-8"), 25))
    where = results.result_dir(this.id, bool(argv)).relative_to(results.REPORTS.parent)
    print(f"{this.id}: {result['status']} in {result['duration_s']:.0f} s; result in {where}/")
    return 0 if result["status"] == "pass" else 1
