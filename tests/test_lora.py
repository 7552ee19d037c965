"""LoRA with peft (lora: enabled: true): what a run trains and writes, what is refused before it starts, and the
section read from the original PTBR's format. Real tiny trainings on CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import EXAMPLE, ROOT

from ptbr import backbone, forwarding, layouts, lora, train, validation

ADAPTERS = {"enabled": True, "r": 4, "lora_alpha": 8, "target_modules": ["query", "value"]}
LABELS = ["person", "organization", "city"]


def _predict(model) -> list[tuple[str, str, float]]:
    entities = model.predict_entities(" ".join(EXAMPLE["tokenized_text"]), LABELS, threshold=0.0)
    return [(e["text"], e["label"], e["score"]) for e in entities]


def _same(a: list, b: list) -> bool:
    return [x[:2] for x in a] == [x[:2] for x in b] and all(abs(x[2] - y[2]) < 1e-5 for x, y in zip(a, b, strict=True))


@pytest.mark.training
def test_a_lora_run_writes_the_adapter_and_a_merged_model_that_predicts_like_the_adapter(ptbr, make_config,
                                                                                         tmp_path: Path) -> None:
    """final/adapter holds peft's adapter with the configured rank and layers; final/ a model GLiNER.from_pretrained
    loads (no peft needed) that predicts what the run's starting model with the adapter applied predicts."""
    from gliner import GLiNER

    path = make_config(lora=ADAPTERS, training={"num_steps": 4, "lr_encoder": 1e-2, "seed": 5})
    code, _out, err = ptbr("train", path)
    assert code == 0, err
    final = tmp_path / "out" / "final"
    saved = json.loads((final / lora.ADAPTER_DIR / "adapter_config.json").read_text())
    assert (saved["r"], sorted(saved["target_modules"]), saved["lora_alpha"]) == (4, ["query", "value"], 8)
    assert (final / lora.ADAPTER_DIR / "adapter_model.safetensors").is_file()
    assert "parameters trainable" in err, "the run says how many parameters train"
    merged = GLiNER.from_pretrained(str(final), local_files_only=True)
    assert not any("lora_" in n for n in merged.state_dict()), "final/ is the merged model: no adapter weights"
    # the adapter applied, unmerged, to the encoder the run started from (same config, same seed), with the heads the
    # run trained: what a server that loads the adapter computes
    config = validation.validate(layouts.load(path))
    train.seed_everything(config.training.seed)
    start = train.build_model(forwarding.plan(config))
    heads = {k: v for k, v in merged.state_dict().items() if "bert_layer" not in k}
    start.load_state_dict(heads, strict=False)
    adapted = lora.load_adapter(start, final / lora.ADAPTER_DIR)
    assert type(lora.encoder(adapted)).__name__ == "PeftModel"
    assert _same(_predict(merged.eval()), _predict(adapted.eval())), "merged and adapter-applied predict the same"
    start_encoder = {k: v for k, v in train.build_model(forwarding.plan(config)).state_dict().items()
                     if "query.weight" in k}
    merged_encoder = {k: v for k, v in merged.state_dict().items() if "query.weight" in k}
    assert any(not v.equal(merged_encoder[k]) for k, v in start_encoder.items()), \
        "the adapter changed the encoder (merged into its query weights): the comparison above is not vacuous"


@pytest.mark.training
def test_a_resumed_lora_run_continues_its_adapter(ptbr, make_config, tmp_path: Path) -> None:
    """A run resumed from a LoRA run's checkpoint continues from the adapter that checkpoint holds: observed on the
    model right after the Trainer loads the checkpoint (gliner's loader matches keys loosely: a lost adapter would
    silently restart at B = 0), and trained on from there."""
    from unittest import mock

    import torch
    from gliner.training import Trainer
    from safetensors.torch import load_file

    def run(root: Path, **training) -> dict:
        path = make_config(lora=ADAPTERS, data={"root_dir": str(root)},
                           training={"num_steps": 4, "save_steps": 2, "lr_encoder": 1e-2, "seed": 3, **training})
        code, _out, err = ptbr("train", path)
        assert code == 0, err
        return load_file(root / "final" / lora.ADAPTER_DIR / "adapter_model.safetensors")

    run(tmp_path / "first")
    checkpoint = tmp_path / "first" / "checkpoint-2"
    weights = next(checkpoint / name for name in ("model.safetensors", "pytorch_model.bin")
                   if (checkpoint / name).is_file())
    saved = load_file(weights) if weights.suffix == ".safetensors" else torch.load(weights, weights_only=True)
    halfway = {k: v for k, v in saved.items() if "lora_B" in k}
    assert halfway, "the checkpoint holds the adapter"
    assert all(v.abs().sum() > 0 for v in halfway.values()), "trained: B is no longer its initial zero"

    loaded: dict = {}
    real = Trainer._load_from_checkpoint

    def observed(self, resume_from_checkpoint, model=None):
        real(self, resume_from_checkpoint, model=model)
        loaded.update({k: v.detach().clone() for k, v in self.model.model.state_dict().items() if "lora_B" in k})

    with mock.patch.object(Trainer, "_load_from_checkpoint", observed):
        further = run(tmp_path / "resumed", resume_from_checkpoint=str(checkpoint))
    assert sorted(loaded) == sorted(halfway), "the resumed model has the checkpoint's adapter layers"
    assert all(loaded[k].equal(halfway[k]) for k in halfway), "resumed: the checkpoint's adapter, exactly"
    trained = {k: v for k, v in further.items() if "lora_B" in k}
    assert len(trained) == len(halfway)
    assert all(not v.equal(halfway[next(n for n in halfway if n.endswith(k.replace(".weight", ".default.weight")))])
               for k, v in trained.items()), "and trained on from there"


