"""Every schema field is proven to reach its destination in layer 1 or 2, or is listed as not forwarded with a reason;
and every forwarded field declares the deepest layer that can observe its effect (DEEPEST) and is proven there.

Coverage is read from the ``@covers`` marks of the layer modules themselves (not from the collected session), so the
check holds whatever subset of tests runs. A new field without a test, a reason or a declared depth fails here; so
does a field proven deeper than it declares (the declaration is then out of date).
"""

from __future__ import annotations

import importlib

from _pytest.mark.structures import ParameterSet

from ptbr import forwarding, schema, surface

PROVING_MODULES = ("test_layer1_ptbr", "test_layer2_transformers", "test_layer1_surface")
PROVING_LAYERS = ("ptbr", "transformers")
EFFECT_MODULES = (*PROVING_MODULES, "test_layer3_torch", "test_gpu", "test_layer4_e2e")
DEPTH = ("ptbr", "transformers", "torch", "e2e")
"""Layers by how deep an effect lies: what PTBR hands gliner, what the Trainer does, what torch computes, a run."""

_MODEL = ("layer 1 reads it on the configuration gliner makes of what crossed (its own conversion), in the "
          "architecture gliner's own classes declare it for; its effect on the network is gliner's, and building each "
          "architecture's network would need its backbones from the Hub")
_TRAINS = "the Trainer's {} (layer 2)"
DEEPEST: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("run.name", "run.tags", "run.description"), (
        "ptbr", "read by wandb / MLflow from the environment when a run starts; their servers are out of reach "
                "offline, so layer 1 reads the environment the integration sees at Trainer.train")),
    **{f"model.{k}": ("ptbr", _MODEL) for k in (
        "name", "model_type", "labels_encoder", "labels_decoder", "decoder_mode", "full_decoder_context",
        "blank_entity_prob", "decoder_loss_coef", "span_loss_coef", "token_loss_coef", "relations_layer",
        "triples_layer", "max_width", "hidden_size", "dropout", "fine_tune", "subtoken_pooling", "fuse_layers",
        "post_fusion_schema", "num_post_fusion_layers", "represent_spans", "span_mode", "max_types", "max_len",
        "max_neg_type_ratio", "neg_spans_ratio", "words_splitter_type", "num_rnn_layers", "embed_ent_token",
        "ent_token", "sep_token", "label_token", "right_context_width", "max_cache_length", "span_context_encoder",
        "span_context_num_layers", "encoder_config", "labels_encoder_config", "labels_decoder_config",
        "span_encoder_config")},
    "model.model_name": ("ptbr", "the backbone gliner builds from (GLiNER.from_config's model_name, layer 1)"),
    "model.backbone_from_pretrained": ("ptbr", "whether gliner loads the backbone's weights (from_config, layer 1)"),
    "model.trust_remote_code": ("ptbr", "whether a backbone with custom code is built at all (layer 1 builds one)"),
    "data.root_dir": ("ptbr", "where relative paths resolve; the run's files on disk are output_dir's (e2e)"),
    "data.train_data": ("ptbr", "the examples handed to train_model, compared with the file's (layer 1)"),
    "data.val_data_dir": ("e2e", "evaluation runs on it at the configured cadence"),
    "training.prev_path": ("ptbr", "the weights GLiNER.from_pretrained starts from (layer 1)"),
    "training.resume_from_checkpoint": ("ptbr", "the checkpoint handed to Trainer.train (layer 1)"),
    "training.compile_model": ("ptbr", "torch.compile needs a C compiler at run time; layer 1 reads torch_compile"),
    "run.strict": ("ptbr", "whether validate and train refuse a key the installed versions read nowhere (layer 1)"),
    **{f"training.{k}": ("e2e", "files on disk and the loss of a whole ptbr train") for k in (
        "output_dir", "num_steps", "eval_every", "save_steps", "logging_steps", "save_total_limit", "seed",
        "lr_others")},
    **{f"training.{k}": ("transformers", _TRAINS.format(what)) for k, what in {
        "train_batch_size": "dataloader", "eval_batch_size": "eval dataloader",
        "gradient_accumulation_steps": "forward passes per optimizer step", "warmup_steps": "scheduler",
        "warmup_ratio": "scheduler", "scheduler_type": "scheduler", "lr_encoder": "optimizer groups",
        "weight_decay_encoder": "optimizer groups", "weight_decay_other": "heads after real steps",
        "max_grad_norm": "clipped gradients", "loss_alpha": "loss call", "loss_gamma": "loss call",
        "loss_prob_margin": "loss call", "label_smoothing": "loss call", "loss_reduction": "loss call",
        "negatives": "loss call", "masking": "loss call", "freeze_components": "trainable parameters",
        "dataloader_num_workers": "dataloader", "dataloader_pin_memory": "dataloader",
        "dataloader_persistent_workers": "dataloader", "dataloader_prefetch_factor": "dataloader",
        "report_to": "callbacks"}.items()},
    **{f"training.{k}": ("ptbr", "read back on the real TrainingArguments (layer 1); when the Trainer evaluates, "
                         "saves and logs, and for how long it trains, is transformers' loop over these fields")
       for k in ("num_train_epochs", "eval_steps", "eval_strategy", "save_strategy", "logging_strategy")},
    **{f"lora.{k}": ("ptbr", "read on peft's LoraConfig and on the wrapped encoder's layers (layer 1): rank, "
                     "scaling, dropout, what trains; its effect on the loss is peft's") for k in (
        "r", "lora_alpha", "lora_dropout", "bias", "task_type", "modules_to_save")},
    **dict.fromkeys(("lora.enabled", "lora.target_modules"), (
        "transformers", "real optimizer steps move the named layers' adapters and leave the encoder's weights "
                        "bit-identical (layer 2)")),
    **{f"environment.{k}": ("ptbr", "read by the Hub, wandb and CUDA from the environment; their servers and a GPU "
                            "are out of reach here, so layer 1 reads the environment the Trainer sees") for k in (
        "hf_token", "wandb_project", "wandb_entity", "wandb_api_key", "cuda_visible_devices")},
    **dict.fromkeys(("training.bf16", "training.fp16", "training.use_cpu"), (
        "torch", "the dtype and device of the forward pass, and CUDA left alone (fp16: GPU mode only)")),
}
"""Each forwarded field: the deepest layer that can observe it, and what it observes there."""


