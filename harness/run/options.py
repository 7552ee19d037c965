"""What a run of a cell is asked to do (:class:`Options`), the callbacks the sessions give it (:class:`Hooks`), and
why a step ended it (:class:`Problem`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from harness.run import sources
from harness.run.configs import UserConfig
from harness.run.pins import Cell
from harness.run.results import CellResult, Status

SUITE = ("tests/propagation",)


def cores() -> int:
    """The cores this process may run on (its affinity: a container's or a CI runner's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Share(NamedTuple):
    workers: int
    threads: int


def share(cells_at_once: int, workers: int | None = None, available: int | None = None) -> Share:
    """How one cell uses the cores when ``cells_at_once`` cells run side by side (``nox -j N``): max(1, cores // N)
    xdist workers (1: no xdist; ``workers`` when asked), and the cores left to each worker as torch's threads, so
    that the cells, their workers and torch's threads together never ask for more than the cores."""
    available = available or cores()
    mine = max(1, available // max(1, cells_at_once))
    workers = workers or mine
    return Share(workers, max(1, mine // workers))


@dataclass
class Hooks:
    """What the sessions add to a run from outside harness/run/ (which imports nothing else of the harness, so that
    only run/ decides a verdict): each is called with what it needs and may add to it, never change a verdict."""

    complete: Callable[[CellResult], object] = lambda _result: None
    """Adds to a finished result before it is saved (the Docker repro commands: harness/run/docker.py)."""
    complete_config: Callable[[dict], object] = lambda _result: None
    """The same for a config's result (harness/run/configs.py)."""
    not_installable: Callable[[Cell], str | None] = lambda _cell: None
    """Why a pin cannot go on the cell's Python at all (its Requires-Python, no wheel for it), known before installing
    anything: the sessions ask the package index (harness/releases/index.py ``cell_problem``)."""


@dataclass
class Options:
    """How to run a cell: its limits, what runs, where its log goes, and the sessions' :class:`Hooks`."""

    timeout_s: float = 1200
    """For the cell's one run: the import, the suite and the configs together."""
    install_timeout_s: float = 3600
    rerun: bool = False
    pytest_args: Sequence[str] = ()
    """Arguments for pytest (test ids, -k, -x, ...): the run is then a repro run, stored apart from the cell's
    full result and never replacing it."""
    workers: int = field(default_factory=lambda: share(1).workers)
    """xdist workers for the suite; 1: none, the suite runs in the process that imported the stack."""
    threads: int = field(default_factory=lambda: share(1).threads)
    """Torch's threads per process of the run (OMP_NUM_THREADS, unless the environment sets it)."""
    log: Callable[[str], None] = print
    installer: list[str] = field(default_factory=sources.uv)
    suite: Sequence[str] = SUITE
    """What a full run runs."""
    hooks: Hooks = field(default_factory=Hooks)
    matrix: bool = False
    """The cell is one of the matrix definition's: its repro command is its matrix session."""
    configs: Sequence[UserConfig] = ()
    """A user's configs to prove in the cell (harness/run/configs.py): after a full run that passed or broke, and
    on reuse those whose result is stale; never in a repro run."""
    configs_only: bool = False
    """Prove ``configs`` only (prepare the environment, check its versions): the suite does not run and the cell's
    own result is left as it is."""
    config_root: Path | None = None
    """Where ``configs`` are named from and their relative data paths read: another repository's root (a team's
    configs through the reusable workflow); None: the checkout."""


@dataclass
class Problem:
    """Why a step ended the run."""

    status: Status
    reason: str
    conclusive: bool = False
