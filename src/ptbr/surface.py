"""The training surface: every field of the installed TrainingArguments (transformers' and gliner's subclass) that
``training:`` can set under its own name, typed and documented from the installed class.

Each field of the installed class is one of:
- **PTBR's**: a route of the forwarding table decides it (``learning_rate`` is ``training.lr_encoder``,
  ``eval_strategy`` follows ``data.val_data_dir``). Under the field's own name it is refused, pointing at PTBR's key:
  one name per value.
- **refused** (:data:`REFUSED`): setting it would change nothing, or contradict what PTBR guarantees.
- **not writable in YAML**: its type is a Python object (``parallelism_config``).
- **passthrough**: everything else. A ``training:`` key of that name is checked against the field's type, forwarded
  as written, and read back on the real TrainingArguments (``ptbr explain``).

A name that is no field of the installed class but is one of another release is refused naming the releases that
have it (``releases.json``, written by ``nox -s drift`` from every release's wheel) and what replaced it.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import functools
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ptbr import compat, forwarding
from ptbr.schema import Config, TrainingConfig

RELEASES: dict[str, Any] = json.loads((Path(__file__).parent / "releases.json").read_text(encoding="utf-8"))
"""package → {"scanned": [first, last], "fields": {name: [first release with it, last release with it]}}."""

REFUSED: dict[str, tuple[str, str]] = {
    "label_smoothing_factor": ("gliner's Trainer computes its own loss and never reads it",
                               "use training.label_smoothing (gliner's label smoothing)"),
}
"""Fields of TrainingArguments PTBR refuses under their own name although no route of its own sets them:
(why, what to do)."""

GLINER_HELP = {
    "loss_type": "Span loss: 'focal' (the default), 'bce' (focal with alpha -1 and gamma 0) or 'dice'.",
    "dice_gamma": "Exponent of the dice loss (loss_type: dice); the other losses ignore it.",
    "use_span_width_weight": "Weigh each positive span's loss by 1 + log(its width in words): single-word spans "
                             "keep weight 1, longer ones count more.",
    "rel_focal_loss_alpha": "Focal loss alpha of the relation loss (relation extraction models); training.loss_alpha "
                            "when unset.",
    "rel_focal_loss_gamma": "Focal loss gamma of the relation loss (relation extraction models); training.loss_gamma "
                            "when unset.",
}
"""What gliner's own options do, from reading gliner's loss code, where its class documents them nowhere."""


@dataclass(frozen=True)
class Option:
    """A field of the installed TrainingArguments that a ``training:`` key sets under its own name."""

    name: str
    annotation: Any
    """The field's type as YAML can write it (enums as the strings they take), for pydantic."""
    default: Any
    owner: Literal["transformers", "gliner"]
    """transformers' TrainingArguments, or a field gliner's subclass adds."""
    help: str

    @property
    def description(self) -> str:
        where = (f"a training option of gliner {compat.versions()['gliner']}" if self.owner == "gliner" else
                 f"TrainingArguments.{self.name} of transformers {compat.versions()['transformers']}")
        return f"{self.help} [{where}; default {self.default!r}; forwarded as written]".strip()


@dataclass(frozen=True)
class Refusal:
    message: str
    hint: str | None


def _yaml_type(annotation: Any) -> Any:
    """The annotation with enums as the strings they take; None when YAML cannot write the type (a Python object)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (int, float, bool, str, type(None), Any, dict, list):
        return annotation
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Literal[tuple(str(m.value) for m in annotation)]
    if origin is Literal:
        return annotation
    if origin in (typing.Union, types.UnionType):
        members = [t for t in (_yaml_type(a) for a in args) if t is not None]
        return None if all(m is type(None) for m in members) else typing.Union[tuple(members)]  # noqa: UP007
    if origin is list:
        item = _yaml_type(args[0]) if args else Any
        return None if item is None else list[item]
    if origin is dict:
        return dict[str, Any]
    return None


def _documented(cls: type) -> dict[str, str]:
    """``name: text`` entries of a class docstring's Attributes section (gliner documents its fields there)."""
    doc = inspect.getdoc(cls) or ""
    entries = re.findall(r"^\s{4}(\w+): (.+(?:\n\s{8}.+)*)", doc.split("Attributes:", 1)[-1], flags=re.M)
    return {name: " ".join(text.split()) for name, text in entries}


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


