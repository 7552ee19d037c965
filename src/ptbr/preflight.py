"""What `train` would fail on after work has started, checked first against the filesystem and the installed
libraries: `validate`, `explain` and `train` all run these checks (train before anything is written), and every
problem names the config key and its place in the file.

- local paths (``model.model_name``, ``labels_encoder``, ``labels_decoder``, ``training.prev_path``) exist and hold
  what the config asks of them: a model config, and weights where weights are to be loaded;
- no model declares custom code (``auto_map``) unless ``model.trust_remote_code`` is true: the backbone, labels
  encoder and decoder, and a saved model (``training.prev_path``: the configs its gliner_config.json embeds and the
  models it names), from local files or the hub cache;
- ``training.resume_from_checkpoint`` names a checkpoint (or, ``true``, the output directory has one);
- every integration in ``report_to`` is installed, and wandb has a project; ``push_to_hub`` names its repository;
- ``environment.cuda_visible_devices`` can still take effect (CUDA not yet initialised in the process);
- the learning-rate schedule can be built with the config's ``lr_scheduler_kwargs`` (some schedules need them);
- the model gliner builds can do what the options ask of it (``gradient_checkpointing``);
- LoRA's ``target_modules`` name layers of the backbone (its architecture, built without weights);
- the installed gliner's ``train_model`` can build a Trainer of the installed transformers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ptbr import compat
from ptbr.errors import ConfigError, Problem
from ptbr.schema import Config

Where = Callable[[tuple[str, ...]], str]
WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json", "pytorch_model.bin.index.json")


def looks_local(name: str) -> bool:
    """A model reference that can only be a local path: absolute, relative (``./``, ``../``, ``~``), or with more
    slashes than a hub id (``org/name``) has. Anything that exists on disk is local too."""
    return (os.path.isabs(name) or name.startswith((".", "~")) or name.endswith("/") or name.count("/") > 1
            or Path(name).expanduser().exists())


def _model_directory(key: str, name: str, weights: bool, gliner: bool = False) -> str | None:
    """What is wrong with a local model directory, or None (also for a hub id: the hub is not asked here)."""
    if not looks_local(name):
        return None
    path = Path(name).expanduser()
    if not path.exists():
        return f"no such directory: {name}"
    if not path.is_dir():
        return f"{name} is a file; expected a model directory"
    config = "gliner_config.json" if gliner else "config.json"
    if not (path / config).is_file():
        return f"{name} holds no {config}: not a {'GLiNER model' if gliner else 'model'} directory"
    if weights and not any((path / w).is_file() for w in WEIGHTS):
        return f"{name} holds no weights ({' or '.join(WEIGHTS[:2])})"
    return None


def _paths(config: Config) -> list[tuple[str, str, str | None]]:
    m, t = config.model, config.training
    if t.prev_path is not None:
        why = _model_directory("training.prev_path", t.prev_path, weights=True, gliner=True)
        return [("training.prev_path", why, "a directory saved by GLiNER.save_pretrained (or a hub id)")] if why else []
    out = []
    for key, name in (("model.model_name", m.model_name), ("model.labels_encoder", m.labels_encoder),
                      ("model.labels_decoder", m.labels_decoder)):
        if name is None:
            continue
        why = _model_directory(key, name, weights=m.backbone_from_pretrained)
        if why:
            hint = ("set model.backbone_from_pretrained: false to initialise it at random, or point at a directory "
                    "with weights") if "no weights" in why else "check the path (relative to the current directory)"
            out.append((key, why, hint))
    return out


def _cached(name: str, filename: str) -> Path:
    """A model's file: in its local directory, else in the hub cache (a path that may not exist)."""
    path = Path(name).expanduser() / filename
    if not looks_local(name):
        from huggingface_hub import try_to_load_from_cache

        try:
            cached = try_to_load_from_cache(name, filename)
        except ValueError:  # not a valid repo id (HFValidationError): nothing cached under it
            cached = None
        path = Path(cached) if isinstance(cached, str) else path
    return path


def _read_json(path: Path) -> dict:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _declared_code(name: str) -> dict | None:
    """The ``auto_map`` of a model's config.json (its custom code), from its local directory or the hub cache; None
    when it declares none or its config is not here (a hub id not downloaded yet)."""
    return _read_json(_cached(name, "config.json")).get("auto_map") or None


