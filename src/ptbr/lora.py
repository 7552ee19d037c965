"""LoRA adapters on GLiNER's backbone with peft (``lora:`` with ``enabled: true``); the one module that imports peft.

What a LoRA run is, and why:

- The adapters go on the text encoder, ``model.token_rep_layer.bert_layer.model``: what gliner's
  ``freeze_components`` calls ``text_encoder``, and the module gliner's server wraps for PolyLoRA adapters. peft
  freezes that encoder's own weights.
- GLiNER's other layers (span and prompt representations, projection, LSTM, a labels encoder) train in full: a model
  built from ``model:`` starts them at random, and an encoder adapter alone cannot score spans. ``modules_to_save``
  names encoder modules to train in full as well.
- ``final/`` holds the merged model, which ``GLiNER.from_pretrained`` loads without peft, and ``final/adapter/`` the
  adapter in peft's format: the change to the encoder the run started from (``model.model_name``'s or
  ``training.prev_path``'s), to be loaded with ``PeftModel.from_pretrained`` on that encoder.
- Checkpoints hold the wrapped model, so ``training.resume_from_checkpoint`` continues its adapter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

from ptbr.errors import ConfigError, Problem
from ptbr.schema import Config

INSTALL = 'pip install "ptbr[lora]"'
ADAPTER_DIR = "adapter"
SET_BY_PEFT = frozenset({"peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision",
                         "inference_mode"})
"""Fields of peft's LoraConfig that peft or PTBR set themselves (inference_mode: true would train nothing)."""


def installed() -> bool:
    try:
        return importlib.util.find_spec("peft") is not None
    except ValueError:  # set to None in sys.modules: not importable
        return False


@functools.cache
def fields() -> frozenset[str]:
    """The settings of the installed peft's LoraConfig, by name (a config may give any of them); empty without peft."""
    if not installed():
        return frozenset()
    import peft

    return frozenset(f.name for f in dataclasses.fields(peft.LoraConfig) if f.init) - SET_BY_PEFT


def version() -> str | None:
    if not installed():
        return None
    import peft

    return peft.__version__


def encoder(model: Any) -> Any:
    """The module that gets adapters: GLiNER's text encoder (a transformers model, or peft's wrapper of it)."""
    return model.model.token_rep_layer.bert_layer.model


def _set_encoder(model: Any, module: Any) -> None:
    model.model.token_rep_layer.bert_layer.model = module


def peft_config(settings: dict[str, Any]) -> Any:
    """peft's LoraConfig of the settings that crossed (``plan.values("lora")``); ConfigError at the key peft
    rejects."""
    import peft

    try:
        return peft.LoraConfig(**settings)
    except (TypeError, ValueError) as exc:
        named = [k for k in settings if k in str(exc)]
        key = f"lora.{named[0]}" if named else "lora"
        raise ConfigError([Problem("installed versions", key, f"peft {version()} rejects the LoRA settings: {exc}",
                                   "see peft's LoraConfig for the values it takes")]) from None


def adaptable(module: Any) -> list[str]:
    """The names of the module's layers that can hold adapters (linear ones: the names target_modules matches)."""
    import torch

    linear = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Embedding)
    names = {name.rsplit(".", 1)[-1] for name, m in module.named_modules()
             if isinstance(m, linear) or type(m).__name__ == "Conv1D"}
    return sorted(n for n in names if not n.isdigit())


def unmatched(settings: dict[str, Any], module: Any) -> list[str]:
    """The target_modules entries that match no layer of ``module``, by peft's rule (a name matches a layer called so
    or ending in ``.name``; a single string is a regular expression the layer's full name matches); [] for
    all-linear or peft's per-architecture default."""
    import re

    wanted = settings.get("target_modules")
    if wanted is None or wanted in ("all-linear", ["all-linear"]):
        return []
    names = [name for name, _ in module.named_modules() if name]
    if isinstance(wanted, str):
        try:
            return [] if any(re.fullmatch(wanted, name) for name in names) else [wanted]
        except re.error as exc:  # peft would raise the same as it wraps the model
            return [f"{wanted} (not a regular expression: {exc})"]
    return [entry for entry in wanted if not any(name == entry or name.endswith(f".{entry}") for name in names)]


Found = tuple[str, str, str]
"""A problem as (key, what is wrong, what to do)."""


