"""The one forwarding table: every config field → its destination(s), and how the value is derived.

Destinations:
- ``model``: a GLiNERConfig keyword;
- ``args``: a TrainingArguments field, by its canonical (current transformers) name; :mod:`ptbr.compat` translates;
- ``train_model``: a keyword of gliner's ``train_model``;
- ``data``: what PTBR loads as training / evaluation examples;
- ``run``: what PTBR itself does with the value (which weights to start from, where to resume);
- ``env``: an environment variable a reporting integration reads while training runs;
- ``lora``: a setting of peft's LoraConfig, for the adapters on the backbone (:mod:`ptbr.lora`).

A route's value function returns :class:`Skip` when the value is not forwarded this time, with the reason. A field
that no route reads is in :data:`NOT_FORWARDED` with the reason; the tests fail for a field that is in neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ptbr import compat, lora
from ptbr.errors import ConfigError, Problem, did_you_mean
from ptbr.schema import Config, LoraConfig, ModelConfig, TrainingConfig
from ptbr.values import (
    Skip,
    eval_strategy,
    first_set,
    get,
    length,
    mlflow_tags,
    report_to,
    steps_unless_set,
    wandb,
    warmup_steps,
)

DestKind = Literal["model", "pretrained", "args", "train_model", "data", "run", "env", "lora"]
# names of the "run" destinations, for the code that acts on them
BACKBONE_WEIGHTS = "GLiNER.from_config(backbone_from_pretrained)"
START_FROM = "GLiNER.from_pretrained"
RESUME = "Trainer.train(resume_from_checkpoint)"
STRICT = "keys read nowhere"
LORA = "LoRA adapters (peft)"


@dataclass(frozen=True)
class Route:
    kind: DestKind
    name: str
    sources: tuple[str, ...]
    """Config fields the value is derived from, most specific first; empty for a constant PTBR sets."""
    value: Callable[[Config], Any]
    rule: str
    """How the value is derived, in words (explain and the config reference show it)."""
    fallback: bool = False
    """The sources are alternatives: the first one set wins."""

    def effective_source(self, config: Config) -> str | None:
        """For a fallback route, the source whose value is used; None for other routes."""
        if not self.fallback:
            return None
        return next((s for s in self.sources if get(config, s) is not None), None)

    @property
    def destination(self) -> str:
        return {
            "model": "GLiNERConfig.",
            "pretrained": "GLiNER.from_pretrained(",
            "args": "TrainingArguments.",
            "train_model": "train_model(",
            "data": "",
            "run": "",
            "env": "env ",
            "lora": "peft.LoraConfig.",
        }[self.kind] + self.name + (")" if self.kind in ("train_model", "pretrained") else "")


def _arg(name: str, *sources: str, rule: str | None = None, value: Callable[[Config], Any] | None = None) -> Route:
    rule = rule or (f"{sources[0]}" if len(sources) == 1 else f"{sources[0]}, else " + ", else ".join(sources[1:]))
    fallback = value is None and len(sources) > 1
    return Route("args", name, sources, value or first_set(*sources), rule, fallback=fallback)


def _const(kind: DestKind, name: str, value: Any, why: str) -> Route:
    return Route(kind, name, (), lambda _c: value, f"always {value!r}: {why}")


def _model_field(name: str) -> Route:
    def value(config: Config) -> Any:
        v = getattr(config.model, name)
        if config.training.prev_path is not None:
            if name in compat.pretrained_keywords():
                return Skip("training.prev_path is set: applied to the saved model by GLiNER.from_pretrained")
            return Skip(ignored_with_prev_path(), warn=v is not None and name in gliner_model_keys(config))
        if v is None:
            return Skip("not set: gliner's default applies")
        # model_type is a key where gliner reads it to pick the class: checked on what gliner builds
        if name not in compat.gliner_config_keys() and not (name == "model_type" and compat.reads_model_type()):
            return Skip(f"gliner {compat.versions()['gliner']} has no model setting {name!r} (it would be stored "
                        f"in the model config and read by nothing)", blocking=True)
        unread = compat.unread_model_keys()
        if name in unread and v != unread[name]:
            hint = "; to keep the backbone frozen, use training.freeze_components: [text_encoder]" \
                if name == "fine_tune" else ""
            return Skip(f"gliner {compat.versions()['gliner']} stores {name!r} in the model config but reads it "
                        f"nowhere: {v!r} would change nothing (its {unread[name]!r} behaviour applies){hint}",
                        blocking=True)
        built = compat.architecture(gliner_model_keys(config))
        if built is not None and name != "model_type" and name not in built[1]:
            return Skip(f"gliner {compat.versions()['gliner']} builds a {built[0]} model from these keys, which reads "
                        f"no setting {name!r}: not forwarded (other keys select other architectures)", warn=True)
        return v

    return Route("model", name, (f"model.{name}",), value, f"model.{name}")


def gliner_model_keys(config: Config) -> dict[str, Any]:
    """The model: keys that are set and meant for gliner's config."""
    return {k: v for k, v in config.model.model_dump(exclude_none=True).items() if k not in NOT_GLINER_CONFIG}


