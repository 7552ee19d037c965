"""What `train` would die on is refused first, by `validate` and `train` alike, at the key's place, with exit 2 and
nothing written: paths, checkpoints to resume, integrations, schedules, a gliner that cannot build its Trainer, and
the values transformers itself rejects."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from ptbr import compat

COMMANDS = ("validate", "train")


def _refused(ptbr, path: Path, *expected: str) -> None:
    """Both commands exit 2 naming every expected text, and the output directory is never created."""
    out = path.parent / "out"
    for command in COMMANDS:
        code, _, err = ptbr(command, path)
        assert code == 2, f"{command} exits 2 on bad input, got {code}: {err}"
        for text in expected:
            assert text in err, f"{command}: {text!r} not in {err!r}"
        assert "Traceback" not in err
    assert not out.exists(), "nothing is written"


def test_a_seed_numpy_cannot_take_is_refused(ptbr, make_config) -> None:
    _refused(ptbr, make_config(training={"seed": 2**32}), "training.seed: input should be less than or equal to")


@pytest.mark.parametrize("key", ["model_name", "labels_encoder", "labels_decoder"])
def test_a_local_path_that_does_not_exist_is_refused_not_looked_up_on_the_hub(ptbr, make_config, tmp_path,
                                                                              key: str) -> None:
    typo = str(tmp_path / "backbnoe")
    _refused(ptbr, make_config(model={key: typo}), f"model.{key}: no such directory: {typo}")


def test_a_prev_path_typo_is_refused(ptbr, make_config, tmp_path) -> None:
    _refused(ptbr, make_config(training={"prev_path": "./models/gliner-smal"}),
             "training.prev_path: no such directory: ./models/gliner-smal")


def test_a_backbone_without_weights_is_refused_when_weights_are_to_be_loaded(ptbr, make_config, tiny_backbone) -> None:
    _refused(ptbr, make_config(model={"backbone_from_pretrained": True}),
             f"model.model_name: {tiny_backbone} holds no weights", "set model.backbone_from_pretrained: false")


@pytest.mark.parametrize("empty", ["", "none", "None"])
def test_an_empty_prev_path_means_unset_as_upstream_writes_it(ptbr, make_config, empty: str) -> None:
    code, _, err = ptbr("validate", make_config(training={"prev_path": empty}))
    assert code == 0, f"prev_path {empty!r} is not a path to the current directory: {err}"


def test_resuming_from_a_checkpoint_that_is_not_there_is_refused(ptbr, make_config, tmp_path) -> None:
    _refused(ptbr, make_config(training={"resume_from_checkpoint": str(tmp_path / "out" / "checkpoint-9")}),
             "training.resume_from_checkpoint: no such checkpoint directory")
    _refused(ptbr, make_config(training={"resume_from_checkpoint": True}),
             "training.resume_from_checkpoint: true, but", "has no checkpoint-* directory to resume from")


def test_resuming_never_overwrites_the_earlier_runs_files_when_refused(ptbr, make_config, tmp_path) -> None:
    earlier = tmp_path / "out"
    earlier.mkdir()
    (earlier / "ptbr_config.yaml").write_text("the earlier run's config\n")
    code, _, err = ptbr("train", make_config(training={"resume_from_checkpoint": str(earlier / "checkpoint-4")}))
    assert code == 2, err
    assert (earlier / "ptbr_config.yaml").read_text() == "the earlier run's config\n"


def test_an_integration_that_is_not_installed_is_refused(ptbr, make_config, monkeypatch) -> None:
    import transformers.integrations  # what is installed, where PTBR asks: here, none

    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations", lambda: [])
    _refused(ptbr, make_config(training={"report_to": ["tensorboard"]}),
             "training.report_to: 'tensorboard' is not installed here")


def test_wandb_without_a_project_is_refused_unless_the_environment_names_one(ptbr, make_config,
                                                                            monkeypatch) -> None:
    """transformers files a wandb run without a project under 'huggingface'; the original PTBR refused it."""
    import transformers.integrations  # wandb is not installed here: declared available where preflight looks

    monkeypatch.setattr(transformers.integrations, "get_available_reporting_integrations", lambda: ["wandb"])
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    path = make_config(training={"report_to": ["wandb"]})
    _refused(ptbr, path, "training.report_to: wandb needs a project", "environment.wandb_project")
    monkeypatch.setenv("WANDB_PROJECT", "from-the-shell")
    code, _, err = ptbr("validate", path, "--no-step")
    assert code == 0, f"a project in the environment is a project: {err}"


def test_push_to_hub_without_a_repository_is_refused(ptbr, make_config) -> None:
    _refused(ptbr, make_config(training={"push_to_hub": True}),
             "training.push_to_hub: true, but no hub_model_id names the repository")


def test_a_schedule_that_needs_more_arguments_is_refused_at_its_line(ptbr, make_config) -> None:
    from transformers.trainer_utils import SchedulerType

    if "cosine_with_min_lr" not in {s.value for s in SchedulerType}:
        pytest.skip("this transformers has no cosine_with_min_lr schedule")
    path = make_config(training={"scheduler_type": "cosine_with_min_lr"})
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "scheduler_type" in text)
    _refused(ptbr, path, f"{path}:{line}:", "training.scheduler_type: transformers cannot build the "
             "'cosine_with_min_lr' schedule")


def test_a_value_transformers_rejects_is_reported_at_its_key(ptbr, make_config) -> None:
    path = make_config(training={"scheduler_type": "reduce_lr_on_plateau"})  # needs evaluation: no val data here
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "scheduler_type" in text)
    _refused(ptbr, path, f"{path}:{line}:", "training.scheduler_type: transformers rejected the training arguments")


def test_a_gliner_whose_train_model_cannot_build_its_trainer_is_refused(monkeypatch) -> None:
    from gliner.model import BaseGLiNER
    from transformers import Trainer

    def train_model(self, train_dataset, eval_dataset, training_args=None, **kwargs):  # as gliner 0.2.23 wrote it
        trainer = Trainer(model=self, args=training_args, tokenizer=self.data_processor.transformer_tokenizer)
        trainer.train()

    monkeypatch.setattr(BaseGLiNER, "train_model", train_model)
    takes_tokenizer = "tokenizer" in inspect.signature(Trainer.__init__).parameters
    if not takes_tokenizer:  # transformers 5: the keyword is gone
        assert "builds its Trainer with tokenizer=" in compat.gliner_trainer_problem()

    from transformers.utils.deprecation import deprecate_kwarg

    @deprecate_kwarg("tokenizer", new_name="processing_class", version="5.0.0")
    def shimmed(self, model=None, args=None, processing_class=None):  # transformers 4.46-4.57: still mapped
        pass

    monkeypatch.setattr(Trainer, "__init__", shimmed)
    assert compat.gliner_trainer_problem() is None, "a deprecation shim that still takes tokenizer= is not refused"


def test_the_installed_gliner_can_build_its_trainer() -> None:
    assert compat.gliner_trainer_problem() is None, "gliner 0.2.25+ picks processing_class= on transformers 5"


def test_smoke_with_an_output_directory_under_a_file_is_exit_2_before_anything_is_written(ptbr, make_config,
                                                                                          tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = make_config(data={"root_dir": str(blocker / "out")})
    code, _, err = ptbr("train", path, "--smoke")
    assert code == 2, err
    assert "is a file" in err
    assert blocker.read_text() == "", "the file in the way is untouched"


def _custom_code_config(directory: Path) -> None:
    (directory / "config.json").write_text(json.dumps({"model_type": "bert", "auto_map": {
        "AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel"}}))


def test_a_model_with_custom_code_in_the_hub_cache_is_refused_unless_trusted(ptbr, make_config, tmp_path,
                                                                            monkeypatch) -> None:
    import huggingface_hub.constants

    snapshot = tmp_path / "hub" / "models--org--custom-encoder" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (tmp_path / "hub" / "models--org--custom-encoder" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--custom-encoder" / "refs" / "main").write_text("abc123")
    _custom_code_config(snapshot)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # where it is looked up
    path = make_config(model={"labels_encoder": "org/custom-encoder"})
    _refused(ptbr, path, "model.labels_encoder: org/custom-encoder declares custom code (AutoConfig, AutoModel in "
             "its config.json)", "set model.trust_remote_code: true")
    _, _, err = ptbr("validate", make_config(model={"labels_encoder": "org/custom-encoder",
                                                       "trust_remote_code": True}))
    assert "declares custom code" not in err, "trusted: not refused for its code"


def test_a_model_config_gliner_rejects_is_reported_at_the_key_whose_value_it_quotes(ptbr, make_config) -> None:
    import gliner

    if not hasattr(gliner.GLiNER, "_config_from_dict"):
        pytest.skip("this gliner has no streaming architecture (model_type is not read)")
    path = make_config(model={"model_type": "gliner_streaming_span", "labels_encoder_config": {"model_type": "bert"}})
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "labels_encoder_config" in text)
    _refused(ptbr, path, f"{path}:{line}:", "model.labels_encoder_config: gliner rejected the model config",
             "'bert'")


def test_a_nested_config_value_of_the_wrong_type_is_exit_2_not_a_traceback(ptbr, make_config) -> None:
    """Found by the fuzzer: transformers' config classes validate with huggingface_hub's own error type."""
    import gliner

    if not hasattr(gliner.GLiNER, "_config_from_dict"):
        pytest.skip("this gliner has no streaming architecture (model_type is not read)")
    path = make_config(model={"model_type": "gliner_streaming_span",
                              "labels_encoder_config": {"model_type": "deberta-v2", "relative_attention": "true"}})
    _refused(ptbr, path, "model.labels_encoder_config: gliner rejected the model config")


@pytest.mark.parametrize("where", ["encoder_config", "model_name"])
def test_a_saved_model_declaring_custom_code_is_refused_and_none_of_it_runs(ptbr, make_config, tmp_path,
                                                                            tiny_backbone, where: str) -> None:
    """training.prev_path: a saved GLiNER model whose embedded encoder config declares auto_map, or that names a
    backbone declaring it, is refused unless trusted; the code it points at (a module that would leave a marker) is
    never imported."""
    from gliner import GLiNER

    from ptbr import compat

    saved = tmp_path / "saved"
    model = GLiNER.from_config(compat.model_config_argument({"model_name": str(tiny_backbone), "hidden_size": 16,
                                                             "max_width": 3}), backbone_from_pretrained=False)
    model.save_pretrained(str(saved))
    marker = tmp_path / "custom-code-ran"
    settings = json.loads((saved / "gliner_config.json").read_text())
    source = f"open({str(marker)!r}, 'w').write('ran')\n"
    if where == "encoder_config":
        settings["encoder_config"]["auto_map"] = {"AutoModel": "modeling_x.XModel"}
        (saved / "modeling_x.py").write_text(source)
    else:
        custom = tmp_path / "custom-backbone"
        custom.mkdir()
        _custom_code_config(custom)
        (custom / "modeling_x.py").write_text(source)
        settings["model_name"] = str(custom)
    (saved / "gliner_config.json").write_text(json.dumps(settings))
    _refused(ptbr, make_config(training={"prev_path": str(saved)}),
             f"training.prev_path: the saved model {saved} declares custom code", "set model.trust_remote_code: true")
    assert not marker.exists(), "none of the declared code ran"
    _, _, err = ptbr("validate", make_config(training={"prev_path": str(saved)}, model={"trust_remote_code": True}),
                     "--no-step")
    assert "declares custom code" not in err, "trusted: not refused for its code"


def test_cuda_visible_devices_that_can_no_longer_take_effect_is_refused(ptbr, make_config, monkeypatch) -> None:
    """CUDA reads CUDA_VISIBLE_DEVICES once, when the process initialises it: a caller that already did (here the
    state torch reports, as after any CUDA call) gets a refusal, not a run on other devices than the config names."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    _refused(ptbr, make_config(environment={"cuda_visible_devices": "1"}),
             "environment.cuda_visible_devices: '1' cannot take effect: CUDA is already initialised")
