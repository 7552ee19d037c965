"""Every layout people write configs in is read as its nested form (ptbr.layouts): upstream's flat layout, the original
PTBR's format, and epoch-based training as HF Trainer users write it. Each is judged exactly as the nested file with
the same keys and values would be; what cannot be read is refused at its line, never dropped."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support import EXAMPLES, ROOT

from ptbr import backbone, layouts, loader

CONFIGS = ROOT / "tests" / "configs"
FLAT = sorted((CONFIGS / "flat").glob("*.yaml"))
ORIGINAL = CONFIGS / "original" / "ptbr.yaml"
HISTORY = ROOT.parent / "shared" / "upstream" / "gliner-configs-history"
"""Six of upstream's own flat configs, byte for byte, where the checkout has ../shared (CI has it)."""
HISTORY_FILES = sorted(HISTORY.glob("*.yaml")) if HISTORY.is_dir() else []
ONCE_WRITTEN = {"training.freeze_token_rep", "training.neg_span_masking", "training.negative_rate"}
"""Keys upstream's flat files wrote and no gliner release PTBR supports reads."""
DATA = ["--set", f"data.train_data={EXAMPLES / 'train.json'}"]


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def _explained(ptbr, path: Path, *extra: str) -> dict:
    code, out, err = ptbr("explain", "--json", path, *DATA, *extra)
    assert code == 0, err
    data = json.loads(out)
    keys = sorted(({k: v for k, v in key.items() if k not in ("where", "written_as")} for key in data["keys"]),
                  key=lambda k: k["key"])
    return {"keys": keys, "defaults": data["defaults"], "warnings": sorted(w["key"] for w in data["warnings"])}


def _nested(path: Path, tmp_path: Path) -> Path:
    """The nested file with the same keys and values, written by hand from the flat one (each key under the section
    the reference says it belongs to: upstream's nested configs since 2025-11 put them there)."""
    flat = loader.load(path).data
    sections = {"data": ("root_dir", "train_data", "val_data_dir")}
    training = ("num_steps", "train_batch_size", "eval_every", "warmup_ratio", "scheduler_type", "loss_alpha",
                "loss_gamma", "label_smoothing", "loss_reduction", "negatives", "masking", "lr_encoder", "lr_others",
                "weight_decay_encoder", "weight_decay_other", "max_grad_norm", "prev_path", "save_total_limit",
                "size_sup", "shuffle_types", "random_drop", "freeze_token_rep", "negative_rate", "neg_span_masking")
    nested: dict[str, dict] = {}
    for key, value in flat.items():
        section = "data" if key in sections["data"] else "training" if key in training else "model"
        nested.setdefault(section, {})[key] = value
    return _write(tmp_path / f"nested-{path.name}", nested)


