"""How long the propagation suite takes, as a ratio of the bare stack import, measured in one run.

    python benchmarks/suite_ratio.py [--repeat N]

Target (issue 3): suite wall time ≤ 2.5 × `python -c "import torch, transformers, gliner"`. Prints each median and
the ratios with and without pytest-xdist, and for a cell's one run as the matrix makes it under `nox -j 2` on 2 cores
(the import as its first step, no xdist, one torch thread: harness/run/cell_plugin.py). Run it in the environment
under test (e.g. the nox `tests` venv).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
TARGET = 2.5


def wall(argv: list[str], repeat: int, env: dict[str, str] | None = None) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is kept")
    repeat = parser.parse_args().repeat
    pytest = [sys.executable, "-m", "pytest", "tests/propagation", "-q", "-p", "no:cacheprovider"]
    imports = wall([sys.executable, "-c", "import torch, transformers, gliner"], repeat)
    xdist = wall([*pytest, "-n", "auto"], repeat)
    by_file = wall([*pytest, "-n", "auto", "--dist", "loadfile"], repeat)
    serial = wall([*pytest, "-n", "0"], repeat)
    with tempfile.TemporaryDirectory() as stage:
        one_run = wall([*pytest, "-p", "harness.run.cell_plugin", "--cell-record", stage], repeat,
                       {"OMP_NUM_THREADS": "1"})
    print(f"bare import of torch, transformers, gliner: {imports:6.2f} s (median of {repeat})")
    for name, seconds in (("suite with xdist (-n auto)", xdist), ("suite with xdist, --dist loadfile", by_file),
                          ("suite without xdist", serial), ("a cell's one run (import first, 1 thread)", one_run)):
        ratio = seconds / imports
        print(f"{name:<44}{seconds:6.2f} s  ratio {ratio:4.2f}  ({'within' if ratio <= TARGET else 'OVER'} "
              f"the {TARGET}x target)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
