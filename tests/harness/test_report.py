"""The report: version-independent breaks apart, a table that shows which versions break, files always written."""

from __future__ import annotations

import json
from pathlib import Path

from harness import definition
from harness.run import junit, results
from harness.verdicts import report, rules

COMMON = {"layer": "e2e", "field": "training.seed", "test": "t::common", "message": "always broken", "cause": None}
GLINER = {"layer": "gliner-kwargs", "field": "training.lr_others", "test": "t::g", "message": "0.0 lost",
          "cause": None}
ONLY_OLD = {"layer": "transformers", "field": "training.freeze_components", "test": "t::freeze",
            "message": "AttributeError: 'UniEncoderSpanConfig' object has no attribute 'labels_encoder'",
            "cause": "AttributeError: 'UniEncoderSpanConfig' object has no attribute 'labels_encoder'"}
TOKENIZER = "cannot train: TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'"


def _result(torch: str, tf: str, gliner: str, status: str = "pass", breaks=(), gliner_breaks=(GLINER,),
            inside: bool | None = True, reason: str | None = None, python: str = "3.11") -> results.CellResult:
    cell = definition.Cell(torch, tf, gliner, python=python)
    return results.CellResult(
        id=cell.id, requested=cell.requested, python=f"{python}.4",
        resolved=cell.pins if status != "install-failed" else None, installed=None,
        conclusive=status in ("pass", "broken"), tests=None,
        declared_support={"gliner_requires": "transformers<5.2", "inside": inside, "override": inside is False},
        torch_source="pypi", status=status, reason=reason, breaks=list(breaks),
        gliner_path={"status": "broken" if gliner_breaks else "pass", "breaks": list(gliner_breaks)},
        repro={"nox": f'nox -s "matrix({cell.id})" -- --rerun', "docker_build": f"docker build -t {cell.id} .",
               "docker_run": f"docker run {cell.id}"}, runner="venv", image=None, duration_s=12.5, timings={},
        fingerprint="f", finished_at="2026-11-25T00:00:00+00:00", selection=None)


def _build(cells: list[results.CellResult], **kwargs) -> dict:
    """The report of these results, as if they were the definition's cells, with no expected verdicts."""
    kwargs.setdefault("definition_configs", [])
    return report.build(cells, definition_cells=[results.cell_of(c) for c in cells], expected=rules.Rules(), **kwargs)


def _write(root: Path) -> dict:
    return report.write(root, definition_cells=[results.cell_of(c) for c in CELLS], expected=rules.Rules())


CELLS = [
    _result("2.13.0", "5.0.0", "0.2.29", "broken", [COMMON]),
    _result("2.13.0", "4.51.3", "0.2.26", "broken", [COMMON, ONLY_OLD]),
    _result("2.13.0", "5.24.0", "0.2.29", "broken", [COMMON], inside=False),
    _result("2.6.0", "5.0.0", "0.2.29", "install-failed", gliner_breaks=(), reason="install exit 1:\nNo solution"),
]


def test_break_in_every_cell_that_ran_is_version_independent() -> None:
    built = _build(CELLS)
    assert built["version_independent"]["ptbr_path"] == [COMMON]
    assert built["version_independent"]["gliner_path"] == [GLINER]
    by_id = {c["id"]: c for c in built["cells"]}
    assert by_id["torch2.13.0-tf4.51.3-gliner0.2.26"]["version_dependent_breaks"] == [ONLY_OLD]
    assert by_id["torch2.13.0-tf5.0.0-gliner0.2.29"]["version_dependent_breaks"] == []


def test_one_cell_alone_has_no_version_independent_breaks() -> None:
    assert _build(CELLS[:1])["version_independent"]["ptbr_path"] == []


def test_version_independence_counts_the_definitions_cells_only_and_only_when_all_ran() -> None:
    # two cells of gliner 0.2.24 selected by tags share gliner's freeze_components crash: with the rest of the
    # definition not run, that is not "PTBR's path breaks in every cell"
    selected = [_result("2.13.0", "4.57.6", "0.2.24", "broken", [ONLY_OLD]),
                _result("2.13.0", "5.0.0", "0.2.24", "broken", [ONLY_OLD])]
    definition_cells = [results.cell_of(c) for c in (*selected, CELLS[0])]
    built = report.build(selected, definition_cells=definition_cells, expected=rules.Rules(), definition_configs=[])
    assert (built["version_independent"]["ptbr_path"], built["version_independent"]["computed"]) == ([], False), \
        "not computed while a cell of the definition has no current result"
    assert "not computed (not every cell of the definition" in report.markdown(built)
    ad_hoc = _result("2.13.0", "5.1.0", "0.2.25", "broken", [COMMON])
    built = report.build([*CELLS, ad_hoc], definition_cells=[results.cell_of(c) for c in CELLS], expected=rules.Rules(),
                         definition_configs=[])
    assert (built["version_independent"]["over"], built["version_independent"]["of"]) == (3, 4), \
        "an ad-hoc cell's result never counts; the cells that ran the suite are counted (not the install-failed one)"
    assert "(ad hoc)" in report.markdown(built)


