"""The forwarding table and the compatibility module as units: plans, skips and their reasons, name translation.

Whether each value really reaches the trainer is the propagation suite's job (tests/propagation).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from support import gliner_reads

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


def _route(kind: str, name: str) -> forwarding.Route:
    return next(r for r in forwarding.ROUTES if (r.kind, r.name) == (kind, name))


def test_a_fallback_route_names_the_key_whose_value_it_uses() -> None:
    eval_batch = _route("args", "per_device_eval_batch_size")
    assert eval_batch.rule == "training.eval_batch_size, else training.train_batch_size", \
        "explain and the reference say: the first key set wins, in this order"
    assert eval_batch.effective_source(config()) == "training.train_batch_size", "unset: the fallback is used"
    assert eval_batch.effective_source(config(training={"eval_batch_size": 3})) == "training.eval_batch_size"
    steps = _route("args", "gradient_accumulation_steps")
    assert (steps.rule, steps.effective_source(config())) == ("training.gradient_accumulation_steps", None), \
        "a single-source route is no fallback"
    strategy = _route("args", "eval_strategy")
    assert strategy.effective_source(config(data={"val_data_dir": "v.json"})) is None, \
        "a route with its own value function is no fallback, whatever its sources"


def test_an_argument_error_names_the_most_specific_config_key() -> None:
    sources = forwarding.plan(config()).arg_sources()
    assert (sources["per_device_eval_batch_size"], sources["max_steps"]) == ("training.eval_batch_size",
                                                                            "training.num_steps"), \
        "a rejected value is reported at the key it comes from (the first of a fallback's sources)"


def test_routes_that_describe_what_the_run_does_say_it() -> None:
    run = {r.route.name: r.value for r in forwarding.plan(config(model={"trust_remote_code": True})).resolved}
    assert run[forwarding.CUSTOM_CODE] == "allowed"
    assert {r.route.name: r.value for r in forwarding.plan(config()).resolved}[forwarding.CUSTOM_CODE] == "refused"
    evaluation = {r.route.name: r.value for r in forwarding.plan(config(data={"val_data_dir": "v.json"})).resolved}
    assert evaluation["evaluation examples"] == "v.json", "explain shows the validation file"
    unset = {r.route.name: r.value for r in forwarding.plan(config()).resolved}["evaluation examples"]
    assert isinstance(unset, forwarding.Skip), "no validation file: nothing to evaluate on"
    assert unset.reason == "no validation set"


def test_a_model_key_gliner_does_not_have_is_refused_whatever_its_name() -> None:
    # "aaa" sorts before "model_type": a check that compared names by order would let it through
    for name in ("aaa_setting", "zzz_setting"):
        with pytest.raises(ConfigError, match=f"model.{name}: cannot be honoured: gliner .* has no model setting"):
            forwarding.plan(config(model={name: 1})).check()


def test_a_prev_path_run_says_which_model_keys_it_applies_and_which_it_ignores() -> None:
    assert forwarding.plan(config(model={"max_width": 3})).warnings() == [], "no prev_path: all apply"
    applied = compat.pretrained_keywords()  # model: key → from_pretrained keyword, read from the installed gliner
    ignored = next(k for k in ("hidden_size", "dropout", "max_types") if k not in applied)
    values = {k: v for k, v in {"max_len": 100, "max_width": 5, "post_fusion_schema": "l2l-l2t"}.items()
              if k in applied}  # model: keys the installed gliner applies to a saved model, with valid values
    p = forwarding.plan(config(model={ignored: 7, **values}, training={"prev_path": "m/x"}))
    assert sorted(w.key for w in p.warnings()) == sorted([f"model.{ignored}", "model.model_name"]), \
        "the keys the saved model does not take (model_name included: its backbone is the saved one)"
    reasons = {r.route.sources[0]: r.value.reason for r in p.resolved if r.route.kind == "model"
               and isinstance(r.value, forwarding.Skip) and r.route.sources[0] in (f"model.{ignored}",
                                                                                    *(f"model.{k}" for k in values))}
    names = ", ".join(sorted(applied)) or "none"
    assert reasons[f"model.{ignored}"] == (f"training.prev_path is set: the saved model's config is used (gliner "
                                           f"{compat.versions()['gliner']} applies only {names} to a saved model)")
    assert values, "the installed gliner applies some model: keys to a saved model (else nothing is shown)"
    assert all(reasons[f"model.{k}"] == "training.prev_path is set: applied to the saved model by "
               "GLiNER.from_pretrained" for k in values), "an applied key says where it goes instead"


def test_fine_tune_is_refused_where_gliner_reads_it_nowhere_pointing_to_freeze_components() -> None:
    from gliner.config import GLiNERConfig

    default = GLiNERConfig().fine_tune
    plan = forwarding.plan(config(model={"fine_tune": not default}))
    if gliner_reads("fine_tune"):  # a release that reads it: forwarded like any model key
        plan.check()
        return
    with pytest.raises(ConfigError, match=r"to keep the backbone frozen, use training\.freeze_components"):
        plan.check()
