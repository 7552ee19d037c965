"""Forwarding: each config value reaches the real TrainingArguments / GLiNERConfig of the installed versions.

Values are read back from the real objects after they normalise them. Each row uses a value that differs from every
default (PTBR's and the libraries'), so a default can never pass for a forwarded value; falsy values are included.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ptbr import compat, forwarding, schema
from ptbr.errors import ConfigError
from ptbr.schema import Config

BASE = {"model": {"model_name": "m"}, "data": {"root_dir": "out", "train_data": "t.json"},
        "training": {"num_steps": 40}}


def config(**sections: dict[str, Any]) -> Config:
    data = {k: dict(v) for k, v in BASE.items()}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Config.model_validate(data)


def built(cfg: Config) -> Any:
    return forwarding.build_training_arguments(forwarding.plan(cfg))


# (section, key, value) → (canonical TrainingArguments field, value after the installed version normalises it)
ROWS = [
    ("training", "num_steps", 7, "max_steps", 7),
    ("training", "train_batch_size", 3, "per_device_train_batch_size", 3),
    ("training", "eval_batch_size", 5, "per_device_eval_batch_size", 5),
    ("training", "gradient_accumulation_steps", 4, "gradient_accumulation_steps", 4),
    ("training", "lr_encoder", 3e-4, "learning_rate", 3e-4),
    ("training", "lr_others", 0.0, "others_lr", 0.0),
    ("training", "lr_others", 7e-4, "others_lr", 7e-4),
    ("training", "weight_decay_encoder", 0.0, "weight_decay", 0.0),
    ("training", "weight_decay_other", 0.0, "others_weight_decay", 0.0),
    ("training", "weight_decay_other", 0.3, "others_weight_decay", 0.3),
    ("training", "max_grad_norm", 0.0, "max_grad_norm", 0.0),
    ("training", "loss_alpha", 0.25, "focal_loss_alpha", 0.25),
    ("training", "loss_gamma", 2.0, "focal_loss_gamma", 2.0),
    ("training", "loss_prob_margin", 0.1, "focal_loss_prob_margin", 0.1),
    ("training", "label_smoothing", 0.05, "label_smoothing", 0.05),
    ("training", "loss_reduction", "mean", "loss_reduction", "mean"),
    ("training", "negatives", 0.5, "negatives", 0.5),
    ("training", "masking", "none", "masking", "none"),
    ("training", "scheduler_type", "cosine", "lr_scheduler_type", "cosine"),
    ("training", "save_steps", 3, "save_steps", 3),
    ("training", "save_total_limit", 2, "save_total_limit", 2),
    ("training", "eval_every", 6, "eval_steps", 6),
    ("training", "logging_steps", 2, "logging_steps", 2),
    ("training", "seed", 0, "seed", 0),
    ("training", "seed", 1234, "seed", 1234),
    ("training", "use_cpu", True, "use_cpu", True),
    ("training", "dataloader_num_workers", 3, "dataloader_num_workers", 3),
    ("training", "report_to", "tensorboard", "report_to", ["tensorboard"]),
    ("training", "output_dir", "elsewhere", "output_dir", "elsewhere"),
    ("data", "root_dir", "logs", "output_dir", "logs"),
    ("data", "val_data_dir", "val.json", "eval_strategy", "steps"),
    ("run", "name", "", "run_name", ""),
    ("run", "name", "my-run", "run_name", "my-run"),
]


@pytest.mark.parametrize(("section", "key", "value", "field", "expected"), ROWS,
                         ids=[f"{r[0]}.{r[1]}={r[2]!r}" for r in ROWS])
def test_config_value_reaches_training_arguments(section, key, value, field, expected) -> None:
    args = built(config(**{section: {key: value}}))
    got = compat.read_back(args, field)
    message = f"{section}.{key} → {field}: expected {expected!r}, got {got!r}"
    assert got == expected, message
    assert type(got) is type(expected), message


@pytest.mark.parametrize(("section", "key", "value", "field", "expected"), ROWS,
                         ids=[f"{r[0]}.{r[1]}={r[2]!r}" for r in ROWS])
def test_forwarded_value_differs_from_what_the_default_config_gives(section, key, value, field, expected) -> None:
    # No hard-coded values: changing the config changes what the trainer receives.
    default = compat.read_back(built(config()), field)
    assert compat.read_back(built(config(**{section: {key: value}})), field) != default


def test_bf16_reaches_training_arguments() -> None:
    # bf16 on a machine without a bf16 GPU is only accepted together with use_cpu.
    args = built(config(training={"bf16": True, "use_cpu": True}))
    assert (compat.read_back(args, "bf16"), compat.read_back(built(config(training={"use_cpu": True})), "bf16")) == (
        True, False)


def test_bf16_without_support_is_a_config_error_naming_the_stack() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.fail("this test expects a machine without CUDA (tests run on CPU)")
    with pytest.raises(ConfigError, match=r"transformers rejected the training arguments: .*bf16"):
        built(config(training={"bf16": True}))


def test_dataloader_worker_options_reach_training_arguments() -> None:
    args = built(config(training={"dataloader_num_workers": 2, "dataloader_prefetch_factor": 5,
                                  "dataloader_persistent_workers": True, "dataloader_pin_memory": False}))
    got = {f: compat.read_back(args, f) for f in ("dataloader_prefetch_factor", "dataloader_persistent_workers",
                                                  "dataloader_pin_memory")}
    assert got == {"dataloader_prefetch_factor": 5, "dataloader_persistent_workers": True,
                   "dataloader_pin_memory": False}


def test_eval_batch_size_falls_back_to_train_batch_size_only_when_unset() -> None:
    assert compat.read_back(built(config(training={"train_batch_size": 6})), "per_device_eval_batch_size") == 6
    both = built(config(training={"train_batch_size": 6, "eval_batch_size": 2}))
    assert compat.read_back(both, "per_device_eval_batch_size") == 2


def test_others_follow_encoder_only_when_unset() -> None:
    # gliner's create_training_args uses `others_lr or learning_rate`: an explicit 0.0 must survive here.
    args = built(config(training={"lr_encoder": 2e-5, "weight_decay_encoder": 0.2}))
    assert (compat.read_back(args, "others_lr"), compat.read_back(args, "others_weight_decay")) == (2e-5, 0.2)


def test_without_validation_data_evaluation_is_off() -> None:
    assert compat.read_back(built(config()), "eval_strategy") == "no"


def test_report_to_is_explicit_so_it_does_not_change_with_the_version() -> None:
    # transformers < 5 defaulted to "all", 5.x to "none": PTBR always passes it.
    assert compat.read_back(built(config()), "report_to") == []


def test_output_dir_defaults_to_root_dir() -> None:
    assert compat.read_back(built(config()), "output_dir") == "out"


def _scheduler_warmup(cfg: Config) -> int:
    """The warmup the real scheduler uses: the step at which the linear schedule's learning rate peaks."""
    import torch
    from gliner.training import Trainer

    args = built(cfg)
    trainer = Trainer(model=torch.nn.Linear(2, 2), args=args)
    trainer.create_optimizer_and_scheduler(num_training_steps=args.max_steps)
    lrs = []
    for _ in range(args.max_steps):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    return lrs.index(max(lrs))


