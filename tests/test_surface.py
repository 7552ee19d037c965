"""The training surface (ptbr.surface): every field of the installed TrainingArguments reachable from `training:`
under its own name, typed from the installed class; PTBR's own names, old names and typos refused with the key to
use; rejected values reported at their line. The generated per-option proof is
tests/propagation/test_layer1_surface.py."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from support import EXAMPLES, library_training_fields

from ptbr import compat, forwarding, loader, reference, schema, surface, validation
from ptbr.errors import ConfigError

GLINER_OPTIONS = ["loss_type", "dice_gamma", "use_span_width_weight", "rel_focal_loss_alpha", "rel_focal_loss_gamma"]


def _problems(make_config, **training) -> list:
    with pytest.raises(ConfigError) as info:
        validation.validate(loader.load(make_config(training=training)))
    return info.value.problems


def _plan(make_config, **training) -> forwarding.Plan:
    return forwarding.plan(validation.validate(loader.load(make_config(training=training))))


@pytest.mark.parametrize("name", GLINER_OPTIONS)
def test_gliner_training_options_are_keys_forwarded_as_written(make_config, name: str) -> None:
    value = {"loss_type": "dice", "use_span_width_weight": True}.get(name, 0.0)
    if name not in library_training_fields():  # an older gliner (a matrix cell): refused, naming the release with it
        (problem,) = _problems(make_config, **{name: value})
        first = surface.RELEASES["gliner"]["fields"][name][0]
        assert problem.hint == f"install gliner {first} or newer, or remove the key"
        return
    option = surface.passthrough()[name]
    assert option.owner == "gliner", f"{name} is a field gliner's TrainingArguments adds"
    assert option.help, f"{name} is documented (from the class, or PTBR's reading of gliner's loss code)"
    assert _plan(make_config, **{name: value}).args_kwargs[name] == value, "forwarded as written (0.0 included)"


def test_an_option_an_older_gliner_lacks_names_the_first_release_that_has_it(monkeypatch) -> None:
    # the boundary: the class compat finds installed, and the version it reads; here gliner 0.2.26's subclass
    import transformers

    older = dataclasses.make_dataclass("TrainingArguments", [("others_lr", float | None, None)],
                                       bases=(transformers.TrainingArguments,))
    monkeypatch.setattr(compat, "training_arguments_class", lambda: older)
    real = compat.versions()
    monkeypatch.setattr(compat, "versions", lambda: {**real, "gliner": "0.2.26"})
    for cached in (surface.installed, surface.passthrough, surface.owners, compat.argument_names):
        cached.cache_clear()
    try:
        why = surface.refusal("loss_type")
    finally:
        for cached in (surface.installed, surface.passthrough, surface.owners, compat.argument_names):
            cached.cache_clear()
    assert why is not None
    assert why.message == "not a training option of gliner 0.2.26: it is one of gliner 0.2.29 and later"
    assert why.hint == "install gliner 0.2.29 or newer, or remove the key"


@pytest.mark.parametrize(("name", "value", "expected"), [
    pytest.param("adam_beta2", True, "input should be a valid number, got True", id="bool-for-float"),
    pytest.param("eval_accumulation_steps", 1.5, "input should be a valid integer, got 1.5", id="float-for-int"),
    pytest.param("torch_compile", "yes", "input should be a valid boolean, got 'yes'", id="string-for-bool"),
    pytest.param("hub_strategy", 3, "expected 'end' | 'every_save'", id="int-for-choice"),
])
def test_a_passthrough_value_is_checked_against_the_installed_type(make_config, name, value, expected) -> None:
    (problem,) = _problems(make_config, **{name: value})
    assert problem.key == f"training.{name}"
    assert expected in problem.message
    assert problem.where.rsplit(":", 2)[1].isdigit(), "at the key's line"


def test_explicit_zero_and_false_survive_as_passthrough_values(make_config) -> None:
    kwargs = _plan(make_config, adam_beta1=0.0, logging_nan_inf_filter=False, eval_delay=0).args_kwargs
    assert (kwargs["adam_beta1"], kwargs["logging_nan_inf_filter"], kwargs["eval_delay"]) == (0.0, False, 0)


@pytest.mark.parametrize("route", [r for r in forwarding.ROUTES if r.kind == "args"], ids=lambda r: r.name)
def test_a_field_ptbr_sets_is_refused_under_its_own_name_pointing_at_ptbrs_key(make_config, route) -> None:
    name = compat.installed_name(route.name, compat.argument_names()) or route.name
    if name in schema.TrainingConfig.model_fields:
        assert route.sources[0] == f"training.{name}", "PTBR's key has the field's name: no second name to refuse"
        return
    (problem,) = _problems(make_config, **{name: 1})
    assert problem.message.startswith(f"TrainingArguments.{name} is set by PTBR ({route.rule})")
    assert problem.hint == (f"use {route.sources[0]}" if route.sources else "remove it: PTBR decides this value")


def test_the_issues_own_names_point_at_ptbrs_keys(make_config) -> None:
    hints = {p.key: p.hint for p in _problems(make_config, learning_rate=1e-4, max_steps=9,
                                              per_device_train_batch_size=2)}
    assert hints == {"training.learning_rate": "use training.lr_encoder",
                     "training.max_steps": "use training.num_steps",
                     "training.per_device_train_batch_size": "use training.train_batch_size"}


@pytest.mark.parametrize("name", sorted(surface.REFUSED))
def test_a_field_that_would_change_nothing_is_refused_with_why(make_config, name: str) -> None:
    (problem,) = _problems(make_config, **{name: 1.0})
    assert problem.message == f"TrainingArguments.{name} is refused: {surface.REFUSED[name][0]}"


def test_an_old_name_says_which_releases_have_it_and_what_replaced_it(make_config) -> None:
    if "evaluation_strategy" in compat.argument_names():
        pytest.skip("this transformers still has evaluation_strategy (it is PTBR's then: the route test)")
    (problem,) = _problems(make_config, evaluation_strategy="steps")
    _first, last = surface.RELEASES["transformers"]["fields"]["evaluation_strategy"]
    assert last == "4.50.3", "the drift scan's last release with the old name"
    assert f"transformers {last} and earlier" in problem.message
    assert "eval_strategy took its place" in problem.message
    assert problem.hint == "use training.eval_strategy", "eval_strategy is PTBR's own key under its current name"


def test_no_cuda_points_at_use_cpu(make_config) -> None:
    (problem,) = _problems(make_config, no_cuda=True)
    assert problem.hint == "use training.use_cpu", "on every release: PTBR's key for the value"


def test_a_field_of_a_newer_transformers_names_its_first_release(make_config) -> None:
    newer = [n for n, (first, _) in surface.RELEASES["transformers"]["fields"].items()
             if n not in compat.argument_names() and n not in compat.SUCCESSORS and n not in surface.owners()]
    newest = max(newer, key=lambda n: surface.RELEASES["transformers"]["fields"][n][0].split("."))
    (problem,) = _problems(make_config, **{newest: True})
    assert problem.message.startswith(f"not a TrainingArguments field of transformers "
                                      f"{compat.versions()['transformers']}: it is one of transformers")


@pytest.mark.parametrize(("typo", "hint"), [
    ("gradient_checkpoint", "did you mean 'gradient_checkpointing'?"),
    ("adam_beta_2", "did you mean 'adam_beta2'?"),
    ("learning_rat", "did you mean 'learning_rate'? (PTBR's key for it is training.lr_encoder)"),
    ("lr_encodr", "did you mean 'lr_encoder'?"),
])
def test_a_typo_is_an_unknown_key_with_the_nearest_name(make_config, typo: str, hint: str) -> None:
    (problem,) = _problems(make_config, **{typo: 1})
    assert problem.message.startswith("unknown key (not a PTBR key, nor a field of TrainingArguments in transformers")
    assert problem.hint == hint


def test_a_scheduler_that_needs_kwargs_gets_them_from_lr_scheduler_kwargs(ptbr, make_config) -> None:
    needs = make_config(training={"scheduler_type": "cosine_with_min_lr"})
    code, _, err = ptbr("validate", needs)
    assert code == 2
    assert "training.scheduler_type: transformers cannot build the 'cosine_with_min_lr' schedule" in err
    assert "training.lr_scheduler_kwargs" in err, "the hint names the key that gives the arguments"
    given = make_config(training={"scheduler_type": "cosine_with_min_lr", "lr_scheduler_kwargs": {"min_lr_rate": 0.1}})
    assert ptbr("validate", given)[0] == 0


def test_every_rejected_value_is_reported_at_its_line_at_once(ptbr, make_config) -> None:
    path = make_config(training={"optim": "bogus", "hub_strategy": "sometimes"})
    code, _, err = ptbr("validate", path)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2
    assert sorted(e.split(": ")[2] for e in errors) == ["training.hub_strategy", "training.optim"]
    assert all(e.split(": ")[1].startswith(f"{path}:") for e in errors), "each at its line in the file"


def test_gradient_checkpointing_is_refused_where_gliners_model_cannot_do_it(ptbr, make_config) -> None:
    code, _, err = ptbr("validate", make_config(training={"gradient_checkpointing": True}))
    can = hasattr(compat.model_class({"model_name": "x"}), "gradient_checkpointing_enable")
    assert (code, "training.gradient_checkpointing: gliner" in err) == ((0, False) if can else (2, True)), \
        "refused before training exactly where the model class lacks gradient_checkpointing_enable"


def test_releases_file_agrees_with_the_installed_classes() -> None:
    """releases.json (the drift scan) and the installed transformers and gliner, read independently."""
    import transformers
    from packaging.version import Version

    installed = {f.name for f in dataclasses.fields(transformers.TrainingArguments) if f.init}
    for package, names in (("transformers", installed),
                           ("gliner", set(vars(compat.training_arguments_class()).get("__annotations__", {})))):
        data, version = surface.RELEASES[package], Version(compat.versions()[package])
        lo, hi = (Version(v) for v in data["scanned"])
        if not lo <= version <= hi:
            continue
        claimed = {n for n, (first, last) in data["fields"].items() if Version(first) <= version <= Version(last)}
        assert claimed == names, f"releases.json for {package} {version}: {sorted(claimed ^ names)} differ"


def test_schema_of_the_installed_versions_documents_every_passthrough_option(ptbr) -> None:
    code, out, _ = ptbr("schema")
    training = json.loads(out)["$defs"]["TrainingConfig"]["properties"]
    assert code == 0
    assert set(surface.passthrough()) <= set(training)
    for name, option in surface.passthrough().items():
        where = "a training option of gliner" if option.owner == "gliner" else f"TrainingArguments.{name} of"
        assert where in training[name]["description"], f"{name}: documented with where it comes from"
    if "loss_type" in training:
        assert "dice" in training["loss_type"]["description"], "gliner's options documented where gliner does not"
    assert "learning_rate" not in training, "PTBR's own fields are not offered under their TrainingArguments name"


def test_committed_schema_allows_the_passthrough_options_of_any_version() -> None:
    committed = reference.json_schema(installed=False)["$defs"]["TrainingConfig"]
    assert committed["additionalProperties"] is True
    assert "loss_type" not in committed["properties"], "the same file for every version"


def test_explain_shows_a_passthrough_value_as_the_trainer_holds_it(ptbr, make_config) -> None:
    code, out, _ = ptbr("explain", make_config(training={"hub_strategy": "end", "adam_beta2": 0.0}), "--json")
    keys = {k["key"]: k["destinations"] for k in json.loads(out)["keys"]}
    assert code == 0
    assert keys["training.hub_strategy"] == [{
        "destination": "TrainingArguments.hub_strategy", "kind": "args", "name": "hub_strategy",
        "rule": "training.hub_strategy, as written (a field of the installed TrainingArguments)",
        "installed_name": "hub_strategy", "value": "end"}], "read back from the real object (an enum's value)"
    assert keys["training.adam_beta2"][0]["value"] == 0.0


@pytest.mark.training
def test_a_real_training_writes_the_passthrough_values_it_used(tmp_path: Path) -> None:
    """The corpus of the issue, in one real `ptbr train`: gliner's loss options, plain fields, a scheduler with
    kwargs, an explicit zero; each read back from the training_args.json the run writes."""
    from ptbr import cli

    given = {"loss_type": "dice", "dice_gamma": 0.0, "rel_focal_loss_alpha": 0.3, "optim": "adafactor",
             "adam_beta1": 0.0, "scheduler_type": "cosine_with_min_lr", "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
             "eval_accumulation_steps": 2, "logging_first_step": True}
    given = {k: v for k, v in given.items() if k == "scheduler_type" or k in library_training_fields()}  # this gliner's
    argv = ["train", str(EXAMPLES / "tiny.yaml"), "--set", f"data.root_dir={tmp_path}", "--set",
            "training.num_steps=2", "--set", f"data.train_data={EXAMPLES / 'train.json'}", "--set",
            f"data.val_data_dir={EXAMPLES / 'val.jsonl'}"]
    for key, value in given.items():
        argv += ["--set", f"training.{key}={json.dumps(value)}"]
    assert cli.main(argv) == 0
    args = json.loads((tmp_path / "training_args.json").read_text())["args"]
    expected = {**given, "lr_scheduler_type": given["scheduler_type"]}
    del expected["scheduler_type"]
    assert {k: args[k] for k in expected} == expected


def test_a_type_the_installed_release_cannot_resolve_takes_any_value_and_the_rest_keep_theirs(monkeypatch) -> None:
    # the boundary: the class compat finds installed, here with a field typed by a name nothing defines
    import transformers

    broken = dataclasses.make_dataclass("TrainingArguments", [("odd_option", "NoSuchType | None", None)],
                                        bases=(transformers.TrainingArguments,))
    monkeypatch.setattr(compat, "training_arguments_class", lambda: broken)
    surface.installed.cache_clear()
    try:
        options = surface.installed()
    finally:
        surface.installed.cache_clear()
    assert options["odd_option"].annotation is Any, "not refused: TrainingArguments itself judges the value"
    assert options["adam_beta2"].annotation is float, "the other fields keep their types"
