"""Which keys of a config a failing training reads: the line where gliner or transformers failed, and the keys whose
destination that code reads (`ptbr validate`'s first step, `ptbr prove`'s smoke training)."""

from __future__ import annotations

import linecache
import re
import traceback
from typing import NamedTuple

from ptbr.forwarding import Plan, Skip

CONTEXT = 10
"""Lines before the failing one (in its function) that count as what the failing code reads."""


class Blamed(NamedTuple):
    where: str
    """Where in gliner or transformers the training failed (``gliner/modeling/base.py:621 (loss)``); "" elsewhere."""
    keys: list[str]
    """The keys whose destination the failing code reads."""


def blame(exc: BaseException, plan: Plan, written: set[str] | None = None) -> Blamed:
    """Where a training failed in gliner or transformers, and the keys whose destination the failing code reads.

    What counts as read: the failing line and function of each of the last three library frames, and the ten lines
    before the failing one in the last gliner frame (the ``if use_span_width_weight:`` above a failing tensor
    operation). A key is blamed when its destination's name is a word there; ``written``: only these keys (those of
    the file), else any key the plan forwards a value for. ("", []) when the failure is not in either library."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "/gliner/" in f.filename or "/transformers/" in f.filename]
    if not frames:
        return Blamed("", [])
    last = frames[-1]
    text = [f.line or "" for f in frames[-3:]] + [f.name for f in frames[-3:]]
    context = next((f for f in reversed(frames) if "/gliner/" in f.filename), last)
    start = max((context.lineno or 1) - CONTEXT, 1)
    text += [linecache.getline(context.filename, n) for n in range(start, context.lineno or 1)]
    words = {w.rstrip("s") for w in re.findall(r"\w+", " ".join(text))}
    blamed = {r.route.sources[0] for r in plan.resolved
              if r.route.kind in ("train_model", "args", "model") and r.route.sources
              and (written is None or r.route.sources[0] in written) and not isinstance(r.value, Skip)
              and r.value is not None and r.route.name.rstrip("s") in words}
    return Blamed(_at(last) + (f" from {_at(context)}" if context is not last else ""), sorted(blamed))


def _at(frame: traceback.FrameSummary) -> str:
    package = "gliner" if "/gliner/" in frame.filename else "transformers"
    return f"{package}/{frame.filename.split(f'/{package}/')[-1]}:{frame.lineno} ({frame.name})"
