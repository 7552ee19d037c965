"""One cell's run: every way it can end is a result with a status that says what was observed, written atomically;
only a conclusive result of the same inputs is reused; a repro run never replaces the full result."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakes import junit_xml
from harness import definition
from harness.run import cell, options, output, pins, probe, process, results, runners, sources
from harness.run.options import Hooks, Options

CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")
VALUE_BREAK = "AssertionError: training.lr_others [ptbr]: expected 0.0, got 1e-05 (rule)"


def _run(fake_env, tmp_path: Path, **opts) -> results.CellResult:
    python, installer, _, _ = fake_env
    options = Options(installer=installer, log=lambda _m: None, **opts)
    return cell.run(CELL, runners.Venv(python), options, root=tmp_path / "cells")


def _saved(tmp_path: Path, repro: bool = False) -> dict:
    return json.loads((results.result_dir(CELL.id, repro, tmp_path / "cells") / "result.json").read_text())


def _installs(fake_env) -> int:
    calls = fake_env[3].with_suffix(".calls")
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def _suites(fake_env) -> int:
    """How many times the suite ran."""
    calls = fake_env[0].parent / "pytest.calls"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def test_passing_cell_records_pins_resolution_support_and_what_ran(fake_env, tmp_path) -> None:
    result = _run(fake_env, tmp_path)
    assert result["status"] == "pass"
    assert result["conclusive"] is True
    assert result["requested"] == {"torch": "2.13.0", "transformers": "5.0.0", "gliner": "0.2.29", "python": "3.11"}
    assert result["python"] == "3.11.7", "the interpreter the cell ran on, as the environment reports it"
    assert result["resolved"]["torch"] == "2.13.0+cpu"
    assert result["installed"] == {"torch": "2.13.0+cpu", "ptbr": "0.1.0"}, "every installed distribution"
    assert result["tests"] == {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}
    assert result["declared_support"] == {"gliner_requires": "transformers<5.17.0,>=4.51.3", "inside": True,
                                          "override": False}
    assert _saved(tmp_path) == result, "the result on disk is the result returned"


def test_result_files_are_readable_by_others(fake_env, tmp_path) -> None:
    os.umask(0o077)  # even where the caller's umask would hide them
    try:
        _run(fake_env, tmp_path)
    finally:
        os.umask(0o022)
    for name in ("result.json", "junit.xml", "pytest.log"):
        assert (tmp_path / "cells" / CELL.id / name).stat().st_mode & 0o777 == 0o644, name


def test_install_is_exact_and_records_a_resolver_conflict_as_conclusive(fake_env, tmp_path) -> None:
    _, _, _, installer = fake_env
    installer.with_suffix(".fail").write_text("× No solution found when resolving dependencies:\n"
                                              "╰─▶ Because gliner==0.2.29 depends on transformers<5.17.0 ...")
    result = _run(fake_env, tmp_path)
    assert (result["status"], result["conclusive"]) == ("install-failed", True)
    assert "transformers<5.17.0" in result["reason"]
    call = json.loads(installer.with_suffix(".calls").read_text().splitlines()[0])
    assert "--exact" in call, "the environment holds what the cell asks for and nothing else"
    assert _run(fake_env, tmp_path) == result
    assert _installs(fake_env) == 1, "a resolver conflict is reused: the same inputs give the same verdict"


def test_a_network_failure_during_install_is_not_reused(fake_env, tmp_path) -> None:
    _, _, _, installer = fake_env
    installer.with_suffix(".fail").write_text("error: Failed to fetch: `https://pypi.org/simple/torch/`\n"
                                              "Caused by: dns error: failed to lookup address information")
    first = _run(fake_env, tmp_path)
    assert (first["status"], first["conclusive"]) == ("install-failed", False)
    installer.with_suffix(".fail").unlink()
    assert _run(fake_env, tmp_path)["status"] == "pass", "an inconclusive result reruns by itself"


@pytest.mark.parametrize("behaviour", [{"hang": True}, {"crash": True}], ids=["timeout", "error"])
def test_timeouts_and_errors_rerun_by_themselves(fake_env, tmp_path, behaviour) -> None:
    _, _, behave, _ = fake_env
    behave(**behaviour)
    assert _run(fake_env, tmp_path, timeout_s=2)["conclusive"] is False
    behave()
    assert _run(fake_env, tmp_path)["status"] == "pass"


def test_install_timeout_is_a_timeout(fake_env, tmp_path) -> None:
    fake_env[3].with_suffix(".hang").write_text("")
    result = _run(fake_env, tmp_path, install_timeout_s=1)
    assert result["status"] == "timeout"
    assert "install" in result["reason"]


def test_probe_timeout_is_a_timeout(fake_env, tmp_path, monkeypatch) -> None:
    fake_env[2](probe_hang=True)
    monkeypatch.setattr(probe, "PROBE_TIMEOUT_S", 1)
    assert _run(fake_env, tmp_path)["status"] == "timeout"


def test_resolved_versions_must_equal_the_pins(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(resolved={"torch": "2.13.0", "transformers": "5.16.1", "gliner": "0.2.29"})
    result = _run(fake_env, tmp_path)
    assert result["status"] == "install-failed"
    assert result["reason"] == "resolved versions differ from the pins: transformers 5.16.1 (pinned 5.0.0)"


def test_an_unreadable_version_probe_is_an_error(fake_env, tmp_path) -> None:
    fake_env[2](probe_output="Segmentation fault (core dumped)")
    result = _run(fake_env, tmp_path)
    assert result["status"] == "error"
    assert result["reason"].startswith("the version probe printed something unreadable")


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


@pytest.mark.parametrize(("signum", "said"), [
    (11, "the suite was killed by signal 11 (SIGSEGV; a crash in native code)"),
    (9, "the suite was killed by signal 9 (SIGKILL; out of memory? the kernel's OOM killer sends it)"),
], ids=["SIGSEGV", "SIGKILL"])
def test_a_suite_killed_by_a_signal_is_an_error_naming_it_with_its_outputs_end(fake_env, tmp_path, signum: int,
                                                                              said: str) -> None:
    _, _, behave, _ = fake_env
    behave(killed_by=signum)
    result = _run(fake_env, tmp_path)
    assert result["status"] == "error"
    assert result["reason"].startswith(said), result["reason"]
    assert "test_layer2_transformers.py" in result["reason"], "with the end of its output"


@pytest.mark.parametrize(("junit", "exit_code", "reason"), [
    pytest.param(junit_xml(), 5, "pytest exit 5", id="no-tests-collected"),
    pytest.param(junit_xml(("test_a", "ptbr", None)).replace('time="0.1">', 'time="0.1"><skipped/>'), 0,
                 "no test ran (1 collected, 1 skipped)", id="all-skipped"),
    pytest.param(None, 0, "pytest wrote no JUnit XML", id="no-junit"),
    pytest.param("<testsuites><testsuite", 0, "the JUnit XML cannot be read", id="malformed-junit"),
    pytest.param(junit_xml(("test_a", "ptbr", None)), 1, "pytest exit 1 with 0 failing test(s)",
                 id="exit-1-without-failure"),
    pytest.param(junit_xml(("test_a", "gliner-kwargs", "worker 'gw1' crashed while running 'tests/x.py::test_a'")),
                 1, "an xdist worker crashed while running tests/propagation/test_fake.py::test_a",
                 id="worker-crash"),
])
def test_what_the_harness_cannot_judge_is_an_error_never_a_pass_or_a_field(fake_env, tmp_path, junit, exit_code,
                                                                          reason) -> None:
    fake_env[2](junit=junit, pytest_exit=exit_code)
    result = _run(fake_env, tmp_path)
    assert (result["status"], result["breaks"]) == ("error", [])
    assert result["reason"].startswith(reason)


def test_value_failures_become_field_breaks_by_layer(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(pytest_exit=1, junit=junit_xml(
        ("test_a", "ptbr", VALUE_BREAK),
        ("test_b", "gliner-kwargs", "AssertionError: training.lr_others [gliner-kwargs]: expected 0.0, got 1e-05"),
        ("test_c", "transformers", None)))
    result = _run(fake_env, tmp_path)
    assert result["status"] == "broken"
    assert result["breaks"] == [{"layer": "ptbr", "field": "training.lr_others",
                                 "test": "tests/propagation/test_fake.py::test_a",
                                 "message": "training.lr_others [ptbr]: expected 0.0, got 1e-05 (rule)",
                                 "cause": None}]
    assert result["gliner_path"]["status"] == "broken"
    assert "tests/propagation/test_fake.py::test_a" in result["repro"]["nox"]


def test_a_wrong_loss_trace_is_a_value_break_not_an_exception(fake_env, tmp_path) -> None:
    fake_env[2](pytest_exit=1, junit=junit_xml(
        ("test_trace", "e2e", "AssertionError: loss trace [e2e]: expected the golden trace, got another (rtol 0.5 %)")))
    (found,) = _run(fake_env, tmp_path)["breaks"]
    assert (found["field"], found["layer"], found["cause"]) == ("loss trace", "e2e", None)


def test_an_exception_is_charged_to_the_test_once_not_to_each_field(fake_env, tmp_path) -> None:
    crash = "TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'"
    fake_env[2](pytest_exit=1, junit=junit_xml(("test_a", "transformers", crash),
                                               fields="training.eval_every,data.val_data_dir,training.seed"))
    result = _run(fake_env, tmp_path)
    assert len(result["breaks"]) == 1, "one failing test is one break"
    assert result["breaks"][0]["cause"] == crash
    assert result["breaks"][0]["field"] == "training.eval_every,data.val_data_dir,training.seed", \
        "the fields it left unproven"


def test_only_gliner_path_failures_leave_the_cell_passing(fake_env, tmp_path) -> None:
    _, _, behave, _ = fake_env
    behave(pytest_exit=1, junit=junit_xml(("test_b", "gliner-kwargs", "AssertionError: x [gliner-kwargs]: no")))
    result = _run(fake_env, tmp_path)
    assert (result["status"], result["gliner_path"]["status"]) == ("pass", "broken")


def test_current_result_is_reused_without_installing(fake_env, tmp_path) -> None:
    first = _run(fake_env, tmp_path)
    second = _run(fake_env, tmp_path)
    assert second == first
    assert (_installs(fake_env), _suites(fake_env)) == (1, 1), "nothing ran again"


def test_a_result_is_not_reused_once_the_environment_changed(fake_env, tmp_path) -> None:
    _run(fake_env, tmp_path)
    fake_env[2](installed={"torch": "2.13.0+cpu", "ptbr": "0.1.0", "something-installed-by-hand": "1.0"})
    _run(fake_env, tmp_path)
    assert _suites(fake_env) == 2, "the suite ran again"
    assert _saved(tmp_path)["installed"]["something-installed-by-hand"] == "1.0", "and the result says in what"


def test_rerun_runs_again_but_reuses_an_unchanged_environment(fake_env, tmp_path) -> None:
    _run(fake_env, tmp_path)
    _run(fake_env, tmp_path, rerun=True)
    assert _suites(fake_env) == 2, "--rerun runs the suite again"
    assert _installs(fake_env) == 1, "same pins: no second install"


def test_a_changed_lock_file_installs_again(fake_env, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pins, "LOCKS", tmp_path / "locks")
    (tmp_path / "locks").mkdir()
    CELL.lock.write_text("gliner==0.2.29\n")
    _run(fake_env, tmp_path)
    CELL.lock.write_text("gliner==0.2.29\nnumpy==2.3.0\n")  # `nox -s lock` rewrote it in place
    result = _run(fake_env, tmp_path)
    assert _installs(fake_env) == 2, "the venv marker holds the lock's content, not its path"
    assert result["fingerprint"] == results.fingerprint(CELL)


def test_result_from_other_code_or_pins_is_not_current(fake_env, tmp_path) -> None:
    _run(fake_env, tmp_path)
    saved = _saved(tmp_path)
    saved["fingerprint"] = "0" * 16
    results.save(saved, tmp_path / "cells")
    assert _run(fake_env, tmp_path)["fingerprint"] == results.fingerprint(CELL)


def test_override_cell_installs_with_an_override(fake_env, tmp_path) -> None:
    python, installer, _, installer_path = fake_env
    outside = definition.Cell("2.13.0", "5.24.0", "0.2.29", override=True)
    opts = Options(installer=installer, log=lambda _m: None)
    result = cell.run(outside, runners.Venv(python), opts, root=tmp_path / "cells")
    call = json.loads(installer_path.with_suffix(".calls").read_text().splitlines()[-1])
    assert "--override" in call
    assert result["status"] == "install-failed"  # the fake resolves 5.0.0, not the pinned 5.24.0
    assert result["declared_support"]["override"] is True


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), OSError(28, "No space left on device")],
                         ids=["interrupt", "full-disk"])
def test_a_write_that_fails_leaves_the_previous_result_whole_and_no_half_file(tmp_path, monkeypatch,
                                                                              failure) -> None:
    path = tmp_path / "result.json"
    results.write_atomic(path, '{"status": "pass"}')

    def fails(*_a):
        raise failure

    monkeypatch.setattr(os, "replace", fails)
    with pytest.raises(type(failure)):
        results.write_atomic(path, '{"status": "broken", "half": ')
    assert json.loads(path.read_text()) == {"status": "pass"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"], "no temporary file is left beside it"


@pytest.mark.parametrize("args", [
    ["tests/propagation/test_layer1_ptbr.py::test_prev_path_loads_that_model"],
    ["-x"], ["-k", "lr_others"], ["--collect-only"],
], ids=["test-id", "-x", "-k", "--collect-only"])
def test_a_repro_run_is_stored_apart_and_never_replaces_the_full_result(fake_env, tmp_path, args) -> None:
    full = _run(fake_env, tmp_path)
    fake_env[2](pytest_exit=1, junit=junit_xml(("test_a", "ptbr", VALUE_BREAK)))
    repro = _run(fake_env, tmp_path, pytest_args=args)
    argv = json.loads((fake_env[0].parent / "pytest.argv").read_text())
    assert repro["selection"] == args
    assert argv[-len(args):] == args
    assert ("tests/propagation" in argv) == args[0].startswith("-"), "test ids replace the suite; options do not"
    assert _saved(tmp_path) == full, "the full result is untouched"
    assert _saved(tmp_path, repro=True) == repro
    assert _run(fake_env, tmp_path) == full, "and still current"


def test_each_stage_logs_a_line_and_the_tests_their_progress(fake_env, tmp_path) -> None:
    lines: list[str] = []
    fake_env[2](pytest_output="[ 40/133]\n[ 133/133]")
    python, installer, _, _ = fake_env
    cell.run(CELL, runners.Venv(python), Options(installer=installer, log=lines.append), root=tmp_path / "cells")
    stages = [line.split(": ", 1)[1] for line in lines if line.count(":") == 1]
    assert [s for s in stages if s in ("install", "import", "tests")] == ["install", "tests"], \
        f"the import is the first step of the run the tests are in: {lines}"

    progress = output.Progress(CELL, Options(log=lines.append), "tests", every_s=0)
    progress("created: 2/2 workers\n2 workers [133 items]\n")
    assert lines[-1] == f"{CELL.id}: tests 0 of 133 done (2 workers collected them)", \
        "the count of tests is shown as soon as xdist has collected them, before the first test ends"
    progress("...... [ 12/133]\n...")
    assert lines[-1] == f"{CELL.id}: tests 12 of 133 done"
    install = output.Progress(CELL, Options(log=lines.append), "install")
    install(" Downloading torch (181.2MiB)\n Downloading tor")
    install("ch (181.2MiB)\nResolved 48 packages in 1.2s\n")
    assert lines[-2:] == [f"{CELL.id}: install: Downloading torch (181.2MiB)",
                          f"{CELL.id}: install: Resolved 48 packages in 1.2s"], "each event once, whole lines"


def test_every_cell_prints_its_broken_fields_and_causes_when_it_finishes(fake_env, tmp_path) -> None:
    lines: list[str] = []
    crash = "TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'"
    fake_env[2](pytest_exit=1, junit=junit_xml(("test_a", "ptbr", VALUE_BREAK), ("test_b", "e2e", crash),
                                               ("test_c", "transformers", crash), fields="training.a,training.b"))
    python, installer, _, _ = fake_env
    cell.run(CELL, runners.Venv(python), Options(installer=installer, log=lines.append), root=tmp_path / "cells")
    broken = [line for line in lines if line.startswith("BROKEN")]
    assert broken[0].startswith("BROKEN training.lr_others [ptbr]: expected 0.0, got 1e-05")
    assert broken[1] == f"BROKEN {crash} [e2e,transformers]: 2 tests, 2 fields unproven (training.a, training.b)"


def test_the_fingerprint_sees_every_input_of_a_result(checkout: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    subprocess.run(["git", "add", "-A"], cwd=checkout, check=True)

    def key(runner: str = "venv", torch: str = "torch==2.13.0+cpu") -> str:
        return results.fingerprint(CELL, runner, torch, root=checkout)

    base, docker_base = key(), key("docker")
    assert docker_base != base, "a venv result is not a Docker result"
    assert key(torch="torch==2.13.0") != base, "another torch build (PyPI's, with CUDA) is another cell"
    (checkout / "tests" / "propagation" / "__pycache__").mkdir(exist_ok=True)
    (checkout / "tests" / "propagation" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert key() == base, "files git ignores are not inputs"
    (checkout / "Dockerfile").write_text((checkout / "Dockerfile").read_text() + "# edited\n")
    assert (key(), key("docker") != docker_base) == (base, True), "the Dockerfile is an input of Docker runs only"
    for edit in ("harness/run/cell.py", "tests/propagation/test_new_field.py"):  # the harness; a file not yet added
        (checkout / edit).write_text(((checkout / edit).read_text() if (checkout / edit).exists() else "") + "#\n")
        assert key() != base, f"{edit} is an input"
        base = key()


def test_a_cell_installs_without_compiling_and_its_python_writes_what_it_imports(fake_env, tmp_path,
                                                                               monkeypatch) -> None:
    """Byte-compiling every installed file was the largest stage of a cold cell: uv is told not to, and the cell's
    Python may write the .pyc files of what it imports even where the machine sets PYTHONDONTWRITEBYTECODE."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    python, installer, _, _ = fake_env
    seen: list[dict[str, str] | None] = []
    real_call = process.call

    def call(argv, timeout, env=None, **kwargs):  # the process boundary: what each step is started with
        seen.append(env)
        return real_call(argv, timeout, env=env, **kwargs)

    monkeypatch.setattr(process, "call", call)
    cell.run(CELL, runners.Venv(python), Options(installer=installer, log=lambda _m: None), root=tmp_path / "cells")
    python_check, install, *steps = seen
    assert python_check is None, "first the virtualenv's Python is read (it is the cell's: nothing to make)"
    assert install["UV_COMPILE_BYTECODE"] == "0", "the installer compiles nothing up front"
    assert steps, "the probe, the import and the suite ran"
    assert all("PYTHONDONTWRITEBYTECODE" not in env for env in steps), "the cell's Python writes its .pyc files"


