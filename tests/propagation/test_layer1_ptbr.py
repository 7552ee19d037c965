"""Layer 1, PTBR → gliner: every config field's value as it crosses into gliner's entry points.

Each row's value differs from PTBR's default and from the libraries' (checked against a run of the base config, so a
default can never pass for a forwarded value); falsy values (0, 0.0, false, "") have rows of their own.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from layers import Crossing, covers, expect, gliner_config, run_to
from support import EXAMPLE, EXAMPLES, write_config

from ptbr import forwarding
from ptbr.errors import ConfigError
from ptbr.schema import ModelConfig

LAYER = "ptbr"

# Each profile is one config setting several fields at once (which also catches one field overwriting another);
# each of its checks is a test of its own: (field, what crossed, expected, rule[, profile it must differ from]).
# Every value differs from what another config crosses (the base config, or the named profile where the default is
# the same value): a PTBR that hard-coded the value would fail one of the two. Falsy values included.
PROFILES: dict[str, tuple[dict[str, dict[str, Any]], list[tuple[str, str, Any, str]]]] = {
    "values": (
        {"run": {"name": "exp-7"},
         "data": {"root_dir": "out-a"},
         "environment": {"wandb_project": "p"},
         "training": {"num_steps": 7, "train_batch_size": 3, "eval_batch_size": 5, "gradient_accumulation_steps": 4,
                      "eval_every": 6, "save_steps": 3, "logging_steps": 2, "save_total_limit": 2,
                      "scheduler_type": "cosine", "lr_encoder": 3e-4, "lr_others": 7e-4, "weight_decay_other": 0.3,
                      "loss_alpha": 0.25, "loss_gamma": 2.0, "loss_prob_margin": 0.1, "label_smoothing": 0.05,
                      "loss_reduction": "mean", "negatives": 0.5, "masking": "label",
                      "freeze_components": ["text_encoder"], "compile_model": True, "seed": 1234,
                      "report_to": ["wandb"], "dataloader_num_workers": 2, "dataloader_prefetch_factor": 3,
                      "dataloader_persistent_workers": True}},
        [("run.name", "args.run_name", "exp-7", "run.name is the run name"),
         ("data.root_dir", "args.output_dir", "out-a", "output goes to data.root_dir by default"),
         ("training.num_steps", "args.max_steps", 7, "num_steps is the number of optimizer steps"),
         ("training.train_batch_size", "args.per_device_train_batch_size", 3, "train batch per device"),
         ("training.eval_batch_size", "args.per_device_eval_batch_size", 5, "eval batch per device"),
         ("training.gradient_accumulation_steps", "args.gradient_accumulation_steps", 4, "accumulated batches"),
         ("training.eval_every", "args.eval_steps", 6, "evaluate every eval_every steps"),
         ("training.save_steps", "args.save_steps", 3, "save_steps wins over eval_every"),
         ("training.logging_steps", "args.logging_steps", 2, "logging_steps wins over eval_every"),
         ("training.save_total_limit", "args.save_total_limit", 2, "checkpoints kept"),
         ("training.scheduler_type", "args.lr_scheduler_type", "cosine", "the schedule's name"),
         ("training.lr_encoder", "args.learning_rate", 3e-4, "lr_encoder is the base learning rate"),
         ("training.lr_others", "args.others_lr", 7e-4, "lr_others is the heads' learning rate"),
         ("training.weight_decay_other", "args.others_weight_decay", 0.3, "the heads' weight decay"),
         ("training.loss_alpha", "args.focal_loss_alpha", 0.25, "focal loss alpha"),
         ("training.loss_gamma", "args.focal_loss_gamma", 2.0, "focal loss gamma"),
         ("training.loss_prob_margin", "args.focal_loss_prob_margin", 0.1, "focal loss margin"),
         ("training.label_smoothing", "args.label_smoothing", 0.05, "gliner's label smoothing"),
         ("training.loss_reduction", "args.loss_reduction", "mean", "loss reduction"),
         ("training.negatives", "args.negatives", 0.5, "negative sampling ratio"),
         ("training.masking", "args.masking", "label", "negative masking"),
         ("training.freeze_components", "kwargs.freeze_components", ["text_encoder"], "train_model freezes these"),
         ("training.compile_model", "kwargs.compile_model", True, "train_model compiles"),
         ("training.seed", "args.seed", 1234, "the seed"),
         ("training.report_to", "args.report_to", ["wandb"], "report_to as a list"),
         ("training.dataloader_num_workers", "args.dataloader_num_workers", 2, "loader workers"),
         ("training.dataloader_prefetch_factor", "args.dataloader_prefetch_factor", 3, "prefetch per worker"),
         ("training.dataloader_persistent_workers", "args.dataloader_persistent_workers", True, "keep workers")],
    ),
    "falsy": (
        {"run": {"name": ""},
         "training": {"lr_others": 0.0, "weight_decay_encoder": 0.0, "weight_decay_other": 0.0, "max_grad_norm": 0.0,
                      "seed": 0, "report_to": "none"}},
        [("run.name", "args.run_name", "", "an empty string is a value"),
         ("training.lr_others", "args.others_lr", 0.0, "0.0 is a value, not 'unset'"),
         ("training.weight_decay_encoder", "args.weight_decay", 0.0, "0.0 is a value"),
         ("training.weight_decay_other", "args.others_weight_decay", 0.0, "0.0 is a value, not 'unset'"),
         ("training.max_grad_norm", "args.max_grad_norm", 0.0, "0.0 disables clipping and is a value"),
         ("training.seed", "args.seed", 0, "0 is a seed"),
         ("training.report_to", "args.report_to", [], "'none' is explicit: no integration on any version",
          "wandb")],
    ),
    "fallbacks": (
        {"training": {"train_batch_size": 3, "eval_every": 6, "lr_encoder": 3e-4, "weight_decay_encoder": 0.2,
                      "output_dir": "out-b"},
         "data": {"root_dir": "out-a"}},
        [("training.train_batch_size", "args.per_device_eval_batch_size", 3,
          "the eval batch falls back to the train batch when unset"),
         ("training.eval_every", "args.save_steps", 6, "save_steps defaults to eval_every"),
         ("training.eval_every", "args.logging_steps", 6, "logging_steps defaults to eval_every"),
         ("training.lr_encoder", "args.others_lr", 3e-4, "lr_others follows lr_encoder when unset"),
         ("training.weight_decay_encoder", "args.others_weight_decay", 0.2,
          "weight_decay_other follows weight_decay_encoder when unset"),
         ("training.output_dir", "args.output_dir", "out-b", "training.output_dir wins over data.root_dir")],
    ),
    "gpu": (
        {"training": {"use_cpu": False, "fp16": True, "dataloader_pin_memory": False}},
        [("training.use_cpu", "args.use_cpu", False, "false lets a GPU be used"),
         ("training.fp16", "args.fp16", True, "fp16 mixed precision"),
         ("training.dataloader_pin_memory", "args.dataloader_pin_memory", False, "no pinning", "gpu-defaults")],
    ),
    "gpu-defaults": ({"training": {"use_cpu": False}}, []),
    "bf16": ({"training": {"use_cpu": True, "bf16": True}},
             [("training.bf16", "args.bf16", True, "bf16 mixed precision (with use_cpu on a CPU machine)")]),
    "warmup-ratio-in-steps": ({"training": {"num_steps": 100, "warmup_steps": 0.05}},
                              [("training.warmup_steps", "args.warmup_steps", 5, "below 1 is a ratio: ceil(.05×100)")]),
    "warmup-steps": ({"training": {"num_steps": 100, "warmup_steps": 7}},
                     [("training.warmup_steps", "args.warmup_steps", 7, "1 or more is a number of steps")]),
    "warmup-ratio": ({"training": {"num_steps": 8, "warmup_ratio": 0.25}},
                     [("training.warmup_ratio", "args.warmup_steps", 2, "ceil(0.25 × 8)")]),
    "wandb": (
        {"run": {"tags": ["a", "b"], "description": "why"}, "training": {"report_to": "wandb"},
         "environment": {"wandb_project": "p"}},
        [("run.tags", "env.WANDB_TAGS", "a,b", "wandb reads tags comma-separated from WANDB_TAGS"),
         ("run.description", "env.WANDB_NOTES", "why", "wandb reads the description from WANDB_NOTES")],
    ),
    "mlflow": (
        {"run": {"tags": ["z", "a"], "description": "why"}, "training": {"report_to": "mlflow"}},
        [("run.tags", "env.MLFLOW_TAGS", '{"a": "true", "mlflow.note.content": "why", "z": "true"}',
          "mlflow reads tags and the description (mlflow.note.content) as JSON from MLFLOW_TAGS, keys sorted (the "
          "same config gives the same environment)")],
    ),
    "epochs": ({"training": {"num_steps": None, "num_train_epochs": 2.5}},
               [("training.num_train_epochs", "args.num_train_epochs", 2.5, "the run's length in epochs"),
                ("training.num_train_epochs", "args.max_steps", -1, "no step count: the epochs decide the length")]),
    "strategies": (
        {"data": {"val_data_dir": str(EXAMPLES / "val.jsonl")},
         "training": {"eval_strategy": "epoch", "save_strategy": "epoch", "logging_strategy": "no",
                      "eval_steps": 3}},
        [("training.eval_strategy", "args.eval_strategy", "epoch", "eval_strategy as written, over val_data_dir's "
          "steps", "eval-by-data"),
         ("training.save_strategy", "args.save_strategy", "epoch", "save_strategy as written"),
         ("training.logging_strategy", "args.logging_strategy", "no", "logging_strategy as written"),
         ("training.eval_steps", "args.eval_steps", 3, "eval_steps wins over eval_every")],
    ),
    "eval-by-data": ({"data": {"val_data_dir": str(EXAMPLES / "val.jsonl")}}, []),
    "environment": (
        {"environment": {"hf_token": "hf_test", "wandb_project": "proj", "wandb_entity": "team",
                         "wandb_api_key": "k-test", "cuda_visible_devices": "-1"},
         "training": {"report_to": "wandb"}},
        [("environment.hf_token", "env.HF_TOKEN", "hf_test", "the Hub's token for the run"),
         ("environment.wandb_project", "env.WANDB_PROJECT", "proj", "wandb reads its project from WANDB_PROJECT"),
         ("environment.wandb_entity", "env.WANDB_ENTITY", "team", "wandb reads its entity from WANDB_ENTITY"),
         ("environment.wandb_api_key", "env.WANDB_API_KEY", "k-test", "wandb reads its key from WANDB_API_KEY"),
         ("environment.cuda_visible_devices", "env.CUDA_VISIBLE_DEVICES", "-1",
          "the GPUs the run may use (-1: none), as CUDA reads them")],
    ),
    "pretrained-backbone": ({"model": {"backbone_from_pretrained": True}},
                            [("model.backbone_from_pretrained", "from_config.backbone_from_pretrained", True,
                              "true loads the backbone's weights (every other profile crosses false)")]),
}
CHECKS = [(profile, *check[:4], check[4] if len(check) > 4 else "")
          for profile, (_, checks) in PROFILES.items() for check in checks]


@pytest.fixture(scope="module")
def crossed(tmp_path_factory, tiny_backbone) -> Callable[[str], Crossing]:
    """The crossing of each profile, and of the base config (""), run once per worker when first needed."""
    cache: dict[str, Crossing] = {}
    data = tmp_path_factory.mktemp("data") / "train.json"
    data.write_text(json.dumps([EXAMPLE] * 8))

    def get(name: str) -> Crossing:
        if name not in cache:
            if name.startswith("arch:"):  # every model key one architecture declares, in one config
                arch = name.removeprefix("arch:")
                given = {k: MODEL_VALUES[k] for k in MODEL_KEYS if architecture_of(k) == arch and k not in SELECTING}
                sections = {"model": {**given, **ARCHITECTURES[arch]}}
            else:
                sections = PROFILES[name][0] if name else {}
            stop = "model" if name == "pretrained-backbone" or name.startswith("arch:") else "train_model"
            workdir = tmp_path_factory.mktemp((name or "base").replace(":", "-"))
            backbone = tiny_backbone
            if name == "pretrained-backbone":  # weights to load (the crossing stops before they are read)
                backbone = shutil.copytree(tiny_backbone, workdir / "backbone")
                (backbone / "model.safetensors").write_bytes(b"")
            path = write_config(workdir / "config.yaml", backbone, data, workdir / "out", sections)
            cache[name] = run_to(stop, path, workdir)
        return cache[name]

    return get


@pytest.mark.parametrize(("profile", "field", "what", "expected", "rule", "against"),
                         [pytest.param(*c, id=f"{c[1]}->{c[2]}[{c[0]}]", marks=covers(LAYER, c[1])) for c in CHECKS])
def test_value_crosses_into_gliner(crossed, profile, field, what, expected, rule, against) -> None:
    expect(field, LAYER, crossed(profile).read(what), expected, rule)
    other = crossed(against).read(what)
    assert other != expected, f"{field}: {expected!r} also crosses from the {against or 'base'} config: pick another"


@covers(LAYER, "data.train_data")
def test_training_examples_cross_unchanged(cross, tmp_path) -> None:
    items = [EXAMPLE, {"tokenized_text": ["Bob"], "ner": [], "extra": 1}]
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    c = cross(data={"train_data": str(path)})
    expect("data.train_data", LAYER, c.train, items, "the file's examples, in order, extra keys kept")


@covers(LAYER, "data.val_data_dir")
def test_validation_examples_cross_and_turn_evaluation_on(cross, tmp_path) -> None:
    path = tmp_path / "val.json"
    path.write_text(json.dumps([EXAMPLE]))
    c = cross(data={"val_data_dir": str(path)})
    expect("data.val_data_dir", LAYER, c.evaluation, [EXAMPLE], "the validation file's examples")
    expect("data.val_data_dir", LAYER, c.read("args.eval_strategy"), "steps", "validation data turns evaluation on")
    expect("data.val_data_dir", LAYER, cross(data={"val_data_dir": "none"}).evaluation, None, '"none" is no data')


@covers(LAYER, "training.prev_path")
def test_prev_path_loads_that_model(cross, tmp_path) -> None:
    saved = tmp_path / "saved-model"
    saved.mkdir()
    for name in ("gliner_config.json", "model.safetensors"):  # what GLiNER.save_pretrained writes
        (saved / name).write_text("{}")
    c = cross("model", training={"prev_path": str(saved)})
    expect("training.prev_path", LAYER, c.from_pretrained[0], str(saved), "the saved model is loaded")
    expect("training.prev_path", LAYER, c.from_pretrained[1]["local_files_only"], True, "a local directory, offline")
    expect("training.prev_path", LAYER, c.model_config, None, "no model is built from model: when prev_path is set")


@covers(LAYER, "model.max_width", "model.max_len", "model.post_fusion_schema")
def test_fine_tuning_applies_the_model_keys_gliner_can_apply_to_a_saved_model(cross, tmp_path) -> None:
    saved = tmp_path / "saved-model"
    saved.mkdir()
    for name in ("gliner_config.json", "model.safetensors"):
        (saved / name).write_text("{}")
    c = cross("model", model={"max_width": 7, "max_len": 48, "post_fusion_schema": "l2l", "dropout": 0.0},
              training={"prev_path": str(saved)})
    # which keys cross is read from gliner's own signature here, independently of PTBR's table
    import inspect

    import gliner

    takes = inspect.signature(gliner.GLiNER.from_pretrained).parameters
    wanted = {kw: v for kw, v in (("max_width", 7), ("max_length", 48), ("post_fusion_schema", "l2l")) if kw in takes}
    got = {k: v for k, v in c.from_pretrained[1].items() if k != "local_files_only"}
    expect("model.max_width", LAYER, got, wanted, "every model: key from_pretrained can apply reaches it, as given",
           also=("model.max_len", "model.post_fusion_schema"))
    expect("model.max_width", LAYER, "dropout" in c.from_pretrained[1], False, "a key it cannot apply is not passed")


@covers(LAYER, "training.resume_from_checkpoint")
def test_resume_reaches_trainer_train(cross, tmp_path) -> None:
    (tmp_path / "out" / "checkpoint-2").mkdir(parents=True)  # an earlier run's checkpoint
    (tmp_path / "out" / "checkpoint-2" / "trainer_state.json").write_text("{}")
    c = cross("trainer", training={"resume_from_checkpoint": "out/checkpoint-2"})
    expect("training.resume_from_checkpoint", LAYER, c.resume, "out/checkpoint-2", "Trainer.train resumes from it")
    c = cross("trainer", training={"resume_from_checkpoint": True})
    expect("training.resume_from_checkpoint", LAYER, c.resume, True, "true resumes from the latest checkpoint")


# Values for model keys: each differs from gliner's default (checked below).
MODEL_VALUES: dict[str, Any] = {
    "model_name": "org/other-backbone", "name": "ner-x", "model_type": "gliner_uni_encoder_span",
    "labels_encoder": "org/labels", "labels_decoder": "org/decoder", "decoder_mode": "prompt",
    "full_decoder_context": False, "blank_entity_prob": 0.3, "decoder_loss_coef": 0.7, "span_loss_coef": 0.3,
    "token_loss_coef": 0.3, "relations_layer": "biaffine", "triples_layer": "triples", "max_width": 5,
    "hidden_size": 64, "dropout": 0.0, "fine_tune": False, "subtoken_pooling": "mean", "fuse_layers": True,
    "post_fusion_schema": "l2l-l2t", "num_post_fusion_layers": 2, "represent_spans": True,
    "span_mode": "token_level", "max_types": 7, "max_len": 100, "max_neg_type_ratio": 0, "neg_spans_ratio": 0.5,
    "words_splitter_type": "spacy", "num_rnn_layers": 0, "embed_ent_token": False, "ent_token": "<<E>>",
    "sep_token": "<<S>>", "label_token": "<<L>>", "right_context_width": 3, "max_cache_length": 128,
    "span_context_encoder": "rnn", "span_context_num_layers": 2,
    "encoder_config": {"model_type": "bert", "hidden_size": 48},
    "labels_encoder_config": {"model_type": "bert", "hidden_size": 40},
    "labels_decoder_config": {"model_type": "gpt2", "n_embd": 24},
    "span_encoder_config": {"model_type": "rnn", "hidden_size": 20},
}
MODEL_KEYS = [k for k in ModelConfig.model_fields if k not in (*forwarding.NOT_GLINER_CONFIG, "model_type")]
# The architectures the upstream configs use, by the model: keys that make gliner build each (the key selecting it
# holds its row value, so the crossing of that key is checked in that architecture). Each key is checked in one
# architecture, with the other keys checked there.
SELECTING = {"span_mode": "token", "labels_encoder": "bi-encoder", "labels_decoder": "decoder",
             "relations_layer": "relex"}
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "span": {}, **{arch: {key: MODEL_VALUES[key]} for key, arch in SELECTING.items()},
    "streaming": {"model_type": "gliner_streaming_span"},
}


@functools.cache
def declared(arch: str) -> frozenset[str]:
    """The keys the config class the installed gliner builds for an architecture declares, read from gliner's own
    classes here (not from PTBR): its class selection, then the __init__ parameters along the class's bases."""
    import gliner
    import gliner.config as gc

    select = getattr(gliner.GLiNER, "_get_gliner_class", None)
    if select is None:  # an older gliner builds GLiNERConfig whatever the keys: every class's keys are accepted
        classes = [c for c in vars(gc).values() if isinstance(c, type) and c.__module__ == gc.__name__]
    else:
        config = gliner_config(ARCHITECTURES[arch])
        classes = [getattr(select(config), "config_class", None) or type(config)]
    return frozenset(p for cls in classes for base in cls.__mro__ if base.__module__ == gc.__name__
                     and "__init__" in vars(base) for p in inspect.signature(base.__init__).parameters)