def ignored_with_prev_path() -> str:
    applied = ", ".join(sorted(compat.pretrained_keywords())) or "none"
    return (f"training.prev_path is set: the saved model's config is used (gliner {compat.versions()['gliner']} "
            f"applies only {applied} to a saved model)")


def _pretrained_field(name: str) -> Route:
    """A model: key applied to the model loaded from training.prev_path, where the installed gliner can."""

    def value(config: Config) -> Any:
        v = getattr(config.model, name)
        if config.training.prev_path is None:
            return Skip("training.prev_path is not set: the model is built from model:")
        if v is None:
            return Skip("not set: the saved model's value applies")
        if name not in compat.pretrained_keywords():
            return Skip(ignored_with_prev_path())
        return v

    keyword = compat.PRETRAINED_RENAMED.get(name, name)
    return Route("pretrained", keyword, (f"model.{name}",), value,
                 f"model.{name}, when training.prev_path is set and gliner's from_pretrained takes {keyword}")


# model: keys that are not GLiNERConfig keys: an argument of GLiNER.from_config, PTBR's own guard
NOT_GLINER_CONFIG = ("backbone_from_pretrained", "trust_remote_code")
CUSTOM_CODE = "models with custom code (auto_map)"


def _lora(name: str) -> Route:
    """A lora: key → peft's LoraConfig setting of the same name (any setting of the installed peft, the way training:
    passes TrainingArguments fields through), when lora.enabled is true."""
    if name == "enabled":
        return Route("run", LORA, ("lora.enabled",), _lora_enabled, "lora.enabled: peft adapters on the backbone's "
                     "text encoder (true), or the whole model trained and the rest of lora: ignored (false)")

    def value(config: Config) -> Any:
        v = getattr(config.lora, name)
        if not config.lora.enabled:
            return Skip("lora.enabled is false: the whole model is trained and the section is ignored")
        if v is None:
            return Skip("not set: peft's default applies")
        if lora.installed() and name not in lora.fields():
            return Skip(f"peft {lora.version()}'s LoraConfig has no setting {name!r}", blocking=True,
                        hint=did_you_mean(name, lora.fields()) or "see peft's LoraConfig for its settings")
        return v

    return Route("lora", name, (f"lora.{name}",), value, f"lora.{name}, when lora.enabled is true")


def _lora_enabled(config: Config) -> Any:
    if not config.lora.enabled:
        return Skip("false: the whole model is trained; the rest of lora: is ignored")
    if not lora.installed():
        return Skip("training LoRA adapters needs peft, which is not installed here", blocking=True,
                    hint=f"install it: {lora.INSTALL}; or set lora.enabled: false to train the whole model")
    return "adapters on the text encoder"


def _env(name: str, field: str, wandb_only: bool = False) -> Route:
    """An environment: key → an environment variable set for the run only (``wandb_only``: when report_to includes
    wandb)."""
    if wandb_only:
        return Route("env", name, (field,), wandb(field, str), f"{field}, when report_to includes wandb")

    def value(config: Config) -> Any:
        v = get(config, field)
        return Skip("not set: the ambient value applies") if v is None else str(v)

    return Route("env", name, (field,), value, f"{field}, for the run only")