CELL_313 = definition.Cell("2.13.0", "5.0.0", "0.2.29", python="3.13")


def test_a_cell_whose_python_this_machine_lacks_is_not_run_here_with_the_fix(fake_env, tmp_path, monkeypatch
                                                                            ) -> None:
    _python, installer, _, _ = fake_env
    monkeypatch.setattr(runners, "interpreter", lambda version: (
        None, f"error: No interpreter found for Python {version} in managed installations or search path"))
    venv = runners.Venv(tmp_path / "cell-venv" / "bin" / "python")
    result = cell.run(CELL_313, venv, Options(installer=installer, log=lambda _m: None), root=tmp_path / "cells")
    assert (result["status"], result["conclusive"]) == ("unavailable", False), "not a verdict; checked again next run"
    assert "no Python 3.13 on this machine (No interpreter found for Python 3.13" in result["reason"]
    assert "uv python install 3.13" in result["reason"], "the fix: install it"
    assert "--docker" in result["reason"], "or run the cell in its image"
    assert _installs(fake_env) == 0, "nothing is installed, and no other Python is used instead"
    assert result["id"] == "torch2.13.0-tf5.0.0-gliner0.2.29-py3.13"


def test_a_cell_not_run_here_keeps_its_current_result_from_its_image(fake_env, tmp_path, monkeypatch) -> None:
    _, installer, _, _ = fake_env
    root = tmp_path / "cells"
    from_image = {**cell.new_result(CELL_313, Options(), "docker", results.fingerprint(CELL_313, "docker")),
                  "status": "pass", "conclusive": True}
    results.save(from_image, root)
    monkeypatch.setattr(runners, "interpreter", lambda version: (None, "error: No interpreter found"))
    got = cell.run(CELL_313, runners.Venv(tmp_path / "v" / "bin" / "python"),
                   Options(installer=installer, log=lambda _m: None), root=root)
    assert got == from_image == results.load(CELL_313.id, root), "the pass in Docker stands; it is not replaced"