def _saved_model_code(prev_path: str) -> list[str]:
    """Where a saved GLiNER model declares custom code: the configs its gliner_config.json embeds (encoder, labels
    encoder and decoder: gliner builds them with trust_remote_code=True) and the models it names."""
    saved = _read_json(_cached(prev_path, "gliner_config.json"))
    found = [f"{key}.auto_map ({', '.join(sorted(value['auto_map']))})" for key, value in saved.items()
             if isinstance(value, dict) and value.get("auto_map")]
    found += [f"{key} {saved[key]} ({', '.join(sorted(code))})" for key in ("model_name", "labels_encoder",
                                                                               "labels_decoder")
              if isinstance(saved.get(key), str) and (code := _declared_code(saved[key]))]
    if code := _declared_code(prev_path):
        found.append(f"config.json ({', '.join(sorted(code))})")
    return found


def _custom_code(config: Config) -> list[tuple[str, str, str | None]]:
    """No model is loaded with custom code unless trusted: model_name, labels_encoder, labels_decoder, or a saved
    model (training.prev_path) through any config it holds or names."""
    m = config.model
    hint = "set model.trust_remote_code: true if you trust that code, or choose another model"
    if m.trust_remote_code:
        return []
    if config.training.prev_path is not None:
        declared = _saved_model_code(config.training.prev_path)
        return [("training.prev_path", f"the saved model {config.training.prev_path} declares custom code in its "
                 f"{'; '.join(declared)}, which gliner would run (it loads models with trust_remote_code=True)",
                 hint)] if declared else []
    return [(key, f"{name} declares custom code ({', '.join(sorted(code))} in its config.json), which gliner would "
             "run (it loads models with trust_remote_code=True)", hint)
            for key, name in (("model.model_name", m.model_name), ("model.labels_encoder", m.labels_encoder),
                              ("model.labels_decoder", m.labels_decoder))
            if name is not None and (code := _declared_code(name))]


def _resume(config: Config, output_dir: Path) -> list[tuple[str, str, str | None]]:
    resume = config.training.resume_from_checkpoint
    key = "training.resume_from_checkpoint"
    if resume is None or resume is False:
        return []
    if resume is True:
        found = [p for p in output_dir.glob("checkpoint-*") if p.is_dir()] if output_dir.is_dir() else []
        return [] if found else [(key, f"true, but {output_dir} has no checkpoint-* directory to resume from",
                                  "train without resume_from_checkpoint first, or name a checkpoint directory")]
    path = Path(resume).expanduser()
    if not path.is_dir():
        return [(key, f"no such checkpoint directory: {resume}", "name a checkpoint-N directory of an earlier run")]
    if not (path / "trainer_state.json").is_file():
        return [(key, f"{resume} holds no trainer_state.json: not a Trainer checkpoint",
                 "name a checkpoint-N directory of an earlier run")]
    return []


def _report_to(config: Config) -> list[tuple[str, str, str | None]]:
    reports = [config.training.report_to] if isinstance(config.training.report_to, str) else config.training.report_to
    wanted = [r for r in reports if r not in ("none", "all")]
    if not wanted:
        return []
    from transformers.integrations import get_available_reporting_integrations

    available = set(get_available_reporting_integrations())
    found = [("training.report_to", f"{name!r} is not installed here", f"install it (e.g. pip install {name}), or "
              "remove it from report_to") for name in wanted if name not in available]
    # transformers' wandb integration files a run without a project under "huggingface"; the original PTBR refused it
    if "wandb" in wanted and config.environment.wandb_project is None and not os.environ.get("WANDB_PROJECT"):
        found.append(("training.report_to", "wandb needs a project: none is set in the config or the environment "
                      "(transformers would file the run under 'huggingface')", "set environment.wandb_project (or "
                      "WANDB_PROJECT in the environment)"))
    return found


def _hub(config: Config) -> list[tuple[str, str, str | None]]:
    """push_to_hub needs the repository to push to (transformers would name one after the output directory)."""
    t = config.training
    if getattr(t, "push_to_hub", None) is True and getattr(t, "hub_model_id", None) is None:
        return [("training.push_to_hub", "true, but no hub_model_id names the repository to push to",
                 "set hub_model_id (e.g. your-name/your-model), or push_to_hub: false")]
    return []


