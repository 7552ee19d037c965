"""The layouts a config file is written in, read as the one nested form the schema declares (:mod:`ptbr.schema`).

- **nested**: the sections ``run``, ``model``, ``data``, ``training``, ``lora``, ``environment`` (PTBR's, and upstream
  GLiNER's since 2025-11).
- **flat**: every key at the top level, as upstream GLiNER wrote its configs from 2023-11 to 2025-09 and most forks
  still do. A file with no section at its top level is flat; each key goes to the section that declares it
  (:func:`section_of`: ``name`` is the model's name, as upstream meant it).
- **the original PTBR's**: nested, with its section aliases (``gliner_config:`` for ``model:``, ``lora_config:`` for
  ``lora:``) and its own names for keys that PTBR names otherwise (:data:`RENAMED`).

Nothing is dropped and nothing is guessed: every key lands at one place of the nested form and keeps the line it was
written on; two names for one value (an alias beside its canonical section, ``run.seed`` beside ``training.seed``)
are refused. A file read in another layout gets one note that says how it was read. ``ptbr migrate`` writes the
nested form of a file with the same moves (:func:`moves`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptbr import loader
from ptbr.errors import ConfigError, Problem
from ptbr.loader import Document, Key
from ptbr.schema import SECTIONS

SECTION_ALIASES = {"gliner_config": "model", "lora_config": "lora"}
"""The original PTBR's section names → PTBR's."""
RENAMED: dict[Key, Key] = {
    ("run", "seed"): ("training", "seed"),  # the original seeded torch and the Trainer from run.seed
    ("training", "optimizer"): ("training", "optim"),  # the original passed it as TrainingArguments.optim
    ("environment", "report_to"): ("training", "report_to"),  # the original's environment: held the Trainer's
    ("environment", "push_to_hub"): ("training", "push_to_hub"),  # reporting and hub fields, which are training:
    ("environment", "hub_model_id"): ("training", "hub_model_id"),  # keys in PTBR
}
"""Keys of the original PTBR's format → the key PTBR reads them as (the same value, one name)."""
ORIGINAL_DEFAULTS: dict[Key, Any] = {
    ("training", "scheduler_type"): "cosine",
    ("training", "warmup_ratio"): 0.1,
    ("training", "save_total_limit"): 3,
    ("training", "dataloader_num_workers"): 2,
    ("lora", "lora_alpha"): 16,
    ("lora", "lora_dropout"): 0.05,
    ("lora", "task_type"): "TOKEN_CLS",
}
"""The original PTBR's defaults that differ from PTBR's (its training_cli.py filled them in before training): a file in
its format that leaves them out meant them, so they apply (warmup_ratio only where no warmup_steps is written; lora:'s
only where the file enables LoRA; its target_modules default, q_proj/v_proj, matched no layer of gliner's backbones
and is not kept: peft's per-architecture default applies)."""
FOREIGN = {
    "a GLiREL config (zero-shot relation extraction, jackboyla/GLiREL; it trains with its own train.py, not gliner)":
        frozenset({"rel_mode", "num_train_rel_types", "num_unseen_rel_types", "span_marker_mode",
                   "label_embed_strategy", "fixed_relation_types", "max_entity_pair_distance"}),
}
"""Configs of other GLiNER-derived tools, known by keys that only they write."""
FOREIGN_SHARE = 0.15
"""A flat file with at least 3 keys that no release of gliner, transformers or PTBR knows, and this share of its keys,
is another tool's config: it is refused once, as such, rather than key by key."""


@dataclass(frozen=True)
class Move:
    """A key (or a whole section) as written → where the nested form holds it."""

    written: Key
    canonical: Key


