"""The one place that knows how the installed torch / transformers / gliner differ from each other.

Everything here is detected from the installed libraries (dataclass fields, call signatures), never from tables of
version numbers. PTBR speaks in *canonical* (current transformers) argument names; this module translates them.

Drifts handled here or made irrelevant by how PTBR builds its arguments:
- ``eval_strategy`` was ``evaluation_strategy`` before transformers 4.41 (renamed; old name removed in 4.46). Proven
  on a real TrainingArguments by the matrix's override cell gliner 0.2.23 × transformers 4.40.2.
- ``use_cpu`` was ``no_cuda`` before transformers 4.34: not translated. Every transformers that only has
  ``no_cuda`` also lacks ``dataloader_persistent_workers``, which PTBR always passes, so no installable pair can
  reach the old name (tried: gliner 0.2.23 × transformers 4.33.3 is refused at that field).
- ``warmup_ratio`` was deprecated in transformers 5.0 and later removed, while ``warmup_steps`` became a float that
  means a ratio below 1. PTBR never passes ``warmup_ratio``: it passes the effective whole number of warmup steps.
  But while transformers 5.x still had the field, its ``__post_init__`` copies any non-None ``warmup_ratio`` into
  ``warmup_steps``, and gliner's TrainingArguments declares ``warmup_ratio = 0.0``: the warmup became 0 (found by
  the matrix on transformers 5.0 and 5.14 with gliner 0.2.29). :func:`build_training_arguments` checks the warmup
  the scheduler will use and restores it.
- ``overwrite_output_dir``, ``save_safetensors`` and ``logging_dir`` were removed in 5.x: PTBR never passes them.
- ``report_to`` defaulted to "all" before 5.0 and to "none" since: PTBR always passes it.
- ``Trainer(tokenizer=)`` became ``Trainer(processing_class=)`` (4.46; ``tokenizer`` removed in 5.0): see
  :func:`trainer_tokenizer_kwarg`.
- ``GLiNER.from_config`` takes a GLiNERConfig object only in recent gliner releases (0.2.26 fails with
  UnboundLocalError); a plain mapping works in every release: see :func:`model_config_argument`.
- transformers 4.x TrainingArguments export bf16/fp16 as ACCELERATE_MIXED_PRECISION and never clear it, and
  accelerate keeps process-wide state: a second run in the same process inherited the first one's bf16 (seen with
  transformers 4.51). See :func:`reset_accelerate_state`.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import inspect
import math
import os
import re
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from ptbr.errors import ConfigError, Problem, keys_named_in

# canonical name → the name older transformers used for the same field
RENAMED = {
    "eval_strategy": "evaluation_strategy",  # transformers 4.41
}

# A TrainingArguments field that transformers renamed or folded into another → the field that took its place (for the
# message a config gets when it names a field the installed release does not have; releases: ptbr/releases.json)
SUCCESSORS = {
    "evaluation_strategy": "eval_strategy",  # renamed in 4.41; gone after 4.50
    "no_cuda": "use_cpu",  # 4.34; gone in 5.0
    "per_gpu_train_batch_size": "per_device_train_batch_size",  # gone in 5.0
    "per_gpu_eval_batch_size": "per_device_eval_batch_size",  # gone in 5.0
    "push_to_hub_token": "hub_token",  # gone in 5.0
    "push_to_hub_model_id": "hub_model_id",  # gone in 5.0
    "fp16_backend": "half_precision_backend",  # both gone in 5.0
    "include_inputs_for_metrics": "include_for_metrics",  # gone in 5.0
    "adafactor": "optim",  # optim: adafactor; gone in 5.0
    "group_by_length": "train_sampling_strategy",  # train_sampling_strategy: group_by_length, 5.2
    "warmup_ratio": "warmup_steps",  # a ratio below 1 in warmup_steps; gone from transformers in 5.15
}


@functools.cache
def versions() -> dict[str, str]:
    """Installed versions of the stack, read from package metadata once (no imports)."""
    out = {}
    for name in ("torch", "transformers", "gliner", "accelerate", "peft"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def stack() -> str:
    """One line naming the installed versions, for messages."""
    v = versions()
    return f"transformers {v['transformers']}, gliner {v['gliner']}, torch {v['torch']}"


def training_arguments_class() -> type:
    """gliner's TrainingArguments: transformers' plus GLiNER's loss and optimizer fields."""
    from gliner.training import TrainingArguments

    return TrainingArguments