@functools.cache
def read_nowhere() -> frozenset[str]:
    """Keys gliner's config module declares that no other gliner module mentions, read here from gliner's source:
    a value other than the default would change nothing, and is refused."""
    import re
    from pathlib import Path

    import gliner
    import gliner.config as gc

    other = "\n".join(p.read_text(errors="replace") for p in Path(gliner.__file__).parent.rglob("*.py")
                      if p.resolve() != Path(gc.__file__).resolve())
    return frozenset(k for k in declared("span") | {k for a in ARCHITECTURES for k in declared(a)}
                     if not re.search(rf"\b{re.escape(k)}\b", other))


def architecture_of(key: str) -> str | None:
    """Where a key's crossing is checked: the architecture it selects, else the first one that declares it; None
    for a key no architecture declares or gliner reads nowhere (refused)."""
    if key in read_nowhere():
        return None
    return SELECTING.get(key) or next((arch for arch in ARCHITECTURES if key in declared(arch)), None)


def _same(got: Any, expected: Any) -> bool:
    """A mapping in the config becomes a config object in gliner: compare the keys that were given."""
    if isinstance(expected, dict) and not isinstance(got, dict):
        return all(getattr(got, k, None) == v for k, v in expected.items() if k != "model_type")
    return got == expected


@pytest.mark.parametrize("key", [pytest.param(k, marks=covers(LAYER, f"model.{k}")) for k in MODEL_KEYS])
def test_model_key_crosses_into_gliner_config_or_is_refused(cross, crossed, key: str) -> None:
    from gliner import GLiNERConfig

    value = MODEL_VALUES[key]
    arch = architecture_of(key)
    if arch is not None:
        default = getattr(GLiNERConfig(), key, None)
        assert not _same(default, value), f"model.{key}: row value {value!r} is gliner's default: pick another"
        got = crossed(f"arch:{arch}").read(f"model.{key}")
        expect(f"model.{key}", LAYER, value if _same(got, value) else got, value,
               f"a model key of a {arch} model reaches gliner as written (config objects: key by key)")
    else:
        refused = rf"model\.{key}: cannot be honoured: gliner .* (has no|reads it nowhere)"
        with pytest.raises(ConfigError, match=refused) as info:
            cross("model", model={key: value})
        expect(f"model.{key}", LAYER, info.type.__name__, "ConfigError", "refused, naming the key and why")