def test_a_virtualenv_of_another_python_is_made_again_with_the_cells(fake_env, tmp_path, monkeypatch) -> None:
    python, installer, behave, _ = fake_env
    behave(python="3.12.4")
    made = []

    def uv_venv(argv, timeout, env=None, **kwargs):  # the process boundary: uv's finder and uv venv
        if argv[1:3] == ["python", "find"]:
            return 0, "/opt/python3.11/bin/python3.11\n"
        made.append(argv)
        behave(python="3.11.9")  # what `uv venv --clear` leaves
        return 0, ""

    real_call = process.call
    monkeypatch.setattr(process, "call", lambda argv, *a, **k: uv_venv(argv, *a, **k)
                        if "uv" in Path(argv[0]).name and argv[1] in ("python", "venv") else real_call(argv, *a, **k))
    monkeypatch.setattr(sources, "uv", lambda: ["/usr/bin/uv"])
    result = cell.run(CELL, runners.Venv(python), Options(installer=installer, log=lambda _m: None),
                      root=tmp_path / "cells")
    assert [m[-3:] for m in made] == [["--python", "/opt/python3.11/bin/python3.11", str(python.parent.parent)]], \
        "a virtualenv of 3.12 cannot stand for a 3.11 cell: it is made again on the 3.11 uv finds"
    assert (result["status"], result["python"]) == ("pass", "3.11.9")


