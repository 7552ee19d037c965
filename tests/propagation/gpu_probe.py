"""Run `ptbr train` on a config in this process (a fresh one, with the GPU visible) and print as JSON what every
Linear layer computed on and in, and whether the process touched CUDA by the end (cuda_context.touched).

    python tests/propagation/gpu_probe.py CONFIG     (used by test_gpu.py; `--self-test WHAT` checks the detector)
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import cuda_context


def train(config_path: str) -> dict:
    import torch

    from ptbr import loader, validation
    from ptbr import train as ptbr_train

    devices: set[str] = set()
    dtypes: set[str] = set()
    real_forward = torch.nn.Linear.forward

    def forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
        out = real_forward(self, x)
        devices.add(out.device.type)
        dtypes.add(str(out.dtype).removeprefix("torch."))
        return out

    torch.nn.Linear.forward = forward
    config = validation.validate(loader.load(Path(config_path)))
    with contextlib.redirect_stdout(io.StringIO()):
        result = ptbr_train.run(config, log=lambda _m: None)
    checkpoints = sorted(p.name for p in result.output_dir.glob("checkpoint-*"))
    return {"devices": sorted(devices), "dtypes": sorted(dtypes), "checkpoints": checkpoints,
            **cuda_context.touched()}


def self_test(what: str) -> dict:
    """The detector's own proof: what creates a context and what does not."""
    import torch

    if what == "tensor":
        torch.zeros(1, device="cuda")
    elif what == "rng-state":  # the path transformers takes at a checkpoint; bypasses torch.cuda._lazy_init's name
        torch.cuda.random.get_rng_state()
    elif what == "is-available":
        torch.cuda.is_available()
    return cuda_context.touched()


if __name__ == "__main__":
    out = self_test(sys.argv[2]) if sys.argv[1] == "--self-test" else train(sys.argv[1])
    print(json.dumps(out))
