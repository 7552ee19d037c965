"""Layer 3, torch: the precision and device the model's forward pass really uses during a training step.

One real step of the tiny model on CPU, observed with forward hooks: the dtype every Linear layer computes in (under
the Trainer's autocast) and the device of parameters and batch tensors. That a use_cpu run never asks CUDA for
anything is proven here by telling torch a GPU exists, and on a real GPU by test_gpu.py (the suite's GPU mode).
"""

from __future__ import annotations

from typing import Any

import pytest
from layers import covers, expect

LAYER = "torch"


def _one_step(trainer: Any) -> dict[str, set]:
    """Run one real training step; what the forward pass computed in and on."""
    import torch

    seen: dict[str, set] = {"linear_dtypes": set(), "input_devices": set()}
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: seen["linear_dtypes"].add(out.dtype))
        for m in trainer.model.modules() if isinstance(m, torch.nn.Linear)
    ]
    hooks.append(trainer.model.register_forward_pre_hook(
        lambda _m, _a, kw: seen["input_devices"].update(v.device for v in kw.values() if torch.is_tensor(v)),
        with_kwargs=True,
    ))
    try:
        trainer.train()
    finally:
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


@covers(LAYER, "training.bf16")
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
def test_cpu_training_computes_on_the_cpu(one_step) -> None:
    import torch

    seen, trainer = one_step(False)
    cpu = torch.device("cpu")
    expect("training.use_cpu", LAYER, seen["input_devices"], {cpu}, "batches are on the CPU")
    expect("training.use_cpu", LAYER, {p.device for p in trainer.model.parameters()}, {cpu}, "parameters on the CPU")
    expect("training.use_cpu", LAYER, trainer.args.device, cpu, "the Trainer's device is the CPU")


@covers(LAYER, "training.use_cpu")
def test_cpu_run_never_asks_cuda_for_anything_where_a_gpu_is_reported(make_config, tmp_path, monkeypatch) -> None:
    """On a machine with a GPU, transformers saves the CUDA random state at every checkpoint when
    torch.cuda.is_available() says so, which creates a CUDA context. Here torch is told a GPU exists and the CUDA
    random-state functions record their calls (where transformers looks them up): a use_cpu run must make none."""

    import torch

    from ptbr import loader, train, validation

    asked: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for name in ("get_rng_state", "get_rng_state_all", "set_rng_state", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda.random, name, lambda *_a, _name=name, **_k: asked.append(_name))
    path = make_config(training={"num_steps": 2, "save_steps": 1, "use_cpu": True})
    monkeypatch.chdir(tmp_path)
    result = train.run(validation.validate(loader.load(path)), log=lambda _m: None)
    assert (result.output_dir / "checkpoint-1").is_dir(), "a checkpoint was written (where the state is saved)"
    expect("training.use_cpu", LAYER, asked, [], "a use_cpu run never asks CUDA for its random state")
    expect("training.use_cpu", LAYER, torch.cuda.is_available(), True, "torch's own answer is restored after the run")