def test_target_modules_that_match_nothing_are_refused_with_the_backbones_own_names(ptbr, make_config,
                                                                                   tmp_path: Path) -> None:
    """The original template's q_proj/v_proj name no layer of BERT or DeBERTa: refused at the key, before any step,
    naming the backbone's own layers for what was meant."""
    deberta = backbone.write(tmp_path / "deberta", EXAMPLE["tokenized_text"], architecture="deberta-v2")
    for model, meant in ((None, "query, value"), (str(deberta), "query_proj, value_proj")):
        path = make_config(lora={**ADAPTERS, "target_modules": ["q_proj", "v_proj"]},
                           **({"model": {"model_name": model}} if model else {}))
        code, _out, err = ptbr("validate", path, "--no-step")
        assert code == 2, err
        assert "lora.target_modules: q_proj, v_proj match no layer of the backbone" in err
        assert f"e.g. [{meant}]" in err, err
        assert "config.yaml:" in err, "located at the key's line"


def test_a_target_pattern_that_is_no_regular_expression_is_refused_at_the_key(ptbr, make_config) -> None:
    code, _, err = ptbr("validate", make_config(lora={**ADAPTERS, "target_modules": "query["}), "--no-step")
    assert code == 2
    assert "lora.target_modules: query[ (not a regular expression:" in err
    assert "Traceback" not in err


def test_a_deberta_backbone_trains_with_its_own_layer_names(ptbr, make_config, tmp_path: Path) -> None:
    deberta = backbone.write(tmp_path / "deberta", EXAMPLE["tokenized_text"], architecture="deberta-v2")
    path = make_config(model={"model_name": str(deberta)},
                       lora={**ADAPTERS, "target_modules": ["query_proj", "value_proj"]}, training={"num_steps": 2})
    code, _out, err = ptbr("train", path)
    assert code == 0, err
    assert "query_proj, value_proj layers" in err


def test_lora_without_peft_is_refused_at_enabled_with_the_install_line(make_config, tmp_path: Path) -> None:
    """peft made unimportable in a fresh interpreter (None in sys.modules: Python's own way of saying so)."""
    path = make_config(lora=ADAPTERS)
    script = ("import sys; sys.modules['peft'] = None\nfrom ptbr import cli\n"
              f"sys.exit(cli.main(['validate', {str(path)!r}, '--no-step']))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2, done.stderr
    assert "lora.enabled: cannot be honoured: training LoRA adapters needs peft" in done.stderr
    assert lora.INSTALL in done.stderr
    assert "Traceback" not in done.stderr


def test_any_setting_of_peft_passes_through_and_a_misspelt_one_is_refused(ptbr, make_config) -> None:
    code, out, err = ptbr("explain", make_config(lora={**ADAPTERS, "use_rslora": True}))
    assert code == 0, err
    assert "peft.LoraConfig.use_rslora" in out, "a setting of peft PTBR has no key for passes through"
    assert "peft.LoraConfig.r" in out
    code, _out, err = ptbr("validate", make_config(lora={**ADAPTERS, "use_rslor": True}), "--no-step")
    assert code == 2
    assert "lora.use_rslor" in err
    assert "did you mean 'use_rslora'?" in err


def test_freezing_the_text_encoder_under_lora_is_refused(ptbr, make_config) -> None:
    code, _out, err = ptbr("validate", make_config(lora=ADAPTERS, training={"freeze_components": ["text_encoder"]}),
                           "--no-step")
    assert code == 2
    assert "training.freeze_components: text_encoder with lora.enabled: true would freeze the adapters" in err


def test_explain_says_a_disabled_section_is_ignored(ptbr, make_config) -> None:
    code, out, err = ptbr("explain", make_config(lora={**ADAPTERS, "enabled": False}))
    assert code == 0, err
    assert "the whole model is trained" in out


def test_the_original_formats_lora_defaults_apply_when_it_enables_lora(tmp_path: Path, tiny_backbone: Path,
                                                                         train_file: Path) -> None:
    """The original PTBR filled in lora_alpha 16, lora_dropout 0.05 and task_type TOKEN_CLS (its training_cli); a
    file in its format that enables LoRA without them meant them. Not applied where the section is off."""
    text = (f"gliner_config:\n  model_name: {tiny_backbone}\n  backbone_from_pretrained: false\n"
            f"data:\n  train_data: {train_file}\n  root_dir: {tmp_path}\ntraining:\n  num_steps: 2\n"
            "lora_config:\n  enabled: {on}\n  target_modules: [query, value]\n")
    on, off = tmp_path / "on.yaml", tmp_path / "off.yaml"
    on.write_text(text.replace("{on}", "true"))
    off.write_text(text.replace("{on}", "false"))
    settings = forwarding.plan(validation.validate(layouts.load(on))).lora
    assert (settings["lora_alpha"], settings["lora_dropout"], settings["task_type"]) == (16, 0.05, "TOKEN_CLS")
    assert ("lora", "lora_alpha") not in dict(layouts.load(off).origins), "no default for a section that is off"
