"""The matrix harness against the usual way, in one run, on the same cells, without and with the configs.

    .tools/bin/python benchmarks/matrix_vs_pip.py [CELL_ID ...]     (an interpreter with nox: the README's set-up)

The usual way: for each cell in turn, a fresh `python -m venv`, `pip install` of the pins and the package,
`pytest tests/propagation`, then (the second figure) `ptbr prove` of the definition's configs, as a person proves them.
The harness: `nox -s matrix -j 2` on the same cells, first with their virtualenvs removed (wheels cached,
environments cold), then again with everything warm (`--rerun`: environments reused, suites run again), each
without the configs (`--no-configs`) and with the definition's. Prints each wall time and the ratios. Defaults to
the torch 2.13 cells of gliner 0.2.29 (torch from the local wheel or the CPU index, so no CUDA download is part of
the comparison).
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
    """Seconds the command took; it must succeed (with --explore the harness exits 0 whatever the verdicts), else
    a figure would time a failure (the harness run by an interpreter without nox took 0.0 s)."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, check=False, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        said = (done.stdout + done.stderr)[-3000:]
        raise SystemExit(f"{' '.join(argv[:6])} ... exited {done.returncode}:\n{said}")
    return time.perf_counter() - start


def usual_way(cells: list[definition.Cell], configs: list[str]) -> tuple[float, float]:
    """(seconds of the usual way without the configs, seconds of proving them the usual way), in one pass."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    start, proving = time.perf_counter(), 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i, cell in enumerate(cells):
            venv = Path(tmp) / f"venv{i}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            python = str(venv / "bin" / "python")
            subprocess.run([python, "-m", "pip", "install", "-q", f"torch=={cell.torch}",
                            f"transformers=={cell.transformers}", f"gliner[training]=={cell.gliner}",
                            "-e", definition.project(ROOT), "pytest"], check=True, **quiet)
            subprocess.run([python, "-m", "pytest", "tests/propagation", "-q", "-p", "no:randomly", "-p",
                            "no:cacheprovider"], cwd=ROOT, env=env, check=False, **quiet)
            step = time.perf_counter()
            subprocess.run([python, "-m", "ptbr", "prove", "--work", str(Path(tmp) / f"work{i}"), *configs], cwd=ROOT,
                           env=env, check=False, **quiet)
            proving += time.perf_counter() - step
    return time.perf_counter() - start - proving, proving


def main() -> int:
    ids = sys.argv[1:] or DEFAULT
    cells = [definition.find(i) for i in ids]
    configs = definition.configs()
    nox = [sys.executable, "-m", "nox", "-j", "2", "-s", *[f"matrix({i})" for i in ids], "--", "--explore", "--rerun"]
    figures = {}
    for label, extra in (("", ["--no-configs"]), (" + configs", [])):
        for i in ids:
            shutil.rmtree(ROOT / ".nox" / f"matrix-{i.replace('.', '-')}", ignore_errors=True)
        figures[f"cold{label}"] = timed([*nox, *extra])
        figures[f"warm{label}"] = timed([*nox, *extra])
    usual, proving = usual_way(cells, configs)
    print(f"{len(cells)} cells: {', '.join(ids)}; configs: {', '.join(configs)}")
    for label, usual_s in (("", usual), (" + configs", usual + proving)):
        print(f"usual way{label} (pip venv per cell, sequential): {usual_s:7.1f} s")
        for kind in ("cold", "warm"):
            harness_s = figures[f"{kind}{label}"]
            print(f"  harness{label}, {kind:4}: {harness_s:7.1f} s   usual / harness = {usual_s / harness_s:4.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