@dataclass(frozen=True)
class Reading:
    """How a file is read: its layout, the moves that make it nested, and what cannot be read."""

    layout: str
    """"nested", "flat" or "original PTBR"."""
    moves: tuple[Move, ...]
    unknown: tuple[str, ...] = ()
    """Top-level keys of a flat file that belong to no section."""
    defaults: tuple[tuple[Key, Any], ...] = ()
    """The original PTBR's defaults for the keys a file in its format leaves out (:data:`ORIGINAL_DEFAULTS`)."""

    @property
    def note(self) -> str | None:
        """How the file was read, in one line; None for PTBR's own nested layout."""
        if self.layout == "flat":
            return ("read as upstream GLiNER's flat layout (every key at the top level): each key under the section "
                    "that declares it; `ptbr migrate` writes the nested form")
        if self.layout == "original PTBR":
            said = ", ".join(f"{'.'.join(m.written)} as {'.'.join(m.canonical)}" for m in self.moves)
            kept = ", ".join(f"{'.'.join(k)}: {v}" for k, v in self.defaults)
            return (f"read in the original PTBR's format: {said}" + (f"; its defaults for what the file leaves out: "
                    f"{kept}" if kept else "") + "; `ptbr migrate` writes PTBR's names")
        return None


@functools.cache
def _flat_owners() -> dict[str, str]:
    """Top-level name of a flat file → its section. The model's keys first (``name`` is the model's name in upstream's
    flat files), then PTBR's other sections, then any setting of the installed gliner's config classes (model:) or any
    field of a TrainingArguments release (training:, where validation says what PTBR makes of it)."""
    from ptbr import compat, surface

    owners: dict[str, str] = {}
    for section in ("model", "data", "training", "run", "environment"):
        for name in SECTIONS[section].model_fields:
            owners.setdefault(name, section)
    for name in compat.gliner_config_keys():
        owners.setdefault(name, "model")
    for name in [*surface.installed(), *surface.RELEASES["transformers"]["fields"],
                 *surface.RELEASES["gliner"]["fields"]]:
        owners.setdefault(name, "training")
    for (section, old), _ in RENAMED.items():
        owners.setdefault(old, section)
    return owners


def flat_names() -> list[str]:
    """Every name a flat file may hold at its top level."""
    return list(_flat_owners())


def section_of(name: str) -> str | None:
    """The section a top-level key of a flat file belongs to; None when no section has it."""
    return _flat_owners().get(name)


def _renames(data: dict[str, Any], sections: dict[str, str]) -> list[Move]:
    """The renamed keys of the original format, under the sections they are written in (``sections``: as written →
    canonical)."""
    out = []
    for written, canonical in sections.items():
        body = data.get(written)
        for (section, old), new in RENAMED.items():
            if canonical == section and isinstance(body, dict) and old in body:
                out.append(Move((written, old), new))
    return out


def moves(data: dict[str, Any]) -> Reading:
    """How a loaded file becomes nested: its layout and the moves, in the order the file writes them."""
    top = list(data)
    if any(k in SECTIONS or k in SECTION_ALIASES for k in top):
        sections = {k: SECTION_ALIASES.get(k, k) for k in top if k in SECTIONS or k in SECTION_ALIASES}
        found = [Move((k,), (v,)) for k, v in sections.items() if k != v] + _renames(data, sections)
        if not found:
            return Reading("nested", ())
        return Reading("original PTBR", tuple(found), defaults=_original_defaults(data, sections, found))
    placed = [(k, section_of(k)) for k in top]
    flat = [Move((k,), (s, k)) for k, s in placed if s is not None]
    renamed = [Move((k,), RENAMED[(s, k)]) for k, s in placed if s is not None and (s, k) in RENAMED]
    flat = [m for m in flat if m.written not in {r.written for r in renamed}] + renamed
    return Reading("flat", tuple(flat), tuple(k for k, s in placed if s is None))


def _original_defaults(data: dict[str, Any], sections: dict[str, str], found: list[Move]) -> tuple:
    """The original's defaults for the keys the file leaves out, under their names once read."""
    written = {(canonical, name) for w, canonical in sections.items() if isinstance(data[w], dict)
               for name in data[w]}
    written = (written - {m.written for m in found}) | {m.canonical for m in found}
    left_out = [(key, value) for key, value in ORIGINAL_DEFAULTS.items() if key not in written]
    lora = next((data[w] for w, canonical in sections.items() if canonical == "lora"), None)
    enabled = isinstance(lora, dict) and lora.get("enabled") is True
    return tuple((k, v) for k, v in left_out if (k != ("training", "warmup_ratio")
                 or ("training", "warmup_steps") not in written) and (k[0] != "lora" or enabled))