def test_table_shows_which_versions_break_and_what_is_outside_support() -> None:
    text = report.markdown(_build(CELLS))
    assert "## gliner 0.2.26" in text
    assert "| 2.13.0 | ✗ training.freeze_components |" in text
    assert "✗ (common only) ⚠" in text, "an override cell is marked outside declared support"
    assert "| 2.6.0 | install-failed |" in text
    assert "## Version-independent defects (in every cell that ran, 3 of 4)" in text
    assert "always broken" in text


def test_breaks_section_lists_reasons_and_repro_commands() -> None:
    text = report.markdown(_build(CELLS))
    assert "### torch2.6.0-tf5.0.0-gliner0.2.29: install-failed" in text
    assert "No solution" in text
    section = text.split("### torch2.13.0-tf4.51.3-gliner0.2.26: broken")[1].split("###")[0]
    commands = [line for b in section.split("```sh\n")[1:] for line in b.split("```")[0].splitlines()]
    assert commands == ['nox -s "matrix(torch2.13.0-tf4.51.3-gliner0.2.26)" -- --rerun',
                        "docker build -t torch2.13.0-tf4.51.3-gliner0.2.26 .",
                        "docker run torch2.13.0-tf4.51.3-gliner0.2.26"], \
        "a failing cell's section gives its three repro commands, each alone on a line in a shell block (pasteable)"


