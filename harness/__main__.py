"""Commands the Docker image and the GitHub workflows run (people use nox):

    python -m harness in-image [pytest args]     the image's entry point: run the cell it was built for
    python -m harness github cells               the workflow's cell list (see harness/github.py)
    python -m harness github annotate|gate REPORT
    python -m harness atlas [--verify N]         the compatibility atlas (what `nox -s atlas` runs)

`in-image` runs the cell's lifecycle (harness/cell.py) on the image's own Python, writes its result under reports/
(mounted from the host) and prints what broke. With pytest arguments it is a repro run (reports/cells/<id>/repro/),
which never replaces the cell's full result. PTBR_EXPECT names the fingerprint of the code a report was made from:
an image that holds other code says so and runs nothing (exit 2). Exit 0 when the cell passes, 1 otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness import cell, docker, results
from harness.definition import Cell


def in_image(argv: list[str]) -> int:
    env = os.environ
    this = Cell(env["PTBR_CELL_TORCH"], env["PTBR_CELL_TRANSFORMERS"], env["PTBR_CELL_GLINER"],
                bool(env.get("PTBR_CELL_OVERRIDE")))
    variant = env.get("PTBR_CELL_TORCH_VARIANT", "")
    key = results.fingerprint(this, "docker", f"torch=={this.torch}" + (f"+{variant}" if variant else ""))
    expected = env.get("PTBR_EXPECT")
    if expected and expected != key:
        print(f"{docker.tag(this)} holds other code (fingerprint {key}) than the report was made from ({expected}): "
              "rebuild it with the report's `docker build` command from a checkout of the report's commit",
              file=sys.stderr)
        return 2
    source = Path(sys.prefix, "torch-source")
    runner = cell.Installed("docker", key, source.read_text().strip() if source.is_file() else "image")
    opts = cell.Options(rerun=True, pytest_args=argv, complete=docker.add_repro)
    result = cell.run(this, runner, opts)
    log = results.result_dir(this.id, bool(argv)) / "pytest.log"
    if result["status"] != "pass" and log.is_file():
        print(cell.tail(log.read_text(encoding="utf-8"), 25))
    where = results.result_dir(this.id, bool(argv)).relative_to(results.REPORTS.parent)
    print(f"{this.id}: {result['status']} in {result['duration_s']:.0f} s; result in {where}/")
    return 0 if result["status"] == "pass" else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["in-image"]:
        return in_image(argv[1:])
    if argv[:1] == ["atlas"]:
        from harness import atlas

        return atlas.main(argv[1:])
    if argv[:1] == ["github"]:
        from harness import github

        return github.main(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
