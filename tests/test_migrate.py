"""`ptbr migrate`: a flat or original-PTBR config written in the nested form, its comments, order and values kept; the
result explains exactly as the original, and migrating it again changes nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from support import EXAMPLES, ROOT
from test_layouts import FLAT, HISTORY_FILES, ORIGINAL

from ptbr import loader

FILES = [*FLAT, ORIGINAL, *HISTORY_FILES]
TEMPLATE = ROOT.parent / "shared" / "original-ptbr" / "template.yaml"
DATA = ["--set", f"data.train_data={EXAMPLES / 'train.json'}"]
WRITTEN_OUT = "# the original PTBR's default (ptbr migrate wrote it out)"
"""The comment on a default of the original PTBR that migrate writes out (the only comment it adds)."""


def _comments(text: str) -> list[str]:
    """Every comment of a file, in order: the text after each # that is not inside a quoted value."""
    return [m.group(1).strip() for line in text.splitlines() if (m := re.search(r"(?:^|\s)(#.*)$", line))]


def _migrated(ptbr, path: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"migrated-{path.name}"
    code, _, err = ptbr("migrate", path, "-o", out)
    assert code == 0, err
    return out


def _explained(ptbr, path: Path) -> dict:
    code, out, err = ptbr("explain", "--json", path, *DATA)
    assert code == 0, err
    data = json.loads(out)
    keys = sorted(({k: v for k, v in key.items() if k not in ("where", "written_as")} for key in data["keys"]),
                  key=lambda k: k["key"])
    warnings = sorted((w["key"], w["message"]) for w in data["warnings"])
    return {"keys": keys, "defaults": data["defaults"], "warnings": warnings, "refused": data["refused"]}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_migrated_file_is_nested_and_keeps_every_comment_in_order(ptbr, path: Path, tmp_path: Path) -> None:
    out = _migrated(ptbr, path, tmp_path)
    nested = loader.load(out).data
    assert set(nested) <= {"run", "model", "data", "training", "lora", "environment"}, "sections only"
    before, after = _comments(path.read_text()), _comments(out.read_text())
    assert sorted(before) == sorted(c for c in after if c != WRITTEN_OUT), "no comment lost or added"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_the_migrated_file_explains_exactly_as_the_original(ptbr, path: Path, tmp_path: Path) -> None:
    assert _explained(ptbr, _migrated(ptbr, path, tmp_path)) == _explained(ptbr, path)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_migrating_twice_changes_nothing(ptbr, path: Path, tmp_path: Path) -> None:
    once = _migrated(ptbr, path, tmp_path)
    twice = tmp_path / "twice.yaml"
    code, _, err = ptbr("migrate", once, "-o", twice)
    assert code == 0
    assert twice.read_text() == once.read_text(), "idempotent"
    assert "already nested: unchanged" in err


def test_a_flat_file_keeps_its_key_order_within_each_section(ptbr, tmp_path: Path) -> None:
    out = loader.load(_migrated(ptbr, FLAT[0], tmp_path)).data
    flat = list(loader.load(FLAT[0]).data)
    for section in out.values():
        assert list(section) == [k for k in flat if k in section], "the file's order"


def test_the_comment_on_a_keys_line_stays_on_that_line(ptbr, tmp_path: Path) -> None:
    text = _migrated(ptbr, next(p for p in FLAT if p.stem == "span"), tmp_path).read_text()
    assert re.search(r"^  model_name: microsoft/deberta-v3-small +# the backbone, from the Hub$", text, re.M)
    assert re.search(r"^  save_total_limit: 10 +# checkpoints kept$", text, re.M)


def test_the_original_template_migrates(ptbr, tmp_path: Path) -> None:
    if not TEMPLATE.is_file():
        pytest.skip(f"{TEMPLATE} is not here (CI has ../shared)")
    out = _migrated(ptbr, TEMPLATE, tmp_path)
    assert sorted(c for c in _comments(out.read_text()) if c != WRITTEN_OUT) == sorted(_comments(TEMPLATE.read_text()))
    assert _explained(ptbr, out) == _explained(ptbr, TEMPLATE)


def test_in_place_rewrites_each_file_and_several_files_need_a_destination(ptbr, tmp_path: Path) -> None:
    copies = [shutil.copy(p, tmp_path / p.name) for p in FLAT]
    code, _, err = ptbr("migrate", *copies)
    assert code == 2, "several files are not printed one after another"
    assert "give -o DIRECTORY or --in-place" in err
    assert ptbr("migrate", *copies, "--in-place")[0] == 0
    for copy in copies:
        assert "model" in loader.load(copy).data, f"{copy} rewritten nested"


def test_another_tools_config_is_refused_and_nothing_is_written(ptbr, tmp_path: Path) -> None:
    glirel = tmp_path / "glirel.yaml"
    glirel.write_text("rel_mode: marker\nnum_train_rel_types: 25\nnum_steps: 3\n")
    code, _, err = ptbr("migrate", glirel, "-o", tmp_path / "out.yaml")
    assert code == 2
    assert "GLiREL" in err
    assert not (tmp_path / "out.yaml").exists()


def test_an_existing_file_or_two_inputs_of_one_name_are_never_overwritten(ptbr, tmp_path: Path) -> None:
    """A destination that holds something else, or that two inputs share, is refused before anything is written."""
    taken = tmp_path / "taken.yaml"
    taken.write_text("# someone's work\n")
    code, _, err = ptbr("migrate", FLAT[0], "-o", taken)
    assert code == 2
    assert "does not overwrite a file it did not read" in err
    assert taken.read_text() == "# someone's work\n", "untouched"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    same = [shutil.copy(p, tmp_path / d / "config.yaml") for d, p in (("a", FLAT[0]), ("b", FLAT[1]))]
    out = tmp_path / "out"
    out.mkdir()
    code, _, err = ptbr("migrate", *same, "-o", out)
    assert code == 2
    assert "would both be written here" in err
    assert list(out.iterdir()) == [], "nothing written"
