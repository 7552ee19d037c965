"""Commands the Docker image and the GitHub workflows run (people use nox):

    python -m harness in-image [pytest args]     the image's entry point: run the cell it was built for
    python -m harness github cells               the workflow's cell list (see harness/github.py)
    python -m harness github annotate|gate REPORT

`in-image` runs the cell with the same runner as a local virtualenv (its pins are already installed), writes its
result under reports/ (mounted from the host) and prints what broke. Exit 0 when the cell passes, 1 otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness import cell, results
from harness.definition import Cell


def in_image(argv: list[str]) -> int:
    env = os.environ
    this = Cell(env["PTBR_CELL_TORCH"], env["PTBR_CELL_TRANSFORMERS"], env["PTBR_CELL_GLINER"],
                bool(env.get("PTBR_CELL_OVERRIDE")))
    opts = cell.Options(rerun=True, pytest_args=argv, installed_from=env.get("PTBR_TORCH_SOURCE", "image"),
                        runner="docker")
    result = cell.run(this, Path(sys.executable), opts)
    for b in result["breaks"] + result["gliner_path"]["breaks"]:
        path = "gliner's own path" if b in result["gliner_path"]["breaks"] else "PTBR's path"
        print(f"BROKEN {b['field']} [{b['layer']}] ({path}): {b['message']}\n  {b['test']}")
    log = results.cell_dir(this.id) / "pytest.log"
    if result["status"] != "pass" and log.is_file():
        print(cell.tail(log.read_text(encoding="utf-8"), 25))
    print(f"{this.id}: {result['status']} in {result['duration_s']:.0f} s; result in reports/cells/{this.id}/")
    return 0 if result["status"] == "pass" else 1


def main(argv: list[str]) -> int:
    if argv[:1] == ["in-image"]:
        return in_image(argv[1:])
    if argv[:1] == ["github"]:
        from harness import github

        return github.main(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
