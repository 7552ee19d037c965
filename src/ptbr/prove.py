"""``ptbr prove``: the fate of every key of a config on the installed versions, proven; what the version matrix runs
in each cell for a config (``nox -s matrix -- --config my.yaml``), and what a person runs to see the same.

    ptbr prove CONFIG... [--json] [--out FILE] [--work DIR] [--base DIR] [--no-smoke]

For each config, in this environment:

1. the preparation ``ptbr validate`` runs (loading, the schema of the installed versions, the real
   ``TrainingArguments`` and gliner's model config): refusals and warnings, each with its key and line;
2. each key of the file read back at its destinations (:mod:`ptbr.explain`): **arrives** (the destination holds the
   value as written), **changed** (it holds another value: from → to, and why: PTBR's rule, or the installed library
   normalising what it was given), **ignored** (read nowhere by the installed versions: why), **refused** (validate
   and train refuse it: the message);
3. a smoke training of the config as written (``ptbr train --smoke``: a tiny random backbone, a few steps, offline,
   into the work directory; keys the schema refuses set aside, and the result says so), whose checkpoint is read
   back: the ``TrainingArguments`` the Trainer saved (``training_args.bin`` where it saves one, else the fields its
   ``trainer_state.json`` records) and the model config gliner saved, against what was built. A value the Trainer
   holds otherwise is **changed**; a training that fails names the keys whose destination the failing line of gliner
   reads (**fails**, :mod:`ptbr.blame`).

Data files this machine does not have are replaced by a generated dataset of a few examples, and the result says
so. Nothing is written outside the work directory; a config that cannot be read at all is a result too, never a
crash. The JSON output is :class:`Proofs` (``schema_version`` says which layout); each config's entry is a
:class:`Proof`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypedDict

from ptbr import __version__, compat, layouts, loader, secrets, train, validation
from ptbr.blame import blame
from ptbr.errors import ConfigError, Problem
from ptbr.fates import key_fates, read_back_checkpoint, said
from ptbr.loader import Document

FATES = ("arrives", "changed", "ignored", "refused", "fails")
NOT_ARRIVING = ("ignored", "refused", "fails")
DATA_KEYS = ("data.train_data", "data.val_data_dir")
GENERATED = [  # the dataset a config gets where its data file is not on this machine (words of any backbone)
    (["Alice", "works", "for", "Acme", "in", "Paris", "."], [[0, 0, "person"], [3, 3, "organization"], [5, 5, "city"]]),
    (["Bob", "flew", "from", "Lima", "to", "Oslo", "."], [[0, 0, "person"], [3, 3, "city"], [5, 5, "city"]]),
    (["Hooli", "opened", "an", "office", "in", "Cairo", "."], [[0, 0, "organization"], [5, 5, "city"]]),
    (["Carol", "met", "Dmitri", "at", "Initech", "."], [[0, 0, "person"], [2, 2, "person"], [4, 4, "organization"]]),
]
SCHEMA_VERSION = 2
"""2: the output is one object (:class:`Proofs`) with the configs under ``configs``; 1 was the list."""


class Refusal(TypedDict):
    where: str
    key: str
    message: str
    hint: str | None


class KeyFate(TypedDict, total=False):
    """One key of the file and what became of it."""

    key: str
    where: str
    value: Any
    fate: Literal["arrives", "changed", "ignored", "refused", "fails"]
    to: Any
    """``changed``: the value the destination holds."""
    why: str
    destinations: list[dict[str, Any]]
    replaced: str
    """A data file this machine lacks, replaced by a generated dataset (the runner's, not the key's)."""


class Smoke(TypedDict, total=False):
    status: Literal["trained", "failed", "not-run"]
    why: str
    where: str
    blamed: list[str]
    steps: int
    loss: float | None
    notes: list[str]
    seconds: float
    checkpoint: str | None
    checked: int
    differences: list[dict[str, Any]]
    read: list[str]


class Finding(TypedDict):
    finding: str
    why: str


class Proof(TypedDict, total=False):
    """One config proven: ``error`` (a defect of PTBR, with its ``traceback``) instead of the rest when proving it
    failed."""

    schema_version: int
    config: str
    sha256: str | None
    versions: dict[str, str]
    layout: str
    """How the file is written (nested, flat, original PTBR); every key is proven at its place in the nested form."""
    refused: list[Refusal]
    warnings: list[Refusal]
    data: list[dict[str, Any]]
    keys: list[KeyFate]
    smoke: Smoke
    findings: list[Finding]
    seconds: float
    error: str
    traceback: str


class Proofs(TypedDict):
    """``ptbr prove --json``: every config given, in order."""

    schema_version: int
    ptbr: str
    versions: dict[str, str]
    configs: list[Proof]


def _problems(found: list[Problem]) -> list[Refusal]:
    return [{"where": p.where, "key": p.key, "message": p.message, "hint": p.hint} for p in found]


def digest(path: Path) -> str | None:
    """sha256 of a file's bytes (the inputs of a config's result), None when it is not there."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _data(doc: Any, work: Path, base: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """--set overrides for data files this machine lacks (a generated dataset instead), and what became of each."""
    section = doc.data.get("data") if isinstance(doc.data.get("data"), dict) else {}
    overrides, found = [], []
    for key in DATA_KEYS:
        value = section.get(key.split(".")[1])
        if not isinstance(value, str) or value.strip().lower() in ("", "none", "null"):
            continue
        path = Path(value).expanduser()
        resolved = path if path.is_absolute() else base / path
        entry = {"key": key, "path": value, "sha256": digest(resolved), "replaced": False}
        if entry["sha256"] is None:
            generated = work / f"generated-{key.split('.')[1]}.json"
            generated.parent.mkdir(parents=True, exist_ok=True)
            generated.write_text(json.dumps([{"tokenized_text": w, "ner": n} for w, n in GENERATED]))
            overrides.append(f"{key}={generated}")
            entry.update(replaced=True, why=f"{value} is not on this machine: a generated dataset of "
                                            f"{len(GENERATED)} examples was used")
        found.append(entry)
    return overrides, found


def _without(doc: Any, keys: set[str]) -> Any:
    """The document without these keys (refused ones), so the others can still be judged."""
    out = copy.deepcopy(doc)
    for dotted in keys:
        parts = dotted.split(".")
        node = out.data
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return out


def _smoke(config: Any, doc: Any, work: Path, keys: list[dict[str, Any]], strict: bool) -> dict[str, Any]:
    notes: list[str] = []
    here = config.model_copy(update={"training": config.training.model_copy(update={"output_dir": str(work)})})
    start = time.monotonic()
    smoke_plan = None
    try:
        train_items, _ = train.load_data(here)
        smoke_config, notes = train.smoke_config(here, train_items)
        smoke_plan, smoke_args, _ = train.prepare(smoke_config, doc.where, strict=strict)
        result = train.run(here, smoke=True, log=lambda m: None, where=doc.where, strict=strict)
    except Exception as exc:  # a training that fails is a finding of the config in this cell
        in_file = {k["key"] for k in keys}
        where, blamed = blame(exc, smoke_plan, in_file) if smoke_plan is not None else ("", [])
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return {"status": "failed", "why": f"{type(exc).__name__}: {message}"[:300], "where": where,
                "blamed": blamed, "notes": notes, "seconds": round(time.monotonic() - start, 1)}
    read = read_back_checkpoint(result.output_dir, smoke_plan, smoke_args, keys)
    return {"status": "trained", "steps": result.steps, "loss": result.loss, "notes": notes,
            "seconds": round(time.monotonic() - start, 1), **read}


def prove(path: Path, work: Path, smoke: bool = True) -> Proof:
    """The fate of every key of the config at ``path`` on the installed versions (see the module doc); relative
    data paths are read from the current directory, as ``ptbr train`` reads them."""
    out: Proof = {"schema_version": SCHEMA_VERSION, "config": str(path), "sha256": digest(path),
                  "versions": compat.versions(), "refused": [], "warnings": [], "data": [], "keys": [],
                  "smoke": {"status": "not-run"}}
    try:
        doc = layouts.load(path)
        out["layout"] = doc.layout
    except ConfigError as e:
        out["refused"] = _problems(e.problems)
        out["smoke"]["why"] = "the file cannot be read as a config"
        return out
    overrides, out["data"] = _data(doc, work, Path.cwd())
    doc = loader.apply_overrides(doc, overrides)
    judged, config, refused, removed = _judged(doc)
    if config is None:
        out["refused"] = _problems(refused)
        out["keys"] = [{"key": ".".join(k), "where": w, "fate": "refused",
                        "why": next((said(p) for p in refused if p.key == ".".join(k)),
                                    "not judged: the config is refused as a whole")}
                       for k, w in doc.origins.items() if len(k) == 2]
        out["smoke"]["why"] = "validate refuses the config"
        return out
    try:
        train.load_data(config)
    except ConfigError as e:
        refused += e.problems
    try:
        with train.cpu_only(config.training.use_cpu):
            plan, args, model_config = train.prepare(config, judged.where, refused, strict=config.run.strict)
    except ConfigError as e:  # the real objects cannot be built at all
        out["refused"] = _problems(refused + e.problems)
        out["smoke"]["why"] = "validate refuses the config"
        return out
    in_file = {".".join(k) for k in doc.origins if len(k) == 2}
    out["refused"] = _problems([p for p in refused if p.key not in in_file])
    out["warnings"] = _problems(plan.warnings(judged.where))
    out["keys"] = _ordered(doc, key_fates(judged, plan, args, model_config, refused, out["data"]), refused, in_file)
    # keys the schema refused were set aside: the rest of the config still trains, and says what it would do
    aside = sorted({p.key for p in refused})
    if refused and not set(aside) <= removed:
        out["smoke"]["why"] = "validate refuses the config"
    elif not smoke:
        out["smoke"]["why"] = "not asked for"
    else:
        _smoke_and_read_back(out, config, judged, work, aside)
    return out


class Judged(NamedTuple):
    """A document as validate judges it, with the keys the schema refuses set aside so that every other key is still
    judged."""

    doc: Document
    """The document without the keys set aside."""
    config: Any
    """Its typed config; None when it is refused as a whole."""
    refused: list[Problem]
    aside: set[str]


def _judged(doc: Document) -> Judged:
    refused: list[Problem] = []
    judged, config, removed = doc, None, set()
    while config is None:
        try:
            config = validation.validate(judged)
        except ConfigError as e:
            refused += e.problems
            named = {p.key for p in e.problems if len(p.key.split(".")) == 2}
            if not named or named <= removed:
                break  # a problem of the whole file, or one that setting keys aside does not remove
            removed |= named
            judged = _without(doc, removed)
    return Judged(judged, config, refused, removed)


def _ordered(doc: Document, keys: list[KeyFate], refused: list[Problem], in_file: set[str]) -> list[KeyFate]:
    """The keys in the file's order, with those the schema refused (and set aside) among them."""
    judged_keys = {k["key"] for k in keys}
    keys = keys + [{"key": p.key, "where": p.where, "value": None, "fate": "refused", "why": said(p),
                    "destinations": []} for p in refused if p.key in in_file and p.key not in judged_keys]
    order = [".".join(k) for k in doc.origins if len(k) == 2]
    return sorted(keys, key=lambda k: order.index(k["key"]) if k["key"] in order else len(order))


