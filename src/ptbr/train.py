"""Train: checked config → data → model → gliner's ``train_model`` → final model and provenance on disk."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from ptbr import backbone, choices, compat, data, forwarding, lora, preflight, runs, secrets
from ptbr.blame import blame
from ptbr.errors import ConfigError, Problem, keys_named_in
from ptbr.runs import ARGS_FILE, CONFIG_FILE, FINAL_DIR
from ptbr.schema import Config

SMOKE_STEPS = 4
SMOKE_EXAMPLES = 8
SMOKE_BATCH = 2
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's emitter when PyYAML has it: ~10x faster


@dataclass(frozen=True)
class Result:
    output_dir: Path
    final_dir: Path
    steps: int
    loss: float | None
    seconds: float


def output_dir(config: Config) -> Path:
    return Path(forwarding.plan(config).args_kwargs["output_dir"])


def check_output_dir(config: Config) -> Path:
    """The output directory; ConfigError before any work when it cannot be created or written."""
    path = output_dir(config)
    key = "training.output_dir" if config.training.output_dir is not None else "data.root_dir"
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError([Problem(str(probe), key, f"cannot create output directory {path}: {probe} is a file")])
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError([Problem(str(probe), key, f"output directory {path} is not writable", "choose another "
                                   "directory with training.output_dir or data.root_dir")])
    return path


def load_data(config: Config, where: Callable[[tuple[str, ...]], str] | None = None,
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Training and (optional) evaluation examples, checked. All problems of both files at once; with ``where`` (a
    config key's place in its file) each is reported at the key that names the file."""
    problems, loaded = [], []
    for key, path in (("data.train_data", config.data.train_data), ("data.val_data_dir", config.data.val_data_dir)):
        if path is None:
            loaded.append(None)
            continue
        try:
            loaded.append(data.load(path, key, where(tuple(key.split("."))) if where else None))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return loaded[0], loaded[1]


