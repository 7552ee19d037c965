"""Validation: a loaded document checked against the schema of the installed versions
(:func:`ptbr.surface.config_class`: PTBR's keys and the passthrough options of the installed TrainingArguments), every
problem at its key's ``file:line`` with what was expected and a suggestion.

The declarations are in :mod:`ptbr.schema`; this module needs the training surface of the installed versions, which
needs the forwarding table, which needs the declarations: imports go schema → forwarding → surface → validation.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ptbr import compat, layouts, surface
from ptbr.errors import ConfigError, Problem, did_you_mean
from ptbr.loader import Document
from ptbr.schema import SECTIONS, Config, ModelConfig, type_name


def _unknown_training_key(doc: Document, key: tuple[str, ...]) -> Problem:
    """A training: key that is not a field of the schema on the installed versions: PTBR's own name for it, why it is
    refused, the releases that have it, or the nearest name."""
    why = surface.refusal(key[1])
    if why is not None:
        return Problem(doc.where(key), ".".join(key), why.message, why.hint)
    v = compat.versions()
    return Problem(doc.where(key), ".".join(key), f"unknown key (not a PTBR key, nor a field of TrainingArguments in "
                   f"transformers {v['transformers']} / gliner {v['gliner']})",
                   surface.suggestion(key[1]) or _unknown_key_hint(key))


def _unknown_key_hint(key: tuple[str, ...], layout: str = "nested") -> str | None:
    name = key[-1]
    if len(key) == 1 and layout == "flat":
        return did_you_mean(name, [n for n in layouts.flat_names() if not n.startswith("_")])
    if len(key) == 1:
        owner = layouts.section_of(name)
        if owner:
            return (f"{name!r} belongs under {owner}: (a file with sections reads no key at its top level; one "
                    "without any is read as upstream's flat layout)")
        return did_you_mean(name, [*SECTIONS, *layouts.SECTION_ALIASES])
    section = key[0]
    hint = did_you_mean(name, SECTIONS[section].model_fields) if section in SECTIONS else None
    if hint is None:
        owner = [s for s, cls in SECTIONS.items() if name in cls.model_fields and s != section]
        if owner:
            hint = f"{name!r} belongs under {owner[0]}:, not {section}:"
    return hint


def _dotted(loc: tuple[Any, ...]) -> str:
    """("training", "freeze_components", 0) → "training.freeze_components[0]"."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def _field_type(loc: tuple[Any, ...]) -> str | None:
    """The declared type of a section field in words, e.g. "string | list of string" (passthrough options too)."""
    section = SECTIONS.get(str(loc[0])) if loc else None
    if section is not None and len(loc) >= 2 and loc[1] not in section.model_fields and loc[0] == "training":
        section = surface.config_class().model_fields["training"].annotation
    if section is None or len(loc) < 2 or loc[1] not in section.model_fields:
        return None
    return type_name(section.model_fields[loc[1]].annotation)


def _problem(doc: Document, error: dict[str, Any]) -> Problem:
    key = tuple(str(part) for part in error["loc"])
    given = error.get("input")
    if error["type"] in ("model_type", "dict_type") and len(key) == 1:
        return Problem(doc.where(key), key[0], f"expected a mapping of keys (a section), got {given!r}")
    if error["type"] == "extra_forbidden" and len(key) == 2 and key[0] == "training":
        return _unknown_training_key(doc, key)
    if error["type"] == "extra_forbidden":
        return Problem(doc.where(key), _dotted(error["loc"]), "unknown key", _unknown_key_hint(key, doc.layout))
    if error["type"] == "missing":
        return Problem(doc.where(key[:-1]), _dotted(error["loc"]), "required key is missing")
    expected = error["msg"]
    if error["type"] in ("literal_error", "enum"):
        expected = f"expected {error['ctx'].get('expected')}"
    hint = None
    if isinstance(given, str) and error["type"] in ("int_type", "float_type", "bool_type"):
        hint = "write the value without quotes"
    return Problem(doc.where(key), _dotted(error["loc"]), f"{expected[0].lower()}{expected[1:]}, got {given!r}", hint)