def _smoke_and_read_back(out: Proof, config: Any, judged: Document, work: Path, aside: list[str]) -> None:
    """The smoke training, and what it changes of the keys' fates: a value the checkpoint holds otherwise is
    changed, a key the failing code reads fails."""
    with train.cpu_only(config.training.use_cpu):
        out["smoke"] = _smoke(config, judged, work / "smoke", out["keys"], config.run.strict)
    if aside:
        out["smoke"]["notes"] = [f"trained without the refused {', '.join(aside)} (validate and train refuse the "
                                 "config as written)", *out["smoke"].get("notes", [])]
    by_key = {k["key"]: k for k in out["keys"]}
    for difference in out["smoke"].get("differences", []):
        entry = by_key[difference["key"]]
        entry.update(fate="changed", to=difference["saved"],
                     why=f"the Trainer's checkpoint holds {json.dumps(difference['saved'])} at "
                         f"{difference['destination']}, built as {json.dumps(difference['built'])}")
    for key in out["smoke"].get("blamed", []):
        if key in by_key and by_key[key]["fate"] in ("arrives", "changed"):
            by_key[key].update(fate="fails", why=f"training fails where {out['smoke']['where']} reads it: "
                                                 f"{out['smoke']['why']}")


def findings(result: Proof) -> list[Finding]:
    """A config's verdict in one cell: one line per key that does not arrive as written, per refusal of the whole
    config and for the smoke training, each with its why (what expected verdicts record and compare)."""
    out = [{"finding": f"config refused: {p['message'].splitlines()[0][:200]}", "why": p["hint"] or p["message"]}
           for p in result["refused"]]
    for k in result["keys"]:
        if k["fate"] == "arrives":
            continue
        line = f"{k['key']}: {k['fate']}"
        if k["fate"] == "changed":
            to = json.dumps(k["to"], sort_keys=True)
            line += f" → {to if len(to) <= 80 else to[:79] + '…'}"
        if k["fate"] == "refused":
            line += f": {k['why'].splitlines()[0][:160]}"
        out.append({"finding": line, "why": k["why"].splitlines()[0][:300]})
    smoke = result["smoke"]
    if smoke["status"] == "failed":
        out.append({"finding": f"smoke training failed: {smoke['why'][:200]}", "why": smoke.get("where") or ""})
    return out