def test_a_pin_that_cannot_go_on_the_cells_python_is_a_verdict_before_installing(fake_env, tmp_path) -> None:
    why = Hooks(not_installable=lambda c: f"gliner {c.gliner} requires Python >=3.12: not 3.11")
    result = _run(fake_env, tmp_path, hooks=why)
    assert (result["status"], result["conclusive"]) == ("install-failed", True), "like a resolver conflict"
    assert result["reason"].startswith("gliner 0.2.29 requires Python >=3.12: not 3.11 (the package index says so")
    assert _installs(fake_env) == 0, "known before installing: nothing installed"


LOST = {"transformers": ["transformers/training_args.py"]}


def test_a_damaged_environment_is_installed_again_before_anything_is_judged(fake_env, tmp_path) -> None:
    """A virtualenv that lost a file of transformers after its verdict once gave, on --rerun, a stored `broken`
    (ModuleNotFoundError: TrainingArguments): a false verdict about those versions."""
    python, _, _, installer = fake_env
    _run(fake_env, tmp_path)
    (python.parent / "damaged.json").write_text(json.dumps(LOST))
    result = _run(fake_env, tmp_path, rerun=True)
    last = json.loads(installer.with_suffix(".calls").read_text().splitlines()[-1])
    assert last[-2:] == ["--reinstall-package", "transformers"], "the damaged distribution is installed again"
    assert result["status"] == "pass", "then the cell is judged in a whole environment"


