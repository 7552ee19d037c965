"""What an output directory already holds, and whether `train` may write there: a finished run is never overwritten
unless asked. ``--resume`` continues it from its latest checkpoint (the same run: its saved config's run name and
model keys), ``--overwrite`` replaces it; anything else is refused before a file is touched."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml

from ptbr.errors import ConfigError, Problem
from ptbr.schema import Config

CONFIG_FILE = "ptbr_config.yaml"
ARGS_FILE = "training_args.json"
FINAL_DIR = "final"
Existing = Literal["refuse", "resume", "overwrite"]
"""What `train` does with an output directory that holds a run."""


def found(out: Path) -> list[str]:
    """The files of a run in ``out`` (its saved config and arguments, checkpoints by step, final/); [] for none."""
    if not out.is_dir():
        return []
    checkpoints = sorted((p.name for p in out.glob("checkpoint-*") if p.is_dir()),
                         key=lambda n: int(m[1]) if (m := re.search(r"(\d+)$", n)) else -1)
    files = [name for name in (CONFIG_FILE, ARGS_FILE) if (out / name).is_file()]
    return files + checkpoints + ([f"{FINAL_DIR}/"] if (out / FINAL_DIR).is_dir() else [])


def _saved(out: Path) -> dict[str, Any] | None:
    try:
        saved = yaml.safe_load((out / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return saved if isinstance(saved, dict) else None


def differences(saved: dict[str, Any], config: Config) -> list[str]:
    """The keys that make ``config`` another run than the one ``saved`` (a run's ptbr_config.yaml): run.name and
    every model: key, as ``key: saved → now``."""
    now = config.model_dump(mode="json")
    out = []
    if (saved.get("run") or {}).get("name") != now["run"]["name"]:
        out.append(f"run.name: {(saved.get('run') or {}).get('name')!r} → {now['run']['name']!r}")
    before = {k: v for k, v in (saved.get("model") or {}).items() if v is not None}
    after = {k: v for k, v in now["model"].items() if v is not None}
    out += [f"model.{k}: {before.get(k)!r} → {after.get(k)!r}" for k in sorted(before.keys() | after.keys())
            if before.get(k) != after.get(k)]
    return out


def check(config: Config, out: Path, existing: Existing, where: Callable[[tuple[str, ...]], str] | None = None,
          ) -> Config:
    """The config to train into ``out``: as given, or resuming its latest checkpoint (``resume``). ConfigError, before
    anything is written, where ``out`` holds a run that this one would overwrite, or one it cannot continue."""
    key = "training.output_dir" if config.training.output_dir is not None else "data.root_dir"
    at = where(tuple(key.split("."))) if where else str(out)
    there = found(out)
    resuming = existing == "resume" or config.training.resume_from_checkpoint not in (None, False)
    if existing == "resume" and config.training.resume_from_checkpoint in (None, False):
        config = config.model_copy(update={"training": config.training.model_copy(
            update={"resume_from_checkpoint": True})})
    if resuming:
        saved = _saved(out)
        changed = differences(saved, config) if saved is not None else []
        if changed:
            raise ConfigError([Problem(at, key, f"{out} holds another run than this config: {'; '.join(changed)}",
                                       "resume with the config that run was trained with (its ptbr_config.yaml), "
                                       "or train into another directory")])
        return config
    if there and existing != "overwrite":
        raise ConfigError([Problem(at, key, f"{out} holds a run ({', '.join(there)}): train would overwrite it",
                                   "--resume continues it from its latest checkpoint, --overwrite replaces it; or "
                                   f"set {key} to another directory")])
    return config


def clear(out: Path) -> None:
    """Remove a run's files from ``out`` (``--overwrite``, once everything else is checked)."""
    for name in found(out):
        path = out / name.rstrip("/")
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
