"""Layer 1, the generated surface: every passthrough option of the installed TrainingArguments (a field transformers
or gliner declares that PTBR has no key of its own for) crosses into the real TrainingArguments PTBR hands gliner.

The tests are generated from the installed class, in every cell: a field a new release adds gets a test with a
value made from its type, and fails (a finding of its own) where that value does not arrive as written. Each value
differs from the field's default, so a PTBR that dropped the key would fail. The values that need nothing else are
read on one TrainingArguments holding them all (which also shows that no option overwrites another); the others
each build their own. The arguments are those ``ptbr train`` passes to ``train_model``: ``train.prepare`` builds
them (the model itself is not needed to read them back).
"""

from __future__ import annotations

import enum
import json
import typing
from typing import Any, Literal

import pytest
from layers import covers, expect
from support import EXAMPLE, ROOT

from ptbr import compat, loader, surface, train, validation
from ptbr.errors import ConfigError

LAYER = "ptbr"

VALUES: dict[str, tuple[Any, dict[str, dict[str, Any]]]] = {
    "accelerator_config": ({"split_batches": True}, {}),
    "debug": ("underflow_overflow", {}),
    "fsdp": ("full_shard", {}),
    "optim": ("adafactor", {}),  # every release's OptimizerNames has it; gliner's default is adamw_torch
    "lr_scheduler_kwargs": ({"min_lr_rate": 0.1}, {"training": {"scheduler_type": "cosine_with_min_lr"}}),
    "load_best_model_at_end": (True, {"data": {"val_data_dir": str(ROOT / "examples" / "val.jsonl")}}),
    "half_precision_backend": ("cpu_amp", {}),
    "push_to_hub": (True, {"training": {"hub_model_id": "someone/model"}}),  # PTBR refuses pushing to no repository
}
"""Options whose value must be one the installed release accepts (a name, a key of a nested config), with the other
keys it needs: (value, sections)."""

ARRIVES_AS: dict[str, tuple[typing.Callable[[Any, Any], bool], str]] = {
    "accelerator_config": (lambda got, v: all(getattr(got, k) == x for k, x in v.items()),
                           "transformers makes an AcceleratorConfig of the mapping: the keys given hold their values"),
    "fsdp_config": (lambda got, v: all(got.get(k) == x for k, x in v.items()),
                    "transformers fills in its defaults around the keys given"),
    "debug": (lambda got, v: [getattr(d, "value", d) for d in got] == [v], "a list of DebugOption"),
    "fsdp": (lambda got, v: got is True or [getattr(d, "value", d) for d in got] == [v],
             "a list of FSDPOption (transformers 4.x), or true (5.x: the options move to fsdp_config)"),
    "tpu_metrics_debug": (lambda got, v: got is False, "transformers 4.x folds it into debug and sets it false"),
    "include_num_input_tokens_seen": (lambda got, v: got in (True, "all"),
                                      "transformers 4.5x and later take 'all' for true (4.40: a plain boolean)"),
    "average_tokens_across_devices": (lambda got, v: got is False,
                                      "on one process transformers 4.x turns it off (world size 1), 5.x keeps false"),
}
"""Options transformers normalises: what the value given becomes on the real object, and why."""

NOT_ON_CPU: dict[str, str] = {
    "tf32": "needs an Ampere or newer GPU: transformers rejects it on CPU (the suite's GPU mode can prove it)",
    "deepspeed": "needs the deepspeed package, which no cell installs: transformers rejects it at the key",
    "use_mps_device": "needs an Apple GPU: transformers rejects it elsewhere",
    "use_ipex": "needs intel_extension_for_pytorch, which no cell installs",
    "ddp_backend": "initialises torch.distributed, which a single test process has not started",
    "gradient_checkpointing": "no gliner model class has gradient_checkpointing_enable: PTBR refuses it at the key",
    "fp16_full_eval": "transformers before 4.4x refuse fp16 evaluation without a GPU",
    "push_to_hub_model_id": "transformers 4.x looks up a Hub token when it is set (the Hub is out of reach)",
    "push_to_hub_organization": "transformers 4.x looks up a Hub token when it is set (the Hub is out of reach)",
    "push_to_hub_token": "transformers 4.x looks up a Hub token when it is set (the Hub is out of reach)",
}
"""Options that may not arrive on a CPU machine offline: where refused, their test requires that the value is refused
at its own key (it reached the arguments and was judged there) or, where transformers' message names no key,
refused as bad input, never a traceback; where accepted, it must arrive as written like any other."""


