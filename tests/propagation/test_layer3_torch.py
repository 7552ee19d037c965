"""Layer 3, torch: the precision and device the model's forward pass really uses during a training step.

One real step of the tiny model on CPU, observed with forward hooks: the dtype every Linear layer computes in (under
the Trainer's autocast), the device of parameters and batch tensors, and whether anything tried to initialise CUDA.
"""

from __future__ import annotations

from typing import Any

import pytest
from layers import covers, expect

LAYER = "torch"


def _one_step(trainer: Any) -> dict[str, set]:
    """Run one real training step; what the forward pass computed in and on."""
    import torch

    seen: dict[str, set] = {"linear_dtypes": set(), "input_devices": set(), "cuda_inits": set()}
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: seen["linear_dtypes"].add(out.dtype))
        for m in trainer.model.modules() if isinstance(m, torch.nn.Linear)
    ]
    hooks.append(trainer.model.register_forward_pre_hook(
        lambda _m, _a, kw: seen["input_devices"].update(v.device for v in kw.values() if torch.is_tensor(v)),
        with_kwargs=True,
    ))
    real_init = torch.cuda._lazy_init

    def init(*args: Any, **kwargs: Any) -> Any:
        seen["cuda_inits"].add("torch.cuda._lazy_init")
        return real_init(*args, **kwargs)

    try:
        torch.cuda._lazy_init = init
        trainer.train()
    finally:
        torch.cuda._lazy_init = real_init
        for h in hooks:
            h.remove()
    return seen


@pytest.fixture(scope="module")
def one_step(tmp_path_factory, tiny_backbone):
    """One real training step per precision (run once per worker): what the forward pass used, and the trainer."""
    import json

    from layers import run_to
    from support import EXAMPLE, write_config

    done: dict[bool, tuple[dict[str, set], Any]] = {}

    def get(bf16: bool) -> tuple[dict[str, set], Any]:
        if bf16 not in done:
            workdir = tmp_path_factory.mktemp("bf16" if bf16 else "fp32")
            data = workdir / "train.json"
            data.write_text(json.dumps([EXAMPLE] * 8))
            path = write_config(workdir / "c.yaml", tiny_backbone, data, workdir / "out",
                                {"training": {"num_steps": 1, "bf16": bf16, "use_cpu": True, "save_steps": 100}})
            trainer = run_to("trainer", path, workdir).trainer
            done[bf16] = (_one_step(trainer), trainer)
        return done[bf16]

    return get


@covers(LAYER, "training.bf16", "training.use_cpu")
@pytest.mark.parametrize(("bf16", "dtype"), [(True, "bfloat16"), (False, "float32")], ids=["bf16", "fp32"])
def test_forward_pass_computes_in_the_configured_precision(one_step, bf16: bool, dtype: str) -> None:
    import torch  # imported in the test, not at collection: the xdist controller never pays for torch

    dtype = getattr(torch, dtype)
    seen, trainer = one_step(bf16)
    expect("training.bf16", LAYER, seen["linear_dtypes"], {dtype},
           f"with bf16={bf16} every Linear layer of the forward pass computes in {dtype}")
    params = {p.dtype for p in trainer.model.parameters()}
    expect("training.bf16", LAYER, params, {torch.float32}, "mixed precision keeps float32 master weights")


@covers(LAYER, "training.use_cpu")
def test_cpu_training_never_touches_cuda(one_step) -> None:
    import torch

    seen, trainer = one_step(False)
    cpu = torch.device("cpu")
    expect("training.use_cpu", LAYER, seen["input_devices"], {cpu}, "batches are on the CPU")
    expect("training.use_cpu", LAYER, {p.device for p in trainer.model.parameters()}, {cpu}, "parameters on the CPU")
    expect("training.use_cpu", LAYER, seen["cuda_inits"], set(), "nothing initialises CUDA when use_cpu is set")
    expect("training.use_cpu", LAYER, trainer.args.device, cpu, "the Trainer's device is the CPU")
