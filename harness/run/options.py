"""What a run of a cell is asked to do (:class:`Options`), the callbacks the sessions give it (:class:`Hooks`), and
why a step ended it (:class:`Problem`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.run import sources
from harness.run.configs import UserConfig
from harness.run.pins import Cell
from harness.run.results import CellResult, Status

SUITE = ("tests/propagation",)


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
    """For the import check and the suite together."""
    install_timeout_s: float = 3600
    rerun: bool = False
    pytest_args: Sequence[str] = ()
    """Arguments for pytest (test ids, -k, -x, ...): the run is then a repro run, stored apart from the cell's
    full result and never replacing it."""
    workers: str = "auto"
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
