"""`nox -s drift`: a static scan of every final transformers release from 4.51.0 and every gliner release with
`train_model`, read from their wheels with `ast` (nothing installed, nothing imported).

Per transformers release: the TrainingArguments fields with their declared default and the value `__post_init__`
assigns when a field is left at it (its effective default), the parameters of `Trainer.__init__` and the old names
its deprecation shims still accept (`@deprecate_kwarg("tokenizer", new_name="processing_class")`). Per gliner
release: its declared transformers range, the fields its own TrainingArguments subclass adds, the keywords its
`create_training_args` passes to TrainingArguments, and the keywords it passes to `Trainer(...)`, with the version
condition gliner puts on them (`if version.parse(transformers.__version__) < version.parse("5.0.0")`).

Wheels are downloaded once into reports/index/wheels/ (``PTBR_WHEEL_CACHE``), in parallel; each wheel's scan is cached
next to it (keyed by SCAN_VERSION), so a warm run reads JSON only. Writes reports/drift.json and reports/drift.md.
"""

from __future__ import annotations

import ast
import concurrent.futures
import json
import os
import re
import time
import zipfile
from pathlib import Path
from typing import Any

from harness.releases import index
from harness.run.pins import ROOT
from harness.run.results import REPORTS, write_atomic
from packaging.version import Version

SCHEMA_VERSION = 1
SCAN_VERSION = 3
"""Bump when the scan's output changes: cached scans of older versions are redone."""
FIRST_TRANSFORMERS = "4.50.0"
"""The scan starts one minor release before the atlas (4.51.0), to see what vanished at 4.51."""


def _wheels() -> Path:
    return Path(os.environ.get("PTBR_WHEEL_CACHE", REPORTS / "index" / "wheels"))


def _literal(node: ast.expr | None) -> Any:
    """A default as data where it is a literal, else its source text (``<expr: ...>``)."""
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return f"<expr: {ast.unparse(node)[:80]}>"


def _field_default(value: ast.expr | None) -> Any:
    """The default of a dataclass field: ``x: int = 3`` or ``field(default=3, ...)``."""
    if isinstance(value, ast.Call) and ast.unparse(value.func).endswith("field"):
        for k in value.keywords:
            if k.arg == "default":
                return _literal(k.value)
            if k.arg == "default_factory":
                return f"<factory: {ast.unparse(k.value)[:60]}>"
        return None
    return _literal(value)


def _class(tree: ast.Module, name: str) -> ast.ClassDef | None:
    return next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name), None)


def _effective(post_init: ast.FunctionDef | None, fields: dict[str, Any]) -> dict[str, Any]:
    """What ``__post_init__`` assigns to a field left at its declared default: a top-level
    ``if self.x is None: self.x = v`` (or ``== <default>``), the first such assignment of a literal. Nested
    conditions (another option set as well) are not a default."""
    out: dict[str, Any] = {}
    if post_init is None:
        return out
    for node in post_init.body:
        if not isinstance(node, ast.If):
            continue
        test = ast.unparse(node.test)
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Attribute) \
                    and ast.unparse(stmt.targets[0].value) == "self":
                name = stmt.targets[0].attr
                default = fields.get(name)
                at_default = name in fields and test in ((f"self.{name} is None",) if default is None else ()) + (
                    f"self.{name} == {default!r}",)
                value = _literal(stmt.value)
                if at_default and name not in out and not str(value).startswith("<expr"):
                    out[name] = value
    return out