def _cross_checks(config: Config, doc: Document) -> list[Problem]:
    """Contradictions between fields, each reported at the second field."""
    t, problems = config.training, []

    def add(key: str, message: str, hint: str | None = None) -> None:
        problems.append(Problem(doc.where(tuple(key.split("."))), key, message, hint))


    if t.bf16 and t.fp16:
        add("training.fp16", "bf16 and fp16 are both true", "choose one mixed precision")
    if t.fp16 and t.use_cpu:
        add("training.fp16", "fp16 mixed precision needs a GPU, but use_cpu is true", "use bf16 on CPU")
    if t.warmup_steps is not None and t.warmup_ratio is not None:
        add("training.warmup_ratio", "warmup_steps and warmup_ratio are both set", "keep one of them")
    if t.warmup_steps is not None and t.warmup_steps >= 1 and not float(t.warmup_steps).is_integer():
        add("training.warmup_steps", f"a value of 1 or more is a number of steps and must be whole, got "
            f"{t.warmup_steps}", "write a whole number of steps, or a ratio below 1")
    if t.dataloader_num_workers == 0:
        if t.dataloader_prefetch_factor is not None:
            add("training.dataloader_prefetch_factor", "needs dataloader_num_workers > 0",
                "set dataloader_num_workers or remove dataloader_prefetch_factor")
        if t.dataloader_persistent_workers:
            add("training.dataloader_persistent_workers", "needs dataloader_num_workers > 0",
                "set dataloader_num_workers or set dataloader_persistent_workers: false")
    if t.num_steps is None and t.num_train_epochs is None:
        add("training.num_steps", "required key is missing (or set training.num_train_epochs)",
            "set the run's length: num_steps (optimizer steps) or num_train_epochs")
    if t.num_steps is not None and t.num_train_epochs is not None:
        add("training.num_train_epochs", "num_steps and num_train_epochs are both set: one name per value (the "
            "Trainer would stop at num_steps and ignore the epochs)", "keep one of them")
    if t.eval_strategy not in (None, "no") and config.data.val_data_dir is None:
        add("training.eval_strategy", f"{t.eval_strategy!r} evaluates, but there is no validation data",
            "set data.val_data_dir, or eval_strategy: no")
    if config.model.model_name is None and t.prev_path is None:
        add("model.model_name", "required key is missing (or set training.prev_path)")
    if config.data.root_dir is None and t.output_dir is None:
        add("data.root_dir", "no output directory: set data.root_dir or training.output_dir")
    components = set(t.freeze_components or ())
    if "labels_encoder" in components and config.model.labels_encoder is None and t.prev_path is None:
        add("training.freeze_components", "labels_encoder is frozen but model.labels_encoder is not set")
    if "decoder" in components and config.model.labels_decoder is None and t.prev_path is None:
        add("training.freeze_components", "decoder is frozen but model.labels_decoder is not set")
    reports = [t.report_to] if isinstance(t.report_to, str) else t.report_to
    if len(reports) > 1 and ("none" in reports or "all" in reports):
        add("training.report_to", f"'none' and 'all' cannot be combined with other integrations, got {reports}")
    return problems


def _unknown_model_keys(doc: Document) -> list[Problem]:
    """model: keys neither PTBR's schema nor any config class of the installed gliner declares."""
    model = doc.data.get("model")
    extra = [k for k in model if k not in ModelConfig.model_fields] if isinstance(model, dict) else []
    if not extra:
        return []
    known = compat.gliner_config_keys()
    return [
        Problem(doc.where(("model", name)), f"model.{name}",
                f"unknown key (not a setting of gliner {compat.versions()['gliner']} either)",
                did_you_mean(name, [*ModelConfig.model_fields, *known]) or _unknown_key_hint(("model", name)))
        for name in extra if name not in known
    ]


def _problems(doc: Document, errors: list[dict[str, Any]]) -> list[Problem]:
    """One problem per key: a value that fits no member of a union (``str | list[str]``) gives one error per member,
    reported once with the declared type."""
    out, unions = [], {}
    for error in errors:
        loc = error["loc"]
        field = loc[:2]
        tail = loc[2:]
        if tail and isinstance(tail[0], str) and _field_type(field) and "|" in (_field_type(field) or ""):
            unions.setdefault(field, error)
            continue
        out.append(_problem(doc, error))
    for field in unions:
        key = tuple(str(p) for p in field)
        out.append(Problem(doc.where(key), ".".join(key), f"expected {_field_type(field)}, got {_given(doc, key)!r}"))
    return out


def _given(doc: Document, key: tuple[str, ...]) -> Any:
    value: Any = doc.data
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _installed_choices(config: Config, doc: Document) -> list[Problem]:
    """Values that must be names the installed transformers knows: checked here, with a suggestion, rather than
    left to a TrainingArguments error without a line number."""
    problems, t, version = [], config.training, compat.versions()["transformers"]

    def check(key: str, values: list[str], known: frozenset[str], what: str) -> None:
        for value in values:
            if known and value not in known:
                near = did_you_mean(value, known)
                hint = f"{near} (it has: {', '.join(sorted(known))})" if near else f"one of: {', '.join(sorted(known))}"
                problems.append(Problem(doc.where(tuple(key.split("."))), key,
                                        f"{value!r} is not {what} of transformers {version}", hint))

    check("training.scheduler_type", [t.scheduler_type], compat.scheduler_names(), "a scheduler")
    for field in ("eval_strategy", "save_strategy", "logging_strategy"):
        value = getattr(t, field)
        check(f"training.{field}", [] if value is None else [value], compat.strategy_names(field),
              f"one of the {field} values")

    reports = [t.report_to] if isinstance(t.report_to, str) else t.report_to
    check("training.report_to", [r for r in reports if r not in ("none", "all")], compat.integration_names(),
          "a reporting integration")
    return problems


def validate(doc: Document) -> Config:
    """The typed config of a loaded document on the installed versions (:func:`ptbr.surface.config_class`: PTBR's keys
    and the passthrough options), or ConfigError with every problem (type errors and contradictions)."""
    problems = _unknown_model_keys(doc)
    try:
        config = surface.config_class().model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems + _problems(doc, exc.errors())) from None
    problems += _cross_checks(config, doc) + _installed_choices(config, doc)
    if problems:
        raise ConfigError(problems)
    return config
