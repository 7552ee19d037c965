"""The configs' part of the matrix report: each config's result per cell as the report shows it (keys that do not
arrive as written, its data, its smoke run), whether a saved result is current, and its Markdown section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import definition
from harness.run import configs as configs_
from harness.run import results


def _current(saved: dict[str, Any], keys: dict[tuple[str, bool, str], str]) -> bool:
    """Whether a saved config result is current (``keys``: each cell's fingerprint per runner, computed once)."""
    at = (saved["cell"], bool(saved.get("override")), saved["runner"])
    if at not in keys:
        keys[at] = results.fingerprint(definition.Cell.parse(saved["cell"], at[1]), saved["runner"])
    return configs_.is_current(saved, keys[at], configs_.ROOT)


def entry(saved: dict[str, Any]) -> dict[str, Any]:
    """A config result as the report shows it: its keys that do not arrive as written, its data and smoke run."""
    fate = saved.get("fate") or {}
    keys = fate.get("keys", [])
    return {"id": saved["cell"], "current": saved["current"], "runner": saved["runner"],
            "findings": saved["findings"], "error": saved.get("error"), "keys": len(keys),
            "arriving": sum(k["fate"] == "arrives" for k in keys),
            "not_as_written": [{**{k2: k[k2] for k2 in ("key", "fate", "value", "to", "why") if k2 in k},
                                "where": _shown_where(k.get("where") or "", fate.get("config"), saved["config"])}
                               for k in keys if k["fate"] != "arrives"],
            "data": fate.get("data", []), "smoke": fate.get("smoke"), "warnings": fate.get("warnings", []),
            "seconds": saved.get("seconds"), "repro": saved["repro"], "finished_at": saved["finished_at"]}


def _shown_where(where: str, seen_as: str | None, name: str) -> str:
    """``file:line:column`` with the file as the user names it (the runner may have seen it elsewhere: /in/root)."""
    return f"{name}{where[len(seen_as):]}" if seen_as and where.startswith(seen_as) else where


def results_of(cells_root: Path = results.CELLS, check: bool = True) -> list[dict[str, Any]]:
    """Every saved config result, each with ``current`` (``check``: computed; else True)."""
    with_configs = sorted({p.parent.parent.name for p in cells_root.glob(f"*/{configs_.DIRECTORY}/*.json")})
    keys: dict[tuple[str, bool, str], str] = {}
    return [{**r, "current": not check or _current(r, keys)}
            for cell_id in with_configs for r in configs_.load_all(cell_id, cells_root)]


def _text(entry: dict[str, Any] | None, state: str | None) -> str:
    """A config in one cell, short: how many keys arrive as written, the smoke run, and the verdict's state."""
    if entry is None:
        return "not run"
    if entry["findings"] is None:
        return "cannot judge" + ("" if entry["current"] else " (stale)")
    smoke = entry["smoke"] or {}
    text = f"{entry['arriving']}/{entry['keys']} ✓" if entry["keys"] else "refused"
    text += {"trained": "", "failed": ", smoke ✗"}.get(smoke.get("status"), ", no smoke")
    if not entry["current"]:
        return f"{text} (stale)"
    return text + ("" if state in ("as expected", None) else f" ({state})")


def markdown(report: dict[str, Any]) -> list[str]:
    """Per config: a table of cells (keys arriving as written, the smoke run, the verdict), then per cell the keys
    that did not arrive as written, with why, the data replaced, and the commands that prove it again alone."""
    if not report["configs"]:
        return []
    states = {(e["id"], e["config"]): e["state"] for e in report["configs_expected"]}
    lines = ["## Your configs, key by key", "",
             "Each key read back at its destination in each cell (the real TrainingArguments, gliner's model config, "
             "from_pretrained arguments, the environment), then a smoke training of the config as written: `n/N ✓` "
             "keys arrive as written · smoke ✗ the training failed · (new break), (fixed) against "
             "constraints/expected.toml · (stale) the config, its data or the code changed since", ""]
    for config in report["configs"]:
        entries = {e["id"]: e for e in config["cells"]}
        ids = [e["id"] for e in report["configs_expected"] if e["config"] == config["config"]]
        ids += [i for i in entries if i not in ids]
        lines += [f"### {config['config']}" + ("" if config["in_definition"] else " (named with --config)"), "",
                  "| cell | keys, smoke | not as written |", "|---|---|---|"]
        for cell_id in [i for i in ids if i in entries]:
            e = entries[cell_id]
            found = ", ".join(f"`{k['key']}` {k['fate']}" for k in e["not_as_written"])
            lines.append(f"| {cell_id} | {_text(e, states.get((cell_id, config['config'])))} | {found} |")
        missing = [i for i in ids if i not in entries]
        lines += ["", f"Not run in {len(missing)} cell(s): {', '.join(missing)}." if missing else "", ""]
        for cell_id in ids:
            e = entries.get(cell_id)
            if not e or not (e["findings"] or e["error"] or any(d["replaced"] for d in e["data"])):
                continue
            lines += [f"#### {config['config']} in {cell_id}", ""]
            if e["error"]:
                lines += ["```", e["error"], "```"]
            for f in e["findings"] or []:
                if f["finding"].startswith("config refused: "):
                    lines.append(f"- **{f['finding']}** ({f['why']})")
            for k in e["not_as_written"]:
                change = f" {json.dumps(k.get('value'))} → {json.dumps(k.get('to'))}" if k["fate"] == "changed" else ""
                lines.append(f"- `{k['key']}` ({k['where']}): **{k['fate']}**{change}: {k.get('why', '')}")
            for d in e["data"]:
                if d["replaced"]:
                    lines.append(f"- data `{d['key']}`: {d['why']}")
            smoke = e["smoke"] or {}
            if smoke.get("status") == "failed":
                lines.append(f"- smoke training failed at {smoke.get('where') or '?'}: {smoke.get('why')}")
            lines += ["", "Prove it again alone, with nox or in the cell's image (mounting the checkout read-only):",
                      "", "```sh", *[e["repro"][k] for k in ("nox", "docker_build", "docker_run") if e["repro"].get(k)],
                      "```", ""]
    return lines
