"""Training data in gliner's format, checked before any model is built.

An example is ``{"tokenized_text": ["Alice", "lives", "in", "Paris"], "ner": [[0, 0, "person"], [3, 3, "city"]]}``:
``ner`` spans are ``[start, end, label]`` word indices, end inclusive; a relation model's examples add
``"relations": [[0, 1, "lives in"]]``, ``[head, tail, type]`` with head and tail indices into ``ner``. A file is a
JSON list or JSONL (one example a line). Other keys in an example are kept and passed through to gliner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptbr.errors import ConfigError, Problem

MAX_REPORTED = 20
TOO_DEEP = "nested too deeply to read (an example is an object of lists, two levels deep)"


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_example(item: Any) -> str | None:
    """What is wrong with one example, or None. Each rule mirrors how gliner's processors read an example
    (gliner/data_processing/processor.py, 0.2.23 to 0.2.29):

    - ``tokenized_text``, a list of strings, may be empty where ``ner`` is: every ``preprocess_example`` pads an empty
      text to ``["[PAD]"]`` and trains on it;
    - each ``ner`` span is ``[start, end, label]`` with ``start <= end`` inside the text (``prepare_span_labels`` maps
      ``(start, end)`` to a label; a span outside the text would be lost);
    - ``relations`` (relation models), where present, is a list of ``[head, tail, type]``: the processors unpack
      ``head_idx, tail_idx, rel_type = rel``; ``head`` and ``tail`` index the example's ``ner`` list (gliner looks them
      up there and silently drops one that points past it); ``type`` is a label string, as the entity labels."""
    if not isinstance(item, dict):
        return f"expected an object with tokenized_text and ner, got {type(item).__name__}"
    words, spans = item.get("tokenized_text"), item.get("ner")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        return "tokenized_text must be a list of strings"
    if not isinstance(spans, list):
        return "ner must be a list of [start, end, label]"
    if not words and spans:
        return f"tokenized_text is empty but ner has {len(spans)} span(s)"
    for j, span in enumerate(spans):
        if not (isinstance(span, list) and len(span) == 3):
            return f"ner[{j}] must be [start, end, label], got {span!r}"
        start, end, label = span
        if not all(_integer(i) for i in (start, end)):
            return f"ner[{j}]: start and end must be integers, got {span!r}"
        if not isinstance(label, str) or not label.strip():
            return f"ner[{j}]: label must be a non-empty string, got {label!r}"
        if start > end:
            return f"ner[{j}]: start {start} > end {end}"
        if start < 0 or end >= len(words):
            return f"ner[{j}]: span [{start}, {end}] is out of bounds for {len(words)} words (end is inclusive)"
    return _check_relations(item.get("relations"), len(spans)) if "relations" in item else None


def _check_relations(relations: Any, entities: int) -> str | None:
    if not isinstance(relations, list):
        return f"relations must be a list of [head, tail, type], got {type(relations).__name__}"
    for j, relation in enumerate(relations):
        if not (isinstance(relation, list) and len(relation) == 3):
            return f"relations[{j}] must be [head, tail, type], got {relation!r}"
        head, tail, kind = relation
        if not (_integer(head) and _integer(tail)):
            return f"relations[{j}]: head and tail must be integers (indices into ner), got {relation!r}"
        if not (0 <= head < entities and 0 <= tail < entities):
            return (f"relations[{j}]: head {head} or tail {tail} points past the example's {entities} entities "
                    "(indices into ner, from 0)")
        if not isinstance(kind, str) or not kind.strip():
            return f"relations[{j}]: type must be a non-empty string, got {kind!r}"
    return None


def _parse_lines(path: Path, text: str) -> tuple[list[Any], list[Problem]]:
    items, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"{path}:{n}:{exc.colno}", "", f"invalid JSON: {exc.msg}"))
            except RecursionError:
                problems.append(Problem(f"{path}:{n}", "", TOO_DEEP))
    return items, problems


def _parse(path: Path, text: str) -> tuple[Any, list[Problem]]:
    """A ``.jsonl`` file is one example a line; anything else is one JSON document, or JSONL when it holds one
    document a line."""
    if path.suffix == ".jsonl":
        return _parse_lines(path, text)
    try:
        return json.loads(text), []
    except RecursionError:
        return [], [Problem(str(path), "", TOO_DEEP)]
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and text.lstrip().startswith("{"):
            return _parse_lines(path, text)
        return [], [Problem(f"{path}:{exc.lineno}:{exc.colno}", "", f"invalid JSON: {exc.msg}")]


def load(path: str | Path, key: str, where: str | None = None) -> list[dict[str, Any]]:
    """Read and check a data file named by config key ``key``. Raises ConfigError naming the file and item index.
    ``where`` is the key's place in its config (``b.yaml:21:3``): each problem is then reported there, naming the
    data file in its message, so that a run over several configs says which config named the file."""
    path = Path(path)

    def problem(at: str, message: str, hint: str | None = None) -> Problem:
        # ``at`` names the data file (with its line or item): the message names it where ``where`` is the config's
        return Problem(at, key, message, hint) if where is None else Problem(where, key, f"{at}: {message}", hint)

    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([problem(str(path), "data file not found", "check the path (relative paths are relative "
                                   "to the current directory)")]) from None
    except IsADirectoryError:
        raise ConfigError([problem(str(path), "is a directory, expected a JSON or JSONL file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([problem(str(path), f"not UTF-8 text (offset {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([problem(str(path), f"cannot read: {exc.strerror}")]) from None
    if not text.strip():
        raise ConfigError([problem(str(path), "data file is empty")])
    items, parsed = _parse(path, text)
    problems = parsed if where is None else [problem(p.where, p.message, p.hint) for p in parsed]
    if not problems and not isinstance(items, list):
        problems.append(problem(str(path), f"expected a JSON list of examples, got {type(items).__name__}"))
    elif not problems and not items:
        problems.append(problem(str(path), "data file has no examples"))
    elif not problems:
        for i, item in enumerate(items):
            error = _check_example(item)
            if error:
                problems.append(problem(f"{path}[{i}]", error))
    if len(problems) > MAX_REPORTED:
        more = len(problems) - MAX_REPORTED
        problems = [*problems[:MAX_REPORTED], problem(str(path), f"... and {more} more problems")]
    if problems:
        raise ConfigError(problems)
    return items
