"""Where every key of a config goes, and the value each destination finally holds.

Final values are read back from the real objects of the installed versions — the TrainingArguments and the
GLiNERConfig PTBR would pass — after they normalise what they were given. No model is built; nothing is downloaded.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from ptbr import compat, forwarding
from ptbr.errors import Problem
from ptbr.forwarding import Plan, Resolved, Skip
from ptbr.loader import Document


def final_value(r: Resolved, args: Any, model_config: Any) -> Any:
    """The value the installed library holds at this destination after normalising what it was given: read back
    from the real TrainingArguments or gliner's model config; None for a skipped destination."""
    if isinstance(r.value, Skip):
        return None
    if r.route.kind == "args":
        return compat.read_back(args, r.route.name)
    if r.route.kind == "model":
        return getattr(model_config, r.route.name, r.value)
    return r.value


def _destination(r: Resolved, args: Any, model_config: Any) -> dict[str, Any]:
    out = {"destination": r.route.destination, "kind": r.route.kind, "name": r.route.name, "rule": r.route.rule}
    if r.route.kind == "args":
        out["installed_name"] = compat.installed_name(r.route.name, compat.argument_names(type(args)))
    if isinstance(r.value, Skip):
        out["skipped"] = r.value.reason
    else:
        out["value"] = plain(final_value(r, args, model_config))
    return out


def explanation(doc: Document, plan: Plan, args: Any, model_config: Any,
                refused: list[Problem] = ()) -> dict[str, Any]:
    """The explanation as data (what ``--json`` prints); ``refused``: what validate and train would refuse."""
    keys = []
    in_file = [k for k in doc.origins if len(k) == 2]
    for key in in_file:
        dotted = ".".join(key)
        section, name = key
        value = getattr(getattr(plan.config, section), name)
        entry: dict[str, Any] = {"key": dotted, "where": doc.origins[key], "value": plain(value)}
        if key in doc.written:
            entry["written_as"] = ".".join(doc.written[key])
        routes = plan.for_field(dotted)
        entry["destinations"] = []
        for r in routes:
            used = r.route.effective_source(plan.config)
            if used not in (None, dotted):
                entry["destinations"].append({**_destination(r, args, model_config), "overridden_by": used})
            else:
                entry["destinations"].append(_destination(r, args, model_config))
        if dotted in forwarding.NOT_FORWARDED:
            entry["not_forwarded"] = forwarding.NOT_FORWARDED[dotted]
        keys.append(entry)
    named = {".".join(k) for k in in_file}
    defaults = [
        _destination(r, args, model_config)
        for r in plan.resolved
        if r.route.kind in ("args", "train_model") and not named.intersection(r.route.sources)
    ]
    def problems(found: list[Problem]) -> list[dict[str, Any]]:
        return [{"where": p.where, "key": p.key, "message": p.message, "hint": p.hint} for p in found]

    return {"config": str(doc.path), "versions": compat.versions(), "layout": doc.layout, "note": doc.note,
            "keys": keys, "defaults": defaults,
            "warnings": problems(plan.warnings(doc.where)), "refused": problems(list(refused))}


def _skip_group(d: dict[str, Any]) -> tuple[str, str]:
    """What a skipped destination shares with others: the callable or object it belongs to, and why it is unused."""
    return d["destination"].split("(", 1)[0], d["skipped"]


def _shared_skips(keys: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    """(destination, reason) → the keys it leaves unused, where more than one key is left unused that way."""
    found: dict[tuple[str, str], list[str]] = {}
    for k in keys:
        for d in k.get("destinations", []):
            if "skipped" in d and "overridden_by" not in d:
                found.setdefault(_skip_group(d), []).append(k["key"])
    return {group: names for group, names in found.items() if len(names) > 1}


def plain(value: Any) -> Any:
    """A JSON value: a config object gliner made from a mapping (``encoder_config`` becomes a BertConfig) is shown as
    its mapping, anything else that JSON has no form for as its text."""
    return json.loads(json.dumps(value, default=lambda o: o.to_dict() if hasattr(o, "to_dict") else str(o)))


def _show(value: Any) -> str:
    return json.dumps(value, default=str) if not isinstance(value, str) else repr(value)


def render(data: dict[str, Any]) -> str:
    """The explanation for a terminal: each key and where its value goes first; a destination left unused for the
    same reason by several keys (every ``model:`` key's ``GLiNER.from_pretrained`` argument while
    ``training.prev_path`` is not set) is said once, after the keys."""
    v = data["versions"]
    lines = [f"{data['config']}  (transformers {v['transformers']}, gliner {v['gliner']}, torch {v['torch']})",
             *([data["note"]] if data.get("note") else []), ""]
    width = max((len(k["key"]) for k in data["keys"]), default=10) + 2
    shared = _shared_skips(data["keys"])
    for k in data["keys"]:
        head = f"{k['key']:<{width}}{_show(k['value'])}" + (f"   (written {k['written_as']})" if "written_as" in k
                                                             else "")
        if "not_forwarded" in k:
            lines.append(f"{head}\n{'':<{width}}  not forwarded: {k['not_forwarded']}")
            continue
        lines.append(head)
        for d in k["destinations"]:
            name = d["destination"]
            if d.get("installed_name") not in (None, d["name"]):
                name += f" (installed as {d['installed_name']})"
            if "overridden_by" in d:
                lines.append(f"{'':<{width}}  → {name}: not used, {d['overridden_by']} is set")
            elif "skipped" in d and _skip_group(d) not in shared:
                lines.append(f"{'':<{width}}  → {name}: not forwarded: {d['skipped']}")
            elif "skipped" not in d:
                lines.append(f"{'':<{width}}  → {name} = {_show(d['value'])}")
    for (where, reason), keys in shared.items():
        lines += ["", f"Not forwarded to {where}: {reason}", *textwrap.wrap(
            "for " + ", ".join(keys), 118, initial_indent="  ", subsequent_indent="  ")]
    lines += ["", "Set by PTBR though not in the file:"]
    for d in data["defaults"]:
        lines.append(f"  {d['destination']} = {_show(d.get('value'))}   ({d['rule']})")
    if data["warnings"]:
        lines += ["", "Read nowhere by the installed versions (warnings; --strict refuses them):"]
        lines += [f"  {p['where']}: {p['key']}: {p['message']}" for p in data["warnings"]]
    if data["refused"]:
        lines += ["", "validate and train would refuse this config:"]
        lines += [f"  {p['where']}: {p['key']}: {p['message']}" for p in data["refused"]]
    return "\n".join(lines)
