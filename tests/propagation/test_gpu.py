"""Layer 3 on a GPU (the suite's GPU mode): with a CUDA device visible, `use_cpu: true` trains on the CPU and never
touches CUDA, checkpoints included; `use_cpu: false` trains on the GPU, in the precision asked for.

Each run is `ptbr train` in a fresh process (gpu_probe.py), asked afterwards whether torch initialised CUDA and
whether the CUDA driver holds a context for it: a process that already touched CUDA could not tell. Runs only with
PTBR_TEST_GPU=1 on a machine with a CUDA GPU (tests/conftest.py then leaves the GPU visible); skipped, saying so,
everywhere else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from layers import covers, expect

LAYER = "torch"
PROBE = Path(__file__).parent / "gpu_probe.py"

pytestmark = pytest.mark.gpu


def _probe(*args: str, cwd: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    env["PYTHONPATH"] = os.pathsep.join([str(PROBE.parent), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, str(PROBE), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"the probe failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("what", "initialized", "context"), [
    ("tensor", True, True),
    ("rng-state", True, None),  # what transformers does at a checkpoint: torch initialises CUDA (a context is lazy)
    ("is-available", False, False),
])
def test_the_detector_sees_every_way_into_cuda(what: str, initialized: bool, context: bool | None) -> None:
    seen = _probe("--self-test", what)
    assert seen["initialized"] is initialized, f"{what}: torch's CUDA initialisation is seen, by any path"
    if context is not None:
        assert seen["context"] is context, f"{what}: the driver must {'' if context else 'not '}report a context"


CASES = [
    pytest.param({"use_cpu": True}, "cpu", "float32", False, id="use_cpu"),
    pytest.param({"use_cpu": True, "bf16": True}, "cpu", "bfloat16", False, id="use_cpu-bf16"),
    pytest.param({"use_cpu": False}, "cuda", "float32", True, id="gpu"),
    pytest.param({"use_cpu": False, "bf16": True}, "cuda", "bfloat16", True, id="gpu-bf16"),
    pytest.param({"use_cpu": False, "fp16": True}, "cuda", "float16", True, id="gpu-fp16"),
]


@covers(LAYER, "training.use_cpu", "training.bf16", "training.fp16")
@pytest.mark.parametrize(("training", "device", "dtype", "context"), CASES)
def test_precision_and_device_on_a_machine_with_a_gpu(make_config, tmp_path: Path, training: dict, device: str,
                                                      dtype: str, context: bool) -> None:
    path = make_config(training={"num_steps": 2, "save_steps": 1, **training})
    seen = _probe(str(path), cwd=tmp_path)
    assert seen["checkpoints"] == ["checkpoint-1", "checkpoint-2"], "checkpoints (where transformers saves CUDA state)"
    expect("training.use_cpu", LAYER, seen["devices"], [device], f"{training}: every Linear computes on {device}")
    field = "training.fp16" if training.get("fp16") else "training.bf16"
    expect(field, LAYER, seen["dtypes"], [dtype], f"{training}: every Linear computes in {dtype}")
    rule = "use_cpu: true never touches CUDA" if not context else "a GPU run does (the contrast)"
    expect("training.use_cpu", LAYER, seen["initialized"], context, f"{rule}: torch's CUDA initialisation")
    expect("training.use_cpu", LAYER, seen["context"], context, f"{rule}: a CUDA context, asked of the driver")