def passthrough_depth() -> dict[str, tuple[str, str]]:
    """The passthrough options of the installed versions: gliner's loss options are observed in the loss (layer 2);
    every other one is a field the Trainer reads as it is, read back on the real object layer 1 hands gliner."""
    from test_layer2_transformers import GLINER_LOSS_OPTIONS

    loss = ("transformers", "the loss call and, for loss_type, dice_gamma and use_span_width_weight, the loss on a "
            "fixed batch (layer 2)")
    plain = ("ptbr", "read back on the real TrainingArguments (test_layer1_surface.py)")
    return {f"training.{name}": loss if name in GLINER_LOSS_OPTIONS else plain for name in surface.passthrough()}


def forwarded_fields() -> list[str]:
    """Every field PTBR forwards on the installed versions: the schema's own and the passthrough options."""
    return [f for f in schema.fields() if f not in forwarding.NOT_FORWARDED] + sorted(passthrough_depth())


def _marks(test) -> list:
    marks = list(getattr(test, "pytestmark", []))
    for mark in list(marks):
        if mark.name == "parametrize":
            marks += [m for p in mark.args[1] if isinstance(p, ParameterSet) for m in p.marks]
    return marks


def proven_at(modules: tuple[str, ...] = EFFECT_MODULES) -> dict[str, set[str]]:
    """field → the layers whose tests claim it (a claim is checked when the test runs: conftest.py)."""
    layers: dict[str, set[str]] = {}
    for name in modules:
        module = importlib.import_module(name)
        for attr, test in vars(module).items():
            if attr.startswith("test_"):
                for mark in _marks(test):
                    if mark.name == "propagation":
                        for field in mark.kwargs["fields"]:
                            layers.setdefault(field, set()).add(mark.kwargs["layer"])
    return layers


