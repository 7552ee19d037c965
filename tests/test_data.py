"""Data files are checked before any model is built; an error names the file, the item index and the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptbr import data
from ptbr.errors import ConfigError

GOOD = {"tokenized_text": ["Alice", "in", "Paris"], "ner": [[0, 0, "person"], [2, 2, "city"]]}


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        data.load(path, "data.train_data")
    return [str(p) for p in info.value.problems]


def _write(tmp_path: Path, items: object, name: str = "d.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(items), encoding="utf-8")
    return path


def test_json_list_and_jsonl_load_the_same_examples(tmp_path: Path) -> None:
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(f"{json.dumps(GOOD)}\n\n{json.dumps(GOOD)}\n", encoding="utf-8")
    assert data.load(jsonl, "k") == data.load(_write(tmp_path, [GOOD, GOOD]), "k") == [GOOD, GOOD]


def test_extra_keys_in_an_example_are_kept(tmp_path: Path) -> None:
    item = {**GOOD, "label": ["person", "city", "country"]}
    assert data.load(_write(tmp_path, [item]), "k") == [item]


def test_no_entities_is_a_valid_example(tmp_path: Path) -> None:
    assert data.load(_write(tmp_path, [{"tokenized_text": ["hi"], "ner": []}]), "k")[0]["ner"] == []


def test_an_empty_text_without_entities_is_accepted_as_gliner_trains_on_it(tmp_path: Path) -> None:
    """Every gliner processor pads an empty text to ["[PAD]"] (the original PTBR accepted it too)."""
    empty = {"tokenized_text": [], "ner": []}
    assert data.load(_write(tmp_path, [GOOD, empty]), "k")[1] == empty


def test_relations_indexing_the_examples_entities_are_accepted(tmp_path: Path) -> None:
    item = {**GOOD, "relations": [[0, 1, "lives in"], [1, 0, "home of"]]}
    assert data.load(_write(tmp_path, [item, {**GOOD, "relations": []}]), "k")[0] == item


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({**GOOD, "ner": [[0, 3, "person"]]}, "ner[0]: span [0, 3] is out of bounds for 3 words"),
        ({**GOOD, "ner": [[-1, 0, "person"]]}, "out of bounds"),
        ({**GOOD, "ner": [[2, 1, "person"]]}, "ner[0]: start 2 > end 1"),
        ({**GOOD, "ner": [[0, 0, ""]]}, "ner[0]: label must be a non-empty string"),
        ({**GOOD, "ner": [[0, 0, 3]]}, "label must be a non-empty string"),
        ({**GOOD, "ner": [["0", 0, "person"]]}, "start and end must be integers"),
        ({**GOOD, "ner": [[0, True, "person"]]}, "start and end must be integers"),
        ({**GOOD, "ner": [[0, 0]]}, "ner[0] must be [start, end, label]"),
        ({**GOOD, "ner": "person"}, "ner must be a list"),
        ({"tokenized_text": "Alice in Paris", "ner": []}, "tokenized_text must be a list of strings"),
        ({"tokenized_text": [], "ner": [[0, 0, "ghost"]]}, "tokenized_text is empty but ner has 1 span(s)"),
        ({**GOOD, "relations": [[0, 5, "lives in"]]}, "relations[0]: head 0 or tail 5 points past the example's 2"),
        ({**GOOD, "relations": [[0, -1, "lives in"]]}, "points past"),
        ({**GOOD, "relations": [[0, 1, 42]]}, "relations[0]: type must be a non-empty string, got 42"),
        ({**GOOD, "relations": [[0, 1]]}, "relations[0] must be [head, tail, type], got [0, 1]"),
        ({**GOOD, "relations": [[0, "1", "in"]]}, "relations[0]: head and tail must be integers"),
        ({**GOOD, "relations": "person-in-city"}, "relations must be a list of [head, tail, type], got str"),
        ({"ner": []}, "tokenized_text must be a list of strings"),
        ("Alice in Paris", "expected an object"),
    ],
    ids=["end-out-of-bounds", "negative-start", "start-after-end", "empty-label", "label-not-string",
         "start-not-int", "bool-index", "short-span", "ner-not-list", "text-not-list", "empty-text-with-entities",
         "relation-past-entities", "relation-negative", "relation-type-int", "relation-short", "relation-index-str",
         "relations-not-list", "no-text", "not-an-object"],
)
def test_bad_example_names_file_index_and_problem(tmp_path: Path, item: object, message: str) -> None:
    (problem,) = _problems(_write(tmp_path, [GOOD, item]))
    assert problem.startswith(f"{tmp_path / 'd.json'}[1]: data.train_data: ")
    assert message in problem


def test_every_bad_example_is_reported_up_to_a_limit(tmp_path: Path) -> None:
    bad = {**GOOD, "ner": [[2, 1, "x"]]}
    problems = _problems(_write(tmp_path, [bad] * (data.MAX_REPORTED + 5)))
    assert len(problems) == data.MAX_REPORTED + 1
    assert "and 5 more problems" in problems[-1]


@pytest.mark.parametrize(("text", "message"), [("", "data file is empty"), ("  \n", "data file is empty"),
                                                ("[]", "no examples"), ('{"a": 1}', "expected a JSON list")])
def test_empty_or_wrong_shape_file_is_an_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "d.json"
    path.write_text(text, encoding="utf-8")
    (problem,) = _problems(path)
    assert message in problem


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[\n{"tokenized_text": ["a"],\n "ner": [}\n]', encoding="utf-8")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:3:")
    assert "invalid JSON" in problem


def test_invalid_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(f"{json.dumps(GOOD)}\nnot json\n", encoding="utf-8")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}:2:1: invalid JSON")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path / "missing.json")
    assert "data.train_data: data file not found" in problem


def test_directory_is_an_error(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path)
    assert "is a directory" in problem


def test_non_utf8_data_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_bytes(b'[{"tokenized_text": ["caf\xe9"], "ner": []}]')
    (problem,) = _problems(path)
    assert "not UTF-8" in problem


@pytest.mark.parametrize("name", ["d.json", "d.jsonl"])
def test_data_nested_too_deeply_is_an_error_not_a_recursion_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    (problem,) = _problems(path)
    assert "nested too deeply to read" in problem
