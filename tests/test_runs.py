"""A finished run is kept: a second `train` into its directory is refused with nothing touched; --resume continues
it (only the same run), --overwrite replaces it. Real tiny trainings on CPU."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.training


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` → its content's hash."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_second_train_into_a_finished_run_is_refused_and_touches_nothing(ptbr, make_config, tmp_path: Path) -> None:
    path = make_config(training={"num_steps": 2, "save_steps": 2})
    code, _, err = ptbr("train", path)
    assert code == 0, err
    out = tmp_path / "out"
    before = _tree(out)
    code, _, err = ptbr("train", path)
    assert code == 2, "a finished run is bad input for a new train, not a crash"
    assert f"data.root_dir: {out} holds a run (ptbr_config.yaml, training_args.json, checkpoint-2, final/)" in err
    assert "--resume continues it" in err
    assert "--overwrite replaces it" in err
    assert "config.yaml:" in err, "at the line of the key that names the directory"
    assert _tree(out) == before, "the first run's files are byte-identical after the refusal"


def test_overwrite_replaces_the_run_and_leaves_none_of_its_checkpoints(ptbr, make_config, tmp_path: Path) -> None:
    first = make_config(training={"num_steps": 4, "save_steps": 2, "seed": 1})
    assert ptbr("train", first)[0] == 0
    out = tmp_path / "out"
    old_final = _tree(out / "final")
    second = make_config(training={"num_steps": 2, "save_steps": 2, "seed": 2})
    code, _, err = ptbr("train", second, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"], "the old checkpoint-4 is gone"
    assert _tree(out / "final") != old_final, "final/ is the new run's"
    assert "replacing the run" in err


def test_overwrite_keeps_the_run_when_the_new_config_is_refused(ptbr, make_config, tmp_path: Path) -> None:
    assert ptbr("train", make_config(training={"num_steps": 2, "save_steps": 2}))[0] == 0
    before = _tree(tmp_path / "out")
    code, _, _err = ptbr("train", make_config(training={"num_steps": 2, "seed": -1}), "--overwrite")
    assert code == 2
    assert _tree(tmp_path / "out") == before, "nothing is removed before every check has passed"


def test_resume_continues_the_run_from_its_latest_checkpoint(ptbr, make_config, tmp_path: Path) -> None:
    assert ptbr("train", make_config(training={"num_steps": 2, "save_steps": 2}))[0] == 0
    code, out, err = ptbr("train", make_config(training={"num_steps": 4, "save_steps": 2}), "--resume")
    assert code == 0, err
    assert "trained 4 steps" in out, "continued from step 2 to 4"
    assert (tmp_path / "out" / "checkpoint-4").is_dir()


@pytest.mark.parametrize(("change", "named"), [
    ({"run": {"name": "another"}}, "run.name: None → 'another'"),
    ({"model": {"max_width": 4}}, "model.max_width: 3 → 4"),
])
def test_resume_is_refused_for_another_run_saying_which_keys_differ(ptbr, make_config, tmp_path: Path,
                                                                     change: dict, named: str) -> None:
    assert ptbr("train", make_config(training={"num_steps": 2, "save_steps": 2}))[0] == 0
    before = _tree(tmp_path / "out")
    code, _, err = ptbr("train", make_config(training={"num_steps": 4}, **change), "--resume")
    assert code == 2
    assert "holds another run than this config" in err
    assert named in err
    assert _tree(tmp_path / "out") == before


def test_resume_and_overwrite_together_are_refused(ptbr, make_config) -> None:
    code, _, err = ptbr("train", make_config(), "--resume", "--overwrite")
    assert code == 2
    assert "not allowed with argument" in err


def test_smoke_runs_and_validate_need_no_flag_beside_a_finished_run(ptbr, make_config) -> None:
    path = make_config(training={"num_steps": 2, "save_steps": 2})
    assert ptbr("train", path)[0] == 0
    for argv in (("train", path, "--smoke"), ("train", path, "--smoke"), ("validate", path)):
        code, _, err = ptbr(*argv)
        assert code == 0, f"{argv}: {err}"
