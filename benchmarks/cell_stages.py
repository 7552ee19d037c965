"""Where the cells' time goes: each stage summed over the cells' results, and the stack imports per cell.

    python benchmarks/cell_stages.py [CELLS_DIR ...]

CELLS_DIR: a directory of cell results (default reports/cells; a copy of it from an earlier run compares the two,
one line each). Only full results count (not repro runs); a result without a stage did not run it. Stages: install
(or build), probe, import, suite, configs (harness/run/results.py ``timings``); imports: how many processes of a cell
imported the stack (``stack_imports``; results made before it was recorded say so).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
STAGES = ("install_s", "build_s", "probe_s", "import_s", "suite_s", "configs_s")


def summary(cells: Path) -> str:
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(cells.glob("*/result.json"))]
    ran = [r for r in found if r.get("timings")]
    sums = {s: sum(r["timings"].get(s, 0.0) for r in ran) for s in STAGES}
    imports = [r["stack_imports"] for r in ran if r.get("stack_imports") is not None]
    counted = (f"stack imports per cell {min(imports)}–{max(imports)} (mean {sum(imports) / len(imports):.1f})"
               if imports else "stack imports not recorded")
    stages = ", ".join(f"{s.removesuffix('_s')} {v:.0f} s" for s, v in sums.items() if v)
    total = sum(r.get("duration_s", 0.0) for r in ran)
    return f"{cells}: {len(ran)} cells; {stages}; the cells' own time {total:.0f} s; {counted}"


def main(argv: list[str]) -> int:
    for given in argv or [str(ROOT / "reports" / "cells")]:
        print(summary(Path(given)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
