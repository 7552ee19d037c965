"""Each key's fate, read back: from the real objects the installed versions build for a config (the
``TrainingArguments``, gliner's model config), and from what a training's checkpoint saved. Used by ``ptbr prove``
(:mod:`ptbr.prove`, whose module doc says what each fate means)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ptbr import compat, explain, forwarding, values
from ptbr.forwarding import Skip


def said(problem: Any) -> str:
    """A refusal as one line: the message, then the hint (a did-you-mean)."""
    return f"{problem.message} ({problem.hint})" if problem.hint else problem.message


def _same(a: Any, b: Any) -> bool:
    """The same value, as JSON has it (an int and the equal float are the same; 1e-05 is 1e-05)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def _holds(final: Any, written: Any) -> bool:
    """The destination holds the value as written: the same value, or for a mapping (a nested config gliner turns
    into an object) every entry written, with its value; entries the library adds are its own."""
    if isinstance(written, dict) and isinstance(final, dict):
        return all(k in final and _holds(final[k], v) for k, v in written.items())
    return _same(final, written)


def _owned(resolved: Any, key: str, config: Any) -> bool:
    """Whether the key's own value goes to this destination (not a derived one, not a fallback another key wins): a
    fallback's effective source; for a derived value, the first of its sources that is set (a warmup_ratio decides
    the warmup when no warmup_steps is written; num_steps only when neither is)."""
    route = resolved.route
    if route.fallback:
        return route.effective_source(config) == key
    return next((s for s in route.sources if values.get(config, s) is not None), None) == key


def key_fates(doc: Any, plan: Any, args: Any, model_config: Any, refused: list[Any],
              data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each key of the file with its fate (see the module doc)."""
    warned = {p.key: p.message for p in plan.warnings(doc.where)}
    refusals = {}
    for p in refused:
        refusals.setdefault(p.key, said(p))
    replaced = {d["key"]: d for d in data if d["replaced"]}
    out = []
    for key in [k for k in doc.origins if len(k) == 2]:
        dotted = ".".join(key)
        section, name = key
        written = explain.plain(getattr(getattr(plan.config, section), name, None))
        entry: dict[str, Any] = {"key": dotted, "where": doc.origins[key], "value": written, "destinations": []}
        own = [r for r in plan.for_field(dotted) if _owned(r, dotted, plan.config)]
        for r in own:
            if isinstance(r.value, Skip):
                entry["destinations"].append({"destination": r.route.destination, "skipped": r.value.reason})
                continue
            final = explain.plain(explain.final_value(r, args, model_config))
            passed = explain.plain(r.value)
            d = {"destination": r.route.destination, "value": final}
            if not _holds(final, written) and written is not None:
                d["why"] = (r.route.rule if not _same(passed, written) else
                            f"the installed {'gliner' if r.route.kind == 'model' else 'transformers'} holds "
                            f"{json.dumps(final)} for {json.dumps(passed)}")
            entry["destinations"].append(d)
        reached = [d for d in entry["destinations"] if "skipped" not in d]
        # changed: the library holds another value than PTBR passed as written, or no destination holds the value
        # as written (PTBR's rule derived another: a warmup ratio becomes steps); a derived destination beside one
        # that holds it (val_data_dir → eval_strategy "steps") is not a change
        normalised = [d for d in reached if "why" in d and d["why"].startswith("the installed ")]
        as_written = [d for d in reached if "why" not in d]
        changed = normalised or ([] if as_written else [d for d in reached if "why" in d])
        if dotted in refusals:
            entry.update(fate="refused", why=refusals[dotted])
        elif dotted in forwarding.NOT_FORWARDED:
            entry.update(fate="ignored", why=forwarding.NOT_FORWARDED[dotted])
        elif dotted in warned:
            entry.update(fate="ignored", why=warned[dotted])
        elif written is None:
            entry.update(fate="arrives", why="null: the destination's default applies")
        elif not reached:
            skipped = [d["skipped"] for d in entry["destinations"]]
            entry.update(fate="ignored", why=skipped[0] if skipped else "no destination reads it")
        elif changed:
            entry.update(fate="changed", to=changed[0]["value"], why=f"{changed[0]['destination']}: "
                                                                        f"{changed[0]['why']}")
        else:
            entry["fate"] = "arrives"
        if dotted in replaced:  # the runner's, not the key's: the report says so beside the key
            entry["replaced"] = replaced[dotted]["why"]
        out.append(entry)
    return out


STATE_FIELDS = {"max_steps": "max_steps", "logging_steps": "logging_steps", "eval_steps": "eval_steps",
                "save_steps": "save_steps", "per_device_train_batch_size": "train_batch_size"}
"""TrainingArguments fields the Trainer records in a checkpoint's trainer_state.json, under its names there."""


def read_back_checkpoint(out: Path, smoke_plan: Any, smoke_args: Any, keys: list[dict[str, Any]]) -> dict[str, Any]:
    """The checkpoint's own records read back against what was built for the smoke run, key by key: the
    TrainingArguments the Trainer saved (training_args.bin, where the Trainer saves it; else the fields its
    trainer_state.json records) and the model config gliner saved (gliner_config.json)."""
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    last = checkpoints[-1] if checkpoints else None
    saved_args = saved_state = saved_model = None
    read = []
    if last and (last / "training_args.bin").is_file():
        saved_args = torch.load(last / "training_args.bin", weights_only=False)
        read.append(f"{last.name}/training_args.bin")
    if last and (last / "trainer_state.json").is_file():
        saved_state = json.loads((last / "trainer_state.json").read_text())
        read.append(f"{last.name}/trainer_state.json")
    model_file = next((p for p in (out / "final" / "gliner_config.json", out / "final" / "config.json")
                       if p.is_file()), None)
    if model_file:
        saved_model = json.loads(model_file.read_text())
        read.append(str(model_file.relative_to(out)))
    checked, differences = 0, []
    for entry in keys:
        if entry["fate"] not in ("arrives", "changed"):
            continue
        for r in smoke_plan.for_field(entry["key"]):
            if not _owned(r, entry["key"], smoke_plan.config) or isinstance(r.value, Skip):
                continue
            name = r.route.name
            if r.route.kind == "args" and saved_args is not None:
                built, held = compat.read_back(smoke_args, name), compat.read_back(saved_args, name)
            elif r.route.kind == "args" and saved_state is not None and STATE_FIELDS.get(name) in saved_state:
                built, held = compat.read_back(smoke_args, name), saved_state[STATE_FIELDS[name]]
            elif r.route.kind == "model" and saved_model is not None and name in saved_model:
                built, held = r.value, saved_model[name]
            else:
                continue
            built, held = explain.plain(built), explain.plain(held)
            checked += 1
            if not _same(built, held):
                differences.append({"key": entry["key"], "destination": r.route.destination, "built": built,
                                    "saved": held})
    return {"checkpoint": last.name if last else None, "checked": checked, "differences": differences,
            "read": read}
