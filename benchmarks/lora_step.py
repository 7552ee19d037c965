"""What LoRA trains, and what a LoRA step costs against a full one, measured in one run.

    python benchmarks/lora_step.py [--steps N] [--repeat N]

For the tiny test backbone and for a real-size one (DeBERTa-v2 with deberta-v3-small's shape: hidden 768, 6 layers,
a 128,100-token vocabulary; random weights, built locally), prints the parameters that train with and without LoRA
(r 8 on query_proj/value_proj, or query/value) and the median wall time of N optimizer steps of each, as a ratio.
Runs on CPU in the environment under test (e.g. the nox `tests` venv), with peft installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SIZES = {"tiny (BERT, hidden 32, 2 layers)": ("bert", (32, 2, 0), ["query", "value"], 32),
         "real-size (DeBERTa-v2, hidden 768, 6 layers)": ("deberta-v2", (768, 6, 128100), ["query_proj", "value_proj"],
                                                         512)}


def measure(workdir: Path, architecture: str, size: tuple, targets: list[str], hidden: int, lora: bool,
            steps: int) -> tuple[int, int, float]:
    """(parameters, trainable parameters, seconds for ``steps`` optimizer steps after one warm-up step)."""
    from support import EXAMPLE, write_config

    from ptbr import backbone, forwarding, layouts, train, validation
    from ptbr import lora as adapters

    model_dir = backbone.write(workdir / architecture, EXAMPLE["tokenized_text"], architecture, size)
    data = workdir / "train.json"
    data.write_text(json.dumps([EXAMPLE] * 64))
    sections = {"model": {"hidden_size": hidden}, "training": {"num_steps": steps + 1, "save_steps": 10_000}}
    if lora:
        sections["lora"] = {"enabled": True, "r": 8, "target_modules": targets}
    path = write_config(workdir / "c.yaml", model_dir, data, workdir / "out", sections)
    config = validation.validate(layouts.load(path))
    plan = forwarding.plan(config)
    model = train.build_model(plan)
    if lora:
        adapters.apply(model, plan.lora, str(model_dir))
    total, trainable = adapters.count(model)
    from transformers import TrainerCallback

    marks: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_args, **_kwargs):
            marks.append(time.perf_counter())

    from gliner.training import Trainer

    args = forwarding.build_training_arguments(plan)
    trainer = Trainer(model=model, args=args, train_dataset=train.load_data(config)[0],
                      data_collator=model._create_data_collator(), callbacks=[Clock()])
    with train._quiet():
        trainer.train()
    return total, trainable, marks[-1] - marks[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed optimizer steps (after one warm-up step)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is kept")
    args = parser.parse_args()
    for label, (architecture, size, targets, hidden) in SIZES.items():
        results = {}
        for lora in (False, True):
            runs = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    runs.append(measure(Path(tmp), architecture, size, targets, hidden, lora, args.steps))
            total, trainable = runs[0][:2]
            results[lora] = (total, trainable, statistics.median(r[2] for r in runs) / args.steps)
        (total, full, full_s), (_, lora_trainable, lora_s) = results[False], results[True]
        print(f"{label}: {total:,} parameters; trainable {full:,} in full, {lora_trainable:,} with LoRA r=8 on "
              f"{', '.join(targets)} ({100 * lora_trainable / results[True][0]:.1f} %); step {full_s * 1000:.0f} ms "
              f"in full, {lora_s * 1000:.0f} ms with LoRA: {lora_s / full_s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
