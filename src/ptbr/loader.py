"""YAML text → plain mapping plus the line of every key, with ``--set`` overrides applied.

Only YAML's safe subset is read. Duplicate keys, ``!!python/...`` tags and non-UTF-8 bytes are errors (PyYAML would
keep the last duplicate silently). Floats written as ``1e-5`` are floats here (YAML 1.2), not strings as in PyYAML's
YAML 1.1 resolver: upstream GLiNER configs write learning rates that way. Numbers that YAML 1.1 and 1.2 read
differently (``0042``: octal 34 or 42; ``1:30``: 90 or a string; ``0b11``) are errors, never a silent value.

Nothing in a file makes loading raise anything but ConfigError: control characters, aliases that contain
themselves, aliases that expand past ``MAX_VALUES`` values (an "alias bomb") and nesting past Python's recursion
limit are reported with where they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ptbr.errors import ConfigError, Problem

Key = tuple[str, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader that also resolves ``1e-5`` and ``3E+4`` as floats."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


MAX_VALUES = 100_000
"""Values a config may hold once its aliases are expanded (a real config holds a few hundred)."""
# plain scalars that YAML 1.1 (PyYAML) reads as numbers and YAML 1.2 reads otherwise
_YAML11_NUMBER = re.compile(r"^[-+]?(?:0[0-9_]+(?:\.[0-9_]*)?|0b[01_]+|[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?)$")
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # what a double-quoted "\0" or "\e" can still bring in


@dataclass
class _Budget:
    """Aliases being expanded right now (a node inside itself is a cycle) and values built so far."""

    active: set[int] = field(default_factory=set)
    built: int = 0


def _ambiguous_number(text: str) -> str | None:
    """Why a plain scalar read as a number by YAML 1.1 would be another value in YAML 1.2, or None."""
    if not _YAML11_NUMBER.match(text):
        return None
    if ":" in text:
        return f"{text} is a base-60 number in YAML 1.1 and a string in YAML 1.2"
    if text.lstrip("+-").startswith("0b"):
        return f"{text} is a binary number in YAML 1.1 and a string in YAML 1.2"
    return f"{text} has a leading zero: YAML 1.1 reads it as octal, YAML 1.2 as decimal"


@dataclass
class Document:
    """A loaded config: its data and where each key came from (``file:line:col`` or ``--set``)."""

    path: Path
    data: dict[str, Any]
    origins: dict[Key, str] = field(default_factory=dict)
    layout: str = "nested"
    """How the file was written (:mod:`ptbr.layouts`): "nested", "flat" or "original PTBR"."""
    note: str | None = None
    """How a file in another layout was read, for the person (None for the nested layout)."""
    written: dict[Key, Key] = field(default_factory=dict)
    """A key of the nested form → the key as the file writes it, where the two differ (flat layout, aliases)."""

    def where(self, key: Key) -> str:
        """The origin of ``key`` or of its nearest parent; the file itself when none is known."""
        for n in range(len(key), 0, -1):
            if key[:n] in self.origins:
                return self.origins[key[:n]]
        return str(self.path)


def _mark(path: Path, mark: yaml.Mark | None) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)


_PLAIN_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}


class _TooMany(Exception):
    """More than MAX_VALUES values: loading stops."""


def _build(node: yaml.Node, key: Key, loader: _Loader, doc: Document, problems: list[Problem],
           budget: _Budget) -> Any:
    budget.built += 1
    if budget.built > MAX_VALUES:
        raise _TooMany
    if id(node) in budget.active:
        problems.append(Problem(_mark(doc.path, node.start_mark), ".".join(key), "an alias contains itself",
                                "a YAML anchor cannot be used inside its own value"))
        return None
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.tag in _NUMBER_TAGS and (why := _ambiguous_number(node.value)):
            problems.append(Problem(_mark(doc.path, node.start_mark), ".".join(key), f"ambiguous number: {why}",
                                    "write the number without a leading zero or colon (or quote it as a string)"))
            return None
        value = loader.construct_object(node)
        if isinstance(value, str) and (bad := _CONTROL.search(value)):
            problems.append(Problem(_mark(doc.path, node.start_mark), ".".join(key),
                                    f"control character U+{ord(bad[0]):04X} in a value (written as an escape)",
                                    "remove it: no path, name or option holds one"))
            return None
        return value
    budget.active.add(id(node))
    try:
        return _build_collection(node, key, loader, doc, problems, budget)
    finally:
        budget.active.discard(id(node))


def _build_collection(node: yaml.Node, key: Key, loader: _Loader, doc: Document, problems: list[Problem],
                      budget: _Budget) -> Any:
    if type(node) in _PLAIN_TAGS and node.tag != _PLAIN_TAGS[type(node)]:
        problems.append(Problem(_mark(doc.path, node.start_mark), ".".join(key), f"tag not allowed: {node.tag!r}",
                                "only plain YAML values are accepted (no !!python tags)"))
        return None
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolve `<<: *anchor` merges like PyYAML does
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = loader.construct_object(key_node)
            where = _mark(doc.path, key_node.start_mark)
            if not isinstance(name, str):
                problems.append(Problem(where, ".".join(key), f"keys must be strings, got {name!r}"))
                continue
            if name in out:
                problems.append(
                    Problem(
                        where,
                        ".".join((*key, name)),
                        f"duplicate key (first defined at line {doc.origins[(*key, name)].rsplit(':', 2)[1]})",
                        "keep one of them: YAML would silently use the last",
                    )
                )
                continue
            doc.origins[(*key, name)] = where
            out[name] = _build(value_node, (*key, name), loader, doc, problems, budget)
        return out
    return [_build(item, (*key, str(i)), loader, doc, problems, budget) for i, item in enumerate(node.value)]


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [Problem(f"{path}:{line}", "", f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
                     "save the file as UTF-8")]
        ) from None


def load(path: str | Path) -> Document:
    """Read a config file. Raises ConfigError with every problem found, each with file:line:column."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(str(path), "", "file not found", "check the path")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(str(path), "", "is a directory, expected a YAML file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), "", f"cannot read: {exc.strerror}")]) from None
    text = _decode(path, raw)
    doc = Document(path, {})
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here
        root = loader.get_single_node()
        if root is None:
            raise ConfigError([Problem(str(path), "", "the file is empty",
                                       "start from examples/tiny.yaml or `ptbr schema`")])
        problems: list[Problem] = []
        data = _build(root, (), loader, doc, problems, _Budget())
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ConfigError([Problem(f"{path}:{line}:{column}", "", f"control character U+{exc.character:04X} is not "
                                   "allowed in YAML", "remove it (a stray form feed, NUL or terminal escape)")],
                          ) from None
    except _TooMany:
        raise ConfigError([Problem(str(path), "", f"more than {MAX_VALUES:,} values once its aliases are expanded",
                                   "a config holds a few hundred: look for anchors (&) used many times over")],
                          ) from None
    except RecursionError:
        raise ConfigError([Problem(str(path), "", "nested too deeply to read",
                                   "a config nests a few levels: look for unclosed [ or {")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "invalid YAML"
        hint = None
        if "could not determine a constructor" in what or "python/" in what:
            what = f"tag not allowed: {what.split('tag', 1)[-1].strip()}"
            hint = "only plain YAML values are accepted (no !!python tags)"
        raise ConfigError([Problem(_mark(path, mark), "", what, hint)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), "", f"invalid YAML: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise ConfigError(problems)
    if not isinstance(data, dict):
        raise ConfigError([Problem(_mark(path, root.start_mark), "",
                                   f"the top level must be a mapping of sections, got {type(data).__name__}",
                                   "write `model:`, `data:`, `training:` (and optionally `run:`) at the top level")])
    doc.data = data
    return doc


def parse_override(text: str) -> tuple[Key, Any]:
    """``training.lr_encoder=1e-5`` → (("training", "lr_encoder"), 1e-05). The value is read as a YAML scalar."""
    name, sep, value = text.partition("=")
    key = tuple(name.strip().split("."))
    if not sep or not all(key):
        raise ConfigError([Problem("--set", text, "expected dotted.key=value", "e.g. --set training.num_steps=100")])
    if why := _ambiguous_number(value.strip()):
        raise ConfigError([Problem("--set", name, f"ambiguous number: {why}",
                                   "write the number without a leading zero or colon (or quote it as a string)")])
    try:
        parsed = yaml.load(value, Loader=_Loader) if value.strip() else ""
    except (yaml.YAMLError, RecursionError) as exc:
        raise ConfigError([Problem("--set", name, f"value is not valid YAML: {exc}")]) from None
    if isinstance(parsed, str) and (bad := _CONTROL.search(parsed)):
        raise ConfigError([Problem("--set", name, f"control character U+{ord(bad[0]):04X} in the value")])
    return key, parsed


def apply_overrides(doc: Document, overrides: list[str]) -> Document:
    """Apply ``--set`` overrides in order; later ones win. Parents are created as needed."""
    problems = []
    for text in overrides:
        key, value = parse_override(text)
        node = doc.data
        for i, part in enumerate(key[:-1]):
            if part not in node:
                doc.origins.setdefault(key[: i + 1], "--set")
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(Problem("--set", ".".join(key), f"{'.'.join(key[: i + 1])} is not a section"))
                break
            node = child
        else:
            node[key[-1]] = value
            doc.origins[key] = "--set"
    if problems:
        raise ConfigError(problems)
    return doc