@functools.cache
def argument_names(cls: type | None = None) -> frozenset[str]:
    """The fields the installed TrainingArguments accepts."""
    cls = cls or training_arguments_class()
    return frozenset(f.name for f in dataclasses.fields(cls) if f.init)


def installed_name(canonical: str, names: frozenset[str]) -> str | None:
    """The name the installed TrainingArguments uses for a canonical field, or None when it has neither."""
    if canonical in names:
        return canonical
    old = RENAMED.get(canonical)
    return old if old in names else None


def to_installed(kwargs: dict[str, Any], names: frozenset[str], sources: dict[str, str]) -> dict[str, Any]:
    """Translate canonical keyword arguments to the installed names.

    ``sources`` maps a canonical name to the config key it comes from, for the error when a field is missing.
    """
    out, problems = {}, []
    for canonical, value in kwargs.items():
        name = installed_name(canonical, names)
        if name is None:
            problems.append(Problem(
                "installed versions", sources.get(canonical, canonical),
                f"TrainingArguments has no field {canonical!r} with {stack()}",
                "install a transformers / gliner release that has it, or remove the key from the config",
            ))
        else:
            out[name] = value
    if problems:
        raise ConfigError(problems)
    return out


def build_training_arguments(kwargs: dict[str, Any], sources: dict[str, str], cls: type | None = None,
                             where: Callable[[tuple[str, ...]], str] | None = None) -> Any:
    """The real TrainingArguments of the installed versions, built from canonical keyword arguments. When
    transformers rejects them, the error is reported at the config key of the field its message names (``where``
    locates a key in its file); that field is then left out and the rest built again, so that every rejected value
    is reported at once."""
    cls = cls or training_arguments_class()
    kwargs, sources = _warmup_ratio(kwargs, cls, sources)
    installed = to_installed(kwargs, argument_names(cls), sources)
    canonical = dict(zip(installed, kwargs, strict=True))  # transformers' messages name the installed fields
    problems: list[Problem] = []
    while True:
        before = dict(os.environ)
        try:
            args = cls(**installed)
            break
        except Exception as exc:  # __post_init__ checks values with whatever it calls: all of it is bad input
            named = keys_named_in(str(exc), installed)
            key = sources.get(canonical[named[0]], "training") if named else "training"
            problems.append(Problem(
                where(tuple(key.split("."))) if where and named else "installed versions", key,
                f"transformers rejected the training arguments: {exc}",
                f"with {stack()}; see `ptbr explain` for the value each field receives",
            ))
            if not named:
                break
            installed = {k: v for k, v in installed.items() if k != named[0]}
        finally:  # what __post_init__ exported for the Trainer (see reset_accelerate_state)
            for name in set(os.environ) | set(before):
                if os.environ.get(name) != before.get(name):
                    _LEFT_BEHIND.setdefault(name, before.get(name))
    if problems:
        raise ConfigError(problems)
    _keep_warmup(args, kwargs.get("warmup_steps"), sources.get("warmup_steps", "training.warmup_steps"))
    return args


