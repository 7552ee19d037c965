"""The matrix definition: groups are cross products; exclusions, duplicates and typos are handled."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import definition, inputs


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    return path


def test_groups_are_cross_products_in_file_order(tmp_path: Path) -> None:
    path = _write(tmp_path, 'python = "3.11"\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["4.51.3", "5.0.0"]\n'
                            'torch = ["2.6.0", "2.13.0"]\n')
    assert [c.id for c in definition.cells(path)] == [
        "torch2.6.0-tf4.51.3-gliner0.2.29", "torch2.13.0-tf4.51.3-gliner0.2.29",
        "torch2.6.0-tf5.0.0-gliner0.2.29", "torch2.13.0-tf5.0.0-gliner0.2.29"]


def test_exclusions_and_duplicates(tmp_path: Path) -> None:
    path = _write(tmp_path, 'python = "3.11"\nexclude = ["torch2.6.0-tf5.0.0-gliner0.2.29"]\n'
                            '[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.0.0"]\ntorch = ["2.6.0", "2.13.0"]\n'
                            '[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.0.0"]\ntorch = ["2.13.0"]\n'
                            'override = true\n')
    cells = definition.cells(path)
    assert [c.id for c in cells] == ["torch2.13.0-tf5.0.0-gliner0.2.29"]
    assert cells[0].override is False, "the first group that names a cell defines it"


def test_exclusion_of_an_unknown_cell_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, 'python = "3.11"\nexclude = ["torch9-tf9-gliner9"]\n'
                            '[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.0.0"]\ntorch = ["2.13.0"]\n')
    with pytest.raises(inputs.Invalid, match=r"matrix.toml:\d+: exclude: 'torch9-tf9-gliner9' is not a cell of any"):
        definition.cells(path)


def test_the_default_matrix_is_the_one_the_issue_asks_for() -> None:
    cells = definition.cells()
    assert len(cells) == 22
    on = {c.python: sorted(x.id for x in cells if x.python == c.python) for c in cells}
    assert on["3.13"] == ["torch2.13.0-tf4.57.6-gliner0.2.29-py3.13", "torch2.13.0-tf5.16.1-gliner0.2.29-py3.13"], \
        "the Python axis: gliner 0.2.29 with a 4.x and a 5.x transformers on 3.13 (issue 20), also on 3.10 and 3.12"
    assert len(on["3.10"]) == len(on["3.12"]) == 2
    assert len(on["3.11"]) == 16
    outside = [c.id for c in cells if c.override]
    assert outside == ["torch2.13.0-tf5.24.0-gliner0.2.29", "torch2.13.0-tf4.40.2-gliner0.2.23"], \
        "the newest transformers for the newest gliner; the old evaluation_strategy name on a real TrainingArguments"
    assert definition.python() == "3.11"


def test_a_groups_pythons_are_an_axis_and_name_the_cell_unless_it_is_3_11(tmp_path: Path) -> None:
    path = _write(tmp_path, 'python = "3.12"\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.0.0"]\n'
                            'torch = ["2.13.0"]\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.0.0"]\n'
                            'torch = ["2.13.0"]\npython = ["3.11", "3.13"]\n')
    cells = definition.cells(path)
    assert [(c.id, c.python) for c in cells] == [
        ("torch2.13.0-tf5.0.0-gliner0.2.29-py3.12", "3.12"), ("torch2.13.0-tf5.0.0-gliner0.2.29", "3.11"),
        ("torch2.13.0-tf5.0.0-gliner0.2.29-py3.13", "3.13")], \
        "a group without python takes the definition's; an id names its Python unless it is 3.11 (ids made before)"
    assert all(definition.Cell.parse(c.id) == c for c in cells), "an id names exactly its cell, Python included"


@pytest.mark.parametrize("value", ['"3.13"', "[]", '["3"]', '["3.13.1"]', "[313]"])
def test_a_groups_python_must_be_a_list_of_major_minor_versions(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path, 'python = "3.11"\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.0.0"]\n'
                            f'torch = ["2.13.0"]\npython = {value}\n')
    with pytest.raises(inputs.Invalid, match=r"matrix.toml:6: group 1: python: expected a non-empty list of Pythons"):
        definition.cells(path)



def test_a_pinned_cell_without_a_lock_file_resolves_as_of_the_definitions_date(tmp_path: Path) -> None:
    from harness.run import docker, results

    path = _write(tmp_path, 'python = "3.11"\nexclude_newer = "2026-12-04"\n[[group]]\ngliner = ["0.2.29"]\n'
                            'transformers = ["5.16.1", "5.15.0"]\ntorch = ["2.13.0"]\n')
    locked, lockless = definition.cells(path)
    assert (locked.lock.is_file(), locked.exclude_newer) == (True, ""), "a lock file holds every pin: no date"
    assert (lockless.lock.is_file(), lockless.exclude_newer) == (False, "2026-12-04")
    result = {"requested": lockless.requested, "declared_support": {"override": False}}
    assert results.cell_of(result) == lockless, "a result records the date: its cell, and so its fingerprint"
    assert docker._build_args(lockless)["EXCLUDE_NEWER"] == "2026-12-04", "its image resolves as of it too"
    assert "EXCLUDE_NEWER" not in docker._build_args(locked)


def test_the_date_pinned_cells_resolve_as_of_is_checked(tmp_path: Path) -> None:
    path = _write(tmp_path, 'python = "3.11"\nexclude_newer = "last week"\n[[group]]\ngliner = ["0.2.29"]\n'
                            'transformers = ["5.16.1"]\ntorch = ["2.13.0"]\n')
    with pytest.raises(inputs.Invalid, match=r"matrix.toml:2: exclude_newer: expected a date such as \"2026-12-04\""):
        definition.cells(path)