ROUTES: tuple[Route, ...] = (
    *(_model_field(name) for name in ModelConfig.model_fields if name not in NOT_GLINER_CONFIG),
    *(_pretrained_field(name) for name in ModelConfig.model_fields if name not in NOT_GLINER_CONFIG),
    Route("run", CUSTOM_CODE, ("model.trust_remote_code",), lambda c: "allowed" if c.model.trust_remote_code
          else "refused", "model.trust_remote_code: a model whose config declares custom code is loaded only when "
          "true (gliner always passes trust_remote_code=True to transformers)"),
    Route("run", BACKBONE_WEIGHTS, ("model.backbone_from_pretrained",),
          lambda c: c.model.backbone_from_pretrained if c.training.prev_path is None
          else Skip("training.prev_path is set: its weights are loaded"),
          "model.backbone_from_pretrained: GLiNER.from_config(backbone_from_pretrained=...)"),
    Route("data", "training examples", ("data.train_data",), lambda c: c.data.train_data, "data.train_data"),
    Route("data", "evaluation examples", ("data.val_data_dir",),
          lambda c: c.data.val_data_dir if c.data.val_data_dir is not None else Skip("no validation set"),
          "data.val_data_dir"),
    Route("run", START_FROM, ("training.prev_path",),
          lambda c: c.training.prev_path if c.training.prev_path is not None else Skip("not set: built from model:"),
          "training.prev_path: GLiNER.from_pretrained"),
    Route("run", STRICT, ("run.strict",), lambda c: "refused" if c.run.strict else "warned",
          "run.strict: validate, explain and train refuse the keys the installed versions read nowhere when true, "
          "and warn about them otherwise (as --strict)"),
    Route("run", RESUME, ("training.resume_from_checkpoint",),
          lambda c: c.training.resume_from_checkpoint if c.training.resume_from_checkpoint not in (None, False)
          else Skip("not resuming"),
          "training.resume_from_checkpoint: Trainer.train(resume_from_checkpoint=...)"),
    Route("train_model", "freeze_components", ("training.freeze_components",),
          lambda c: c.training.freeze_components, "training.freeze_components"),
    Route("train_model", "compile_model", ("training.compile_model",),
          lambda c: c.training.compile_model, "training.compile_model"),
    _arg("output_dir", "training.output_dir", "data.root_dir"),
    _arg("max_steps", "training.num_steps", value=length("training.num_steps", "training.num_train_epochs"),
         rule="training.num_steps; not set when training.num_train_epochs is"),
    _arg("num_train_epochs", "training.num_train_epochs",
         value=length("training.num_train_epochs", "training.num_steps"),
         rule="training.num_train_epochs; not set when training.num_steps is (max_steps decides)"),
    _arg("per_device_train_batch_size", "training.train_batch_size"),
    _arg("per_device_eval_batch_size", "training.eval_batch_size", "training.train_batch_size"),
    _arg("gradient_accumulation_steps", "training.gradient_accumulation_steps"),
    _arg("learning_rate", "training.lr_encoder"),
    _arg("others_lr", "training.lr_others", "training.lr_encoder"),
    _arg("weight_decay", "training.weight_decay_encoder"),
    _arg("others_weight_decay", "training.weight_decay_other", "training.weight_decay_encoder"),
    _arg("max_grad_norm", "training.max_grad_norm"),
    _arg("focal_loss_alpha", "training.loss_alpha"),
    _arg("focal_loss_gamma", "training.loss_gamma"),
    _arg("focal_loss_prob_margin", "training.loss_prob_margin"),
    _arg("label_smoothing", "training.label_smoothing"),
    _arg("loss_reduction", "training.loss_reduction"),
    _arg("negatives", "training.negatives"),
    _arg("masking", "training.masking"),
    _arg("lr_scheduler_type", "training.scheduler_type"),
    _arg("warmup_steps", "training.warmup_steps", "training.warmup_ratio", "training.num_steps", value=warmup_steps,
         rule="whole steps from training.warmup_steps; a value below 1 (or training.warmup_ratio) is a ratio: "
              "ceil(ratio × num_steps), or the ratio itself in a run counted in epochs; 0 when neither is set"),
    _arg("save_strategy", "training.save_strategy", value=steps_unless_set("training.save_strategy"),
         rule='training.save_strategy, else "steps" (checkpoints follow save_steps)'),
    _arg("save_steps", "training.save_steps", "training.eval_every"),
    _arg("save_total_limit", "training.save_total_limit"),
    _arg("eval_strategy", "training.eval_strategy", "data.val_data_dir", value=eval_strategy,
         rule='training.eval_strategy, else "steps" when data.val_data_dir is set, else "no"'),
    _arg("eval_steps", "training.eval_steps", "training.eval_every"),
    _arg("logging_strategy", "training.logging_strategy", value=steps_unless_set("training.logging_strategy"),
         rule='training.logging_strategy, else "steps" (logging follows logging_steps)'),
    _arg("logging_steps", "training.logging_steps", "training.eval_every"),
    _arg("seed", "training.seed"),
    _arg("bf16", "training.bf16"),
    _arg("fp16", "training.fp16"),
    _arg("use_cpu", "training.use_cpu"),
    _arg("dataloader_num_workers", "training.dataloader_num_workers"),
    _arg("dataloader_pin_memory", "training.dataloader_pin_memory"),
    _arg("dataloader_persistent_workers", "training.dataloader_persistent_workers"),
    _arg("dataloader_prefetch_factor", "training.dataloader_prefetch_factor"),
    _arg("report_to", "training.report_to", value=report_to, rule="training.report_to, as a list"),
    _arg("run_name", "run.name"),
    Route("env", "WANDB_TAGS", ("run.tags",), wandb("run.tags", ",".join),
          "run.tags, comma-separated, when report_to includes wandb"),
    Route("env", "WANDB_NOTES", ("run.description",), wandb("run.description", str),
          "run.description, when report_to includes wandb"),
    Route("env", "MLFLOW_TAGS", ("run.tags", "run.description"), mlflow_tags,
          "run.tags as {tag: \"true\"} plus run.description as mlflow.note.content, JSON, when report_to includes "
          "mlflow"),
    _env("HF_TOKEN", "environment.hf_token"),
    _env("WANDB_PROJECT", "environment.wandb_project", wandb_only=True),
    _env("WANDB_ENTITY", "environment.wandb_entity", wandb_only=True),
    _env("WANDB_API_KEY", "environment.wandb_api_key", wandb_only=True),
    _env("CUDA_VISIBLE_DEVICES", "environment.cuda_visible_devices"),
    *(_lora(name) for name in LoraConfig.model_fields),
)