def prove_all(configs: list[Path], work: Path, base: Path | None = None, smoke: bool = True,
              log: Callable[[str], None] = lambda line: None,
              each: Callable[[Proofs], None] = lambda proofs: None) -> Proofs:
    """Every config proven in turn, each smoke training in its own directory under ``work``; a defect of PTBR while
    proving one is that config's ``error``, and the others are still proven. Relative data paths are read from
    ``base`` (default: the current directory), as ``ptbr train`` reads them from where it runs. ``each`` is given
    the configs proven so far after each one (``--out`` writes them, so a process that dies keeps them)."""
    configs, work = [p.resolve() for p in configs], work.resolve()
    proofs: Proofs = {"schema_version": SCHEMA_VERSION, "ptbr": __version__, "versions": compat.versions(),
                      "configs": []}
    here = Path.cwd()
    if base is not None:
        os.chdir(base)
    try:
        for n, path in enumerate(configs):
            proofs["configs"].append(_prove_one(path, work / str(n), smoke, log))
            each(proofs)
    finally:
        os.chdir(here)
    return proofs


def _prove_one(path: Path, work: Path, smoke: bool, log: Callable[[str], None]) -> Proof:
    start = time.monotonic()
    try:
        result = secrets.scrub(prove(path, work, smoke=smoke), secrets.hidden_in([path]))
    except Exception as exc:  # a defect of PTBR: still a result, saying so
        result = {"schema_version": SCHEMA_VERSION, "config": str(path), "sha256": digest(path),
                  "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
    result["seconds"] = round(time.monotonic() - start, 1)
    if "error" not in result:
        result["findings"] = findings(result)
    log(summary(result))
    return result


def summary(result: Proof) -> str:
    """A config's result in words: how many keys have each fate and the smoke training's status, then each finding
    (a key that does not arrive as written, a refusal, a failed smoke training) on a line of its own."""
    if "error" in result:
        return f"{result['config']}: {result['error']}"
    kinds = {f: sum(k["fate"] == f for k in result["keys"]) for f in FATES}
    counted = ", ".join(f"{v} {f}" for f, v in kinds.items() if v)
    return "\n".join([f"{result['config']}: {counted}; smoke {result['smoke']['status']}",
                      *(f"  {f['finding']}" for f in result["findings"])])