def covered_fields() -> set[str]:
    return {f for f, layers in proven_at(PROVING_MODULES).items() if layers & set(PROVING_LAYERS)}


def depth_problems(declared: dict[str, tuple[str, str]], proven: dict[str, set[str]],
                   forwarded: list[str]) -> list[str]:
    problems = [f"{f}: no declared depth" for f in forwarded if f not in declared]
    problems += [f"{f}: declared but not forwarded" for f in declared if f not in forwarded]
    for field, (layer, _) in declared.items():
        deepest = max((DEPTH.index(x) for x in proven.get(field, ()) if x in DEPTH), default=-1)
        if layer not in proven.get(field, ()):
            problems.append(f"{field}: declared deepest at {layer}, proven at {sorted(proven.get(field, ()))}")
        elif deepest > DEPTH.index(layer):
            problems.append(f"{field}: proven at {DEPTH[deepest]}, deeper than its declared {layer}")
    return problems


def uncovered(fields: list[str], covered: set[str], not_forwarded: dict[str, str]) -> list[str]:
    return [f for f in fields if f not in covered and f not in not_forwarded]


def test_every_field_is_proven_or_listed_as_not_forwarded() -> None:
    missing = uncovered([*schema.fields(), *passthrough_depth()], covered_fields(), forwarding.NOT_FORWARDED)
    assert missing == [], (
        f"completeness: expected every schema field proven in layer 1 or 2 or listed in forwarding.NOT_FORWARDED, "
        f"got no test for {missing}"
    )


def test_a_new_untested_field_is_reported() -> None:
    # the rule itself: proven (num_steps) and not-forwarded (size_sup) fields pass, a field with neither is reported
    fields = ["training.num_steps", "training.size_sup", "training.zz_new_field"]
    assert uncovered(fields, covered_fields(), forwarding.NOT_FORWARDED) == ["training.zz_new_field"]


def test_not_forwarded_fields_are_not_also_claimed_as_forwarded() -> None:
    both = sorted(set(forwarding.NOT_FORWARDED) & covered_fields())
    assert both == [], f"completeness: {both} are listed as not forwarded but a test claims to forward them"


def test_every_forwarded_field_is_proven_at_the_deepest_layer_it_declares() -> None:
    problems = depth_problems({**DEEPEST, **passthrough_depth()}, proven_at(), forwarded_fields())
    assert problems == [], f"completeness: expected each forwarded field proven at its declared depth, got {problems}"


def test_a_field_proven_above_or_below_its_declared_depth_is_reported() -> None:
    # the rule itself, on made-up declarations: shallower proof, deeper proof, no declaration
    proven = {"training.a": {"ptbr"}, "training.b": {"transformers", "e2e"}, "training.c": {"transformers"}}
    declared = {"training.a": ("transformers", ""), "training.b": ("transformers", ""),
                "training.c": ("transformers", "")}
    assert depth_problems(declared, proven, ["training.a", "training.b", "training.c", "training.d"]) == [
        "training.d: no declared depth",
        "training.a: declared deepest at transformers, proven at ['ptbr']",
        "training.b: proven at e2e, deeper than its declared transformers",
    ]


def test_every_field_of_the_installed_class_is_accounted_for() -> None:
    """The passthrough options the completeness check covers come from PTBR's reading of the installed class; read
    the class itself: each of its init fields is PTBR's (a route decides it), refused with a reason, a type YAML cannot
    write, or a passthrough option. A field the reading drops would otherwise shrink what must be proven."""
    from support import library_training_fields

    from ptbr.schema import TrainingConfig

    unaccounted = sorted(name for name in library_training_fields()
                         if name not in surface.passthrough() and name not in surface.owners()
                         and name not in surface.REFUSED and name not in TrainingConfig.model_fields
                         and surface.installed().get(name, "missing") is not None)
    assert not unaccounted, f"fields of the installed TrainingArguments no rule accounts for: {unaccounted}"
