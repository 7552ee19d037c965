"""A user's configs through a cell (harness/run/configs.py): when they are proven, what makes a config result stale
(its config, its data, the cell's code and pins; nothing else), where results go, and how a failure to prove is
recorded. The fake interpreter stands in for ``ptbr prove`` (the real one: tests/test_prove.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from harness import definition
from harness.run import cell, configs, docker, results, runners
from harness.run.options import Options

CELL = definition.Cell("2.13.0", "5.0.0", "0.2.29")


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[configs.UserConfig, configs.UserConfig]:
    """Two configs of a user's checkout (tmp_path: configs are named, and data paths read, from there), one naming
    a data file."""
    monkeypatch.setattr(configs, "base", lambda: tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.json").write_text("[]")
    (tmp_path / "a.yaml").write_text("data:\n  train_data: data/train.json\n")
    (tmp_path / "b.yaml").write_text("training:\n  lr_encoder: 0.0\n")
    return tuple(configs.expand(["a.yaml", "b.yaml"], tmp_path))


def _run(fake_env, tmp_path: Path, chosen, **opts) -> results.CellResult:
    python, installer, _, _ = fake_env
    options = Options(installer=installer, log=lambda _m: None, configs=chosen, **opts)
    return cell.run(CELL, runners.Venv(python), options, root=tmp_path / "cells")


def _proven(fake_env) -> list[list[str]]:
    """The configs each `ptbr prove` was given, call by call."""
    calls = fake_env[0].parent / "fate.calls"
    return [[Path(p).name for p in json.loads(line)] for line in calls.read_text().splitlines()] \
        if calls.exists() else []


def _suites(fake_env) -> int:
    calls = fake_env[0].parent / "pytest.calls"
    return len(calls.read_text().splitlines()) if calls.exists() else 0


def _saved(tmp_path: Path, config: configs.UserConfig) -> dict:
    return configs.load(CELL.id, config, tmp_path / "cells")


def test_expand_takes_files_and_the_yaml_files_of_a_directory_once_each(tmp_path) -> None:
    (tmp_path / "team").mkdir()
    for name in ("b.yaml", "a.yml", "notes.txt"):
        (tmp_path / "team" / name).write_text("")
    found = configs.expand(["team", "team/b.yaml"], tmp_path)
    assert [c.name for c in found] == ["team/a.yml", "team/b.yaml"], "sorted, *.yaml and *.yml only, each once"
    assert found[1].slug == "team_b", "the slug names the result file"


def test_expand_names_every_path_that_is_not_a_config(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(configs.BadConfigPath) as e:
        configs.expand(["missing.yaml", "empty"], tmp_path)
    assert str(e.value).splitlines() == ["--config missing.yaml: no such file or directory",
                                         "--config empty: a directory with no *.yaml file in it"]


def test_configs_are_proven_after_the_suite_and_stored_beside_the_cell(fake_env, tmp_path, user) -> None:
    result = _run(fake_env, tmp_path, user)
    assert result["status"] == "pass", result["reason"]
    assert _proven(fake_env) == [["a.yaml", "b.yaml"]], "every config of the cell, proven once"
    argv = json.loads((fake_env[0].parent / "pytest.argv").read_text())
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--cell-prove"] == [str(c.path) for c in user], \
        "in the suite's own run (no process of their own), in order"
    assert result["stack_imports"] == 1, "one process imported the stack: the run's"
    assert "configs_s" in result["timings"], "the cost of --config is measured per cell"
    a = _saved(tmp_path, user[0])
    assert (a["config"], a["cell"], a["findings"]) == ("a.yaml", CELL.id, [])
    assert (configs.config_dir(CELL.id, tmp_path / "cells") / "a.junit.xml").is_file(), "JUnit per config"
    assert a["repro"]["nox"] == f"nox -s cell -- --cell {CELL.id} --configs-only --rerun --config a.yaml", \
        "the repro proves this config alone, again"


def test_a_rerun_with_nothing_changed_reuses_every_result(fake_env, tmp_path, user) -> None:
    _run(fake_env, tmp_path, user)
    _run(fake_env, tmp_path, user)
    assert (_suites(fake_env), _proven(fake_env)) == (1, [["a.yaml", "b.yaml"]]), "nothing ran again"


def test_an_edited_config_is_proven_again_alone_and_the_suite_result_stays(fake_env, tmp_path, user) -> None:
    _run(fake_env, tmp_path, user)
    before = results.load(CELL.id, tmp_path / "cells")
    user[1].path.write_text("training:\n  lr_encoder: 0.5\n")
    assert configs.stale(CELL.id, before["fingerprint"], user, tmp_path / "cells") == [user[1]], \
        "editing b.yaml makes its result stale and nothing else"
    after = _run(fake_env, tmp_path, user)
    assert _proven(fake_env) == [["a.yaml", "b.yaml"], ["b.yaml"]], "only the edited config is proven again"
    assert (_suites(fake_env), after) == (1, before), "the cell's own result is reused as it was"


def test_an_edited_data_file_makes_its_config_stale(fake_env, tmp_path, user) -> None:
    fake_env[2](fate={"data": {"a.yaml": [{"key": "data.train_data", "path": "data/train.json", "replaced": False}]}})
    _run(fake_env, tmp_path, user)
    key = runners.Venv(fake_env[0]).fingerprint(CELL)
    saved = _saved(tmp_path, user[0])
    assert configs.is_current(saved, key)
    (tmp_path / "data" / "train.json").write_text('[{"tokenized_text": [], "ner": []}]')
    assert not configs.is_current(saved, key), "the data is an input of the config's result"
    assert configs.stale(CELL.id, key, user, tmp_path / "cells") == [user[0]], "the other config's result stands"


def test_new_code_or_pins_make_every_config_result_stale(fake_env, tmp_path, user) -> None:
    _run(fake_env, tmp_path, user)
    assert configs.stale(CELL.id, "another-cell-fingerprint", user, tmp_path / "cells") == list(user)


def test_a_repro_run_proves_no_config(fake_env, tmp_path, user) -> None:
    _run(fake_env, tmp_path, user, pytest_args=["-k", "lr"])
    assert _proven(fake_env) == [], "selected tests are a repro run of the suite only"


def test_configs_only_skips_the_suite_and_leaves_the_cell_result_alone(fake_env, tmp_path, user) -> None:
    result = _run(fake_env, tmp_path, user[:1], configs_only=True)
    assert (result["status"], _suites(fake_env), _proven(fake_env)) == ("pass", 0, [["a.yaml"]])
    assert results.load(CELL.id, tmp_path / "cells") is None, "no cell result is written"


def test_configs_only_in_an_environment_that_cannot_be_prepared_says_so(fake_env, tmp_path, user) -> None:
    fake_env[2](resolved={"torch": "2.13.0+cpu", "transformers": "4.57.6", "gliner": "0.2.29"})
    result = _run(fake_env, tmp_path, user, configs_only=True)
    assert result["status"] == "install-failed"
    assert "differ from the pins" in result["reason"]
    assert _proven(fake_env) == [], "nothing is proven with the wrong versions"


def test_a_cell_that_did_not_run_its_suite_proves_no_config(fake_env, tmp_path, user) -> None:
    fake_env[2](import_error="ImportError: no gliner")
    assert _run(fake_env, tmp_path, user)["status"] == "import-failed"
    assert _proven(fake_env) == []


def test_a_fate_process_that_dies_is_a_result_that_cannot_be_judged_and_is_not_reused(fake_env, tmp_path,
                                                                                       user) -> None:
    fake_env[2](fate_crash=0)
    result = _run(fake_env, tmp_path, user)
    assert result["status"] == "pass", "the suite's verdict was written before the configs: it stands"
    saved = _saved(tmp_path, user[0])
    assert saved["findings"] is None, "no verdict"
    assert "killed by signal 9" in saved["error"], "and why it could not be judged: how the run ended,"
    assert "MemoryError" in saved["error"], "and what it said last"
    assert _proven(fake_env) == [["a.yaml", "b.yaml"], ["b.yaml"]], \
        "the config after the one that died is proven in a process of its own"
    assert "MemoryError" in _saved(tmp_path, user[1])["error"], "(where it died too)"
    key = runners.Venv(fake_env[0]).fingerprint(CELL)
    assert configs.stale(CELL.id, key, user, tmp_path / "cells") == list(user), "proven again next time"
    xml = (configs.config_dir(CELL.id, tmp_path / "cells") / "a.junit.xml").read_text()
    assert "<failure" in xml, "JUnit says it failed"


def test_a_config_that_kills_the_run_loses_no_other_configs_verdict(fake_env, tmp_path, user) -> None:
    c = tmp_path / "c.yaml"
    c.write_text("training:\n  lr_encoder: 0.1\n")
    chosen = [*user, *configs.expand(["c.yaml"], tmp_path)]
    fake_env[2](fate_crash=1)
    result = _run(fake_env, tmp_path, chosen)
    assert result["status"] == "pass"
    assert _saved(tmp_path, chosen[0])["findings"] == [], "the config proven before it keeps its verdict"
    assert _saved(tmp_path, chosen[1])["findings"] is None, "the one it was proving has none, and says why"
    assert _saved(tmp_path, chosen[2])["findings"] == [], "the one after it is proven in a process of its own"
    assert _proven(fake_env) == [["a.yaml", "b.yaml", "c.yaml"], ["c.yaml"]]
    assert result["stack_imports"] == 2, "the cell's run, and the process that proved the last config"


def test_a_cell_whose_time_runs_out_while_proving_keeps_its_suite_verdict(fake_env, tmp_path, user) -> None:
    fake_env[2](fate_hang=1)
    result = _run(fake_env, tmp_path, user, timeout_s=3)
    assert result["status"] == "pass", "the suite had finished, and its verdict was written: it stands"
    assert _saved(tmp_path, user[0])["findings"] == [], "the config proven in time keeps its verdict"
    assert _saved(tmp_path, user[1])["error"].startswith("not proven: the cell's run did not finish within its 3 s"), \
        "the other says the cell's time ran out, and is not proven again in this run"
    assert _proven(fake_env) == [["a.yaml", "b.yaml"]]


def test_junit_has_one_case_per_key_and_fails_those_that_do_not_arrive(fake_env, tmp_path, user) -> None:
    keys = [{"key": "training.lr_encoder", "fate": "arrives"},
            {"key": "training.warmup_steps", "fate": "changed", "to": 2, "why": "a ratio"},
            {"key": "run.tags", "fate": "ignored", "why": "report_to has no wandb"}]
    fake_env[2](fate={"keys": keys})
    _run(fake_env, tmp_path, user[:1])
    xml = (configs.config_dir(CELL.id, tmp_path / "cells") / "a.junit.xml").read_text()
    assert xml.count("<testcase") == 4, "three keys and the smoke training"
    assert xml.count("<failure") == 1
    assert 'message="ignored: report_to has no wandb"' in xml


def test_a_container_sees_the_checkout_read_only_at_the_path_a_pasted_run_mounts() -> None:
    runner = docker.Container(CELL)
    seen = runner.visible(configs.ROOT / "examples" / "tiny.yaml")
    argv, _ = runner.argv(["-m", "ptbr", "prove", seen], {}, Path("/tmp/stage"))
    assert seen == "/in/root/examples/tiny.yaml"
    assert f"{configs.ROOT}:/in/root:ro" in argv, "mounted read-only, where the report's docker run mounts $PWD"


def test_a_config_outside_the_checkout_is_mounted_by_its_directory(tmp_path) -> None:
    runner = docker.Container(CELL)
    (tmp_path / "my.yaml").write_text("")
    seen = runner.visible(tmp_path / "my.yaml")
    argv, _ = runner.argv([seen], {}, Path("/tmp/stage"))
    assert seen.endswith("/my.yaml")
    assert f"{tmp_path}:{seen.rsplit('/', 1)[0]}:ro" in argv


def test_a_result_a_container_made_is_current_on_the_host_that_has_the_file(fake_env, tmp_path, user) -> None:
    _run(fake_env, tmp_path, user)
    saved = _saved(tmp_path, user[0])
    key = runners.Venv(fake_env[0]).fingerprint(CELL)
    seen_there = {**saved, "path": f"{configs.MOUNTED_ROOT}/a.yaml"}  # where the container saw the checkout
    assert configs.is_current(seen_there, key), "the config is found by its name in the checkout"
