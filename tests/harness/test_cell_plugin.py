"""The cell's one run (harness/run/cell_plugin.py) with real pytest: the import is its first step, each process
records itself, and the configs are proven after the suite's verdict is written, by PTBR's own command in the same
process. A cheap module stands in for the stack (``--cell-stack``) where the stack itself is not what is tested."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from harness.run import cell_plugin, records

ROOT = Path(__file__).parents[2]
PASSING = "def test_one():\n    assert True\n"


def _suite(tmp_path: Path, conftest: str = "", files: int = 1) -> Path:
    """A tiny suite; its conftest writes ``conftest-loaded`` when pytest loads it."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(textwrap.dedent(f"""\
        from pathlib import Path
        Path({str(tmp_path / "conftest-loaded")!r}).write_text("yes")
        """) + textwrap.dedent(conftest))
    for n in range(files):
        (suite / f"test_{n}.py").write_text(PASSING)
    return suite


def _pytest(tmp_path: Path, suite: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "pytest", "-p", "harness.run.cell_plugin", "--cell-record", str(tmp_path / "stage"),
            "-p", "no:cacheprovider", "-p", "no:randomly", f"--junitxml={tmp_path / 'junit.xml'}", str(suite), *args]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_a_stack_that_does_not_import_ends_the_run_before_any_conftest_or_test(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    ran = _pytest(tmp_path, suite, "--cell-stack", "json,ptbr_no_such_module")
    assert ran.returncode == cell_plugin.IMPORT_FAILED, ran.stderr
    assert not (tmp_path / "conftest-loaded").exists(), "the import is the run's first step"
    (found,) = records.read(tmp_path / "stage")
    assert (found["role"], found["imported"]) == ("starting", False)
    assert "ModuleNotFoundError: No module named 'ptbr_no_such_module'" in found["error"], "the reason, as raised"
    assert records.main([found]) == found, "the one process there was is the run's own"


@pytest.mark.parametrize("workers", [1, 2])
def test_each_process_records_its_import_and_the_runs_own_the_suite(tmp_path: Path, workers: int) -> None:
    """Run here under xdist, so each process inherits a worker's environment: a record must not trust it."""
    suite = _suite(tmp_path, files=2)
    ran = _pytest(tmp_path, suite, "--cell-stack", "json", *(["-n", str(workers)] if workers > 1 else []))
    assert ran.returncode == 0, ran.stdout[-2000:]
    found = records.read(tmp_path / "stage")
    roles = sorted(r["role"] for r in found)
    assert roles == (["main"] if workers == 1 else ["main", "worker", "worker"]), \
        "one process without xdist; with it, pytest's own and each worker, each having imported the stack"
    assert all(r["imported"] and r["import_s"] is not None for r in found)
    main = records.main(found)
    assert (main["exitstatus"], main["suite_s"] is not None) == (0, True), "the run's own process: the suite's end"


# In the suite's conftest (its process): PTBR's proving of one config stood in for, so that a config can end the
# process as a crash would; the rest of `ptbr prove` (its command, writing each result as it comes) is real.
STAND_IN = """
    import os
    from ptbr import prove

    def _prove_one(path, work, smoke, log):
        with open(path.parent / "proven-by", "a") as proven_by:
            proven_by.write(f"{os.getpid()} {path.name}\\n")
        if path.name == "dies.yaml":
            os._exit(9)
        return {"schema_version": 2, "config": str(path), "findings": [], "seconds": 0.0}

    prove._prove_one = _prove_one
    """


def test_the_suites_verdict_is_written_before_the_configs_and_a_crash_keeps_the_configs_before(tmp_path: Path
                                                                                               ) -> None:
    suite = _suite(tmp_path, STAND_IN)
    for name in ("first.yaml", "dies.yaml", "last.yaml"):
        (tmp_path / name).write_text("{}\n")
    ran = _pytest(tmp_path, suite, "--cell-stack", "json",
                  *[w for n in ("first.yaml", "dies.yaml", "last.yaml") for w in ("--cell-prove", str(tmp_path / n))])
    assert ran.returncode == 9, "the process died while proving dies.yaml"
    assert 'tests="1"' in (tmp_path / "junit.xml").read_text(), "pytest's JUnit XML was whole before the configs"
    main = records.main(records.read(tmp_path / "stage"))
    assert main["exitstatus"] == 0, "and the suite's exit status recorded"
    assert (main["configs"]["asked"], main["configs"]["done"]) == (3, False), "the configs had begun, not ended"
    proofs = json.loads((tmp_path / "stage" / "prove" / "proofs.json").read_text())
    assert [Path(p["config"]).name for p in proofs["configs"]] == ["first.yaml"], \
        "`ptbr prove --out` wrote the config proven before the crash"


def test_proving_leaves_the_environment_and_directory_as_it_found_them(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from ptbr import cli

    def misbehaving(argv: list[str]) -> int:
        os.environ["LEFT_BY_PROVING"] = "1"
        os.chdir(tmp_path)
        raise RuntimeError("a defect of PTBR")

    monkeypatch.setattr(cli, "main", misbehaving)
    environ, here = dict(os.environ), Path.cwd()
    done = cell_plugin._prove(["a.yaml"], None, tmp_path / "prove")
    assert "RuntimeError: a defect of PTBR" in done["error"], "a defect is the configs' error, not the run's end"
    assert (dict(os.environ), Path.cwd()) == (environ, here), "the environment and directory are restored"


def test_the_run_ends_with_pytests_own_exit_status(tmp_path: Path) -> None:
    """The run's own process ends without Python's clean-up of the stack, with the status pytest would end with."""
    suite = _suite(tmp_path)
    (suite / "test_fails.py").write_text("def test_fails():\n    assert False\n")
    ran = _pytest(tmp_path, suite, "--cell-stack", "json")
    assert ran.returncode == 1, "a failing test: pytest's exit 1"
    assert "1 failed, 1 passed" in ran.stdout, "and its summary was printed before the end"


def test_only_the_runs_own_process_proves_the_configs_under_xdist(tmp_path: Path) -> None:
    suite = _suite(tmp_path, STAND_IN, files=2)
    for name in ("first.yaml", "last.yaml"):
        (tmp_path / name).write_text("{}\n")
    ran = _pytest(tmp_path, suite, "--cell-stack", "json", "-n", "2",
                  *[w for n in ("first.yaml", "last.yaml") for w in ("--cell-prove", str(tmp_path / n))])
    assert ran.returncode == 0, ran.stdout[-2000:]
    main = records.main(records.read(tmp_path / "stage"))
    assert (tmp_path / "proven-by").read_text().split() == [str(main["pid"]), "first.yaml", str(main["pid"]),
                                                            "last.yaml"], "each config once, by pytest's process"


def test_the_runs_own_record_is_the_one_that_says_so_wherever_it_is() -> None:
    worker = {"role": "worker", "pid": 1, "imported": True, "exitstatus": 0}
    own = {"role": "main", "pid": 9, "imported": True, "exitstatus": 1}
    assert records.main([worker, own, {**worker, "pid": 12}]) == own, "not the first record, nor the lowest pid"
    starting = {"role": "starting", "pid": 3, "imported": False, "error": "ImportError"}
    assert records.main([starting]) == starting, "a run that never got past its import: its one process"
    assert records.main([worker, {**starting, "pid": 4}]) == {}, "a worker that failed is not the run's own process"