def _foreign(doc: Document, reading: Reading) -> Problem | None:
    """Another tool's config, named where its keys say which."""
    unknown = set(reading.unknown)
    for what, keys in FOREIGN.items():
        if len(keys & set(doc.data)) >= 2:
            return Problem(str(doc.path), "", f"not a GLiNER training config: it is {what}", "PTBR trains gliner's "
                           f"models; keys of that tool here: {', '.join(sorted(keys & set(doc.data)))}")
    if len(unknown) >= 3 and len(unknown) >= FOREIGN_SHARE * len(doc.data):
        listed = ", ".join(k for k in doc.data if k in unknown)
        return Problem(str(doc.path), "", f"not a GLiNER training config PTBR can read: {len(unknown)} of its "
                       f"{len(doc.data)} keys are settings of no gliner, transformers or PTBR release ({listed}); "
                       "it looks like the config of another tool or of a research variant of GLiNER",
                       "PTBR reads gliner's model settings, TrainingArguments fields and its own keys "
                       "(docs/config.md); train that variant with its own code")
    return None


def load(path: str | Path) -> Document:
    """Read a config file in any layout: :func:`ptbr.loader.load`, then :func:`read`."""
    return read(loader.load(path))


def read(doc: Document) -> Document:
    """The nested form of a loaded file, each key keeping its line; ``doc.layout`` and ``doc.note`` say how it was
    read. ConfigError for another tool's config and for two names of one value."""
    reading = moves(doc.data)
    if reading.layout == "flat" and (foreign := _foreign(doc, reading)):
        raise ConfigError([foreign])
    data: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in doc.data.items()
                            if not any(m.written == (k,) for m in reading.moves)}
    origins = {k: v for k, v in doc.origins.items() if not any(k[: len(m.written)] == m.written
                                                               for m in reading.moves)}
    problems, written = [], {}
    for m in reading.moves:
        value = _value_at(doc.data, m.written)
        parent = data
        for part in m.canonical[:-1]:
            parent = parent.setdefault(part, {})
            if not isinstance(parent, dict):  # the canonical section is not a mapping: validation says so
                break
        else:
            if m.canonical[-1] in parent:
                problems.append(_twice(doc, m))
                continue
            parent[m.canonical[-1]] = value
            if len(m.written) == 2:  # a renamed key leaves the section it was written in (a copy of the file's)
                del data[m.written[0]][m.written[1]]
        for key, where in doc.origins.items():
            if key[: len(m.written)] == m.written:
                origins[m.canonical + key[len(m.written):]] = where
                written[m.canonical + key[len(m.written):]] = key
    if problems:
        raise ConfigError(problems)
    for (section, name), value in reading.defaults:  # shown and located as keys of the file, which meant them
        data.setdefault(section, {})[name] = value
        origins[(section, name)] = f"{doc.path} (the original PTBR's default)"
    return Document(doc.path, data, origins, layout=reading.layout, note=reading.note, written=written)


def _value_at(data: dict[str, Any], key: Key) -> Any:
    value: Any = data
    for part in key:
        value = value[part]
    return value


def _twice(doc: Document, m: Move) -> Problem:
    written, canonical = ".".join(m.written), ".".join(m.canonical)
    if len(m.written) == 1 and len(m.canonical) == 1:
        return Problem(doc.where(m.written), written, f"{written}: is the original PTBR's name for {canonical}:, "
                       f"which this file also has: one name per section", f"merge the two under {canonical}:")
    return Problem(doc.where(m.written), written, f"is read as {canonical}, which this file also sets: one name per "
                   "value", f"keep one of them ({canonical} is PTBR's name)")
