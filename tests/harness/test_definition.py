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
    assert len(cells) == 16
    outside = [c.id for c in cells if c.override]
    assert outside == ["torch2.13.0-tf5.24.0-gliner0.2.29", "torch2.13.0-tf4.40.2-gliner0.2.23"], \
        "the newest transformers for the newest gliner; the old evaluation_strategy name on a real TrainingArguments"
    assert definition.python() == "3.11"