def _warmup_ratio(kwargs: dict[str, Any], cls: type,
                  sources: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """A warmup given as a ratio (a float below 1 in canonical ``warmup_steps``: a run counted in epochs, whose step
    count is not known yet), written the way the installed release takes it. transformers 4.x types warmup_steps as an
    int and reads the ratio from ``warmup_ratio``; 5.0 to 5.14 read both and copy warmup_ratio over warmup_steps (see
    the module doc); later releases read the ratio from warmup_steps. Passing the ratio in both fields the release has
    gives every one of them the same warmup."""
    ratio = kwargs.get("warmup_steps")
    if not isinstance(ratio, float) or not 0 < ratio < 1:
        return kwargs, sources
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(kwargs)
    if "warmup_ratio" in fields:
        out["warmup_ratio"] = ratio
        sources = {**sources, "warmup_ratio": sources.get("warmup_steps", "training.warmup_ratio")}
        if "float" not in str(fields["warmup_steps"].type):
            out["warmup_steps"] = 0
    return out, sources


def _keep_warmup(args: Any, wanted: int | float | None, key: str) -> None:
    """Make the scheduler's warmup (``get_warmup_steps``, what the Trainer calls) the number PTBR decided; a ratio
    (a run counted in epochs) must give ceil(ratio × steps) for any step count."""
    if isinstance(wanted, float) and 0 < wanted < 1:
        if args.get_warmup_steps(1000) != math.ceil(wanted * 1000):
            args.warmup_steps = wanted  # the warmup_ratio fold of transformers 5.x __post_init__ (see module doc)
            if getattr(args, "warmup_ratio", None) is not None:
                args.warmup_ratio = wanted
        if args.get_warmup_steps(1000) != math.ceil(wanted * 1000):
            raise ConfigError([Problem("installed versions", key, f"the scheduler would warm up for "
                                       f"{args.get_warmup_steps(1000)} of 1000 steps, not {math.ceil(wanted * 1000)} "
                                       f"(a ratio of {wanted}), with {stack()}", "report this combination; set "
                                       "warmup_steps: 0 to train without warmup")])
        return
    steps = getattr(args, "max_steps", 0)
    if wanted is None or steps <= 0 or args.get_warmup_steps(steps) == wanted:
        return
    args.warmup_steps = wanted  # undo the warmup_ratio fold of transformers 5.x __post_init__ (see module doc)
    if args.get_warmup_steps(steps) != wanted:
        raise ConfigError([Problem(
            "installed versions", key, f"the scheduler would warm up for {args.get_warmup_steps(steps)} steps, not "
            f"{wanted}, with {stack()}", "report this combination; set warmup_steps: 0 to train without warmup",
        )])


def trainer_accepts(name: str) -> bool:
    """Whether the installed ``Trainer.__init__`` takes a keyword: as a parameter, or as the old name a deprecation
    shim still maps (transformers 4.46 to 4.57 take ``tokenizer=`` for ``processing_class=`` this way)."""
    from transformers import Trainer

    init = Trainer.__init__
    if name in inspect.signature(init).parameters:
        return True
    while hasattr(init, "__wrapped__"):  # transformers' deprecate_kwarg: old_name in the wrapper's closure
        try:
            if inspect.getclosurevars(init).nonlocals.get("old_name") == name:
                return True
        except (TypeError, ValueError):
            pass
        init = init.__wrapped__
    return False


def gliner_trainer_problem() -> str | None:
    """Why the installed gliner's ``train_model`` cannot build a Trainer of the installed transformers, or None.

    gliner 0.2.23 and 0.2.24 build it with ``Trainer(tokenizer=...)``, a keyword transformers 5.0 removed
    (``processing_class=``); later releases pick whichever the installed transformers takes. Detected from what
    ``Trainer.__init__`` accepts and the source of ``train_model``, not from version numbers."""
    import gliner

    if trainer_accepts("tokenizer"):
        return None
    import gliner.model

    train_model = getattr(getattr(gliner.model, "BaseGLiNER", gliner.GLiNER), "train_model", None)
    try:
        source = inspect.getsource(train_model)
    except (OSError, TypeError):
        return None
    if "processing_class" in source or not re.search(r"\btokenizer\s*=", source):
        return None
    v = versions()
    return (f"gliner {v['gliner']} builds its Trainer with tokenizer=, which transformers {v['transformers']} no "
            "longer accepts (it takes processing_class=): train_model cannot train")


def read_back(args: Any, canonical: str) -> Any:
    """The value a built TrainingArguments holds for a canonical field, enums as their plain values."""
    name = installed_name(canonical, argument_names(type(args)))
    value = getattr(args, name) if name else None
    return value.value if isinstance(value, enum.Enum) else value


def scheduler_names() -> frozenset[str]:
    """Learning-rate schedules the installed transformers accepts."""
    from transformers.trainer_utils import SchedulerType

    return frozenset(s.value for s in SchedulerType)


def strategy_names(canonical: str) -> frozenset[str]:
    """The values the installed TrainingArguments takes for ``eval_strategy``, ``logging_strategy`` (its
    IntervalStrategy) or ``save_strategy`` (SaveStrategy where the release has it: "best" arrived with it in 4.45)."""
    from transformers import trainer_utils

    kind = getattr(trainer_utils, "SaveStrategy", None) if canonical == "save_strategy" else None
    return frozenset(s.value for s in kind or trainer_utils.IntervalStrategy)


def integration_names() -> frozenset[str]:
    """Reporting integrations the installed transformers knows (installed or not); empty if it cannot be read."""
    try:
        from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK
    except ImportError:
        return frozenset()
    return frozenset(INTEGRATION_TO_CALLBACK)


def model_config_argument(model_kwargs: dict[str, Any]) -> dict[str, Any]:
    """What to pass to ``GLiNER.from_config``: a mapping (every gliner release accepts one), copied because gliner
    mutates nested mappings it is given."""
    return copy.deepcopy(model_kwargs)


def reads_model_type() -> bool:
    """Whether the installed gliner picks the model class from a model_type key (``GLiNER._config_from_dict``);
    older releases build GLiNERConfig, which infers the type itself."""
    import gliner

    return hasattr(gliner.GLiNER, "_config_from_dict")


def built_model_config(model_kwargs: dict[str, Any]) -> Any:
    """The config object ``GLiNER.from_config`` builds from this mapping on the installed gliner: recent releases
    pick the class from ``model_type`` (``GLiNER._config_from_dict``: gliner_streaming_span builds a
    StreamingSpanConfig), older ones build the legacy GLiNERConfig, which infers its model_type from the keys."""
    import gliner

    from_dict = getattr(gliner.GLiNER, "_config_from_dict", None)
    if from_dict is not None:
        return from_dict(model_config_argument(model_kwargs))
    return gliner.GLiNERConfig(**model_config_argument(model_kwargs))


_LEFT_BEHIND: dict[str, str | None] = {}
"""Environment variables a TrainingArguments built in this process set (``ACCELERATE_MIXED_PRECISION``, and on
transformers 4.x ``ACCELERATE_USE_FSDP``, ``ACCELERATE_DYNAMO_BACKEND``, ...), with the value each had before: the
Trainer of the same run reads them; the next run must not."""


def reset_accelerate_state() -> None:
    """Forget what an earlier run in this process left behind (its mixed precision, its torch.compile backend, FSDP
    would otherwise stick), so each run gets what its own config asks for."""
    os.environ.pop("ACCELERATE_MIXED_PRECISION", None)
    for name, before in _LEFT_BEHIND.items():
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before
    _LEFT_BEHIND.clear()
    try:
        from accelerate.state import AcceleratorState, PartialState
    except ImportError:
        return
    AcceleratorState._reset_state(reset_partial_state=True)
    PartialState._reset_state()


def trainer_tokenizer_kwarg() -> str:
    """The Trainer.__init__ parameter that takes the tokenizer: processing_class (4.46+) or tokenizer."""
    from transformers import Trainer

    params = inspect.signature(Trainer.__init__).parameters
    return "processing_class" if "processing_class" in params else "tokenizer"


@functools.cache
def gliner_config_keys() -> frozenset[str]:
    """Every keyword some config class of the installed gliner declares (GLiNERConfig takes **kwargs, so a key it
    does not declare is stored in the model config but read by nothing)."""
    import gliner.config as gc

    return frozenset().union(*(_declared(obj) for obj in vars(gc).values()
                               if isinstance(obj, type) and obj.__module__ == gc.__name__))


# model: key → the GLiNER.from_pretrained keyword that applies it to a saved model, where the names differ
PRETRAINED_RENAMED = {"max_len": "max_length"}


@functools.cache
def pretrained_keywords() -> dict[str, str]:
    """model: key → the keyword of the installed gliner's ``GLiNER.from_pretrained`` that overrides it in a saved
    model's config (gliner 0.2.29: max_len, max_width, post_fusion_schema). Read from its signature."""
    import gliner

    params = inspect.signature(gliner.GLiNER.from_pretrained).parameters
    keys = gliner_config_keys()
    return {key: PRETRAINED_RENAMED.get(key, key) for key in keys if PRETRAINED_RENAMED.get(key, key) in params}


@functools.cache
def unread_model_keys() -> dict[str, Any]:
    """Model config keys the installed gliner declares but reads nowhere outside its config module, with their
    default: setting one to another value changes nothing (seen: ``fine_tune`` in every release from 0.2.24 to
    0.2.29, ``subtoken_pooling`` before 0.2.27). Found by reading gliner's own source, not from version numbers."""
    import gliner
    import gliner.config as gc

    package = Path(gliner.__file__).parent
    source = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(package.rglob("*.py"))
                       if p.resolve() != Path(gc.__file__).resolve())
    defaults: dict[str, Any] = {}
    for cls in vars(gc).values():
        if isinstance(cls, type) and cls.__module__ == gc.__name__ and "__init__" in vars(cls):
            for name, param in inspect.signature(cls.__init__).parameters.items():
                if param.default is not inspect.Parameter.empty:
                    defaults.setdefault(name, param.default)
    return {k: v for k, v in defaults.items() if not re.search(rf"\b{re.escape(k)}\b", source)}