@pytest.mark.parametrize(
    ("warmup", "steps", "expected"),
    [
        ({"warmup_steps": 0.05}, 100, 5),  # upstream writes a ratio into warmup_steps
        ({"warmup_steps": 0.1}, 25, 3),  # ceil(2.5)
        ({"warmup_steps": 7}, 100, 7),
        ({"warmup_steps": 1}, 100, 1),  # 1 is a step count, not a ratio of 100 %
        ({"warmup_ratio": 0.2}, 30, 6),
        ({"warmup_steps": 0}, 30, 0),
        ({}, 30, 0),
    ],
    ids=["ratio-in-steps", "ratio-rounds-up", "steps", "one-step", "ratio", "zero", "unset"],
)
def test_scheduler_uses_the_warmup_the_config_asks_for(warmup: dict, steps: int, expected: int) -> None:
    cfg = config(training={"num_steps": steps, "scheduler_type": "linear", "use_cpu": True, **warmup})
    assert _scheduler_warmup(cfg) == expected


def test_every_schema_field_is_forwarded_or_listed_with_a_reason() -> None:
    routed = {s for r in forwarding.ROUTES for s in r.sources} | set(forwarding.NOT_FORWARDED)
    assert [f for f in schema.fields() if f not in routed] == []


def test_not_forwarded_fields_are_real_fields() -> None:
    assert set(forwarding.NOT_FORWARDED) <= set(schema.fields())