@functools.cache
def installed() -> dict[str, Option | None]:
    """Every init field of the installed TrainingArguments → its Option (None: YAML cannot write its type)."""
    import transformers

    cls = compat.training_arguments_class()
    base = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a forward reference a release cannot resolve: no field type is lost for the others' sake
        hints = {}
    docs = _documented(cls)
    out: dict[str, Option | None] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        # an unresolved type (a string) takes any YAML value: building the real TrainingArguments judges it
        annotation = _yaml_type(hints.get(f.name, Any if isinstance(f.type, str) else f.type))
        owner = "transformers" if f.name in base else "gliner"
        text = " ".join(str(f.metadata.get("help") or docs.get(f.name) or GLINER_HELP.get(f.name, "")).split())
        text = text.replace("%%", "%")  # transformers' help texts are argparse templates
        out[f.name] = None if annotation is None else Option(f.name, annotation, _default(f), owner, text)
    return out


@functools.cache
def owners() -> dict[str, forwarding.Route]:
    """Field name → the forwarding route that decides it: under its canonical name, its installed name, and an old
    name the installed release still has beside it (``no_cuda`` for ``use_cpu`` on transformers 4.x)."""
    names = compat.argument_names()
    out = {}
    for route in forwarding.ROUTES:
        if route.kind == "args":
            out[route.name] = route
            out[compat.installed_name(route.name, names) or route.name] = route
    for old, new in compat.SUCCESSORS.items():
        if new in out and old in names:
            out[old] = out[new]
    return out


@functools.cache
def passthrough() -> dict[str, Option]:
    """The fields a ``training:`` key sets under its own name, on the installed versions."""
    return {name: option for name, option in installed().items()
            if option is not None and name not in owners() and name not in REFUSED
            and name not in TrainingConfig.model_fields}


def span(package: str, name: str) -> str:
    """The releases of ``package`` that have field ``name``, in words, from releases.json."""
    first, last = RELEASES[package]["fields"][name]
    lo, hi = RELEASES[package]["scanned"]
    if first == lo and last == hi:
        return f"{package} {lo} to {hi}, every release scanned"
    if first == lo:
        return f"{package} {last} and earlier (scanned from {lo})"
    if last == hi:
        return f"{package} {first} and later"
    return f"{package} {first} to {last}"


def _ptbr_key(name: str) -> str | None:
    route = owners().get(name)
    return route.sources[0] if route is not None and route.sources else None


def refusal(name: str) -> Refusal | None:
    """Why ``training.<name>`` cannot be set (it is not PTBR's own key), or None: a passthrough option, or a name that
    no release has."""
    v = compat.versions()
    route = owners().get(name)
    if route is not None:
        hint = f"use {route.sources[0]}" if route.sources else "remove it: PTBR decides this value"
        return Refusal(f"TrainingArguments.{name} is set by PTBR ({route.rule}); one name per value", hint)
    if name in REFUSED:
        return Refusal(f"TrainingArguments.{name} is refused: {REFUSED[name][0]}", REFUSED[name][1])
    if name in installed():
        if installed()[name] is None:
            return Refusal(f"TrainingArguments.{name} takes a Python object, which YAML cannot write",
                           "set it in Python, or remove the key")
        return None
    successor = compat.SUCCESSORS.get(name)
    if name in RELEASES["gliner"]["fields"] and name not in RELEASES["transformers"]["fields"]:
        first = RELEASES["gliner"]["fields"][name][0]
        return Refusal(f"not a training option of gliner {v['gliner']}: it is one of {span('gliner', name)}",
                       f"install gliner {first} or newer, or remove the key")
    if name in RELEASES["transformers"]["fields"]:
        message = (f"not a TrainingArguments field of transformers {v['transformers']}: it is one of "
                   f"{span('transformers', name)}")
        if successor is not None:
            message += f", where {successor} took its place"
            key = _ptbr_key(successor) or (successor if successor in passthrough() else None)
            if key is not None and successor != name:
                return Refusal(message, f"use {key}")
        return Refusal(message, "install a transformers release that has it, or remove the key")
    return None


def suggestion(name: str) -> str | None:
    """The nearest key for a name that is neither PTBR's nor a field of any release, phrased as a hint."""
    known = [*TrainingConfig.model_fields, *passthrough(), *owners(), *RELEASES["transformers"]["fields"],
             *RELEASES["gliner"]["fields"]]
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if not match:
        return None
    key = _ptbr_key(match[0])
    return f"did you mean {match[0]!r}?" + (f" (PTBR's key for it is {key})" if key and key != match[0] else "")


@functools.cache
def config_class() -> type[Config]:
    """The config schema on the installed versions: PTBR's keys, plus every passthrough option under ``training:``
    (typed from the installed class; null means not set, so transformers' or gliner's default applies)."""
    from pydantic import Field, create_model

    options = {name: (typing.Optional[o.annotation], Field(None, description=o.description))  # noqa: UP045
               for name, o in passthrough().items()}
    training = create_model("TrainingConfig", __base__=TrainingConfig, __doc__=TrainingConfig.__doc__, **options)
    return create_model("Config", __base__=Config, __doc__=Config.__doc__,
                        training=(training, Field(description="Training settings.")))
