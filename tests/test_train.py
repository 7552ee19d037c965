"""Real tiny trainings on CPU, offline: what lands on disk, where, and what the trainer received."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import EXAMPLE, EXAMPLES, RELEASED, ROOT

from ptbr import loader, validation

pytestmark = pytest.mark.training
RUN_ONLY = ("WANDB_TAGS", "WANDB_NOTES", "WANDB_PROJECT", "HF_TOKEN", "CUDA_VISIBLE_DEVICES")
"""Variables a config sets for its run only."""


def _args(out: Path) -> dict:
    return json.loads((out / "training_args.json").read_text())["args"]


def test_train_leaves_checkpoints_final_model_and_provenance(ptbr, make_config, tmp_path: Path) -> None:
    from gliner import GLiNER

    path = make_config(training={"num_steps": 4, "save_steps": 2, "seed": 11, "lr_others": 0.0})
    code, out, err = ptbr("train", path)
    root = tmp_path / "out"
    assert code == 0, err
    assert "ptbr: trained 4 steps" in out
    assert str(root / "final") in out
    assert sorted(p.name for p in root.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert GLiNER.from_pretrained(str(root / "final"), local_files_only=True) is not None
    args = _args(root)
    assert (args["max_steps"], args["seed"], args["others_lr"], args["output_dir"]) == (4, 11, 0.0, str(root))
    resolved = validation.validate(loader.load(root / "ptbr_config.yaml"))
    assert resolved == validation.validate(loader.load(path))


def test_example_trains_offline_in_its_configured_directory(ptbr, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT)
    code, _out, err = ptbr("train", EXAMPLES / "tiny.yaml", "--set", f"data.root_dir={tmp_path / 'tiny'}")
    assert code == 0, err
    assert (tmp_path / "tiny" / "final" / "gliner_config.json").is_file()
    # save_total_limit: 2 keeps the last two of the checkpoints at steps 10 and 20
    assert sorted(p.name for p in (tmp_path / "tiny").glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-20"]


def test_smoke_run_replaces_a_hub_backbone_and_downloads_nothing(ptbr, make_config, tmp_path: Path) -> None:
    path = make_config(model={"model_name": "microsoft/deberta-v3-small", "backbone_from_pretrained": True,
                              "hidden_size": 768},
                       training={"num_steps": 15000, "train_batch_size": 8, "report_to": "wandb"},
                       environment={"wandb_project": "p"})
    code, _out, err = ptbr("train", path, "--smoke")
    smoke = tmp_path / "out" / "smoke"
    assert code == 0, err
    assert "tiny random backbone" in err
    assert f"{min(15000, 4)} steps" in err
    args = _args(smoke)
    assert (args["max_steps"], args["per_device_train_batch_size"], args["report_to"]) == (4, 2, [])
    assert (smoke / "final" / "gliner_config.json").is_file()
    assert not (tmp_path / "out" / "final").exists(), "a smoke run must not touch the real output"


def test_resume_continues_from_the_last_checkpoint(ptbr, make_config, tmp_path: Path) -> None:
    path = make_config(training={"num_steps": 2, "save_steps": 2, "logging_steps": 1})
    assert ptbr("train", path)[0] == 0
    first = tmp_path / "out" / "checkpoint-2" / "trainer_state.json"
    written = first.stat().st_mtime_ns
    code, out, err = ptbr("train", path, "--set", "training.num_steps=4", "--set",
                          "training.resume_from_checkpoint=true")
    state = json.loads((tmp_path / "out" / "checkpoint-4" / "trainer_state.json").read_text())
    assert code == 0, err
    assert "trained 4 steps" in out
    # a resumed run starts at step 3: it never rewrites checkpoint-2, and its history continues the first run's
    assert first.stat().st_mtime_ns == written
    assert [h["step"] for h in state["log_history"] if "loss" in h] == [1, 2, 3, 4]


def test_frozen_text_encoder_does_not_change(ptbr, make_config, tmp_path: Path) -> None:
    import torch

    def encoder(step: int) -> dict[str, torch.Tensor]:
        ckpt = tmp_path / "out" / f"checkpoint-{step}"
        files = list(ckpt.glob("*.safetensors")) or list(ckpt.glob("pytorch_model.bin"))
        if files[0].suffix == ".safetensors":
            from safetensors.torch import load_file

            weights = load_file(files[0])
        else:
            weights = torch.load(files[0], map_location="cpu", weights_only=True)
        return {k: v for k, v in weights.items() if "bert_layer" in k and "embeddings" not in k}

    path = make_config(training={"num_steps": 4, "save_steps": 2, "lr_encoder": 0.1,
                                 "freeze_components": ["text_encoder"]})
    assert ptbr("train", path)[0] == 0
    before, after = encoder(2), encoder(4)
    assert before
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_runtime_failure_is_exit_1_with_one_line(ptbr, make_config, monkeypatch) -> None:
    from ptbr import train

    def fail(*_args, **_kwargs):  # the boundary: gliner's training fails for a reason no check could see
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(train, "_fit", fail)
    code, _, err = ptbr("train", make_config())
    assert code == 1
    assert err.strip().splitlines()[-1] == ("ptbr: training failed: RuntimeError: CUDA out of memory (rerun with "
                                            "--traceback for details)")
    assert "Traceback" not in err


def test_a_prev_path_that_is_no_gliner_model_is_refused_before_anything_is_written(ptbr, make_config,
                                                                                    tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    path = make_config(training={"prev_path": str(empty)})
    for command in ("validate", "train"):
        code, _, err = ptbr(command, path)
        assert code == 2, f"{command}: {err}"
        assert f"training.prev_path: {empty} holds no gliner_config.json: not a GLiNER model directory" in err
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_bad_data_stops_before_anything_is_written(ptbr, make_config, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([EXAMPLE, {**EXAMPLE, "ner": [[5, 9, "x"]]}]))
    code, _, err = ptbr("train", make_config(data={"train_data": str(bad)}))
    assert code == 2
    assert f": data.train_data: {bad}[1]: ner[0]: span [5, 9] is out of bounds" in err, "the file and item, at the key"
    assert not (tmp_path / "out").exists()


def test_tags_reach_the_reporting_integration_environment_only_while_training(ptbr, make_config, monkeypatch) -> None:
    import os

    from ptbr import train

    seen = {}

    def capture(*_args, **_kwargs):  # the boundary: what the environment holds when training starts
        seen.update({k: os.environ.get(k) for k in RUN_ONLY})
        raise RuntimeError("stopped after capturing the environment")

    monkeypatch.setattr(train, "_fit", capture)
    import transformers.integrations  # wandb is not installed here: declared available where preflight looks

    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations", lambda: ["wandb"])
    for name in RUN_ONLY:
        monkeypatch.delenv(name, raising=False)
    path = make_config(run={"tags": ["a", "b"], "description": "d"}, training={"report_to": "wandb"},
                       environment={"wandb_project": "p", "hf_token": "hf_run", "cuda_visible_devices": "-1"})
    code, _, err = ptbr("train", path)
    assert code == 1
    assert "stopped after capturing" in err
    assert seen == {"WANDB_TAGS": "a,b", "WANDB_NOTES": "d", "WANDB_PROJECT": "p", "HF_TOKEN": "hf_run",
                    "CUDA_VISIBLE_DEVICES": "-1"}, "the run's environment while it trains"
    assert [name for name in RUN_ONLY if name in os.environ] == [], "nothing is left after train returns"


def test_yaml_with_python_tag_never_runs_anything(ptbr, make_config, tmp_path: Path) -> None:
    path = make_config()
    marker = tmp_path / "pwned"
    text = path.read_text().replace("num_steps: 4", f"num_steps: !!python/object/apply:os.system ['touch {marker}']")
    path.write_text(text)
    code, _, err = ptbr("train", path)
    assert code == 2
    assert "tag not allowed" in err
    assert not marker.exists()


@pytest.mark.parametrize("path", RELEASED, ids=[p.stem for p in RELEASED])
def test_smoke_runs_each_upstream_config_offline(ptbr, path: Path, tmp_path: Path) -> None:
    # hub backbones (deberta, SmolLM2) are replaced by tiny local ones: the network guard would fail any download
    code, _out, err = ptbr("train", path, "--smoke", "--set", f"data.train_data={EXAMPLES / 'train.json'}",
                          "--set", f"data.root_dir={tmp_path}")
    assert code == 0, err
    assert (tmp_path / "smoke" / "final" / "gliner_config.json").is_file()
    assert _args(tmp_path / "smoke")["max_steps"] == 4


def test_what_training_arguments_export_does_not_reach_the_next_run(make_config, monkeypatch) -> None:
    """transformers 4.x TrainingArguments export ACCELERATE_* variables for the Trainer of their run (FSDP, the
    torch.compile backend, mixed precision); a second run in the same process must not inherit them."""
    import os

    from ptbr import compat, loader, train, validation

    monkeypatch.delenv("PTBR_PROBE", raising=False)
    real = compat.training_arguments_class()

    class Exporting(real):
        def __post_init__(self):
            super().__post_init__()
            os.environ["PTBR_PROBE"] = "set by the first run"

    monkeypatch.setattr(compat, "training_arguments_class", lambda: Exporting)
    config = validation.validate(loader.load(make_config()))
    train.prepare(config)
    assert os.environ["PTBR_PROBE"] == "set by the first run", "the run's own Trainer sees what its arguments export"
    monkeypatch.setattr(compat, "training_arguments_class", lambda: real)
    train.prepare(config)
    assert "PTBR_PROBE" not in os.environ, "the next run starts without it"


def test_an_example_with_an_empty_text_and_no_entities_trains(ptbr, make_config, tmp_path: Path) -> None:
    """The data check accepts it because gliner trains on it (its processors pad an empty text): a real run proves
    the acceptance is not a false one."""
    from support import EXAMPLE

    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([EXAMPLE, {"tokenized_text": [], "ner": []}] * 4))
    code, _, err = ptbr("train", make_config(data={"train_data": str(mixed)}, training={"num_steps": 4}))
    assert code == 0, err
