"""``ptbr migrate``: a config in upstream's flat layout or in the original PTBR's format, written in PTBR's nested form
with its comments, key order, quoting and values kept (ruamel.yaml's round trip), by the same moves ``validate`` reads
it with (:func:`ptbr.layouts.moves`).

A comment belongs to the line below it: the comment lines above a key travel with that key, the comment at the end of
a key's line stays on that line, and the file's opening comment stays on top. A file already nested is left as it is
(idempotent). Before anything is written, the result is read back and must be the same config as the original (the
same keys with the same values at the same places of the nested form), or nothing is written.
"""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptbr import layouts, loader
from ptbr.errors import ConfigError, Problem

INDENT = 2


@dataclass(frozen=True)
class Migrated:
    path: Path
    text: str
    """The nested form (the original text when there was nothing to move)."""
    layout: str
    """The layout the original was written in."""


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long value
    yaml.indent(mapping=INDENT, sequence=2 * INDENT, offset=INDENT)
    # null as written in every config seen (ruamel writes an empty value); `~` or an empty value read back the same
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def _slot(node: Any, key: Any) -> tuple[dict, Any, int]:
    """Where ruamel keeps the comment written after entry ``key`` of ``node``: on the entry itself, or, when its value
    is a mapping or a list, on that value's last entry (its items dict, the entry, the position in its record)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    value = node[key]
    if isinstance(value, CommentedMap | CommentedSeq) and len(value):
        return _slot(value, list(value)[-1] if isinstance(value, CommentedMap) else len(value) - 1)
    return node.ca.items, key, 2 if isinstance(node, dict) else 0


def _take(node: Any, key: Any) -> tuple[str, str, int]:
    """The comment after entry ``key``, taken off it: (the comment on its line, the lines below it, the column of the
    first). The first stays where it is."""
    items, at, pos = _slot(node, key)
    record = items.get(at)
    token = record[pos] if record is not None else None
    if token is None:
        return "", "", 0
    head, _, rest = token.value.partition("\n")
    head = head if head.strip() else ""
    record[pos] = _token(head + "\n", token.column) if head else None
    return head, rest, token.column


def _put(node: Any, key: Any, lines: str, indent: int | None = None) -> None:
    """Comment lines written after entry ``key`` of ``node`` (re-indented to ``indent`` columns when given)."""
    if not lines:
        return
    items, at, pos = _slot(node, key)
    record = items.setdefault(at, [None, None, None, None])
    head = record[pos].value if record[pos] is not None else "\n"
    record[pos] = _token(head + (lines if indent is None else _indented(lines, indent)), 0)


def _token(text: str, column: int) -> Any:
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    return CommentToken(text, CommentMark(column), None)


def _indented(lines: str, indent: int) -> str:
    return "".join(" " * indent + line.lstrip(" ") if line.strip() else line
                   for line in lines.splitlines(keepends=True))


def _eol(node: Any, key: Any, comment: str, column: int) -> None:
    """``comment`` at the end of the line of entry ``key`` (a scalar's line; a mapping or list keeps its own)."""
    if not comment:
        return
    items, at, pos = _slot(node, key)
    record = items.setdefault(at, [None, None, None, None])
    rest = record[pos].value.partition("\n")[2] if record[pos] is not None else ""
    record[pos] = _token(f"{comment.strip()}\n{rest}", column)


def _nest_flat(flat: Any, reading: layouts.Reading) -> Any:
    """The flat mapping as sections, each key with the comment on its line and the comment lines above it."""
    from ruamel.yaml.comments import CommentedMap

    keys = list(flat)
    taken = [_take(flat, k) for k in keys]
    above = dict(zip(keys, ["", *(t[1] for t in taken[:-1])], strict=True))
    place = {m.written[0]: m.canonical for m in reading.moves}
    out = CommentedMap()
    if flat.ca.comment:  # the file's opening comment
        out.ca.comment = flat.ca.comment
    for key, (eol, _, column) in zip(keys, taken, strict=True):
        section, name = place[key]
        new_section = section not in out
        if new_section:
            out[section] = CommentedMap()
        out[section][name] = flat[key]
        if above[key]:  # above a section's header, or above the key in its section (the first key has none)
            if new_section:
                _put(out, list(out)[-2], above[key], 0)
            else:
                _put(out[section], list(out[section])[-2], above[key], INDENT)
        _eol(out[section], name, eol, column + INDENT)
    if keys and taken[-1][1]:  # what follows the last key
        _put(out, list(out)[-1], taken[-1][1], 0)
    return out


def _rename_in_place(mapping: Any, old: str, new: str) -> None:
    """Rename a key where it stands, with its comments."""
    position = list(mapping).index(old)
    value = mapping.pop(old)
    comment = mapping.ca.items.pop(old, None)
    mapping.insert(position, new, value)
    if comment is not None:
        mapping.ca.items[new] = comment


def _move_out(data: Any, move: layouts.Move) -> None:
    """A renamed key into another section, appended there with its comments; what was written below it stays."""
    from ruamel.yaml.comments import CommentedMap

    (section, old), (target, new) = move.written, move.canonical
    source = data[section]
    names = list(source)
    i = names.index(old)
    above = _take(source, names[i - 1])[1] if i > 0 else _swap_first(data, section, "")
    eol, below, column = _take(source, old)
    value = source.pop(old)
    source.ca.items.pop(old, None)
    if i > 0:
        _put(source, names[i - 1], below)
    else:  # what was below it is above the section's new first key
        _swap_first(data, section, below)
    if target not in data:
        data[target] = CommentedMap()
    into = data[target]
    if len(into):
        _put(into, list(into)[-1], above, INDENT)
    into[new] = value
    _eol(into, new, eol, column)


def _swap_first(data: Any, section: str, lines: str) -> str:
    """The comment lines above a section's first key (ruamel keeps them on the section's entry and as the section's
    opening comment), replaced by ``lines``; returns what was there."""
    record = data.ca.items.get(section)
    tokens = record[3] if record is not None and len(record) > 3 and record[3] else []
    was = "".join(t.value for t in tokens)
    new = [_token(line + "\n", 0) for line in lines.rstrip("\n").split("\n")] if lines.strip() else []
    if record is not None and len(record) > 3:
        record[3] = new or None
    elif new:
        data.ca.items[section] = [None, None, None, new]
    data[section].ca.comment = [None, new] if new else None
    return was


def _nest_original(data: Any, reading: layouts.Reading) -> Any:
    for m in reading.moves:
        if len(m.written) == 1:
            _rename_in_place(data, m.written[0], m.canonical[0])
    for m in reading.moves:  # renamed keys stand in sections no alias names (layouts.RENAMED)
        if len(m.written) == 2 and m.written[0] == m.canonical[0]:
            _rename_in_place(data[m.written[0]], m.written[1], m.canonical[1])
        elif len(m.written) == 2:
            _move_out(data, m)
    for (section, name), value in reading.defaults:  # what the original meant, written out: PTBR's differ
        from ruamel.yaml.comments import CommentedMap

        into = data.setdefault(section, CommentedMap())
        into[name] = value
        _eol(into, name, "# the original PTBR's default (ptbr migrate wrote it out)", 0)
    return data


def migrate(path: Path) -> Migrated:
    """The nested form of one config file; ConfigError when it cannot be read or a key has no place."""
    doc = loader.load(path)
    reading = layouts.moves(doc.data)
    layouts.read(doc)  # refuses another tool's config and two names for one value, at their lines
    if reading.unknown:
        raise ConfigError([Problem(doc.where((k,)), k, "no section declares this key, so it has no place in the "
                                   "nested form", "fix or remove it (`ptbr validate` says what is near), then "
                                   "migrate again") for k in reading.unknown])
    text = path.read_text(encoding="utf-8")
    if not reading.moves:
        return Migrated(path, text, reading.layout)
    yaml = _yaml()
    data = yaml.load(text)
    nested = _nest_flat(data, reading) if reading.layout == "flat" else _nest_original(data, reading)
    buffer = io.StringIO()
    yaml.dump(nested, buffer)
    migrated = Migrated(path, buffer.getvalue(), reading.layout)
    _same_config(doc, migrated)
    return migrated


def _same_config(doc: loader.Document, migrated: Migrated) -> None:
    """The migrated text holds exactly the keys and values the original is read as, or ConfigError (a defect of
    PTBR's: nothing is written)."""
    with tempfile.TemporaryDirectory(prefix="ptbr-migrate-") as tmp:
        check = Path(tmp) / doc.path.name
        check.write_text(migrated.text, encoding="utf-8")
        again = loader.load(check)
    if again.data != layouts.read(doc).data or layouts.moves(again.data).moves:
        raise ConfigError([Problem(str(doc.path), "", "the migrated text would not hold the same config (a defect "
                                   "of PTBR's: please report it); nothing was written")])


def write(migrated: Migrated, out: Path) -> None:
    """The migrated text at ``out``, whole or not at all."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(migrated.text)
    if out.exists():
        os.chmod(partial, out.stat().st_mode & 0o777)
    os.replace(partial, out)