def test_json_report_has_a_versioned_schema(tmp_path: Path) -> None:
    for r in CELLS:
        results.save(r, tmp_path / "cells")
    _write(tmp_path)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["schema_version"] == report.SCHEMA_VERSION
    cell = data["cells"][0]
    for key in ("id", "requested", "resolved", "declared_support", "status", "breaks", "repro", "duration_s"):
        assert key in cell, key
    assert data["summary"] == {"broken": 3, "install-failed": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells", "matrix.json", "matrix.md"], "no temp files left"


def test_report_is_written_even_with_an_unreadable_result(tmp_path: Path) -> None:
    results.save(CELLS[0], tmp_path / "cells")
    (tmp_path / "cells" / "broken-cell").mkdir()
    (tmp_path / "cells" / "broken-cell" / "result.json").write_text('{"id": "half')
    assert [c["id"] for c in _write(tmp_path)["cells"]] == [CELLS[0]["id"]]


def test_results_from_other_code_are_marked_stale() -> None:
    built = _build(CELLS[:1], current={CELLS[0]["id"]: "another"})
    assert built["cells"][0]["current"] is False
    assert "(stale)" in report.markdown(built)


def test_terminal_summary_has_a_line_per_cell_and_the_counts() -> None:
    text = report.terminal(_build(CELLS))
    assert text.splitlines()[len(CELLS):len(CELLS) + 2] == [
        "in every cell that ran (3 of 4): 2 version-independent break(s), see reports/matrix.md",
        "4 result(s): 3 broken, 1 install-failed"]
    assert text.splitlines()[-1].startswith("against the expected verdicts: 4 pinned cells: "), "the comparison ends it"


def test_a_cell_broken_in_many_fields_stays_readable_in_the_table() -> None:
    many = [{**COMMON, "field": f"training.f{i}", "test": f"t::{i}"} for i in range(5)]
    text = report.markdown(_build([_result("2.13.0", "5.0.0", "0.2.24", "broken", many)]))
    assert "| 2.13.0 | ✗ 5 fields: training.f0, training.f1, training.f2, … ᵍ |" in text


def test_breaks_that_share_one_exception_are_one_cause() -> None:
    blocked = [{"layer": layer, "field": f"training.f{i},training.g{i}", "test": f"t::{i}", "message": TOKENIZER,
                "cause": TOKENIZER} for i, layer in enumerate(["e2e", "transformers"] * 14)]
    in_own_words = ("AssertionError: ptbr train exited 1: ptbr: training failed: TypeError: Trainer.__init__() got "
                    "an unexpected keyword argument 'tokenizer' (rerun with --traceback for details)")
    blocked[0] = {**blocked[0], "message": in_own_words, "cause": in_own_words}  # the CLI's report of the same
    built = _build([_result("2.13.0", "5.24.0", "0.2.23", "broken", blocked, inside=False)])
    (cause,) = built["cells"][0]["causes"]
    assert (cause["label"], cause["layers"], len(cause["tests"]), len(cause["fields"])) == \
        ("cannot train", ["e2e", "transformers"], 28, 56)
    text = report.markdown(built)
    assert "| 2.13.0 | ✗ cannot train ⚠ ᵍ |" in text, "one cause in the table, not 56 fields"
    section = text.split("### torch2.13.0-tf5.24.0-gliner0.2.23: broken")[1]
    assert section.count(TOKENIZER) == 1, "the cause is listed once, the tests it stopped below it"
    assert "stopped 28 test(s), leaving 56 field(s) unproven" in section
    assert report.terminal(built).splitlines()[0].endswith("cannot train")


def test_a_single_test_exception_reads_as_its_field() -> None:
    text = report.markdown(_build(CELLS))
    assert "| 2.13.0 | ✗ training.freeze_components |" in text


def test_the_latest_repro_run_is_shown_beside_the_full_result(tmp_path: Path) -> None:
    results.save(CELLS[1], tmp_path / "cells")
    subset = {**CELLS[1], "status": "pass", "breaks": [], "selection": ["t::freeze"]}
    results.save(subset, tmp_path / "cells")
    written = _write(tmp_path)
    (entry,) = written["cells"]
    assert (entry["status"], entry["current"]) == ("broken", True), "the table keeps the full result"
    assert entry["latest_repro"]["status"] == "pass"
    assert "- torch2.13.0-tf4.51.3-gliner0.2.26: pass (venv" in (tmp_path / "matrix.md").read_text()


def test_report_files_are_readable_by_others(tmp_path: Path) -> None:
    results.save(CELLS[0], tmp_path / "cells")
    _write(tmp_path)
    for name in ("matrix.json", "matrix.md", f"cells/{CELLS[0]['id']}/result.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name


def test_a_refusal_reported_in_other_words_by_other_tests_is_one_cause() -> None:
    why = "installed versions: training: gliner 0.2.24 builds its Trainer with tokenizer=: train_model cannot train"
    texts = [f"ptbr.errors.ConfigError: {why}", f"AssertionError: ptbr train exited 2: error: {why}",
             f"AssertionError: error: {why}"]  # the exception's name is longer than the assertion's wrapping
    found = [{"layer": "e2e", "field": f"training.f{i}", "test": f"t::{i}", "message": t, "cause": t}
             for i, t in enumerate(texts)]
    (cause,) = junit.causes(found)
    assert cause["cause"] == texts[0], "the shortest wording names the cause; the others are listed under it"
    assert len(cause["tests"]) == 3
    assert cause["label"] == "cannot train", "PTBR's refusal says why in the table"


def _fate(config_seen_as: str) -> dict:
    """What `ptbr prove` writes for a config (src/ptbr/prove.py), as a runner saw the file."""
    return {"config": config_seen_as, "data": [{"key": "data.train_data", "path": "data/train.json", "sha256": None,
                                                "replaced": True, "why": "data/train.json is not on this machine: "
                                                                         "a generated dataset of 4 examples was used"}],
            "keys": [{"key": "training.lr_encoder", "where": f"{config_seen_as}:3:3", "value": 0.0, "fate": "arrives"},
                     {"key": "training.warmup_steps", "where": f"{config_seen_as}:4:3", "value": 0.1, "fate": "changed",
                      "to": 2, "why": "a ratio below 1: ceil(0.1 × 20)"},
                     {"key": "training.size_sup", "where": f"{config_seen_as}:5:3", "value": -1, "fate": "ignored",
                      "why": "no gliner release reads it"}],
            "smoke": {"status": "failed", "where": "gliner/model.py:915 (freeze_components)",
                      "why": "AttributeError: no labels_encoder"},
            "findings": [{"finding": "training.size_sup: ignored", "why": "no gliner release reads it"}]}


def test_a_config_has_a_section_with_every_key_that_did_not_arrive_and_how_to_prove_it_again() -> None:
    from harness.run import configs

    cell = results.cell_of(CELLS[0])
    team = configs.UserConfig(Path("/in/root/team.yaml"), "team.yaml")
    saved = configs.result(cell, "docker", "k", team, _fate("/in/root/team.yaml"), "nox -s x -- --config team.yaml")
    stale = {**configs.result(results.cell_of(CELLS[1]), "venv", "k", team, _fate("/repo/team.yaml"), "nox"),
             "current": False}
    built = _build(CELLS, config_results=[saved, stale], definition_configs=["team.yaml"])
    text = report.markdown(built)
    section = text[text.index("### team.yaml"):]
    assert f"| {cell.id} | 1/3 ✓, smoke ✗ (new break) | `training.warmup_steps` changed, `training.size_sup` " \
           "ignored |" in section, "the table row: keys as written, the smoke run, the verdict"
    assert f"| {CELLS[1]['id']} | 1/3 ✓, smoke ✗ (stale) |" in section, "a result of an older config is stale"
    assert "- `training.warmup_steps` (team.yaml:4:3): **changed** 0.1 → 2: a ratio below 1" in section, \
        "each key with its line in the user's file (not where a container saw it), its change and why"
    assert "- data `data.train_data`: data/train.json is not on this machine" in section, "replaced data is said"
    assert "- smoke training failed at gliner/model.py:915 (freeze_components)" in section
    assert "nox -s x -- --config team.yaml" in section, "and the command that proves it again alone"
    assert built["configs_expected"][0]["state"] == "new break", \
        "the current result is compared: no rule predicts its findings"
    assert CELLS[1]["id"] not in {e["id"] for e in built["configs_expected"] if e["state"] != "not run"}, \
        "a stale result is never compared"


def test_the_same_packages_with_another_verdict_on_another_python_is_a_finding_of_its_own() -> None:
    on_311 = _result("2.13.0", "5.0.0", "0.2.29", "broken", [ONLY_OLD])
    on_313 = _result("2.13.0", "5.0.0", "0.2.29", python="3.13")
    same = [_result("2.13.0", "4.57.6", "0.2.29", python=p) for p in ("3.11", "3.13")]
    built = _build([on_311, on_313, *same])
    assert built["python_dependent"] == [{
        "pins": {"torch": "2.13.0", "transformers": "5.0.0", "gliner": "0.2.29"},
        "pythons": [{"python": "3.11", "id": on_311["id"], "status": "broken",
                     "findings": [ONLY_OLD["cause"], "gliner's path: training.lr_others [gliner-kwargs]"]},
                    {"python": "3.13", "id": on_313["id"], "status": "pass",
                     "findings": ["gliner's path: training.lr_others [gliner-kwargs]"]}]}], \
        "only pins whose verdicts differ between Pythons; the same verdict on 3.11 and 3.13 is no finding"
    text = report.markdown(built)
    assert "## Python-dependent verdicts" in text
    assert f"Python 3.13 (`{on_313['id']}`): pass" in text
    assert "## gliner 0.2.29 on Python 3.11" in text, "one table per gliner and Python where the report has several"
    assert "## gliner 0.2.29 on Python 3.13" in text
    assert "PYTHON-DEPENDENT" in report.terminal(built)


def test_a_cell_not_run_here_is_shown_as_such_with_why() -> None:
    why = "no Python 3.13 on this machine (No interpreter found): install it or run it in its image (-- --docker)"
    missing = _result("2.13.0", "5.0.0", "0.2.29", "unavailable", gliner_breaks=(), reason=why, python="3.13")
    built = _build([_result("2.13.0", "5.0.0", "0.2.29"), missing])
    text = report.markdown(built)
    assert "| 2.13.0 | not run here |" in text, "in the table of its Python, marked as not run here"
    assert why in text, "with the reason and the fix"
    assert built["python_dependent"] == [], "a cell that did not run is no verdict to compare"
    assert built["expected"][1]["state"] == "not run here"


def test_a_floating_cell_that_did_not_run_leaves_the_pinned_cells_defects_computed() -> None:
    import dataclasses

    news = dataclasses.replace(definition.Cell("2.15.0", "5.16.1", "0.2.29"), floating="torch=latest")
    built = report.build(CELLS, definition_cells=[*(results.cell_of(c) for c in CELLS), news],
                         expected=rules.Rules(), definition_configs=[])
    independent = built["version_independent"]
    assert (independent["computed"], independent["over"], independent["of"]) == (True, 3, 4), \
        "news is apart: the pinned cells' common defects do not wait for it"