@pytest.mark.parametrize(("key", "arch"), [("right_context_width", "streaming"), ("decoder_mode", "decoder"),
                                           ("labels_encoder_config", "bi-encoder")])
def test_a_key_of_another_architecture_is_a_warning_and_does_not_cross(make_config, tmp_path, key: str,
                                                                        arch: str) -> None:
    from layers import run_to

    from ptbr import loader, validation

    if key not in declared(arch) or key in declared("span"):
        pytest.skip(f"this gliner's span model declares {key} or its {arch} model does not")
    path = make_config(model={key: MODEL_VALUES[key]})
    assert key not in run_to("model", path, tmp_path).model_config, \
        f"model.{key}: a key the built architecture reads nowhere does not cross"
    plan = forwarding.plan(validation.validate(loader.load(path)))
    (warning,) = [w for w in plan.warnings() if w.key == f"model.{key}"]
    assert "builds a gliner_uni_encoder_span model from these keys, which reads no setting" in warning.message


@covers(LAYER, "run.strict")
@pytest.mark.parametrize("strict", [True, False], ids=["strict", "warn"])
def test_run_strict_refuses_a_key_read_nowhere_and_otherwise_trains(cross, strict: bool) -> None:
    # training.size_sup is read by no gliner release: a warning on every version
    sections = {"run": {"strict": strict}, "training": {"size_sup": -1}}
    if strict:
        with pytest.raises(ConfigError) as info:
            cross("model", **sections)
        expect("run.strict", LAYER, [p.key for p in info.value.problems], ["training.size_sup"],
               "strict: a key read nowhere is refused, at that key")
    else:
        c = cross("model", **sections)
        expect("run.strict", LAYER, c.model_config is not None, True, "not strict: the model is built (a warning)")


