"""Values gliner chooses between (``span_mode``, ``words_splitter_type``, ...), checked before any training step.

The list of what gliner accepts is never copied into PTBR: the model gliner would build is built, on a tiny random
backbone (a tenth of a second, nothing downloaded), and what its constructors reject is reported at the key whose
value the message quotes, with the alternatives read from the rejecting function's own code (the string literals it
compares with). A release that adds a mode is accepted without a change here.
"""

from __future__ import annotations

import ast
import atexit
import functools
import json
import shutil
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptbr import backbone, compat, forwarding
from ptbr.errors import Problem, did_you_mean, keys_named_in


@functools.cache
def _tiny() -> tuple[str, str]:
    """A tiny random encoder and labels decoder, written once per process."""
    directory = Path(tempfile.mkdtemp(prefix="ptbr-choices-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return str(backbone.write(directory / "encoder")), str(backbone.write_decoder(directory / "decoder"))


def literals(filename: str, lineno: int) -> list[str]:
    """The string literals compared (``==``, ``!=``, ``in``) in the innermost function of ``filename`` around line
    ``lineno``: the values that function chooses between."""
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
                 and n.lineno <= lineno <= (n.end_lineno or n.lineno)]
    if not functions:
        return []
    inner = max(functions, key=lambda n: n.lineno)
    found: list[str] = []
    for node in _own_nodes(inner):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                elements = side.elts if isinstance(side, ast.Set | ast.Tuple | ast.List) else [side]
                found += [e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return list(dict.fromkeys(found))


def _own_nodes(function: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, without those of the functions and classes defined in it."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    out, todo = [], list(ast.iter_child_nodes(function))
    while todo:
        node = todo.pop()
        out.append(node)
        todo += [] if isinstance(node, nested) else list(ast.iter_child_nodes(node))
    return sorted((n for n in out if hasattr(n, "lineno")), key=lambda n: (n.lineno, n.col_offset))


def check(plan: forwarding.Plan, where: Callable[[tuple[str, ...]], str] | None = None) -> Problem | None:
    """Build the model gliner builds from the plan's model keys on a tiny backbone (the caller quiets what gliner and
    transformers print while building); a value its constructors reject (a message quoting a key's value) as a
    Problem at that key, with did-you-mean (:func:`rejected`). None when it builds or the model comes from
    training.prev_path. The same model keys are built once per process (the answer depends on nothing else)."""
    if plan.values("run").get(forwarding.START_FROM) is not None:
        return None
    seen = json.dumps(plan.model_kwargs, sort_keys=True, default=repr)
    if seen not in _BUILT:
        _BUILT[seen] = _build(plan.model_kwargs)
    found = _BUILT[seen]
    return None if found is None else _problem(found, where)


_BUILT: dict[str, tuple[str, str, str] | None] = {}
"""Model keys (as JSON) → what building them said, in this process."""


def rejected(exc: BaseException, plan: forwarding.Plan,
             where: Callable[[tuple[str, ...]], str] | None = None) -> Problem | None:
    """A failure of building the plan's model (train builds the real one: no tiny build first) as the Problem of the
    value gliner's constructor rejected; None when it is not that."""
    if plan.values("run").get(forwarding.START_FROM) is not None or isinstance(exc, ImportError):
        return None
    found = _said(exc, plan.model_kwargs)
    return None if found is None else _problem(found, where)


def _problem(found: tuple[str, str, str], where: Callable[[tuple[str, ...]], str] | None) -> Problem:
    key, message, hint = found
    return Problem(where(tuple(key.split("."))) if where else "installed versions", key, message, hint)


def _build(given_kwargs: dict[str, Any]) -> tuple[str, str, str] | None:
    """(key, message, hint) for a value gliner's constructors reject among these model keys, or None."""
    from gliner import GLiNER

    encoder, decoder = _tiny()
    kwargs: dict[str, Any] = {**given_kwargs, "model_name": encoder}
    if kwargs.get("labels_encoder") is not None:
        kwargs["labels_encoder"] = encoder
    if kwargs.get("labels_decoder") is not None:
        kwargs["labels_decoder"] = decoder
    try:
        GLiNER.from_config(compat.model_config_argument(kwargs), backbone_from_pretrained=False)
    except ImportError:  # a value that needs a package (words_splitter_type: spacy): the first step says which
        return None
    except Exception as exc:  # gliner's constructors reject values with ValueError, KeyError, NotImplementedError...
        return _said(exc, given_kwargs)
    return None


def _said(exc: BaseException, given_kwargs: dict[str, Any]) -> tuple[str, str, str] | None:
    """What a constructor's error says of the model keys: the key whose value it quotes, the message with the values
    the rejecting function compares against, a did-you-mean; None when it quotes no value."""
    given = {k: v for k, v in given_kwargs.items() if isinstance(v, str) and k not in ("model_name",
                                                                                        "labels_encoder",
                                                                                        "labels_decoder")}
    named = keys_named_in(str(exc), given)
    if not named:
        return None
    value = given[named[0]]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/gliner/" in f.filename]
    accepted = literals(frames[-1].filename, frames[-1].lineno or 0) if frames else []
    accepted = [a for a in accepted if a != value]
    listed = f" (it accepts: {', '.join(accepted)})" if accepted else ""
    said = (str(exc).strip().splitlines() or [""])[0][:200]
    return (f"model.{named[0]}", f"gliner {compat.versions()['gliner']} rejects {value!r}: {said}{listed}",
            did_you_mean(value, accepted) or "choose a value the installed gliner accepts")