def test_model_keys_reach_gliner_config() -> None:
    from ptbr.train import model_config

    cfg = config(model={"model_name": "m", "max_width": 3, "fine_tune": False, "post_fusion_schema": "",
                        "dropout": 0.0})
    got = model_config(forwarding.plan(cfg))
    assert (got.max_width, got.fine_tune, got.post_fusion_schema, got.dropout) == (3, False, "", 0.0)


def test_unset_model_keys_are_not_passed() -> None:
    assert forwarding.plan(config()).model_kwargs == {"model_name": "m"}


def test_model_keys_are_not_forwarded_when_starting_from_prev_path() -> None:
    p = forwarding.plan(config(model={"max_width": 3}, training={"prev_path": "some/model"}))
    assert p.model_kwargs == {}
    assert p.values("run")["GLiNER.from_pretrained"] == "some/model"


def test_model_key_unknown_to_installed_gliner_cannot_be_honoured() -> None:
    cfg = Config.model_validate({**BASE, "model": {"model_name": "m", "not_in_any_gliner": 1}})
    with pytest.raises(ConfigError, match=r"model\.not_in_any_gliner: cannot be honoured: gliner .* has no model"):
        forwarding.plan(cfg).check()


@pytest.mark.parametrize(
    ("report_to", "expected"),
    [
        ("wandb", {"WANDB_TAGS": "a,b", "WANDB_NOTES": "why"}),
        ("mlflow", {"MLFLOW_TAGS": '{"a": "true", "b": "true", "mlflow.note.content": "why"}'}),
        ("none", {}),
    ],
)
def test_tags_and_description_reach_the_integration_that_accepts_them(report_to: str, expected: dict) -> None:
    p = forwarding.plan(config(run={"tags": ["a", "b"], "description": "why"}, training={"report_to": report_to}))
    assert p.env == expected


def test_tags_not_forwarded_say_why() -> None:
    p = forwarding.plan(config(run={"tags": ["a"]}))
    reasons = {r.route.name: r.value.reason for r in p.for_field("run.tags")}
    assert reasons["WANDB_TAGS"] == "report_to=['none'] does not include wandb"


# A stand-in shaped like an older transformers, to test the translation without installing one.
@dataclasses.dataclass
class _OldTrainingArguments:
    output_dir: str = ""
    evaluation_strategy: str = "no"
    no_cuda: bool = False


def test_renamed_fields_translate_to_the_installed_names() -> None:
    names = compat.argument_names(_OldTrainingArguments)
    got = compat.to_installed({"eval_strategy": "steps", "use_cpu": True}, names, {})
    assert got == {"evaluation_strategy": "steps", "no_cuda": True}


def test_field_missing_from_installed_version_names_the_config_key() -> None:
    names = compat.argument_names(_OldTrainingArguments)
    expected = r"training\.label_smoothing: TrainingArguments has no field 'label_smoothing'"
    with pytest.raises(ConfigError, match=expected):
        compat.to_installed({"label_smoothing": 0.1}, names, {"label_smoothing": "training.label_smoothing"})


def test_transformers_rejection_is_a_config_error() -> None:
    # save_steps must be a multiple of eval_steps when loading the best model; PTBR does not set that, so provoke a
    # rejection transformers has on every version: an unknown scheduler name.
    with pytest.raises(ConfigError, match="transformers rejected the training arguments"):
        built(config(training={"scheduler_type": "no-such-schedule"}))


def test_tokenizer_keyword_is_a_parameter_of_the_installed_trainer() -> None:
    import inspect

    from transformers import Trainer

    assert compat.trainer_tokenizer_kwarg() in inspect.signature(Trainer.__init__).parameters