NOT_FORWARDED: dict[str, str] = {
    "training.size_sup": "upstream GLiNER key; no gliner release reads it",
    "training.shuffle_types": "upstream GLiNER key; no gliner release reads it",
    "training.random_drop": "upstream GLiNER key; no gliner release reads it",
    "training.freeze_token_rep": "key of upstream's flat layout; no gliner release PTBR supports reads it (to freeze "
                                 "the backbone: training.freeze_components: [text_encoder])",
    "training.neg_span_masking": "key of upstream's flat layout; no gliner release PTBR supports reads it",
    "training.negative_rate": "key of upstream's flat layout; no gliner release PTBR supports reads it (training"
                              ".negatives is the ratio gliner reads)",
}


@dataclass(frozen=True)
class Resolved:
    route: Route
    value: Any
    """The value forwarded, or a :class:`Skip`."""


@dataclass(frozen=True)
class Plan:
    """Everything PTBR passes on, for one config on the installed versions."""

    config: Config
    resolved: tuple[Resolved, ...]

    def values(self, kind: DestKind) -> dict[str, Any]:
        return {r.route.name: r.value for r in self.resolved if r.route.kind == kind and not isinstance(r.value, Skip)}

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return self.values("model")

    @property
    def args_kwargs(self) -> dict[str, Any]:
        """Canonical TrainingArguments keyword arguments: every one PTBR decides."""
        return self.values("args")

    @property
    def pretrained_kwargs(self) -> dict[str, Any]:
        """Keywords of GLiNER.from_pretrained that apply model: keys to the saved model of training.prev_path."""
        return self.values("pretrained")

    @property
    def train_model_kwargs(self) -> dict[str, Any]:
        return self.values("train_model")

    @property
    def env(self) -> dict[str, str]:
        return self.values("env")

    @property
    def lora(self) -> dict[str, Any] | None:
        """peft's LoraConfig settings when adapters are trained; None when the whole model is."""
        return self.values("lora") if LORA in self.values("run") else None

    def arg_sources(self) -> dict[str, str]:
        """Canonical argument name → the config key it comes from, for error messages."""
        return {r.route.name: (r.route.sources or ("training",))[0] for r in self.resolved if r.route.kind == "args"}

    def check(self, where: Callable[[tuple[str, ...]], str] | None = None, strict: bool = False) -> None:
        """Raise ConfigError for every value the installed versions cannot honour, and with ``strict`` for every
        warning too. ``where`` locates a key."""
        locate = where or (lambda _key: "installed versions")
        problems = [
            Problem(locate(tuple(r.route.sources[0].split("."))), r.route.sources[0],
                    f"cannot be honoured: {r.value.reason}",
                    r.value.hint or "install a gliner release that has it, or remove the key")
            for r in self.resolved if isinstance(r.value, Skip) and r.value.blocking
        ]
        if strict:
            problems += [Problem(w.where, w.key, f"read nowhere (strict): {w.message}",
                                 "remove the key, or drop --strict (run.strict) to train with a warning")
                         for w in self.warnings(where)]
        if problems:
            raise ConfigError(problems)

    def warnings(self, where: Callable[[tuple[str, ...]], str] | None = None) -> list[Problem]:
        """Keys given a value that the installed versions read nowhere, while the config trains as written: a
        model: key of another architecture, a model: key a fine-tuning run does not apply, an upstream key no gliner
        reads. Each once, at its place."""
        locate = where or (lambda _key: "installed versions")
        found: dict[str, str] = {}
        for r in self.resolved:
            if isinstance(r.value, Skip) and r.value.warn:
                found.setdefault(r.route.sources[0], r.value.reason)
        for dotted, reason in NOT_FORWARDED.items():
            section, name = dotted.split(".")
            if name in getattr(self.config, section).model_fields_set:
                found.setdefault(dotted, f"not forwarded: {reason}")
        return [Problem(locate(tuple(key.split("."))), key, message, "remove the key to silence this; --strict "
                        "refuses it") for key, message in found.items()]

    def for_field(self, dotted: str) -> list[Resolved]:
        return [r for r in self.resolved if dotted in r.route.sources]


