"""Credentials are never shown or saved. A key whose name says it holds one (``hf_token``, ``hub_token``,
``wandb_api_key``, any ``*_api_key``, ``*secret*``, ``*password*``, a hub or auth ``*_token``; not GLiNER's marker
tokens such as ``ent_token``) has its value replaced by ``***`` in everything PTBR prints or writes: validate, explain
(text and JSON), prove, ``ptbr_config.yaml``, error messages. The value itself still reaches its destination: masking
happens where output is made, never in the config that trains."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"
_SECRET = re.compile(r"^(?:.*_)?(?:hf|hub|auth|access|api|bearer)_?token$|^token$|api_?key|secret|passw(?:or)?d", re.I)
_NOT_SECRETS = {"none", "null", "true", "false"}
_VALUES = ("value", "to", "destinations")
"""The fields of an entry about a key (explain's, prove's) that hold its value."""
"""Values too common to hide wherever they appear (a credential key set to "none" means no credential)."""


def is_secret(key: str) -> bool:
    """Whether a key (dotted or not) holds a credential, by its last name."""
    return bool(_SECRET.search(key.rsplit(".", 1)[-1]))


def found(data: Any, overrides: Iterable[str] = ()) -> set[str]:
    """The credential values of a loaded config (any nesting) and of ``--set KEY=VALUE`` overrides: what must not be
    shown anywhere."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, str) and is_secret(key) and isinstance(value, str | int) and value is not True:
                    out.add(str(value))
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    for text in overrides:
        key, sep, value = text.partition("=")
        if sep and is_secret(key.strip()):
            out.add(value.strip().strip("'\""))
    return {v for v in out if len(v) >= 4 and v.lower() not in _NOT_SECRETS}


def scrub(obj: Any, secrets: set[str]) -> Any:
    """``obj`` (text, or JSON-like data) with every credential value replaced by ``***``, and every value under a
    credential key masked whatever it is."""
    if isinstance(obj, str):
        for secret in sorted(secrets, key=len, reverse=True):
            obj = obj.replace(secret, MASK)
        return obj
    if isinstance(obj, dict):
        # a mapping of the config (hf_token: ...), or an entry about one of its keys ({"key": ..., "value": ...})
        about = isinstance(obj.get("key"), str) and is_secret(obj["key"])
        return {k: _masked(v) if about and k in _VALUES else MASK if isinstance(k, str) and is_secret(k) and v not in
                (None, "") else scrub(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [scrub(v, secrets) for v in obj]
    return obj


def _masked(value: Any) -> Any:
    """Every value in an entry's value fields masked (a destination list keeps its destinations and reasons)."""
    if isinstance(value, list):
        return [{k: MASK if k == "value" and v not in (None, "") else v for k, v in d.items()} if isinstance(d, dict)
                else MASK for d in value]
    return value if value in (None, "") else MASK


def hidden_in(paths: Iterable[Any], overrides: Iterable[str] = ()) -> set[str]:
    """The credential values of config files as written (whatever they fail on later) and of overrides."""
    from ptbr import loader
    from ptbr.errors import ConfigError

    out = found({}, overrides)
    for path in paths:
        with contextlib.suppress(ConfigError):  # a file that cannot be read shows no value of its own
            out |= found(loader.load(path).data)
    return out