@pytest.mark.parametrize("path", FLAT + HISTORY_FILES, ids=[p.stem for p in FLAT + HISTORY_FILES])
def test_a_flat_config_validates_with_one_note_and_its_once_written_keys_as_warnings(ptbr, path: Path) -> None:
    code, out, err = ptbr("validate", "--no-step", path, *DATA, "--set", "data.val_data_dir=none")
    assert code == 0, f"{path.name}: the flat layout is read, got {_errors(err)}"
    assert out.startswith(f"ok: {path}")
    notes = [line for line in err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1, "one note per file says how it was read, no error per key"
    assert "flat layout" in notes[0]
    written = set(loader.load(path).data)
    warned = {line.split(": ")[2] for line in err.splitlines() if line.startswith("warning: ")}
    assert {k for k in ONCE_WRITTEN if k.split(".")[1] in written} <= warned, "keys no gliner reads are warnings"


@pytest.mark.parametrize("path", FLAT, ids=[p.stem for p in FLAT])
def test_a_flat_config_explains_exactly_as_its_nested_form(ptbr, path: Path, tmp_path: Path) -> None:
    assert _explained(ptbr, path) == _explained(ptbr, _nested(path, tmp_path)), \
        "same destinations, same values, same warnings as the same keys written nested"


def test_a_flat_key_keeps_its_line_and_is_named_by_its_place_in_the_nested_form(ptbr, tmp_path: Path) -> None:
    text = FLAT[0].read_text().replace("max_width: 12", "max_width: twelve")
    path = tmp_path / "flat.yaml"
    path.write_text(text)
    line = text.splitlines().index("max_width: twelve") + 1
    code, _, err = ptbr("validate", "--no-step", path, *DATA)
    assert code == 2
    assert _errors(err) == [f"error: {path}:{line}:1: model.max_width: input should be a valid integer, got 'twelve'"]


def test_an_unknown_flat_key_gets_the_nearest_known_name(ptbr, tmp_path: Path) -> None:
    path = _write(tmp_path / "flat.yaml", {**loader.load(FLAT[0]).data, "lr_encodr": 1e-5})
    code, _, err = ptbr("validate", "--no-step", path, *DATA)
    assert code == 2
    assert "lr_encodr: unknown key" in err
    assert "did you mean 'lr_encoder'?" in err


def test_a_glirel_config_is_refused_as_what_it_is(ptbr, tmp_path: Path) -> None:
    glirel = {"lr_encoder": 1e-5, "num_steps": 100, "model_name": "microsoft/deberta-v3-large", "rel_mode": "marker",
              "span_marker_mode": "markerv1", "num_train_rel_types": 25, "num_unseen_rel_types": 15, "top_k": 1,
              "train_data": "data/few_rel_all.jsonl", "root_dir": "logs"}
    code, _, err = ptbr("validate", "--no-step", _write(tmp_path / "few_rel.yaml", glirel))
    assert code == 2
    (error,) = _errors(err)
    assert "not a GLiNER training config: it is a GLiREL config" in error, "one message that says what it is"


def test_a_config_of_an_unknown_variant_is_refused_once_listing_what_no_release_knows(ptbr, tmp_path: Path) -> None:
    variant = {**loader.load(FLAT[0]).data, "contrastive_temperature": 0.1, "memory_bank_size": 4096,
               "prototype_loss_coef": 0.5, "num_prototypes": 16, "momentum_encoder": True, "queue_refresh": 100,
               "span_memory_decay": 0.9, "teacher_model": "x"}
    code, _, err = ptbr("validate", "--no-step", _write(tmp_path / "variant.yaml", variant), *DATA)
    assert code == 2
    (error,) = _errors(err)
    assert "not a GLiNER training config PTBR can read: 8 of" in error
    assert "contrastive_temperature" in error
    assert "research variant" in error


def test_the_original_ptbr_format_validates_with_its_names_read_as_ptbrs(ptbr) -> None:
    code, out, err = ptbr("validate", "--no-step", ORIGINAL, *DATA)
    assert code == 0, _errors(err)
    assert "seed 7" in out, "run.seed is the seed"
    assert "optim='adamw_torch'" in out, "training.optimizer is TrainingArguments.optim"
    (note,) = [line for line in err.splitlines() if line.startswith("note: ")]
    assert "gliner_config as model" in note
    assert "run.seed as training.seed" in note


@pytest.mark.parametrize(("path", "name"), [
    pytest.param(ROOT.parent / "shared" / "original-ptbr" / "template.yaml", "template", id="template"),
    pytest.param(ORIGINAL, "project copy", id="project"),
])
def test_the_original_template_validates(ptbr, path: Path, name: str) -> None:
    if not path.is_file():
        pytest.skip(f"{path} is not here (CI has ../shared)")
    code, _, err = ptbr("validate", "--no-step", path, *DATA)
    assert code == 0, f"{name}: {_errors(err)}"


def test_seed_under_two_names_is_refused_at_the_original_name(ptbr, tmp_path: Path) -> None:
    data = loader.load(ORIGINAL).data
    data["training"]["seed"] = 3
    path = _write(tmp_path / "both.yaml", data)
    code, _, err = ptbr("validate", "--no-step", path, *DATA)
    assert code == 2
    (error,) = _errors(err)
    assert re.search(r"both\.yaml:\d+:3: run\.seed: is read as training\.seed, which this file also sets: one name "
                     "per value", error)


def test_a_section_under_both_names_is_refused(ptbr, tmp_path: Path) -> None:
    data = loader.load(ORIGINAL).data
    data["model"] = {"max_len": 128}
    code, _, err = ptbr("validate", "--no-step", _write(tmp_path / "both.yaml", data), *DATA)
    assert code == 2
    assert "gliner_config: is the original PTBR's name for model:, which this file also has" in err


def test_an_optimizer_the_installed_transformers_lacks_is_refused_with_the_ones_it_has(ptbr, tmp_path: Path) -> None:
    from transformers.training_args import OptimizerNames

    data = loader.load(ORIGINAL).data
    data["training"]["optimizer"] = "adamw_bogus"
    code, _, err = ptbr("validate", "--no-step", _write(tmp_path / "o.yaml", data), *DATA)
    assert code == 2
    (error,) = _errors(err)
    assert ": training.optim: " in error, "at the key PTBR reads training.optimizer as"
    assert "adamw_bogus" in error, "as transformers judges it"
    assert "adamw_torch" in error, "naming the optimizers it has"
    assert "adamw_torch" in {o.value for o in OptimizerNames}


def test_the_original_templates_lora_targets_are_refused_with_the_backbones_names(ptbr, tmp_path: Path) -> None:
    """The template's target_modules (q_proj, v_proj) name no layer of DeBERTa-v3: with lora enabled, refused at the
    line of lora_config's key, naming the backbone's query_proj, value_proj (a local DeBERTa-v2 backbone: the
    architecture of deberta-v3-small, without the Hub)."""
    data = loader.load(ORIGINAL).data
    data["lora_config"].update(enabled=True, target_modules=["q_proj", "v_proj"])
    data["gliner_config"].update(model_name=str(backbone.write(tmp_path / "deberta", architecture="deberta-v2")),
                                 backbone_from_pretrained=False)
    path = _write(tmp_path / "lora.yaml", data)
    code, _, err = ptbr("validate", "--no-step", path, *DATA)
    assert code == 2
    (error,) = _errors(err)
    assert re.search(r"lora\.yaml:\d+:3: lora\.target_modules: q_proj, v_proj match no layer of the backbone", error)
    assert "e.g. [query_proj, value_proj]" in err


def test_report_to_under_environment_and_training_is_one_name_per_value(ptbr, tmp_path: Path) -> None:
    data = loader.load(ORIGINAL).data
    data["training"]["report_to"] = "tensorboard"
    code, _, err = ptbr("validate", "--no-step", _write(tmp_path / "r.yaml", data), *DATA)
    assert code == 2
    assert "environment.report_to: is read as training.report_to, which this file also sets" in err


def test_moves_of_a_file_with_sections_leave_stray_top_level_keys_to_validation(tmp_path: Path) -> None:
    reading = layouts.moves({"model": {"model_name": "x"}, "num_steps": 3})
    assert reading.layout == "nested", "a file with sections is nested"
    assert reading.moves == (), "nothing is moved: validation refuses the stray key at its line"


def test_messages_of_a_multi_config_run_name_their_config(ptbr, make_config, tmp_path: Path) -> None:
    good = make_config()
    bad = _write(tmp_path / "b.yaml", {**yaml.safe_load(good.read_text()), "data": {
        "root_dir": str(tmp_path / "o"), "train_data": "data/data.json"}})
    code, _, err = ptbr("validate", "--no-step", good, bad)
    assert code == 2
    (error,) = _errors(err)
    assert re.match(rf"error: {re.escape(str(bad))}:\d+:3: data\.train_data: data/data\.json: data file not found",
                    error), "the config, the key's line, the data file"


def test_a_file_in_the_original_format_gets_the_originals_defaults_for_what_it_leaves_out(ptbr, tmp_path: Path) -> None:
    """The original PTBR filled in cosine, a warmup ratio of 0.1, 3 checkpoints and 2 loader workers: a file in its
    format that leaves them out meant them. The same keys in PTBR's nested layout keep PTBR's defaults."""
    data = loader.load(ORIGINAL).data
    for key in ("scheduler_type", "warmup_ratio", "save_total_limit"):
        del data["training"][key]
    code, out, err = ptbr("validate", "--no-step", _write(tmp_path / "original.yaml", data), *DATA)
    assert code == 0, _errors(err)
    assert ", cosine, warmup 1500 steps," in out, "cosine and ceil(0.1 × 15000) warmup steps, as the original ran it"
    assert "its defaults for what the file leaves out: training.scheduler_type: cosine" in err, "the note says so"
    nested = {"model" if k == "gliner_config" else k: v for k, v in data.items() if k not in ("lora_config",)}
    nested["training"]["optim"] = nested["training"].pop("optimizer")
    nested["training"]["seed"] = nested["run"].pop("seed")
    nested["training"].update(nested.pop("environment"))
    for key in ("hf_token", "wandb_project", "wandb_entity", "wandb_api_key", "cuda_visible_devices"):
        nested["training"].pop(key)
    code, out, err = ptbr("validate", "--no-step", _write(tmp_path / "nested.yaml", nested), *DATA)
    assert code == 0, _errors(err)
    assert ", linear, warmup 0 steps," in out, "PTBR's own layout: PTBR's defaults"