def smoke_config(config: Config, train: list[dict[str, Any]], steps: int = SMOKE_STEPS) -> tuple[Config, list[str]]:
    """The same config on a tiny random backbone, for a handful of steps (at most ``steps``), into
    ``<output>/smoke``. Returns the new config and a note for each change."""
    out = output_dir(config) / "smoke"
    tiny = str(backbone.write(out / "backbone", (w for item in train for w in item["tokenized_text"])))
    notes = [f"backbone {config.model.model_name or config.training.prev_path} → tiny random backbone {tiny}"]
    model: dict[str, Any] = {"model_name": tiny, "backbone_from_pretrained": False}
    if config.model.labels_encoder is not None:
        model["labels_encoder"] = tiny
        notes.append("labels encoder → the same tiny backbone")
    if config.model.labels_decoder is not None:
        model["labels_decoder"] = str(backbone.write_decoder(out / "decoder"))
        notes.append(f"labels decoder {config.model.labels_decoder} → tiny random GPT-2 {model['labels_decoder']}")
    asked = config.training.num_steps
    length = steps if asked is None else min(asked, steps)  # a run counted in epochs: the smoke's steps
    training: dict[str, Any] = {
        "prev_path": None,
        "output_dir": str(out),
        "num_steps": length,
        "num_train_epochs": None,
        "eval_every": 2,
        "eval_steps": None,
        "save_steps": length,  # one checkpoint, at the end
        "logging_steps": 1,
        "train_batch_size": min(config.training.train_batch_size, SMOKE_BATCH),
        "eval_batch_size": SMOKE_BATCH,
        "report_to": "none",
        "resume_from_checkpoint": None,
        "compile_model": False,
    }
    if getattr(config.training, "push_to_hub", None):
        training["push_to_hub"] = False
        notes.append("push_to_hub → false (nothing of a smoke run is pushed)")
    if config.training.fp16 and not _cuda_available():
        training["fp16"] = False
        notes.append("fp16 → false (no GPU here)")
    adapters: dict[str, Any] = {}
    if config.lora.enabled and config.lora.target_modules not in (None, "all-linear", ["all-linear"]):
        adapters["target_modules"] = "all-linear"  # the real backbone's layer names are checked by preflight
        notes.append(f"lora.target_modules {config.lora.target_modules} → all-linear (the tiny backbone's layers "
                     "have other names)")
    notes.append(f"{training['num_steps']} steps of batch {training['train_batch_size']}, into {out}")
    new = config.model_copy(update={
        "model": config.model.model_copy(update=model),
        "training": config.training.model_copy(update=training),
        "lora": config.lora.model_copy(update=adapters),
    })
    return new, notes


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _atomic_write(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8", suffix=".tmp") as f:
        f.write(text)
    os.replace(f.name, path)


def write_provenance(config: Config, args: Any, directory: Path) -> None:
    """The resolved config (YAML) and the effective TrainingArguments (JSON), written atomically."""
    directory.mkdir(parents=True, exist_ok=True)
    header = f"# Resolved by ptbr with {compat.stack()}\n"
    resolved = config.model_dump(mode="json")
    text = yaml.dump(secrets.scrub(resolved, secrets.found(resolved)), Dumper=_DUMPER, sort_keys=False)
    _atomic_write(directory / CONFIG_FILE, header + text)
    effective = json.loads(args.to_json_string())
    _atomic_write(directory / ARGS_FILE, json.dumps({"versions": compat.versions(), "args": effective}, indent=2))


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch, as the Trainer does, before the model's random init."""
    from transformers import set_seed

    set_seed(seed)


def build_model(plan: forwarding.Plan) -> Any:
    from gliner import GLiNER

    start = plan.values("run").get(forwarding.START_FROM)
    if start is not None:
        return GLiNER.from_pretrained(start, local_files_only=Path(start).is_dir(), **plan.pretrained_kwargs)
    pretrained = plan.values("run")[forwarding.BACKBONE_WEIGHTS]
    model_config(plan)  # gliner's own checks, as a config error, before anything is built
    return GLiNER.from_config(compat.model_config_argument(plan.model_kwargs), backbone_from_pretrained=pretrained)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of training, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def cpu_only(active: bool) -> Iterator[None]:
    """With ``use_cpu``, keep the run off every GPU of the machine. transformers' Trainer asks
    ``torch.cuda.is_available()`` before it saves or restores the CUDA random state at each checkpoint
    (``Trainer._save_rng_state`` / ``_load_rng_state``); on a machine with a GPU that initialises CUDA in the process
    (measured on an H100: torch.cuda.is_initialized() became true) although the model trains on the CPU. For the
    run, torch reports no CUDA device."""
    if not active:
        yield
        return
    import torch

    real = torch.cuda.is_available
    torch.cuda.is_available = lambda: False
    try:
        yield
    finally:
        torch.cuda.is_available = real


def _fit(model: Any, args: Any, train: list, evaluation: list | None, plan: forwarding.Plan) -> Any:
    resume = plan.values("run").get(forwarding.RESUME)
    if resume is None:
        return model.train_model(train, evaluation, training_args=args, **plan.train_model_kwargs)
    # gliner's train_model calls trainer.train() without resume_from_checkpoint, so a resumed run builds the same
    # Trainer train_model would, and passes it on.
    from gliner.training import Trainer

    for component in plan.train_model_kwargs.get("freeze_components") or ():
        model.freeze_component(component)
    if plan.train_model_kwargs.get("compile_model"):
        model.compile()
    trainer = Trainer(
        model=model, args=args, train_dataset=train, eval_dataset=evaluation,
        data_collator=model._create_data_collator(),
        **{compat.trainer_tokenizer_kwarg(): model.data_processor.transformer_tokenizer},
    )
    trainer.train(resume_from_checkpoint=resume)
    return trainer


def run(config: Config, *, smoke: bool = False, log: Any = print,
        where: Callable[[tuple[str, ...]], str] | None = None, strict: bool = False,
        smoke_steps: int = SMOKE_STEPS, existing: runs.Existing = "refuse") -> Result:
    """Train for real. Bad input raises ConfigError before anything is written or built; ``where`` locates a config
    key in its file for those errors. Keys the installed versions read nowhere are logged as warnings first (refused
    with ``strict`` or ``run.strict``). An output directory that holds a run is refused, resumed or replaced as
    ``existing`` says (:mod:`ptbr.runs`); a smoke run writes only its own scratch directory, <output>/smoke."""
    start = time.monotonic()
    out = check_output_dir(config)  # before --smoke writes its tiny backbone there
    if not smoke:
        config = runs.check(config, out, existing, where)
    train, evaluation = load_data(config, where)
    if late := preflight.cuda_devices(config):  # checked against the environment CUDA started with, before ours
        raise ConfigError([Problem(where(tuple(k.split("."))) if where else "installed versions", k, m, h)
                           for k, m, h in late])
    # the run's environment (environment:, the reporting integrations' variables) from before anything can touch
    # CUDA (the smoke run asks torch for a GPU) to the end; restored after
    with _environment(forwarding.plan(config).env):
        if smoke:
            config, notes = smoke_config(config, train, smoke_steps)
            train = train[:SMOKE_EXAMPLES]
            evaluation = evaluation[:SMOKE_EXAMPLES] if evaluation is not None else None
            for note in notes:
                log(f"smoke: {note}")
        resuming = config.training.resume_from_checkpoint not in (None, False)
        return _run(config, train, evaluation, log, where, strict, start,
                    replace=existing == "overwrite" and not smoke and not resuming)


def _run(config: Config, train: list, evaluation: list | None, log: Any,
         where: Callable[[tuple[str, ...]], str] | None, strict: bool, start: float, replace: bool) -> Result:
    out = check_output_dir(config)
    with _environment(forwarding.plan(config).env), cpu_only(config.training.use_cpu):
        plan, args, _ = prepare(config, where, strict=strict, build=False)  # the real build below checks the same
        for warning in plan.warnings(where):
            log(f"warning: {warning}")
        if plan.pretrained_kwargs:
            log(f"applied to the saved model: {plan.pretrained_kwargs}")
        seed_everything(config.training.seed)  # the Trainer seeds only after the model exists: seed its init too
        try:
            model = build_model(plan)
        except ConfigError:
            raise
        except Exception as exc:  # a value gliner's constructor rejects, said at its key (choices.check's Problem)
            if (problem := choices.rejected(exc, plan, where)) is None:
                raise
            raise ConfigError([problem]) from None
        if plan.lora is not None:
            log(lora.apply(model, plan.lora, config.training.prev_path or config.model.model_name or "?"))
        if replace:  # --overwrite, once everything is checked and the model is built
            log(f"replacing the run in {out}: {', '.join(runs.found(out)) or 'nothing there'}")
            runs.clear(out)
        write_provenance(config, args, out)
        trainer = _fit(model, args, train, evaluation, plan)
        final = out / FINAL_DIR
        if plan.lora is not None:  # final/adapter: the adapter; final/: the model with it merged
            lora.save(model, final, trainer.save_model)
        else:
            trainer.save_model(str(final))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return Result(out, final, trainer.state.global_step, losses[-1] if losses else None, time.monotonic() - start)


def first_step(config: Config, where: Callable[[tuple[str, ...]], str] | None = None, strict: bool = False,
               written: set[str] | None = None) -> None:
    """One real training step of the config's architecture, on a tiny random backbone and one batch of its data, in
    a temporary directory (nothing is written to the output directory): what `validate` runs last, so that a config
    gliner or transformers cannot train (gliner 0.2.29's span loss with ``use_span_width_weight``) is refused before
    a training starts. (`train` does not run it again: its own first step is the same check, and `prove`'s smoke
    training is a few such steps.) ConfigError at the key the failing code reads (:mod:`ptbr.blame`; ``written``: the
    keys of the file, which alone can be named), else at the config as a whole."""
    with tempfile.TemporaryDirectory(prefix="ptbr-first-step-") as tmp:
        here = config.model_copy(update={"training": config.training.model_copy(update={"output_dir": tmp})})
        plan = None
        try:
            items, _ = load_data(here)
            stepped, _ = smoke_config(here, items, steps=1)
            plan = forwarding.plan(stepped)
            with _quiet():
                run(here, smoke=True, smoke_steps=1, log=lambda _m: None, where=where, strict=strict)
        except (ConfigError, KeyboardInterrupt):
            raise
        except Exception as exc:  # gliner or transformers cannot train this config: bad input, found in seconds
            raise ConfigError([_step_problem(exc, plan, where, written)]) from None


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Nothing of a check's training on the terminal: the Trainer's log lines, progress bars and transformers'
    warnings about the tiny backbone."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.set_verbosity(verbosity)


def _step_problem(exc: Exception, plan: forwarding.Plan | None, where: Callable[[tuple[str, ...]], str] | None,
                  written: set[str] | None) -> Problem:
    at, keys = blame(exc, plan, written) if plan is not None else ("", [])
    if plan is not None:  # the key whose value the message quotes is the one the failing code read
        given = {r.route.sources[0]: r.value for r in plan.resolved if r.route.sources and isinstance(r.value, str)
                 and (written is None or r.route.sources[0] in written) and r.route.kind in ("model", "args")}
        named = keys_named_in(str(exc), given)
        keys = named + [k for k in keys if k not in named]
    said = (str(exc).strip().splitlines() or [""])[0][:300]
    message = (f"training fails at its first step with {compat.stack()}: {type(exc).__name__}: {said}"
               + (f" (at {at})" if at else ""))
    if keys:
        key = keys[0]
        others = f" (the failing code also reads {', '.join(keys[1:])})" if keys[1:] else ""
        return Problem(where(tuple(key.split("."))) if where else "config", key, message + others,
                       f"remove {key} or change its value; or use releases where gliner trains with it")
    return Problem(where(()) if where else "config", "", message, "ptbr train --smoke --traceback shows where")


def model_config(plan: forwarding.Plan, where: Callable[[tuple[str, ...]], str] | None = None) -> Any:
    """The config the installed gliner builds for this plan (the class it picks, not the legacy GLiNERConfig); None
    when the model comes from training.prev_path. When gliner rejects it, the error is reported at the model key its
    message names; a model_type other than the one gliner builds from the keys is refused."""
    if plan.values("run").get(forwarding.START_FROM) is not None:
        return None
    try:
        built = compat.built_model_config(plan.model_kwargs)
    except Exception as exc:  # the config classes validate user values with their own errors (e.g. huggingface_hub's
        named = keys_named_in(str(exc), plan.model_kwargs)  # StrictDataclassFieldValidationError): all are bad input
        key = f"model.{named[0]}" if named else "model"
        raise ConfigError([Problem(where(tuple(key.split("."))) if where and named else "installed versions", key,
                                   f"gliner rejected the model config: {exc}", f"with {compat.stack()}")]) from None
    asked = plan.model_kwargs.get("model_type")
    if asked is not None and getattr(built, "model_type", None) != asked:
        key = ("model", "model_type")
        raise ConfigError([Problem(where(key) if where else "installed versions", "model.model_type",
                                   f"gliner {compat.versions()['gliner']} builds {built.model_type!r} from these "
                                   f"model: keys, not {asked!r}", "set the keys that select that architecture "
                                   "(labels_encoder, labels_decoder, relations_layer, span_mode), or remove "
                                   "model_type")]) from None
    return built


class Prepared(NamedTuple):
    plan: forwarding.Plan
    args: Any
    """The real TrainingArguments of the installed versions (gliner's subclass)."""
    model_config: Any
    """The config the installed gliner builds for the model; None with training.prev_path."""


def prepare(config: Config, where: Callable[[tuple[str, ...]], str] | None = None,
            refused: list[Problem] | None = None, strict: bool = False, build: bool = True) -> Prepared:
    """Everything checked before anything is written or built, the same for `validate`, `explain` and `train`: what
    the installed versions cannot honour, the filesystem and libraries (:mod:`ptbr.preflight`), the real
    TrainingArguments and gliner's model config. Returns the plan, the TrainingArguments and the model config (None
    with prev_path). With ``refused`` (a list: explain), what train would refuse is collected there instead of raised,
    as far as the real objects can still be built. With ``strict`` (or ``run.strict``) warnings are refusals. With
    ``build``, gliner's model is built on a tiny backbone for the values its constructors reject
    (:func:`ptbr.choices.check`); train, which builds the real model next, reads them from that build instead."""
    plan = forwarding.plan(config)
    strict = strict or config.run.strict
    for check in (lambda: plan.check(where, strict), lambda: preflight.check(config, output_dir(config), where)):
        try:
            check()
        except ConfigError as exc:
            if refused is None:
                raise
            refused.extend(exc.problems)
    compat.reset_accelerate_state()
    args = forwarding.build_training_arguments(plan, where)
    built = model_config(plan, where)
    rejected = None
    if build:  # a value gliner's constructors reject, at its key (train: on the real build instead)
        with _quiet():
            rejected = choices.check(plan, where)
    if rejected is not None:
        if refused is None:
            raise ConfigError([rejected])
        refused.append(rejected)
    return Prepared(plan, args, built)