def _passthrough(name: str) -> Route:
    """A training: key under the name of a field of the installed TrainingArguments that PTBR has no key for."""
    return Route("args", name, (f"training.{name}",), lambda c: getattr(c.training, name),
                 f"training.{name}, as written (a field of the installed TrainingArguments)")


def passthrough_keys(config: Config) -> list[str]:
    """The passthrough options this config sets (:mod:`ptbr.surface`: fields of the installed TrainingArguments
    under their own name); null means not set."""
    declared = TrainingConfig.model_fields
    return [name for name in type(config.training).model_fields
            if name not in declared and getattr(config.training, name) is not None]


def plan(config: Config) -> Plan:
    """Evaluate every route for this config. Pure: builds nothing, imports only gliner's config module."""
    extra = tuple(route(name) for name in config.model.model_extra or {} for route in (_model_field, _pretrained_field))
    extra += tuple(_passthrough(name) for name in passthrough_keys(config))
    extra += tuple(_lora(name) for name in config.lora.model_extra or {})
    return Plan(config, tuple(Resolved(route, route.value(config)) for route in ROUTES + extra))


def build_training_arguments(p: Plan, where: Callable[[tuple[str, ...]], str] | None = None) -> Any:
    """The real TrainingArguments of the installed versions, with every value PTBR decides; a value transformers
    rejects is reported at its config key (``where`` locates it in the file)."""
    return compat.build_training_arguments(p.args_kwargs, p.arg_sources(), where=where)