def test_damage_that_cannot_be_mended_or_that_shows_during_the_run_is_never_a_verdict(fake_env, tmp_path) -> None:
    python, _, behave, installer = fake_env
    (python.parent / "damaged.json").write_text(json.dumps(LOST))
    installer.with_suffix(".no-mend").write_text("")
    unmended = _run(fake_env, tmp_path)
    assert (unmended["status"], unmended["conclusive"]) == ("error", False)
    assert unmended["reason"].startswith("cannot judge: the environment is damaged (transformers: "
                                         "transformers/training_args.py)")
    installer.with_suffix(".no-mend").unlink()
    (python.parent / "damaged.json").unlink()
    behave(damage_during_run=LOST, junit=junit_xml(("test_lr", "ptbr", VALUE_BREAK)), pytest_exit=1)
    during = _run(fake_env, tmp_path)
    assert (during["status"], during["breaks"]) == ("error", []), "what a damaged run showed is not a break"
    assert during["reason"].startswith("cannot judge: the environment was damaged during the run (transformers:")
    behave(junit=junit_xml(("test_lr", "ptbr", VALUE_BREAK)), pytest_exit=1)
    assert _run(fake_env, tmp_path)["status"] == "broken", "the next run mends it and judges the versions"


def test_the_probe_finds_a_file_a_distribution_lost(tmp_path) -> None:
    """The real probe on a real distribution: its RECORD lists a file with its size; the file goes missing."""
    site = tmp_path / "site"
    (site / "lost").mkdir(parents=True)
    (site / "lost" / "__init__.py").write_text("x = 1\n")
    info = site / "lost-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lost\nVersion: 1.0\n")
    (info / "RECORD").write_text("lost/__init__.py,sha256=x,6\nlost-1.0.dist-info/METADATA,,\n"
                                 "lost/__pycache__/__init__.cpython-311.pyc,,99\n")

    def probed() -> dict:
        out = subprocess.run([sys.executable, "-c", probe._PROBE], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONPATH": str(site)}).stdout
        return json.loads(out.splitlines()[-1])

    assert "lost" not in probed()["damaged"], "a whole distribution (a .pyc is Python's to rewrite)"
    (site / "lost" / "__init__.py").write_text("x = 10\n")
    assert probed()["damaged"]["lost"] == ["lost/__init__.py"], "a file of another size than RECORD's"
    (site / "lost" / "__init__.py").unlink()
    assert probed()["damaged"]["lost"] == ["lost/__init__.py"], "a missing file"


def test_an_interpreter_uv_does_not_find_is_taken_from_pyenvs_versions(tmp_path, monkeypatch) -> None:
    """uv's finder stops at pyenv's failing shim for a version that is installed but not selected: pyenv's versions
    directory has it, and it runs."""
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python3.99").write_text("#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n")
    installed = tmp_path / "pyenv" / "versions" / "3.99.1" / "bin" / "python3.99"
    installed.parent.mkdir(parents=True)
    installed.write_text("#!/bin/sh\necho 3.99\n")
    wrong = tmp_path / "pyenv" / "versions" / "3.99.0" / "bin" / "python3.99"
    wrong.parent.mkdir(parents=True)
    wrong.write_text("#!/bin/sh\necho 3.11\n")  # says it is another Python: never taken
    for script in (shims / "python3.99", installed, wrong):
        script.chmod(0o755)
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    real_call = process.call
    monkeypatch.setattr(process, "call", lambda argv, *a, **k: (2, "error: Failed to inspect Python interpreter from "
                                                                 f"search path at `{shims}/python3.99`")
                        if argv[1:3] == ["python", "find"] else real_call(argv, *a, **k))
    monkeypatch.setattr(sources, "uv", lambda: ["/usr/bin/uv"])
    assert runners.interpreter("3.99") == (str(installed), "")
    installed.unlink()
    found, why = runners.interpreter("3.99")
    assert found is None, "none works"
    assert "Failed to inspect Python interpreter" in why, "uv's words say why"


def test_a_cell_without_a_lock_file_installs_as_of_its_date(fake_env, tmp_path) -> None:
    import dataclasses

    python, installer, _, uv = fake_env
    lockless = dataclasses.replace(definition.Cell("2.13.0", "5.15.0", "0.2.29"), exclude_newer="2026-12-04")
    assert not lockless.lock.is_file()
    cell.run(lockless, runners.Venv(python), Options(installer=installer, log=lambda _m: None),
             root=tmp_path / "cells")
    argv = json.loads(uv.with_suffix(".calls").read_text().splitlines()[0])
    assert argv[argv.index("--exclude-newer") + 1] == "2026-12-04", "what the pins leave open, as of the date"
    assert "--constraint" not in argv


def test_a_pin_whose_distribution_is_gone_is_installed_again_not_judged(fake_env, tmp_path) -> None:
    """A virtualenv that lost transformers' metadata whole once read as "resolved versions differ from the pins": a
    conclusive install-failed about versions that install fine."""
    python, _, _, installer = fake_env
    _run(fake_env, tmp_path)
    (python.parent / "damaged.json").write_text(json.dumps({"(uninstalled)": ["transformers"]}))
    result = _run(fake_env, tmp_path, rerun=True)
    last = json.loads(installer.with_suffix(".calls").read_text().splitlines()[-1])
    assert last[-2:] == ["--reinstall-package", "transformers"], "the pin is installed again"
    assert result["status"] == "pass", "and the cell is judged on its pins"


@pytest.mark.parametrize(("cells", "cores", "share"), [
    (1, 2, (2, 1)),  # a single cell uses the cores: one xdist worker per core, one thread each
    (2, 2, (1, 1)),  # `-j 2` on 2 cores: no xdist, the suite in the process that imported the stack
    (3, 2, (1, 1)),  # more cells than cores: still one process each, never zero
    (2, 8, (4, 1)),  # `-j 2` on 8 cores: half the cores each
    (1, 1, (1, 1)),
])
def test_a_cell_takes_its_share_of_the_cores(cells: int, cores: int, share: tuple[int, int]) -> None:
    assert options.share(cells, available=cores) == share, "max(1, cores // cells) workers, the rest as threads"


def test_asked_workers_keep_the_cells_share_of_threads() -> None:
    assert options.share(1, workers=1, available=4) == (1, 4), \
        "one asked-for worker on 4 free cores: torch may use them"
    for cells in range(1, 5):
        for cores in range(1, 9):
            workers, threads = options.share(cells, available=cores)
            assert cells * workers * threads <= max(cores, cells), "never more than the cores (or one per cell)"


def test_the_run_uses_xdist_only_with_more_than_one_worker(fake_env, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for workers in (1, 3):
        _run(fake_env, tmp_path, workers=workers, threads=2, rerun=True)
        argv = json.loads((fake_env[0].parent / "pytest.argv").read_text())
        assert ("-n" in argv) == (workers > 1), "-n only where there is more than one worker"
        if workers > 1:
            assert argv[argv.index("-n") + 1] == "3"
        assert _saved(tmp_path)["workers"] == workers
        env = json.loads((fake_env[0].parent / "pytest.env").read_text())
        assert env == {"OMP_NUM_THREADS": "2", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}, \
            "torch's threads and the suite's offline settings are set before the run's first step imports the stack"
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    _run(fake_env, tmp_path, threads=2, rerun=True)
    assert json.loads((fake_env[0].parent / "pytest.env").read_text())["OMP_NUM_THREADS"] == "5", \
        "a person's own setting wins"