def targets_problem(settings: dict[str, Any], module: Any, backbone: str) -> Found | None:
    """target_modules that name no layer of the backbone, with the backbone's own names."""
    missing = unmatched(settings, module)
    if not missing:
        return None
    own = adaptable(module)
    # the backbone's names for what was meant: q_proj → query_proj (DeBERTa) or query (BERT)
    meant = [n for entry in missing for n in own if n[0] == entry[:1]] or own
    attention = list(dict.fromkeys(meant))
    return ("lora.target_modules", f"{', '.join(missing)} match no layer of the backbone {backbone} "
            f"({type(module).__name__}); its layers that can hold adapters: {', '.join(own)}",
            f"name its own layers, e.g. [{', '.join(attention)}], or write all-linear")


def apply(model: Any, settings: dict[str, Any], backbone: str) -> str:
    """Wrap the model's text encoder with peft adapters, in place; a line saying what trains. ConfigError where
    target_modules match nothing."""
    from peft import get_peft_model

    module = encoder(model)
    problem = targets_problem(settings, module, backbone)
    if problem is not None:
        raise ConfigError([Problem("installed versions", *problem)])
    config = peft_config(settings)
    _set_encoder(model, get_peft_model(module, config))
    total, trainable = count(model)
    wrapped = encoder(model)
    adapted = sorted({name.rsplit(".", 1)[-1] for name, m in wrapped.named_modules() if hasattr(m, "lora_A")
                      and name.rsplit(".", 1)[-1] not in ("base_layer",)})
    return (f"LoRA (peft {version()}): {trainable:,} of {total:,} parameters trainable ({100 * trainable / total:.2f} "
            f"%): adapters of rank {config.r} on the encoder's {', '.join(adapted)} layers; GLiNER's other layers in "
            f"full")


def count(model: Any) -> tuple[int, int]:
    """(all parameters, trainable parameters) of a model."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def save(model: Any, final: Path, save_model: Any) -> None:
    """``final/adapter/``: the adapter in peft's format; then the adapter merged into the encoder and the whole model
    saved to ``final/`` by ``save_model`` (the Trainer's, so the files are those of a run without LoRA)."""
    wrapped = encoder(model)
    # the encoder as the run started it, its vocabulary already resized by gliner: the adapter needs no embeddings
    wrapped.save_pretrained(str(final / ADAPTER_DIR), save_embedding_layers=False)
    _set_encoder(model, wrapped.merge_and_unload())
    save_model(str(final))


def load_adapter(model: Any, directory: str | Path) -> Any:
    """A GLiNER model whose encoder runs the adapter of ``directory`` (a run's ``final/adapter``), unmerged: how a
    server applies an adapter to the encoder it started from."""
    from peft import PeftModel

    _set_encoder(model, PeftModel.from_pretrained(encoder(model), str(directory)))
    return model


def declared_backbone(config: Config) -> tuple[str, Any] | None:
    """(name, the backbone's transformers config) for the encoder this config trains, read from local files or the
    hub cache without downloading (prev_path: its saved encoder config); None where it is not here."""
    from transformers import AutoConfig

    start = config.training.prev_path
    if start is not None:
        saved = Path(start).expanduser() / "gliner_config.json"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            encoder_config = json.loads(saved.read_text(encoding="utf-8")).get("encoder_config")
            if isinstance(encoder_config, dict):
                given = dict(encoder_config)
                return start, AutoConfig.for_model(given.pop("model_type"), **given)
        return None
    name = config.model.model_name
    if name is None:
        return None
    try:
        return name, AutoConfig.from_pretrained(name, local_files_only=True,
                                                trust_remote_code=bool(config.model.trust_remote_code))
    except (OSError, ValueError, KeyError):
        return None


def check(config: Config, settings: dict[str, Any]) -> list[Found]:
    """What train would refuse once the model is built, found from the backbone's architecture (built on torch's meta
    device: no weights, no memory): target_modules that match nothing; freeze_components that would freeze the
    adapters."""
    problems = []
    if "text_encoder" in (config.training.freeze_components or ()):
        problems.append(("training.freeze_components", "text_encoder with lora.enabled: true would freeze the "
                         "adapters too (nothing of the encoder would train)", "remove text_encoder: LoRA already "
                         "keeps the encoder's own weights frozen"))
    declared = declared_backbone(config)
    if declared is None:
        return problems
    import torch
    from transformers import AutoModel

    name, backbone_config = declared
    try:
        with torch.device("meta"):
            module = AutoModel.from_config(backbone_config)
    except Exception:  # an architecture transformers cannot build here: train reports it where it loads the model
        return problems
    problem = targets_problem(settings, module, name)
    return [*problems, *([problem] if problem else [])]