def _declared(config_class: type) -> frozenset[str]:
    """The keywords a gliner config class and its gliner bases declare."""
    import gliner.config as gc

    keys: set[str] = set()
    for cls in config_class.__mro__:
        if cls.__module__ == gc.__name__ and "__init__" in vars(cls):
            keys.update(inspect.signature(cls.__init__).parameters)
    return frozenset(keys - {"self", "kwargs"})


@functools.lru_cache(maxsize=64)
def _picked(model_json: str) -> tuple[Any, type] | None:
    """(the config gliner builds from these model: keys, the model class it picks for it), or None where the
    installed gliner has no ``_get_gliner_class`` or rejects the values."""
    import json

    import gliner

    pick = getattr(gliner.GLiNER, "_get_gliner_class", None)
    if pick is None:
        return None
    try:
        config = built_model_config(json.loads(model_json))
        return config, pick(config)
    except Exception:  # whatever gliner or transformers raise for the values: reported by train.model_config
        return None


@functools.lru_cache(maxsize=64)
def _architecture(model_json: str) -> tuple[str, frozenset[str]] | None:
    picked = _picked(model_json)
    if picked is None:
        return None
    config, model_class = picked
    config_class = getattr(model_class, "config_class", None) or type(config)
    return str(getattr(config, "model_type", config_class.__name__)), _declared(config_class)


def model_class(model_kwargs: dict[str, Any]) -> type:
    """The model class the installed gliner builds from these model: keys (``GLiNER`` itself where it cannot say)."""
    import json

    import gliner

    picked = _picked(json.dumps(model_kwargs, sort_keys=True, default=str))
    return picked[1] if picked is not None else gliner.GLiNER


def architecture(model_kwargs: dict[str, Any]) -> tuple[str, frozenset[str]] | None:
    """(the model_type gliner builds from these model: keys, the keys its config class declares), decided by the
    installed gliner itself (``GLiNER._get_gliner_class``: labels_encoder, labels_decoder, relations_layer, span_mode
    and model_type select the class); None where it cannot say (older gliner: any key some config class declares)."""
    import json

    return _architecture(json.dumps(model_kwargs, sort_keys=True, default=str))


def train_model_params() -> frozenset[str]:
    """The keyword parameters of the installed gliner's ``train_model``."""
    from gliner.model import BaseGLiNER

    return frozenset(inspect.signature(BaseGLiNER.train_model).parameters) - {"self"}
