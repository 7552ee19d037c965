"""The matrix harness against the usual way, in one run, on the same cells.

    python benchmarks/matrix_vs_pip.py [CELL_ID ...]

The usual way: for each cell in turn, a fresh `python -m venv`, `pip install` of the pins and the package, and
`pytest tests/propagation`. The harness: `nox -s matrix -j 2` on the same cells, first with their virtualenvs
removed (wheels cached, environments cold), then again with everything warm (`--rerun`: environments reused, suites
run again). Prints each wall time and the ratios. Defaults to the torch 2.13 cells of gliner 0.2.29 (torch from the
local wheel or the CPU index, so no CUDA download is part of the comparison).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from harness import definition  # noqa: E402

DEFAULT = ["torch2.13.0-tf4.51.3-gliner0.2.29", "torch2.13.0-tf5.0.0-gliner0.2.29", "torch2.13.0-tf5.16.1-gliner0.2.29"]


def timed(argv: list[str], **kwargs) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - start


def usual_way(cells: list[definition.Cell]) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for i, cell in enumerate(cells):
            venv = Path(tmp) / f"venv{i}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
            subprocess.run([*pip, f"torch=={cell.torch}", f"transformers=={cell.transformers}",
                            f"gliner[training]=={cell.gliner}", "-e", str(ROOT), "pytest"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pytest", "tests/propagation", "-q", "-p",
                            "no:randomly", "-p", "no:cacheprovider"], cwd=ROOT, env=env, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    ids = sys.argv[1:] or DEFAULT
    cells = [definition.find(i) for i in ids]
    # the suite alone, as the usual way runs it (configs are extra work the usual way does not do)
    nox = [sys.executable, "-m", "nox", "-j", "2", "-s", *[f"matrix({i})" for i in ids], "--", "--explore",
           "--no-configs"]
    for i in ids:
        shutil.rmtree(ROOT / ".nox" / f"matrix-{i.replace('.', '-')}", ignore_errors=True)
    cold = timed([*nox, "--rerun"])
    warm = timed([*nox, "--rerun"])
    usual = usual_way(cells)
    print(f"{len(cells)} cells: {', '.join(ids)}")
    print(f"usual way (pip venv per cell, sequential): {usual:7.1f} s")
    print(f"harness, environments cold (wheels cached): {cold:7.1f} s   usual / harness = {usual / cold:4.2f}")
    print(f"harness, warm rerun:                        {warm:7.1f} s   usual / harness = {usual / warm:4.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
