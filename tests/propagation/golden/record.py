"""Record the golden loss trace: `python tests/propagation/golden/record.py` (from the repository root).

Run it only on purpose, after reviewing why the trace changed; the file says where and how it was made.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
sys.path.insert(0, str(Path(__file__).parents[1]))

from layers import GOLDEN, GOLDEN_STEPS, loss_trace

from ptbr import compat

with tempfile.TemporaryDirectory() as tmp:
    trace = loss_trace(Path(tmp))
previous = json.loads(GOLDEN.read_text()) if GOLDEN.is_file() else {}  # its reviewed parts stay
record = {
    "what": f"loss at each of {GOLDEN_STEPS} steps of `ptbr train examples/tiny.yaml` on the example data with "
            "explicit labels (seed 7, see layers.loss_trace)",
    "made_with": {**compat.versions(), "python": platform.python_version(), "machine": platform.machine()},
    "made_on": datetime.date.today().isoformat(),
    "made_by": "python tests/propagation/golden/record.py",
    "rtol": 1e-3,
    "rtol_why": previous.get("rtol_why", "not measured yet: compare other versions' traces with this one"),
    "reference": trace,
    "accepted": previous.get("accepted", []),
}
GOLDEN.write_text(json.dumps(record, indent=2) + "\n")
print(f"wrote {GOLDEN}: {trace}")
