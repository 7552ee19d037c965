"""The forwarding table and the compatibility module as units: plans, skips and their reasons, name translation.

Whether each value really reaches the trainer is the propagation suite's job (tests/propagation).
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


def test_every_schema_field_is_forwarded_or_listed_with_a_reason() -> None:
    routed = {s for r in forwarding.ROUTES for s in r.sources} | set(forwarding.NOT_FORWARDED)
    assert [f for f in schema.fields() if f not in routed] == []


def test_not_forwarded_fields_are_real_fields() -> None:
    assert set(forwarding.NOT_FORWARDED) <= set(schema.fields())


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


# A stand-in shaped like transformers 4.40 (the real one runs in the matrix's override cell gliner 0.2.23 × 4.40.2).
@dataclasses.dataclass
class _OldTrainingArguments:
    output_dir: str = ""
    evaluation_strategy: str = "no"
    no_cuda: bool = False


def test_renamed_fields_translate_to_the_installed_names() -> None:
    names = compat.argument_names(_OldTrainingArguments)
    got = compat.to_installed({"eval_strategy": "steps"}, names, {})
    assert got == {"evaluation_strategy": "steps"}


def test_use_cpu_is_not_translated_to_no_cuda_which_no_installable_pair_reaches() -> None:
    """Every transformers with only no_cuda (before 4.34) also lacks fields PTBR always passes: refused, saying so."""
    names = compat.argument_names(_OldTrainingArguments)
    with pytest.raises(ConfigError, match=r"training\.use_cpu: TrainingArguments has no field 'use_cpu'"):
        compat.to_installed({"use_cpu": True}, names, {"use_cpu": "training.use_cpu"})


def test_field_missing_from_installed_version_names_the_config_key() -> None:
    names = compat.argument_names(_OldTrainingArguments)
    expected = r"training\.label_smoothing: TrainingArguments has no field 'label_smoothing'"
    with pytest.raises(ConfigError, match=expected):
        compat.to_installed({"label_smoothing": 0.1}, names, {"label_smoothing": "training.label_smoothing"})


def test_transformers_rejection_is_a_config_error() -> None:
    # validate() checks scheduler names first; built directly, an unknown one is a rejection every version has
    with pytest.raises(ConfigError, match="transformers rejected the training arguments"):
        built(config(training={"scheduler_type": "no-such-schedule"}))


def test_tokenizer_keyword_is_a_parameter_of_the_installed_trainer() -> None:
    import inspect

    from transformers import Trainer

    assert compat.trainer_tokenizer_kwarg() in inspect.signature(Trainer.__init__).parameters
