"""How the forwarding table's routes derive a value from the config: the rules :mod:`ptbr.forwarding` names, each a
function of the typed config. ``None`` means "not set" everywhere (``is None``, never ``or``: 0, false and "" are
values); a value that is not forwarded this time is a :class:`Skip` with the reason."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ptbr.schema import Config


@dataclass(frozen=True)
class Skip:
    """Not forwarded this time; the destination keeps its own default."""

    reason: str
    blocking: bool = False
    """The config asks for something the installed versions cannot do: validate and train refuse it."""
    warn: bool = False
    """A value was given that the installed versions read nowhere, and the config trains as written without it:
    validate, explain and train warn (and refuse it with --strict)."""
    hint: str | None = None
    """What to do about a blocking value; the default hint is to install a release that has it."""


def get(config: Config, dotted: str) -> Any:
    section, name = dotted.split(".")
    return getattr(getattr(config, section), name)


def first_set(*fields: str) -> Callable[[Config], Any]:
    """The first of ``fields`` that is not None (``is None``, never ``or``: 0, false and "" are values)."""

    def value(config: Config) -> Any:
        for f in fields:
            v = get(config, f)
            if v is not None:
                return v
        return None

    return value


def warmup_steps(config: Config) -> int | float:
    """The warmup the scheduler must use: whole steps as given, or ceil(ratio × num_steps). A run counted in epochs
    has no step count yet: its ratio is passed as a ratio (a float below 1, transformers' current meaning of
    warmup_steps; :mod:`ptbr.compat` writes it the way the installed release takes it)."""
    t = config.training
    value = t.warmup_steps if t.warmup_steps is not None else t.warmup_ratio
    if value is None:
        return 0
    if t.warmup_steps is not None and value >= 1:
        return int(value)
    if t.num_steps is None:
        return float(value)
    return math.ceil(value * t.num_steps)


def report_to(config: Config) -> list[str]:
    """report_to as a list, the form every transformers version normalises to."""
    value = config.training.report_to
    return [value] if isinstance(value, str) else list(value)


def integration(name: str) -> Callable[[Config], str | None]:
    def active(config: Config) -> str | None:
        reports = report_to(config)
        if name in reports or "all" in reports:
            return None
        return f"report_to={reports} does not include {name}"

    return active


def wandb(field: str, render: Callable[[Any], str]) -> Callable[[Config], Any]:
    def value(config: Config) -> Any:
        off = integration("wandb")(config)
        v = get(config, field)
        if v is None:
            return Skip("not set")
        return Skip(off) if off else render(v)

    return value


def mlflow_tags(config: Config) -> Any:
    off = integration("mlflow")(config)
    tags = {t: "true" for t in config.run.tags or ()}
    if config.run.description is not None:
        tags["mlflow.note.content"] = config.run.description
    if not tags:
        return Skip("not set")
    return Skip(off) if off else json.dumps(tags, sort_keys=True)


def eval_strategy(config: Config) -> str:
    if config.training.eval_strategy is not None:
        return config.training.eval_strategy
    return "steps" if config.data.val_data_dir is not None else "no"


def steps_unless_set(field: str) -> Callable[[Config], str]:
    def value(config: Config) -> str:
        v = get(config, field)
        return "steps" if v is None else v

    return value


def length(field: str, other: str) -> Callable[[Config], Any]:
    """num_steps or num_train_epochs: the one set decides the run's length (validation refuses both and neither)."""

    def value(config: Config) -> Any:
        v = get(config, field)
        return Skip(f"{other} is set: it decides the run's length") if v is None else v

    return value
