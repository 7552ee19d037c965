"""gliner's own path: ``model.train_model(..., **kwargs)`` → ``create_training_args`` → the real Trainer.

Run with ``pytest -m gliner_path``. The same values PTBR forwards, given to gliner directly, so the report can tell a
gliner defect from a PTBR one. Today ``create_training_args`` turns an explicit ``others_lr=0.0`` and
``others_weight_decay=0.0`` into ``learning_rate`` / ``weight_decay`` (``x or default``): those rows fail, by design,
until gliner fixes it.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
from layers import Stop, boundary, covers, expect
from support import EXAMPLE

from ptbr import compat

LAYER = "gliner-kwargs"


@pytest.fixture(scope="module")
def gliner_trainer(tiny_backbone):
    """Build a tiny GLiNER and call its train_model(**kwargs); returns the real Trainer gliner built."""
    from gliner import GLiNER

    config = {"model_name": str(tiny_backbone), "hidden_size": 16, "max_width": 3, "max_len": 32}
    model = GLiNER.from_config(compat.model_config_argument(config), backbone_from_pretrained=False)

    def build(tmp_path: Any, **kwargs: Any) -> Any:
        with boundary("trainer") as c, contextlib.suppress(Stop):
            model.train_model([EXAMPLE] * 8, None, output_dir=str(tmp_path), use_cpu=True, **kwargs)
        return c.trainer

    return build


# (config field it corresponds to, gliner kwargs, what to read, expected, rule)
ROWS = [
    ("training.lr_others", {"learning_rate": 1e-5, "others_lr": 0.0}, "others_lr", 0.0,
     "an explicit 0.0 is a value (gliner: `others_lr or learning_rate`)"),
    ("training.weight_decay_other", {"weight_decay": 0.1, "others_weight_decay": 0.0}, "others_weight_decay", 0.0,
     "an explicit 0.0 is a value (gliner: `others_weight_decay or weight_decay`)"),
    ("training.lr_others", {"learning_rate": 1e-5, "others_lr": 7e-4}, "others_lr", 7e-4, "lr for the heads"),
    ("training.label_smoothing", {"label_smoothing": 0.05}, "label_smoothing", 0.05, "passed through **kwargs"),
    ("training.gradient_accumulation_steps", {"gradient_accumulation_steps": 4}, "gradient_accumulation_steps", 4,
     "passed through **kwargs"),
    ("training.scheduler_type", {"lr_scheduler_type": "cosine"}, "lr_scheduler_type", "cosine", "the schedule"),
    ("training.num_steps", {"max_steps": 7}, "max_steps", 7, "max_steps"),
    ("training.loss_alpha", {"focal_loss_alpha": 0.25}, "focal_loss_alpha", 0.25, "focal alpha"),
    ("training.train_batch_size", {"per_device_train_batch_size": 3}, "per_device_train_batch_size", 3, "batch"),
    ("training.report_to", {}, "report_to", [], "gliner defaults report_to to 'none' on every version"),
]


@pytest.mark.gliner_path
@pytest.mark.parametrize(("field", "kwargs", "read", "expected", "rule"),
                         [pytest.param(*r, id=f"{r[2]}={r[3]!r}", marks=covers(LAYER, r[0])) for r in ROWS])
def test_gliner_kwargs_reach_the_trainer(gliner_trainer, tmp_path, field, kwargs, read, expected, rule) -> None:
    trainer = gliner_trainer(tmp_path, **kwargs)
    expect(field, LAYER, compat.read_back(trainer.args, read), expected, rule)


@pytest.mark.gliner_path
@covers(LAYER, "training.warmup_ratio")
def test_gliner_warmup_ratio_gives_the_scheduler_its_warmup(gliner_trainer, tmp_path) -> None:
    trainer = gliner_trainer(tmp_path, max_steps=100, warmup_ratio=0.05, lr_scheduler_type="linear")
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    lrs = []
    for _ in range(10):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    expect("training.warmup_ratio", LAYER, lrs.index(max(lrs)), math.ceil(0.05 * 100),
           "warmup_ratio=0.05 over 100 steps warms up for 5 steps")