def scan_transformers(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as z:
        args_tree = ast.parse(z.read("transformers/training_args.py"))
        trainer_tree = ast.parse(z.read("transformers/trainer.py"))
    cls = _class(args_tree, "TrainingArguments")
    fields = {n.target.id: _field_default(n.value) for n in cls.body
              if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
    post = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__post_init__"), None)
    effective = _effective(post, fields)
    trainer = _class(trainer_tree, "Trainer")
    init = next(n for n in trainer.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = [a.arg for a in [*init.args.args, *init.args.kwonlyargs] if a.arg != "self"]
    aliases = {}
    for d in init.decorator_list:
        if isinstance(d, ast.Call) and ast.unparse(d.func).endswith("deprecate_kwarg") and d.args:
            new = next((_literal(k.value) for k in d.keywords if k.arg == "new_name"), None)
            aliases[_literal(d.args[0])] = new
    return {"fields": {k: {"default": v, **({"effective": effective[k]} if k in effective else {})}
                       for k, v in fields.items()},
            "trainer_params": params, "trainer_aliases": aliases, "trainer_kwargs": init.args.kwarg is not None}


def _condition(test: ast.expr) -> tuple[str, str] | None:
    """``version.parse(transformers.__version__) < version.parse("5.0.0")`` → ("<", "5.0.0")."""
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and "transformers.__version__" in ast.unparse(test.left):
        op = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}.get(type(test.ops[0]))
        right = test.comparators[0]
        if op and isinstance(right, ast.Call) and right.args and isinstance(right.args[0], ast.Constant):
            return op, right.args[0].value
    return None


def _negate(cond: tuple[str, str]) -> tuple[str, str]:
    return {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}[cond[0]], cond[1]


def _trainer_keywords(tree: ast.Module) -> list[dict[str, Any]]:
    """Keywords of every ``Trainer(...)`` call: literal ones, and for ``Trainer(**d)`` the keys of ``d``'s dict
    literal and of ``d["key"] = ...`` assignments, with the transformers version condition they sit under."""
    found: list[dict[str, Any]] = []

    def visit(node: ast.AST, cond: tuple[str, str] | None, dicts: dict[str, list]) -> None:
        if isinstance(node, ast.If):
            c = _condition(node.test)
            for child in node.body:
                visit(child, c or cond, dicts)
            for child in node.orelse:
                visit(child, _negate(c) if c else cond, dicts)
            return
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
                dicts[target.id] = [(_literal(k), cond) for k in node.value.keys if k is not None]
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                    and target.value.id in dicts and isinstance(target.slice, ast.Constant):
                dicts[target.value.id].append((target.slice.value, cond))
        if isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "Trainer":
            for k in node.keywords:
                if k.arg is not None:
                    found.append({"keyword": k.arg, "when": cond})
                elif isinstance(k.value, ast.Name) and k.value.id in dicts:
                    found.extend({"keyword": key, "when": c} for key, c in dicts[k.value.id])
        for child in ast.iter_child_nodes(node):
            if not isinstance(node, ast.If):
                visit(child, cond, dicts)

    for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        if fn.name == "train_model":
            visit(fn, None, {})
    return found


def scan_gliner(wheel: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"train_model": False, "args_keywords": [], "subclass_fields": [], "trainer_keywords": []}
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if not name.startswith("gliner/") or not name.endswith(".py"):
                continue
            tree = ast.parse(z.read(name))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == "train_model":
                    out["train_model"] = True
                if isinstance(node, ast.ClassDef) and any(ast.unparse(b).endswith("TrainingArguments")
                                                          for b in node.bases):
                    out["subclass_fields"] += [n.target.id for n in node.body
                                               if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)]
                if isinstance(node, ast.FunctionDef) and node.name == "create_training_args":
                    for call in ast.walk(node):
                        if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("TrainingArguments"):
                            out["args_keywords"] += [k.arg for k in call.keywords if k.arg]
            out["trainer_keywords"] += _trainer_keywords(tree)
    return out


def _download(url: str, path: Path) -> Path:
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(index._get(url))
        tmp.replace(path)
    return path


def _scanned(package: str, wheel: Path) -> dict[str, Any]:
    """A wheel's scan, from its cache file when it is of this SCAN_VERSION."""
    cache = wheel.with_suffix(".scan.json")
    if cache.is_file():
        data = json.loads(cache.read_text())
        if data.get("scan_version") == SCAN_VERSION:
            return data["scan"]
    scan = scan_transformers(wheel) if package == "transformers" else scan_gliner(wheel)
    write_atomic(cache, json.dumps({"scan_version": SCAN_VERSION, "scan": scan}))
    return scan


def _wheel_of(package: str, version: Version) -> dict[str, Any] | None:
    return next((f for f in index._project(package)["files"] if f["filename"].endswith(".whl")
                 and index._version_of(f["filename"], package) == version), None)


def scan(first_transformers: str = FIRST_TRANSFORMERS, workers: int = 8, log=print) -> dict[str, Any]:
    """Scan every release (downloading what is not cached), in parallel; the drift report as data."""
    start = time.monotonic()
    todo = [("transformers", r) for r in index.releases("transformers") if r.version >= Version(first_transformers)]
    todo += [("gliner", r) for r in index.releases("gliner") if r.version >= Version("0.2.0")]
    jobs = [(p, r, f) for p, r in todo if (f := _wheel_of(p, r.version))]
    fetched = sum(1 for _p, _r, f in jobs if not (_wheels() / f["filename"]).is_file())
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        paths = list(pool.map(lambda j: _download(j[2]["url"], _wheels() / j[2]["filename"]), jobs))
    downloaded = time.monotonic() - start
    with concurrent.futures.ProcessPoolExecutor(min(workers, os.cpu_count() or 1)) as pool:
        scans = list(pool.map(_scanned, [p for p, _r, _f in jobs], paths))
    releases: dict[str, dict[str, Any]] = {"transformers": {}, "gliner": {}}
    for (package, release, _f), result in zip(jobs, scans, strict=True):
        entry = {"yanked": release.yanked, **result}
        if package == "gliner":
            if not result["train_model"]:
                continue
            entry["requires_transformers"] = index.requires("gliner", str(release), "transformers")
        releases[package][str(release)] = entry
    log(f"scanned {len(jobs)} wheels ({fetched} downloaded) in {time.monotonic() - start:.1f} s "
        f"(downloads {downloaded:.1f} s)")
    return {"schema_version": SCHEMA_VERSION, "first_transformers": first_transformers, "releases": releases,
            "fields": field_history(releases["transformers"])}


def field_history(transformers: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per TrainingArguments field: the first and last release that has it, and each change of its default
    (declared or effective) along the releases, in version order (yanked releases included)."""
    history: dict[str, dict[str, Any]] = {}
    for version in sorted(transformers, key=Version):
        for name, f in transformers[version]["fields"].items():
            h = history.setdefault(name, {"first": version, "last": version, "defaults": []})
            h["last"] = version
            seen = (f["default"], f.get("effective"))
            if not h["defaults"] or (h["defaults"][-1]["default"], h["defaults"][-1].get("effective")) != seen:
                h["defaults"].append({"from": version, "default": f["default"],
                                      **({"effective": f["effective"]} if "effective" in f else {})})
    newest = max(transformers, key=Version)
    for h in history.values():
        h["present_in_newest"] = h["last"] == newest
    return history


def markdown(drift: dict[str, Any]) -> str:
    tf = drift["releases"]["transformers"]
    versions = sorted(tf, key=Version)
    lines = ["# Drift of transformers' training API", "",
             f"{len(versions)} final transformers releases {versions[0]}–{versions[-1]} "
             f"({sum(1 for v in versions if tf[v]['yanked'])} yanked: "
             f"{', '.join(v for v in versions if tf[v]['yanked'])}) and "
             f"{len(drift['releases']['gliner'])} gliner releases with train_model, read from their wheels.", "",
             "## TrainingArguments fields that appear, vanish or change their default", "",
             "| field | first | last | defaults |", "|---|---|---|---|"]
    for name, h in sorted(drift["fields"].items()):
        changed = h["first"] != versions[0] or not h["present_in_newest"] or len(h["defaults"]) > 1
        if changed:
            defaults = "; ".join(f"{d['from']}: {d['default']!r}" + (f" (→ {d['effective']!r})" if "effective" in d
                                                                     else "") for d in h["defaults"])
            last = h["last"] if not h["present_in_newest"] else "(still there)"
            lines.append(f"| `{name}` | {h['first']} | {last} | {defaults} |")
    lines += ["", "## Trainer.__init__", "", "| release | takes `tokenizer=` |", "|---|---|"]
    previous = None
    for v in versions:
        t = tf[v]
        takes = "parameter" if "tokenizer" in t["trainer_params"] else \
            f"deprecated alias of `{t['trainer_aliases']['tokenizer']}`" if "tokenizer" in t["trainer_aliases"] \
            else "no"
        if takes != previous:
            lines.append(f"| from {v} | {takes} |")
            previous = takes
    lines += ["", "## gliner releases", "", "| gliner | declared transformers | Trainer keywords |", "|---|---|---|"]
    for v, g in sorted(drift["releases"]["gliner"].items(), key=lambda kv: Version(kv[0])):
        words = ", ".join(sorted({f"{k['keyword']}" + (f" (if transformers {k['when'][0]} {k['when'][1]})"
                                                        if k["when"] else "") for k in g["trainer_keywords"]}))
        lines.append(f"| {v} | `{g['requires_transformers'] or 'any'}` | {words} |")
    return "\n".join(lines) + "\n"


RELEASES_FILE = ROOT / "src" / "ptbr" / "releases.json"
"""Which releases have each field: PTBR ships it, for the message a config gets when it sets a field the installed
release lacks (``ptbr.surface``). Written by every scan; committed."""


def _spans(by_release: dict[str, list[str]]) -> dict[str, list[str]]:
    spans: dict[str, list[str]] = {}
    for version in sorted(by_release, key=Version):
        for name in by_release[version]:
            spans.setdefault(name, [version, version])[1] = version
    return dict(sorted(spans.items()))


def releases_file(drift: dict[str, Any]) -> dict[str, Any]:
    """Per TrainingArguments field of transformers and per field of gliner's own subclass: the first and the last
    final, not yanked, release scanned that has it, and the scanned range."""
    out: dict[str, Any] = {
        "made_by": "nox -s drift (harness/releases/drift.py): read from every release's wheel on PyPI"}
    for package in ("transformers", "gliner"):
        kept = {v: r for v, r in drift["releases"][package].items() if not r["yanked"]}
        names = {v: [n for n in (r["fields"] if package == "transformers" else r["subclass_fields"])
                     if not n.startswith("_")] for v, r in kept.items()}  # _n_gpu: not an argument
        ordered = sorted(kept, key=Version)
        out[package] = {"scanned": [ordered[0], ordered[-1]], "fields": _spans(names)}
    return out


def write(drift: dict[str, Any]) -> None:
    write_atomic(REPORTS / "drift.json", json.dumps(drift, indent=1) + "\n")
    write_atomic(REPORTS / "drift.md", markdown(drift))
    pairs = re.sub(r'\[\n\s*("[^"]*"),\n\s*("[^"]*")\n\s*\]', r"[\1, \2]", json.dumps(releases_file(drift), indent=1))
    write_atomic(RELEASES_FILE, pairs + "\n")  # one line per field
