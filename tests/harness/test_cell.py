"""One cell's run: every way it can end is a result with a status, written atomically; current results are reused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakes import junit_xml
from harness import cell, definition, results

CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")


def _run(fake_env, tmp_path: Path, **opts) -> results.CellResult:
    python, installer, _, _ = fake_env
    options = cell.Options(installer=installer, log=lambda _m: None, **opts)
    return cell.run(CELL, python, options, root=tmp_path / "cells")


def _saved(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "cells" / CELL.id / "result.json").read_text())


def test_passing_cell_records_pins_resolution_and_support(fake_env, tmp_path) -> None:
    result = _run(fake_env, tmp_path)
    assert result["status"] == "pass"
    assert result["requested"] == {"torch": "2.13.0", "transformers": "5.0.0", "gliner": "0.2.29"}
    assert result["resolved"]["torch"] == "2.13.0+cpu"
    assert result["declared_support"] == {"gliner_requires": "transformers<5.17.0,>=4.51.3", "inside": True,
                                          "override": False}
    assert _saved(tmp_path) == result, "the result on disk is the result returned"


def test_install_failure_records_the_resolvers_reason(fake_env, tmp_path) -> None:
    _, _, _, installer = fake_env
    installer.with_suffix(".fail").write_text("× No solution found when resolving dependencies:\n"
                                              "╰─▶ Because gliner==0.2.29 depends on transformers<5.17.0 ...")
    result = _run(fake_env, tmp_path)
    assert result["status"] == "install-failed"
    assert "No solution found" in result["reason"]
    assert "transformers<5.17.0" in result["reason"]


def test_resolved_versions_must_equal_the_pins(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(resolved={"torch": "2.13.0", "transformers": "5.16.1", "gliner": "0.2.29"})
    result = _run(fake_env, tmp_path)
    assert result["status"] == "install-failed"
    assert result["reason"] == "resolved versions differ from the pins: transformers 5.16.1 (pinned 5.0.0)"


def test_import_failure_is_its_own_status(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(import_error="ImportError: cannot import name 'Trainer' from 'transformers'")
    result = _run(fake_env, tmp_path)
    assert result["status"] == "import-failed"
    assert "cannot import name 'Trainer'" in result["reason"]


def test_hanging_suite_times_out_and_is_killed(fake_env, tmp_path) -> None:
    python, _, behave, _ = fake_env
    behave(hang=True)
    result = _run(fake_env, tmp_path, timeout_s=2)
    assert result["status"] == "timeout"
    pid = int((python.parent / "pytest.pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the suite's process group was killed


def test_crashing_suite_is_an_error(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(crash=True)
    result = _run(fake_env, tmp_path)
    assert result["status"] == "error"
    assert result["reason"].startswith("pytest exit -11")


def test_failures_become_breaks_by_layer(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(pytest_exit=1, junit=junit_xml(
        ("test_a", "ptbr", "AssertionError: training.lr_others [ptbr]: expected 0.0, got 1e-05 (rule)"),
        ("test_b", "gliner-kwargs", "AssertionError: training.lr_others [gliner-kwargs]: expected 0.0, got 1e-05"),
        ("test_c", "transformers", None)))
    result = _run(fake_env, tmp_path)
    assert result["status"] == "broken"
    assert result["breaks"] == [{"layer": "ptbr", "field": "training.lr_others",
                                 "test": "tests/propagation/test_fake.py::test_a",
                                 "message": "training.lr_others [ptbr]: expected 0.0, got 1e-05 (rule)"}]
    assert result["gliner_path"]["status"] == "broken"
    assert "tests/propagation/test_fake.py::test_a" in result["repro"]["nox"]


def test_only_gliner_path_failures_leave_the_cell_passing(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(pytest_exit=1, junit=junit_xml(("test_b", "gliner-kwargs", "AssertionError: x [gliner-kwargs]: no")))
    result = _run(fake_env, tmp_path)
    assert (result["status"], result["gliner_path"]["status"]) == ("pass", "broken")


def test_current_result_is_reused_without_installing(fake_env, tmp_path) -> None:
    _, _, _, installer = fake_env
    first = _run(fake_env, tmp_path)
    second = _run(fake_env, tmp_path)
    assert second == first
    assert len(installer.with_suffix(".calls").read_text().splitlines()) == 1


def test_rerun_runs_again_but_reuses_an_unchanged_environment(fake_env, tmp_path) -> None:
    _, _, _, installer = fake_env
    first = _run(fake_env, tmp_path)
    second = _run(fake_env, tmp_path, rerun=True)
    assert second["finished_at"] >= first["finished_at"]
    assert len(installer.with_suffix(".calls").read_text().splitlines()) == 1, "same pins: no second install"


def test_result_from_other_code_or_pins_is_not_current(fake_env, tmp_path) -> None:
    _run(fake_env, tmp_path)
    saved = _saved(tmp_path)
    saved["fingerprint"] = "0" * 16
    results.save(saved, tmp_path / "cells")
    assert _run(fake_env, tmp_path)["fingerprint"] == results.fingerprint(CELL)


def test_override_cell_installs_with_an_override(fake_env, tmp_path) -> None:
    python, installer, _, installer_path = fake_env
    outside = definition.Cell("2.13.0", "5.24.0", "0.2.29", override=True)
    opts = cell.Options(installer=installer, log=lambda _m: None)
    result = cell.run(outside, python, opts, root=tmp_path / "cells")
    call = json.loads(installer_path.with_suffix(".calls").read_text().splitlines()[-1])
    assert "--override" in call
    assert result["status"] == "install-failed"  # the fake resolves 5.0.0, not the pinned 5.24.0
    assert result["declared_support"]["override"] is True


def test_interrupted_write_leaves_the_previous_result_whole(tmp_path, monkeypatch) -> None:
    path = tmp_path / "result.json"
    results.write_atomic(path, '{"status": "pass"}')

    def interrupted(*_a):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        results.write_atomic(path, '{"status": "broken", "half": ')
    assert json.loads(path.read_text()) == {"status": "pass"}


def test_a_repro_run_of_selected_tests_runs_only_those_and_is_not_current(fake_env, tmp_path) -> None:
    _run(fake_env, tmp_path)
    test = "tests/propagation/test_layer1_ptbr.py::test_prev_path_loads_that_model"
    result = _run(fake_env, tmp_path, pytest_args=[test])
    argv = json.loads((fake_env[0].parent / "pytest.argv").read_text())
    assert result["selection"] == [test]
    assert test in argv
    assert "tests/propagation" not in argv, "only the selected test runs, not the whole suite"
    again = _run(fake_env, tmp_path)
    assert again["selection"] is None, "after a subset run, the whole suite runs again"