def _members(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is not typing.Union:
        return [annotation]
    return [a for a in typing.get_args(annotation) if a is not type(None)]


def probe_value(option: surface.Option) -> Any:
    """A value of the option's type that differs from its default."""
    if option.name in VALUES:
        return VALUES[option.name][0]
    default = option.default.value if isinstance(option.default, enum.Enum) else option.default
    members = _members(option.annotation)
    for t in members:
        if t is bool:
            return not default if isinstance(default, bool) else True
        if typing.get_origin(t) is Literal:
            return next(c for c in typing.get_args(t) if c != default)
    for t in members:
        if t is int:
            return default + 1 if isinstance(default, int) and not isinstance(default, bool) else 2
        if t is float:
            return default / 2 if isinstance(default, int | float) and default else 0.5
        if t is str:
            return f"ptbr-{option.name}"
        if t is dict or typing.get_origin(t) is dict:
            return {"ptbr_probe": 1}
        if typing.get_origin(t) is list:
            (item,) = typing.get_args(t)
            return [typing.get_args(item)[0] if typing.get_origin(item) is Literal else "ptbr"]
    raise AssertionError(f"training.{option.name}: no probe value for {option.annotation}: add one to VALUES")


def _prepare(tmp_path, tiny_backbone, train_file, options: dict[str, Any]) -> Any:
    sections: dict[str, dict[str, Any]] = {
        "model": {"model_name": str(tiny_backbone), "backbone_from_pretrained": False, "hidden_size": 16},
        "data": {"root_dir": str(tmp_path / "out"), "train_data": str(train_file)},
        "training": {"num_steps": 4, "use_cpu": True, **options},
    }
    for name in options:
        for section, values in (VALUES.get(name, (None, {}))[1]).items():
            sections[section].update(values)
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(sections), encoding="utf-8")  # JSON is YAML
    doc = loader.load(path)
    config = validation.validate(doc)
    try:
        with train.cpu_only(True):
            return train.prepare(config, doc.where)[1]
    finally:  # what the arguments exported for a Trainer (ACCELERATE_USE_FSDP, ...) must not reach the next test
        compat.reset_accelerate_state()


OPTIONS = sorted(surface.passthrough())


@pytest.fixture(scope="module")
def together(tmp_path_factory, tiny_backbone) -> Any:
    """One TrainingArguments with every probe value that needs nothing else (no sections of its own, nothing that
    cannot run here): the tests read their field on it. None where that build is refused: each test then builds its
    own, and the one whose value is refused says so."""
    tmp = tmp_path_factory.mktemp("together")
    train_file = tmp / "train.json"
    train_file.write_text(json.dumps([EXAMPLE] * 8), encoding="utf-8")
    values = {n: probe_value(surface.passthrough()[n]) for n in OPTIONS
              if n not in NOT_ON_CPU and not VALUES.get(n, (None, {}))[1]}
    try:
        return _prepare(tmp, tiny_backbone, train_file, values)
    except ConfigError:
        return None


@pytest.mark.parametrize("name", [pytest.param(n, marks=covers(LAYER, f"training.{n}")) for n in OPTIONS])
def test_every_passthrough_option_reaches_the_real_training_arguments(request, together, name: str) -> None:
    option = surface.passthrough()[name]
    value = probe_value(option)
    default = option.default.value if isinstance(option.default, enum.Enum) else option.default
    assert value != default, f"training.{name}: the probe value {value!r} is the default: pick another"
    shared = together is not None and name not in NOT_ON_CPU and not VALUES.get(name, (None, {}))[1]
    try:  # a build of its own needs a directory of its own (asked for only then: most tests share one)
        args = together if shared else _prepare(*(request.getfixturevalue(f) for f in ("tmp_path", "tiny_backbone",
                                                                                    "train_file")), {name: value})
    except ConfigError as exc:
        if name not in NOT_ON_CPU:
            raise
        keys = {p.key for p in exc.problems}
        expect(f"training.{name}", LAYER, f"training.{name}" in keys or keys == {"training"}, True,
               f"refused at its key where it cannot run: {NOT_ON_CPU[name]}")
        return
    got = compat.read_back(args, name)
    if name in ARRIVES_AS:
        check, why = ARRIVES_AS[name]
        expect(f"training.{name}", LAYER, check(got, value), True, f"{why} (given {value!r}, got {got!r})")
    else:
        expect(f"training.{name}", LAYER, got, value, "a passthrough option arrives as written")


def test_the_probe_tables_name_only_fields_some_release_has() -> None:
    """A table entry for a name no scanned release has is a typo that would never be used."""
    known = {*surface.RELEASES["transformers"]["fields"], *surface.RELEASES["gliner"]["fields"]}
    stale = sorted({*VALUES, *ARRIVES_AS, *NOT_ON_CPU} - known)
    assert stale == [], f"probe tables: expected names of TrainingArguments fields, got {stale}"
