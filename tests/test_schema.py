"""Schema validation: unknown keys, types, ranges and contradictions are errors naming file:line, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import UPSTREAM

from ptbr import loader, schema, validation
from ptbr.errors import ConfigError

VALID = {"data": {"root_dir": "out", "train_data": "t.json"}, "training": {"num_steps": 10},
         "model": {"model_name": "m"}}


def _validate(tmp_path: Path, config: dict | str):
    path = tmp_path / "c.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config), encoding="utf-8")
    return validation.validate(loader.load(path))


def _errors(tmp_path: Path, config: dict | str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _validate(tmp_path, config)
    return [str(p) for p in info.value.problems]


def _with(section: str, **values: object) -> dict:
    config = {k: dict(v) for k, v in VALID.items()}
    config.setdefault(section, {}).update(values)
    return config


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    text = "model: {model_name: m}\ndata: {root_dir: o, train_data: t}\ntraining:\n  num_steps: 1\n  lr_encodr: 1\n"
    (error,) = _errors(tmp_path, text)
    assert error.startswith(f"{tmp_path / 'c.yaml'}:5:3: training.lr_encodr: unknown key")
    assert "did you mean 'lr_encoder'?" in error


def test_key_in_the_wrong_section_names_its_section(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, _with("model", num_steps=3))
    assert "model.num_steps: unknown key" in error
    assert "'num_steps' belongs under training:" in error


def test_old_flat_layout_points_to_the_sections(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {**VALID, "lr_encoder": 1e-5})
    assert any("'lr_encoder' belongs under training:" in e for e in errors)


def test_unknown_section_suggests_nearest(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {**VALID, "trainng": {}})
    assert any("trainng: unknown key" in e and "did you mean 'training'?" in e for e in errors)


def test_unknown_model_key_is_checked_against_installed_gliner(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, _with("model", hiden_size=3))
    assert "model.hiden_size: unknown key (not a setting of gliner" in error
    assert "'hidden_size'" in error


def test_model_key_declared_by_installed_gliner_is_accepted(tmp_path: Path) -> None:
    # GLiNERConfig declares vocab_size; PTBR's schema does not type it, so it passes through as written.
    config = _validate(tmp_path, _with("model", vocab_size=77))
    assert config.model.model_extra == {"vocab_size": 77}


def test_missing_required_keys_are_all_reported(tmp_path: Path) -> None:
    errors = _errors(tmp_path, {"model": {"model_name": "m"}, "data": {}})
    assert any("data.train_data: required key is missing" in e for e in errors)
    assert any("training: required key is missing" in e for e in errors)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("training", "num_steps", "10", "valid integer"),
        ("training", "lr_encoder", "fast", "valid number"),
        ("training", "bf16", "yes", "valid boolean"),
        ("training", "num_steps", 0, "greater than or equal to 1"),
        ("training", "lr_encoder", -1.0, "greater than or equal to 0"),
        ("training", "warmup_ratio", 1.5, "less than or equal to 1"),
        ("model", "dropout", 1.0, "less than 1"),
        ("training", "loss_reduction", "avg", "expected 'sum', 'mean' or 'none'"),
        ("training", "freeze_components", ["encoder"], "expected 'text_encoder'"),
        ("run", "tags", "one", "valid list"),
    ],
    ids=["int-as-string", "float-word", "bool-word", "zero-steps", "negative-lr", "ratio-above-1", "dropout-1",
         "bad-literal", "bad-component", "tags-not-list"],
)
def test_wrong_type_or_range_names_key_expected_and_given(tmp_path, section, key, value, expected) -> None:
    (error,) = _errors(tmp_path, _with(section, **{key: value}))
    given = value[0] if isinstance(value, list) else value  # a bad list item is reported as itself
    assert f"{section}.{key}" in error
    assert expected in error
    assert f"got {given!r}" in error


def test_quoted_number_hints_to_drop_the_quotes(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, _with("training", train_batch_size="8"))
    assert "hint: write the value without quotes" in error


@pytest.mark.parametrize(
    ("values", "key", "message"),
    [
        ({"bf16": True, "fp16": True}, "training.fp16", "bf16 and fp16 are both true"),
        ({"fp16": True, "use_cpu": True}, "training.fp16", "fp16 mixed precision needs a GPU"),
        ({"warmup_steps": 10, "warmup_ratio": 0.1}, "training.warmup_ratio", "both set"),
        ({"warmup_steps": 2.5}, "training.warmup_steps", "must be whole"),
        ({"dataloader_prefetch_factor": 2}, "training.dataloader_prefetch_factor", "needs dataloader_num_workers"),
        ({"dataloader_persistent_workers": True}, "training.dataloader_persistent_workers", "needs dataloader_num"),
        ({"freeze_components": ["decoder"]}, "training.freeze_components", "model.labels_decoder is not set"),
        ({"report_to": ["none", "wandb"]}, "training.report_to", "cannot be combined"),
    ],
    ids=["bf16+fp16", "fp16+cpu", "two-warmups", "fractional-steps", "prefetch-no-workers",
         "persistent-no-workers", "freeze-missing-decoder", "none+wandb"],
)
def test_contradictory_options_are_rejected(tmp_path: Path, values: dict, key: str, message: str) -> None:
    (error,) = _errors(tmp_path, _with("training", **values))
    assert f"{key}: " in error
    assert message in error


def test_no_output_directory_is_an_error(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, {**VALID, "data": {"train_data": "t.json"}})
    assert "data.root_dir: no output directory" in error


def test_no_backbone_and_no_prev_path_is_an_error(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, {**VALID, "model": {}})
    assert "model.model_name: required key is missing (or set training.prev_path)" in error


@pytest.mark.parametrize("text", ["none", "None"])
def test_upstream_none_string_means_not_set(tmp_path: Path, text: str) -> None:
    config = _validate(tmp_path, _with("data", val_data_dir=text) | {"training": {"num_steps": 1, "prev_path": text}})
    assert config.data.val_data_dir is None
    assert config.training.prev_path is None


@pytest.mark.parametrize(
    ("key", "value"),
    [("lr_others", 0.0), ("weight_decay_other", 0.0), ("seed", 0), ("bf16", False), ("loss_gamma", 0.0)],
)
def test_falsy_values_are_kept_not_defaulted(tmp_path: Path, key: str, value: object) -> None:
    config = _validate(tmp_path, _with("training", **{key: value}))
    assert getattr(config.training, key) == value
    assert type(getattr(config.training, key)) is type(value)


def test_empty_string_is_kept(tmp_path: Path) -> None:
    assert _validate(tmp_path, _with("model", post_fusion_schema="")).model.post_fusion_schema == ""


def test_every_field_has_a_docstring() -> None:
    undocumented = [f"{s}.{n}" for s, cls in schema.SECTIONS.items()
                    for n, f in cls.model_fields.items() if not (f.description or "").strip()]
    assert undocumented == []


@pytest.mark.parametrize("path", UPSTREAM, ids=[p.stem for p in UPSTREAM])
def test_upstream_layout_is_accepted_unchanged(path: Path) -> None:
    config = validation.validate(loader.load(path))
    assert config.training.num_steps == 15000
    assert config.training.lr_encoder == 1e-5


@pytest.mark.parametrize(("key", "value", "message", "hint"), [
    ("scheduler_type", "cosin", "'cosin' is not a scheduler of transformers", "did you mean 'cosine'?"),
    ("report_to", ["wandb", "tensorbord"], "'tensorbord' is not a reporting integration", "'tensorboard'"),
])
def test_names_the_installed_transformers_knows_are_checked_with_a_suggestion(tmp_path, key, value, message, hint):
    (error,) = _errors(tmp_path, _with("training", **{key: value}))
    assert f"training.{key}: {message}" in error
    assert hint in error


@pytest.mark.parametrize("value", [".inf", ".nan", "-.inf"])
def test_infinite_or_nan_numbers_are_rejected(tmp_path: Path, value: str) -> None:
    head = "model: {model_name: m}\ndata: {root_dir: o, train_data: t}\n"
    (error,) = _errors(tmp_path, f"{head}training: {{num_steps: 1, lr_encoder: {value}}}\n")
    assert "training.lr_encoder: input should be a finite number" in error


def test_value_fitting_no_member_of_a_union_is_reported_once_with_the_declared_type(tmp_path: Path) -> None:
    (error,) = _errors(tmp_path, _with("training", report_to=["wandb", 3]))
    assert "training.report_to: expected string | list of string, got ['wandb', 3]" in error


@pytest.mark.parametrize("value", [[1, 2], "text", None], ids=["list", "string", "null"])
def test_section_that_is_not_a_mapping_is_an_error(tmp_path: Path, value: object) -> None:
    errors = _errors(tmp_path, {**VALID, "training": value})
    assert any(f"training: expected a mapping of keys (a section), got {value!r}" in e for e in errors)


def test_unknown_section_from_override_is_located_at_set(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(VALID))
    with pytest.raises(ConfigError) as info:
        validation.validate(loader.apply_overrides(loader.load(path), ["foo.bar=1"]))
    assert [str(p) for p in info.value.problems] == ["--set: foo: unknown key"]