@covers(LAYER, "model.model_type")
def test_model_type_crosses_when_it_is_what_gliner_builds_and_is_refused_otherwise(cross) -> None:
    import gliner

    if not hasattr(gliner.GLiNER, "_config_from_dict"):  # this gliner never reads model_type: refused, saying so
        with pytest.raises(ConfigError, match=r"model\.model_type: cannot be honoured: gliner .* has no model setting"
                           ) as info:
            cross("model", model={"model_type": MODEL_VALUES["model_type"]})
        expect("model.model_type", LAYER, info.type.__name__, "ConfigError", "refused where gliner never reads it")
        return
    c = cross("model", model={"model_type": MODEL_VALUES["model_type"]})
    expect("model.model_type", LAYER, c.model_config["model_type"], MODEL_VALUES["model_type"],
           "the architecture gliner builds from these keys, as written")
    with pytest.raises(ConfigError, match=r"model\.model_type: gliner .* builds 'gliner_uni_encoder_span' from these"):
        cross("model", model={"model_type": "gliner_bi_encoder_span"})  # no labels_encoder: not a bi-encoder


def test_every_model_key_has_a_row() -> None:
    assert sorted({*MODEL_KEYS, "model_type"} - set(MODEL_VALUES)) == []


@covers(LAYER, "training.warmup_steps", "training.warmup_ratio")
def test_no_warmup_when_neither_warmup_key_is_set(cross) -> None:
    got = cross(training={"num_steps": 100}).read("args.warmup_steps")
    expect("training.warmup_steps", LAYER, got, 0, "neither warmup_steps nor warmup_ratio: no warmup",
           also=("training.warmup_ratio",))


