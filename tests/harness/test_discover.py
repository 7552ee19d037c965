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
                ("gliner", "0.2.30"): ["transformers<5.26,>=4.51.3"]}, yanked=("torch==2.14.0",))
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('python = "3.11"\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.16.1", "5.24.0"]\n'
                      'torch = ["2.13.0"]\noverride = true\n')
    monkeypatch.setattr(definition, "MATRIX", matrix)
    said: list[str] = []
    assert discover.main([], log=said.append) == 0
    assert said[:3] == ["torch: newer than 2.13.0: 2.14.0 (yanked), 2.15.0",
                        "transformers: newer than 5.24.0: 5.25.0, 5.26.0", "gliner: newer than 0.2.29: 0.2.30"]
    discover.main(["--write"], log=said.append)
    added = [c.id for c in definition.cells(matrix, floating=False)][2:]
    assert added == ["torch2.13.0-tf5.25.0-gliner0.2.29", "torch2.13.0-tf5.26.0-gliner0.2.29",
                     "torch2.13.0-tf5.25.0-gliner0.2.30", "torch2.15.0-tf5.16.1-gliner0.2.29"], \
        "each new release with the newest pins of the others (the newest in-range transformers for a new gliner)"
    groups = tomllib.loads(matrix.read_text())["group"]
    assert [g.get("override", False) for g in groups[1:]] == [True, True, False, False], \
        "a transformers outside gliner 0.2.29's declared range is added with an override"
