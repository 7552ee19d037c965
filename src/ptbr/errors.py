"""Errors a person can act on: where, which key, what was expected, what was given, what to do."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input."""

    where: str
    """``file:line:column``, ``--set``, or a data file with its item index."""
    key: str
    """Dotted key path (``training.lr_encoder``), or ``""`` when the problem is the whole file."""
    message: str
    """What was expected and what was given."""
    hint: str | None = None
    """What to do about it."""

    def __str__(self) -> str:
        head = f"{self.where}: {self.key}: {self.message}" if self.key else f"{self.where}: {self.message}"
        return f"{head}\n  hint: {self.hint}" if self.hint else head


class ConfigError(Exception):
    """Bad input (config, overrides, data, output directory). The CLI prints every problem and exits 2."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """The nearest valid name, phrased as a hint, or None when nothing is close."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def keys_named_in(message: str, values: dict[str, object]) -> list[str]:
    """The keys a library's error message is about: those whose value it quotes first ("Unknown model_type 'bert'"
    is about the key holding 'bert'), then those it names."""
    by_value = [k for k, v in values.items()
                if any(isinstance(x, str) and len(x) > 1 and repr(x) in message for x in _leaves(v))]
    # the longest name first: "--fp16_full_eval ... --fp16" is about fp16_full_eval before fp16
    by_name = sorted((k for k in values if re.search(rf"\b{re.escape(k)}\b", message)), key=len, reverse=True)
    if not by_value and not by_name:  # "bogus is not a valid OptimizerNames": the value, unquoted, opens the message
        by_value = [k for k, v in values.items()
                    if any(isinstance(x, str) and len(x) > 1 and message.startswith(f"{x} ") for x in _leaves(v))]
    if not by_value and not by_name:  # "Unknown span mode markerV9": the value, unquoted, as a word of its own
        by_value = [k for k, v in values.items()
                    if any(isinstance(x, str) and len(x) > 2 and re.search(rf"(?<![\w.-]){re.escape(x)}(?![\w.-])",
                                                                           message) for x in _leaves(v))]
    return by_value + [k for k in by_name if k not in by_value]