def cuda_devices(config: Config) -> list[tuple[str, str, str | None]]:
    """CUDA reads CUDA_VISIBLE_DEVICES once, when a process first initialises it: afterwards the key changes
    nothing. (Called before the run's environment is set: train calls it first.)"""
    import sys

    wanted = config.environment.cuda_visible_devices
    torch = sys.modules.get("torch")
    if wanted is None or torch is None or not torch.cuda.is_initialized():
        return []
    if str(wanted) == os.environ.get("CUDA_VISIBLE_DEVICES"):
        return []
    return [("environment.cuda_visible_devices", f"{wanted!r} cannot take effect: CUDA is already initialised in "
             "this process with other devices", "run ptbr train in a new process (the command line does)")]


def _scheduler(config: Config) -> list[tuple[str, str, str | None]]:
    """Build the schedule once on a stand-in optimizer, with the config's ``lr_scheduler_kwargs`` (a passthrough
    option: a mapping, or its JSON text): what the Trainer will do at its first step."""
    import json

    import torch
    from transformers import get_scheduler

    t, key = config.training, "training.scheduler_type"
    given = getattr(t, "lr_scheduler_kwargs", None)
    try:
        kwargs = json.loads(given) if isinstance(given, str) else dict(given or {})
    except ValueError as exc:
        return [("training.lr_scheduler_kwargs", f"not a JSON object: {exc}", "write a mapping, e.g. "
                 "{min_lr_rate: 0.1}")]
    if given is not None:
        key = "training.lr_scheduler_kwargs"
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    try:
        # a run counted in epochs has no step count before its data is batched: any count checks the arguments
        steps = t.num_steps if t.num_steps is not None else 1000
        get_scheduler(t.scheduler_type, optimizer, num_warmup_steps=0, num_training_steps=steps,
                      **({"scheduler_specific_kwargs": kwargs} if kwargs else {}))
    except (ValueError, TypeError) as exc:
        return [(key, f"transformers cannot build the {t.scheduler_type!r} schedule with "
                 f"lr_scheduler_kwargs {kwargs}: {exc}", "give the arguments it needs in training.lr_scheduler_kwargs "
                 "(e.g. cosine_with_min_lr: {min_lr_rate: 0.1}), or choose another scheduler_type")]
    return []


def _gradient_checkpointing(config: Config) -> list[tuple[str, str, str | None]]:
    """transformers' Trainer calls ``model.gradient_checkpointing_enable()`` when the option is on; no gliner model
    class has that method (0.2.23 to 0.2.29), so the run would fail once the model is built."""
    if getattr(config.training, "gradient_checkpointing", None) is not True:
        return []
    from ptbr import forwarding

    cls = compat.model_class(forwarding.gliner_model_keys(config) if config.training.prev_path is None else {})
    if hasattr(cls, "gradient_checkpointing_enable"):
        return []
    return [("training.gradient_checkpointing", f"gliner {compat.versions()['gliner']}'s {cls.__name__} cannot "
             "checkpoint gradients (it has no gradient_checkpointing_enable, which transformers' Trainer calls "
             "before the first step)", "remove the key, or set it to false")]


def _lora(config: Config) -> list[tuple[str, str, str | None]]:
    """With lora.enabled: the adapters' target modules against the backbone's own layers, and nothing that would
    freeze them (:func:`ptbr.lora.check`)."""
    from ptbr import forwarding, lora

    settings = forwarding.plan(config).lora
    if settings is None or not lora.installed():  # not enabled, or refused as such by the plan
        return []
    return list(lora.check(config, settings))


def check(config: Config, output_dir: Path, where: Where | None = None) -> None:
    """Raise ConfigError with every problem above, each at its key's place."""
    locate = where or (lambda _key: "installed versions")
    found = [*_paths(config), *_custom_code(config), *_resume(config, output_dir), *_report_to(config),
             *_hub(config), *cuda_devices(config), *_scheduler(config),
             *_gradient_checkpointing(config), *_lora(config)]
    problems = [Problem(locate(tuple(key.split("."))), key, message, hint) for key, message, hint in found]
    if config.training.resume_from_checkpoint is None and (why := compat.gliner_trainer_problem()):
        problems.append(Problem("installed versions", "training", why, "install gliner 0.2.25 or newer, or a "
                                "transformers release before 5.0"))
    if problems:
        raise ConfigError(problems)
