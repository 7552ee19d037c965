"""Values gliner chooses between are checked before any training step, against what the installed gliner's own
constructors accept, at the key, with did-you-mean; a failing step names the key whose value its message quotes."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest

from ptbr import choices, forwarding, layouts, train, validation


def _gliner_default(name: str) -> str:
    """gliner's own default for a model setting, read from its config class: a value it necessarily accepts."""
    import gliner.config

    for cls in vars(gliner.config).values():
        if isinstance(cls, type) and name in inspect.signature(cls).parameters:
            return inspect.signature(cls).parameters[name].default
    raise AssertionError(f"no config class of gliner takes {name}")


@pytest.mark.parametrize(("key", "typo", "meant"), [("span_mode", "markerV9", None),
                                                     ("span_mode", "token_levle", "token_level"),
                                                     ("words_splitter_type", "whitespce", "whitespace")])
def test_a_value_gliner_rejects_is_refused_at_its_key_without_the_step(ptbr, make_config, key: str, typo: str,
                                                                       meant: str | None) -> None:
    path = make_config(model={key: typo})
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if typo in text)
    code, _, err = ptbr("validate", path, "--no-step")
    assert code == 2
    assert f"{path}:{line}:3: model.{key}: gliner" in err, "at the key's line"
    assert f"rejects {typo!r}" in err
    assert _gliner_default(key) in err.split("it accepts:")[1], "the alternatives are gliner's (its default among them)"
    if meant:
        assert f"did you mean {meant!r}?" in err


@pytest.mark.parametrize(("key", "value"), [("span_mode", "markerV1"), ("span_mode", "token_level"),
                                            ("words_splitter_type", "whitespace")])
def test_a_value_gliner_accepts_is_not_refused(ptbr, make_config, key: str, value: str) -> None:
    code, _, err = ptbr("validate", make_config(model={key: value}), "--no-step")
    assert code == 0, err


def test_explain_shows_the_refusal_and_goes_on(ptbr, make_config) -> None:
    code, out, err = ptbr("explain", make_config(model={"span_mode": "markerV9"}))
    assert code == 0, err
    assert "rejects 'markerV9'" in out


def test_literals_are_the_strings_the_innermost_function_compares_with(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(textwrap.dedent('''\
        MODES = "not compared"
        def outer(mode):
            def inner(kind):
                if kind == "a":
                    return 1
                elif kind in {"b", "c"}:
                    return 2
                raise ValueError(kind)
            return mode != "z"
    '''))
    assert choices.literals(str(source), 8) == ["a", "b", "c"], "inner's comparisons, in order, not outer's"
    assert choices.literals(str(source), 9) == ["z"]
    assert choices.literals(str(source), 1) == [], "outside any function: nothing"


def test_a_failing_step_names_the_key_whose_value_its_message_quotes(make_config) -> None:
    """blame's words around the failing line would also name hidden_size; the value in the message decides."""
    path = make_config(model={"span_mode": "markerV9", "hidden_size": 16})
    plan = forwarding.plan(validation.validate(layouts.load(path)))
    problem = train._step_problem(ValueError("Unknown span mode markerV9"), plan, None,
                                  {"model.span_mode", "model.hidden_size"})
    assert problem.key == "model.span_mode"


def test_train_reads_a_rejected_value_from_its_own_build_at_the_key(ptbr, make_config) -> None:
    """train builds the real model without a tiny build first: a value gliner rejects there is the same refusal, at
    its key, exit 2, nothing trained."""
    path = make_config(model={"span_mode": "markerV9"})
    code, _, err = ptbr("train", path)
    assert code == 2
    assert "model.span_mode: gliner" in err
    assert "rejects 'markerV9'" in err
    assert "Traceback" not in err
