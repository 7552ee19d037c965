"""End to end without stand-ins: the real lifecycle runs real pytest, with xdist, on a tiny suite that uses the real
conftest files and the real `covers` / `expect`, and reads back the real JUnit XML. One field passes, one breaks; a
worker that dies and a suite where nothing runs are errors, never a pass or a field."""

from __future__ import annotations

import importlib.metadata
import shutil
import textwrap
from pathlib import Path

import pytest
from harness import definition
from harness.run import cell, configs, results, runners
from harness.run.options import Options

ROOT = Path(__file__).parents[2]
# the versions installed here: the lifecycle checks that what it runs in is what the cell pins
CELL = definition.Cell(*(importlib.metadata.version(n).split("+")[0] for n in ("torch", "transformers", "gliner")))
TESTS = {
    "test_tiny.py": '''
        from layers import covers, expect

        @covers("ptbr", "training.seed")
        def test_seed_arrives():
            expect("training.seed", "ptbr", 7, 7, "the configured seed")

        @covers("ptbr", "training.lr_others")
        def test_zero_lr_arrives():
            expect("training.lr_others", "ptbr", 1e-05, 0.0, "0.0 is a value, not 'unset'")

        @covers("transformers", "training.eval_every", "data.val_data_dir")
        def test_training_crashes():
            raise TypeError("Trainer.__init__() got an unexpected keyword argument 'tokenizer'")
        ''',
    "test_crash.py": '''
        import os
        from layers import covers

        @covers("ptbr", "training.seed")
        def test_worker_dies():
            os._exit(3)
        ''',
    "test_unproven.py": '''
        from layers import covers, expect

        @covers("ptbr", "training.seed", "training.num_steps")
        def test_claims_two_fields_checks_one():
            expect("training.seed", "ptbr", 7, 7, "the configured seed")
        ''',
    "test_skipped.py": '''
        import pytest

        @pytest.mark.skip(reason="nothing to prove here")
        def test_nothing():
            pass
        ''',
}


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    """A project tree with the real pyproject.toml, conftest files, support and layers, and the tiny tests."""
    for name in ("pyproject.toml", "tests/conftest.py", "tests/support.py", "tests/propagation/conftest.py",
                 "tests/propagation/layers.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    for name, text in TESTS.items():
        (tmp_path / "tests" / "propagation" / name).write_text(textwrap.dedent(text))
    return tmp_path / "tests" / "propagation"


def _run(suite: Path, tmp_path: Path, *tests: str, workers: int = 1, **opts) -> results.CellResult:
    runner = runners.Installed("venv", "tiny", "this interpreter")
    options = Options(log=lambda _m: None, workers=workers, suite=[str(suite / t) for t in tests], **opts)
    return cell.run(CELL, runner, options, root=tmp_path / "cells")


def test_real_pytest_real_junit_one_field_passes_one_breaks(tiny_suite: Path, tmp_path: Path) -> None:
    result = _run(tiny_suite, tmp_path, "test_tiny.py")
    assert result["status"] == "broken"
    assert result["tests"] == {"tests": 3, "failures": 2, "errors": 0, "skipped": 0}
    by_field = {b["field"]: b for b in result["breaks"]}
    assert by_field["training.lr_others"] == {
        "layer": "ptbr", "field": "training.lr_others", "test": "tests/propagation/test_tiny.py::test_zero_lr_arrives",
        "message": "training.lr_others [ptbr]: expected 0.0, got 1e-05 (0.0 is a value, not 'unset')", "cause": None}
    crash = by_field["training.eval_every,data.val_data_dir"]
    assert crash["cause"] == "TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'", \
        "an exception is charged to its test once, with the exception"
    assert "training.seed" not in by_field, "the passing field is not a break"
    assert (result["workers"], result["stack_imports"]) == (1, 1), "one process, which imported the stack once"


def test_a_config_is_proven_by_ptbr_in_the_suites_own_process(tiny_suite: Path, tmp_path: Path) -> None:
    """The real `ptbr prove` of the example, after the real suite, in the process that imported the stack."""
    chosen = configs.expand(["examples/tiny.yaml"], ROOT)
    result = _run(tiny_suite, tmp_path, "test_unproven.py", configs=chosen)
    assert result["status"] == "broken", "the suite ran and judged first"
    assert result["stack_imports"] == 1, "the configs cost no import of their own"
    assert {"import_s", "suite_s", "configs_s"} <= set(result["timings"])
    saved = configs.load(CELL.id, chosen[0], tmp_path / "cells")
    assert saved["error"] is None, saved["error"]
    assert saved["fate"]["smoke"]["status"] == "trained", "its smoke training ran"
    fates = {k["key"]: k["fate"] for k in saved["fate"]["keys"]}
    assert fates["training.lr_encoder"] == "arrives", "its keys read back on the installed versions"


def test_real_worker_crash_is_an_error_at_once(tiny_suite: Path, tmp_path: Path) -> None:
    """A worker that dies ends the cell's run at once (no worker is started in its place, where xdist 3.8 can
    deadlock until the timeout), an error naming the test it died on, never a field broken for it."""
    import time

    start = time.monotonic()
    result = _run(tiny_suite, tmp_path, "test_crash.py", "test_tiny.py", workers=2, timeout_s=300)
    assert time.monotonic() - start < 60, "ended within seconds of the crash, not at the timeout"
    assert (result["status"], result["breaks"]) == ("error", [])
    assert "crashed while running tests/propagation/test_crash.py::test_worker_dies" in result["reason"]
    assert result["workers"] == 2
    assert result["stack_imports"] == 3, "pytest's own process and each worker import it; none is started in place"


def test_real_suite_where_nothing_runs_is_an_error(tiny_suite: Path, tmp_path: Path) -> None:
    result = _run(tiny_suite, tmp_path, "test_skipped.py")
    assert result["status"] == "error"
    assert result["reason"].startswith("no test ran (1 collected, 1 skipped)")


def test_a_test_claiming_a_field_it_never_checks_fails_naming_it(tiny_suite: Path, tmp_path: Path) -> None:
    result = _run(tiny_suite, tmp_path, "test_unproven.py")
    (found,) = result["breaks"]
    assert found["message"].startswith("training.num_steps [ptbr]: claimed by @covers but never checked with expect()")
