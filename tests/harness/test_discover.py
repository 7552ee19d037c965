"""`nox -s discover`: the releases newer than the definition's newest pins, and the cells that would test them."""

from __future__ import annotations

from pathlib import Path

import tomllib
from fakes import fake_index
from harness import definition
from harness.releases import discover


def test_new_releases_are_listed_with_the_cells_to_add(monkeypatch, tmp_path: Path) -> None:
    fake_index(monkeypatch, {"torch": ["2.13.0", "2.14.0", "2.15.0"],
                             "transformers": ["5.16.1", "5.24.0", "5.25.0", "5.26.0"],
                             "gliner": ["0.2.29", "0.2.30"]},
               {("gliner", "0.2.29"): ["transformers<5.17.0,>=4.51.3"],
                ("gliner", "0.2.30"): ["transformers<5.26,>=4.51.3"]}, yanked=("torch==2.14.0",),
               built_for={"torch": ["cp311", "cp312"]})
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('python = "3.11"\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.16.1", "5.24.0"]\n'
                      'torch = ["2.13.0"]\noverride = true\n')
    monkeypatch.setattr(definition, "MATRIX", matrix)
    said: list[str] = []
    assert discover.main([], log=said.append) == 0
    assert said[:4] == ["torch: newer than 2.13.0: 2.14.0 (yanked), 2.15.0",
                        "transformers: newer than 5.24.0: 5.25.0, 5.26.0", "gliner: newer than 0.2.29: 0.2.30",
                        "python: newer than 3.11 and supported by the newest pins: 3.12"], \
        "torch 2.13.0 has wheels for 3.11 and 3.12 only: 3.12 is the one newer Python the newest pins support"
    discover.main(["--write"], log=said.append)
    added = [c.id for c in definition.cells(matrix, floating=False)][2:]
    assert added == ["torch2.13.0-tf5.25.0-gliner0.2.29", "torch2.13.0-tf5.26.0-gliner0.2.29",
                     "torch2.13.0-tf5.25.0-gliner0.2.30", "torch2.15.0-tf5.16.1-gliner0.2.29",
                     "torch2.13.0-tf5.16.1-gliner0.2.29-py3.12"], \
        "each new release with the newest pins of the others (the newest in-range transformers for a new gliner); " \
        "the newest pins on the new Python"
    groups = tomllib.loads(matrix.read_text())["group"]
    assert [g.get("override", False) for g in groups[1:]] == [True, True, False, False, False], \
        "a transformers outside gliner 0.2.29's declared range is added with an override"
    assert [g.get("python") for g in groups[1:]] == [None, None, None, None, ["3.12"]], \
        "a cell on another Python than the definition's names it"