@covers(LAYER, "training.warmup_steps")
def test_warmup_steps_of_one_is_one_step_not_a_ratio_of_one(cross) -> None:
    got = cross(training={"num_steps": 100, "warmup_steps": 1}).read("args.warmup_steps")
    expect("training.warmup_steps", LAYER, got, 1, "1 or more is a number of steps: 1, not 100 % of num_steps")


@covers(LAYER, "training.warmup_steps", "training.num_steps")
@pytest.mark.parametrize(("steps", "ratio"), [(10, 0.05), (7, 0.5), (1000, 0.001), (3, 0.99)])
def test_warmup_ratio_is_rounded_up_to_whole_steps(cross, steps: int, ratio: float) -> None:
    got = cross(training={"num_steps": steps, "warmup_steps": ratio}).read("args.warmup_steps")
    expect("training.warmup_steps", LAYER, got, math.ceil(ratio * steps), "ceil(ratio × num_steps)",
           also=("training.num_steps",))


@covers(LAYER, "model.trust_remote_code")
def test_a_backbone_with_custom_code_is_built_only_when_trusted(cross, tmp_path, tiny_backbone) -> None:
    custom = shutil.copytree(tiny_backbone, tmp_path / "custom-backbone")
    config = json.loads((custom / "config.json").read_text())
    (custom / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModel": "modeling_x.XModel"}}))
    with pytest.raises(ConfigError, match=r"model\.model_name: .* declares custom code \(AutoModel in its config"):
        cross("model", model={"model_name": str(custom)})
    trusted = cross("model", model={"model_name": str(custom), "trust_remote_code": True})
    expect("model.trust_remote_code", LAYER, trusted.model_config["model_name"], str(custom),
           "trusted: the model is built from it")
    expect("model.trust_remote_code", LAYER, "trust_remote_code" in trusted.model_config, False,
           "PTBR's own guard, never a GLiNERConfig key")


@covers(LAYER, "training.num_train_epochs", "training.warmup_ratio")
@pytest.mark.parametrize("ratio", [0.1, 0.25])
def test_a_warmup_ratio_in_a_run_counted_in_epochs_stays_a_ratio(cross, ratio: float) -> None:
    """A run counted in epochs has no step count before its data is batched: the scheduler warms up for the ratio of
    whatever count the Trainer computes, on every release (4.x reads warmup_ratio, 5.x a float warmup_steps)."""
    args = cross(training={"num_steps": None, "num_train_epochs": 2, "warmup_ratio": ratio}).args
    for steps in (40, 1000):
        expect("training.warmup_ratio", LAYER, args.get_warmup_steps(steps), math.ceil(ratio * steps),
               "ceil(ratio × the Trainer's step count)", also=("training.num_train_epochs",))


LORA = {"r": 4, "lora_alpha": 12, "lora_dropout": 0.1, "bias": "lora_only", "target_modules": ["query", "value"],
        "task_type": "FEATURE_EXTRACTION", "modules_to_save": ["pooler"]}
"""Every lora: key, each unlike peft's default (r 8, alpha 8, dropout 0, bias none, its per-architecture targets for
BERT (query, value: named here all the same, and checked on the layers that hold adapters), no task type, nothing
saved in full)."""


def _adapted(encoder) -> dict[str, Any]:
    """The text encoder's layers that hold adapters, by full name → the layer."""
    return {name: m for name, m in encoder.named_modules() if hasattr(m, "lora_A") and hasattr(m, "base_layer")}


@covers(LAYER, "lora.enabled", *(f"lora.{k}" for k in LORA))
def test_every_lora_key_reaches_peft_and_the_wrapped_encoder(cross) -> None:
    """With enabled: true the model handed to train_model has its text encoder wrapped by peft: each key on the real
    LoraConfig, and on the encoder's layers (rank, scaling, dropout, which layers hold adapters, what trains)."""
    import torch

    c = cross(lora={"enabled": True, **LORA})
    wrapped = c.model.model.token_rep_layer.bert_layer.model
    expect("lora.enabled", LAYER, type(wrapped).__module__.split(".")[0], "peft", "the text encoder is peft's wrapper")
    settings = wrapped.peft_config["default"]
    for key, value in LORA.items():
        got = getattr(settings, key)
        got = sorted(got) if isinstance(got, (set, list)) else getattr(got, "value", got)  # TaskType is an enum
        expect(f"lora.{key}", LAYER, got, value, f"peft's LoraConfig.{key} is the config's")
    adapted = _adapted(wrapped)
    expect("lora.target_modules", LAYER, sorted({n.rsplit(".", 1)[-1] for n in adapted}), ["query", "value"],
           "exactly the named layers hold adapters")
    layer = next(iter(adapted.values()))
    expect("lora.r", LAYER, layer.lora_A["default"].weight.shape[0], 4, "each adapter has rank r")
    expect("lora.lora_alpha", LAYER, layer.scaling["default"], 12 / 4, "scaling is lora_alpha / r")
    expect("lora.lora_dropout", LAYER, layer.lora_dropout["default"].p, 0.1, "the adapter path's dropout")
    trains = {n for n, p in wrapped.named_parameters() if p.requires_grad}
    expect("lora.bias", LAYER, any(n.endswith("query.base_layer.bias") for n in trains), True,
           "lora_only: the biases of adapted layers train")
    expect("lora.modules_to_save", LAYER, any(".pooler." in n and "modules_to_save" in n for n in trains), True,
           "the pooler trains in full, as a copy peft saves")
    frozen = [n for n, p in wrapped.named_parameters() if not p.requires_grad]
    assert any(n.endswith("query.base_layer.weight") for n in frozen), "the encoder's own weights are frozen"
    heads = [p.requires_grad for n, p in c.model.named_parameters() if "token_rep_layer" not in n]
    assert heads, "the name filter matches GLiNER's other layers"
    assert all(heads), "GLiNER's other layers train in full (PTBR's rule, docs/config.md)"
    assert isinstance(layer.base_layer, torch.nn.Linear)


@covers(LAYER, "lora.enabled", "lora.r")
def test_lora_disabled_crosses_nothing_and_trains_the_whole_model(cross) -> None:
    """enabled: false reads the section and ignores it: the same model and arguments cross as without it."""
    off, base = cross(lora={"enabled": False, **LORA}), cross()
    expect("lora.enabled", LAYER, type(off.model.model.token_rep_layer.bert_layer.model).__name__,
           type(base.model.model.token_rep_layer.bert_layer.model).__name__, "false: no wrapper, the whole encoder")
    expect("lora.r", LAYER, all(p.requires_grad for p in off.model.parameters()), True,
           "false: every parameter trains, whatever the section's other keys say")
    assert off.train_model_kwargs == base.train_model_kwargs, "lora: with enabled false changes nothing that crosses"
