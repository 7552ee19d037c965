"""YAML loading: every malformed input is an error with file:line:column, never a traceback or a silent value."""

from __future__ import annotations

from pathlib import Path

import pytest

from ptbr import loader
from ptbr.errors import ConfigError


def _load(tmp_path: Path, text: str | bytes):
    path = tmp_path / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return loader.load(path)


def _problems(tmp_path: Path, text: str | bytes) -> list[str]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    return [str(p) for p in info.value.problems]


def test_duplicate_key_is_an_error_with_both_lines(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "training:\n  num_steps: 1\n  num_steps: 2\n")
    assert "c.yaml:3:3: training.num_steps: duplicate key (first defined at line 2)" in problem


def test_duplicate_section_is_an_error(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "model: {}\nmodel: {}\n")
    assert ":2:1: model: duplicate key" in problem


def test_malformed_yaml_reports_line_and_column(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "training:\n  num_steps: [1, 2\n  lr: 3\n")
    assert problem.startswith(f"{tmp_path / 'c.yaml'}:3:")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    (problem,) = _problems(tmp_path, text)
    assert "the file is empty" in problem


@pytest.mark.parametrize("text", ["- a\n- b\n", "42\n", "just text\n"], ids=["list", "int", "str"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    (problem,) = _problems(tmp_path, text)
    assert "the top level must be a mapping" in problem


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['true']", "!!python/name:os.system", "!custom 1"])
def test_python_and_unknown_tags_are_rejected(tmp_path: Path, tag: str) -> None:
    (problem,) = _problems(tmp_path, f"training:\n  num_steps: {tag}\n")
    assert "c.yaml:2:14" in problem
    assert "tag not allowed" in problem


def test_non_utf8_bytes_report_their_line(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, b"model:\n  name: caf\xe9\n")
    assert "c.yaml:2: not UTF-8 text (byte 0xe9" in problem


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        loader.load(tmp_path / "nope.yaml")


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        loader.load(tmp_path)


@pytest.mark.parametrize(("text", "value"), [("1e-5", 1e-5), ("3E+4", 3e4), ("-2.5e-3", -2.5e-3), ("1_000", 1000)])
def test_exponent_floats_are_numbers_as_in_yaml_1_2(tmp_path: Path, text: str, value: float) -> None:
    # PyYAML's YAML 1.1 resolver reads `1e-5` as a string; upstream GLiNER configs write learning rates that way.
    assert _load(tmp_path, f"x: {text}\n").data["x"] == value


def test_origins_record_line_and_column_of_each_key(tmp_path: Path) -> None:
    doc = _load(tmp_path, "training:\n  num_steps: 3\n")
    assert doc.where(("training", "num_steps")) == f"{tmp_path / 'c.yaml'}:2:3"


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("training.num_steps=100", ("training", "num_steps"), 100),
        ("training.lr_others=0.0", ("training", "lr_others"), 0.0),
        ("training.bf16=false", ("training", "bf16"), False),
        ("run.name=", ("run", "name"), ""),
        ("training.report_to=[wandb, mlflow]", ("training", "report_to"), ["wandb", "mlflow"]),
        ("data.train_data=a=b.json", ("data", "train_data"), "a=b.json"),
    ],
    ids=["int", "zero-float", "false", "empty-string", "list", "equals-in-value"],
)
def test_override_values_are_read_as_yaml(override: str, key: tuple[str, ...], value: object) -> None:
    assert loader.parse_override(override) == (key, value)
    assert type(loader.parse_override(override)[1]) is type(value)


@pytest.mark.parametrize("override", ["training.num_steps", "=3", "training..x=1"])
def test_malformed_override_is_an_error(override: str) -> None:
    with pytest.raises(ConfigError, match=r"expected dotted\.key=value"):
        loader.parse_override(override)


def test_override_records_its_origin_and_wins(tmp_path: Path) -> None:
    doc = loader.apply_overrides(_load(tmp_path, "training:\n  num_steps: 3\n"), ["training.num_steps=5"])
    assert doc.data["training"]["num_steps"] == 5
    assert doc.where(("training", "num_steps")) == "--set"


def test_override_into_a_scalar_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"training\.num_steps is not a section"):
        loader.apply_overrides(_load(tmp_path, "training:\n  num_steps: 3\n"), ["training.num_steps.x=5"])


@pytest.mark.parametrize(("text", "where", "char"), [
    (b"model:\n  model_name: x\x0c\n", ":2:16:", "U+000C"),  # a stray form feed
    (b"model:\n  model_name: x\x00\n", ":2:16:", "U+0000"),
    (b"run:\n  name: \x1b[31mred\n", ":2:9:", "U+001B"),  # a terminal escape pasted in
], ids=["form-feed", "nul", "escape"])
def test_control_characters_are_an_error_at_their_place(tmp_path: Path, text: bytes, where: str, char: str) -> None:
    (problem,) = _problems(tmp_path, text)
    assert where in problem
    assert f"control character {char} is not allowed" in problem


def test_a_control_character_written_as_an_escape_is_an_error(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, 'model:\n  model_name: "back\\0bone"\n')
    assert "model.model_name: control character U+0000 in a value" in problem, "a NUL would crash every path call"
    with pytest.raises(ConfigError, match="control character U\\+0000"):
        loader.parse_override('model.model_name="a\\0b"')


@pytest.mark.parametrize("text", ["model: &a {model_name: x, self: *a}\n", "a: &a [*a, *a]\n"], ids=["map", "list"])
def test_an_alias_inside_itself_is_an_error(tmp_path: Path, text: str) -> None:
    problems = _problems(tmp_path, text)
    assert problems
    assert all("an alias contains itself" in p for p in problems)


def test_an_alias_bomb_stops_at_the_value_limit(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]  # 10**9 values
    (problem,) = _problems(tmp_path, "\n".join(lines) + "\n")
    assert f"more than {loader.MAX_VALUES:,} values once its aliases are expanded" in problem


def test_aliases_within_the_limit_still_work(tmp_path: Path) -> None:
    doc = _load(tmp_path, "base: &b {num_steps: 3}\ntraining:\n  <<: *b\n  seed: 1\n")
    assert doc.data["training"] == {"num_steps": 3, "seed": 1}


@pytest.mark.parametrize(("value", "why"), [
    ("0042", "leading zero: YAML 1.1 reads it as octal"),
    ("1:30", "base-60 number in YAML 1.1"),
    ("0b11", "binary number in YAML 1.1"),
    ("-0012.5", "leading zero"),
], ids=["octal", "sexagesimal", "binary", "zero-padded-float"])
def test_numbers_yaml_versions_read_differently_are_errors(tmp_path: Path, value: str, why: str) -> None:
    (problem,) = _problems(tmp_path, f"training:\n  seed: {value}\n")
    assert "c.yaml:2:9: training.seed: ambiguous number" in problem
    assert why in problem
    with pytest.raises(ConfigError, match="ambiguous number"):
        loader.parse_override(f"training.seed={value}")


@pytest.mark.parametrize(("text", "value"), [("0", 0), ("10", 10), ("0.5", 0.5), ('"0042"', "0042"), ("1e-5", 1e-5)],
                         ids=["zero", "ten", "half", "quoted", "exponent"])
def test_unambiguous_numbers_and_quoted_strings_still_load(tmp_path: Path, text: str, value: object) -> None:
    assert _load(tmp_path, f"training:\n  seed: {text}\n").data["training"]["seed"] == value


def test_nesting_too_deep_to_read_is_an_error(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply to read" in problem
