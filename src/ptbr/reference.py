"""The config's JSON Schema and its Markdown reference, both generated from the schema's docstrings and the
forwarding table: the documentation's reference is this output, generated when the site is built (harness/docs.py);
the committed ptbr.schema.json is kept current by a test."""

from __future__ import annotations

import inspect
import json
from typing import Any

from pydantic_core import PydanticUndefined

from ptbr import compat, forwarding
from ptbr.schema import SECTIONS, Config, TrainingConfig, type_name


def json_schema(installed: bool = True) -> dict[str, Any]:
    """The config's JSON Schema: with ``installed``, every passthrough option of the installed versions under
    ``training:`` too (``ptbr schema``); without, PTBR's own keys, and any other ``training:`` key allowed (the
    committed ptbr.schema.json, the same for every version)."""
    if installed:
        from ptbr import surface

        schema = surface.config_class().model_json_schema()
    else:
        schema = Config.model_json_schema()
        schema["$defs"]["TrainingConfig"]["additionalProperties"] = True
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _destinations(dotted: str) -> str:
    if dotted in forwarding.NOT_FORWARDED:
        return f"not forwarded: {forwarding.NOT_FORWARDED[dotted]}"
    applied = set(compat.pretrained_keywords().values())  # to a saved model (training.prev_path), by this gliner
    routes = [r for r in forwarding.ROUTES if dotted in r.sources and (r.kind != "pretrained" or r.name in applied)]
    return ", ".join(f"`{r.destination}`" for r in routes)


def _refused() -> list[str]:
    """The TrainingArguments fields refused under their own name, and why: the same on every version."""
    from ptbr import surface

    lines = ["#### TrainingArguments fields that `training:` refuses under their own name", "",
             "| field | why | instead |", "|---|---|---|"]
    routes = {r.name: r for r in forwarding.ROUTES if r.kind == "args" and r.name not in TrainingConfig.model_fields}
    for name, route in sorted(routes.items()):
        instead = f"`{route.sources[0]}`" if route.sources else "nothing: PTBR decides it"
        lines.append(f"| `{name}` | {_cell('PTBR sets it: ' + route.rule)} | {instead} |")
    for old, new in sorted(compat.SUCCESSORS.items()):
        route = next((r for r in forwarding.ROUTES if r.kind == "args" and r.name == new), None)
        if route is not None and old not in TrainingConfig.model_fields:
            lines.append(f"| `{old}` | an older name of `{new}`, in {surface.span('transformers', old)} | "
                         f"`{route.sources[0]}` |")
    for name, (why, hint) in sorted(surface.REFUSED.items()):
        lines.append(f"| `{name}` | {_cell(why)} | {_cell(hint)} |")
    return lines


def _passthrough() -> list[str]:
    """The passthrough options of the installed versions."""
    from ptbr import surface

    v = compat.versions()
    lines = [f"#### `training:` options of transformers {v['transformers']} and gliner {v['gliner']} (passthrough)",
             "", "| key | type | default | from | meaning |", "|---|---|---|---|---|"]
    for name, o in sorted(surface.passthrough().items()):
        lines.append("| " + " | ".join(_cell(c) for c in (f"`{name}`", type_name(o.annotation), f"`{o.default!r}`",
                                                            o.owner, o.help)) + " |")
    return lines


def _other_layouts() -> list[str]:
    """The names of the original PTBR's format and the defaults it keeps, from :mod:`ptbr.layouts`."""
    from ptbr import layouts

    lines = ["#### Other layouts", "", "A file with no section at its top level is upstream's flat layout: each key "
             "is read under the section that declares it. A file in the original PTBR's format is read with these "
             "names:", "", "| written | read as |", "|---|---|"]
    lines += [f"| `{old}:` | `{new}:` |" for old, new in layouts.SECTION_ALIASES.items()]
    lines += [f"| `{'.'.join(old)}` | `{'.'.join(new)}` |" for old, new in layouts.RENAMED.items()]
    lines += ["", "and, for what such a file leaves out, the original's defaults:", "",
              "| key | default |", "|---|---|"]
    lines += [f"| `{'.'.join(key)}` | `{json.dumps(value)}` |" for key, value in layouts.ORIGINAL_DEFAULTS.items()]
    return lines


def markdown(installed: bool = False) -> str:
    """The config reference: every section's keys, the fields refused under their TrainingArguments name, and with
    ``installed`` the passthrough options of the installed versions (``ptbr schema --markdown``)."""
    lines = []
    for section, cls in SECTIONS.items():
        lines += [f"### `{section}:`", "", inspect.cleandoc(cls.__doc__ or ""), "",
                  "| key | type | default | goes to | meaning |",
                  "|---|---|---|---|---|"]
        for name, field in cls.model_fields.items():
            default = "required" if field.default is PydanticUndefined else f"`{json.dumps(field.default)}`"
            row = [f"`{name}`", type_name(field.annotation), default, _destinations(f"{section}.{name}"),
                   field.description or ""]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        lines.append("")
    lines += [*_refused(), "", *_other_layouts(), ""]
    if installed:
        lines += [*_passthrough(), ""]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":  # python -m ptbr.reference ptbr.schema.json
    import sys
    from pathlib import Path

    schema_file = Path(sys.argv[1])
    schema_file.write_text(json.dumps(json_schema(installed=False), indent=2) + "\n", encoding="utf-8")
