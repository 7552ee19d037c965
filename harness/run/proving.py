"""Proving configs in a cell's prepared environment with PTBR's own ``ptbr prove --json`` (src/ptbr/prove.py): in the
cell's one run (harness/run/cell_plugin.py runs the command in pytest's process once the suite has run), or in a
process of their own; each config's result saved (harness/run/configs.py)."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from harness.run import configs, process, results
from harness.run.configs import UserConfig
from harness.run.options import Options
from harness.run.pins import Cell, repro
from harness.run.process import tail
from harness.run.runners import Runner

PROVE_TIMEOUT_S = 900
"""For proving every config of a run in one process (each takes seconds)."""


PROOFS_SCHEMA = 2
"""The layout of ``ptbr prove --json`` this harness reads (src/ptbr/prove.py ``Proofs``)."""


def prove_args(runner: Runner, opts: Options, chosen: Sequence[UserConfig]) -> tuple[list[str], str]:
    """(the configs as the runner's commands see them, where their relative data paths are read)."""
    return [runner.visible(c.path) for c in chosen], runner.visible(opts.config_root or configs.base())


def prove_configs(cell: Cell, runner: Runner, opts: Options, chosen: Sequence[UserConfig], stage: Path,
                  root: Path = results.CELLS) -> list[dict]:
    """Prove ``chosen`` in the cell's prepared environment with PTBR's own ``ptbr prove --json`` in a process of its
    own (``--configs-only``, and the configs a cell's run left unproven), and save each config's result; returns
    them. What the process did not prove (it wrote nothing readable for it) is a result that says why."""
    if not chosen:
        return []
    work = stage / "prove-alone"
    work.mkdir(exist_ok=True)
    work.chmod(0o777)
    paths, base = prove_args(runner, opts, chosen)
    args = ["-m", "ptbr", "prove", "--json", "--out", "{stage}/prove-alone/proofs.json", "--work",
            "{stage}/prove-alone/work", "--base", base, *paths]
    argv, env = runner.argv(args, {"HF_HUB_OFFLINE": "1"}, stage)
    opts.log(f"{cell.id}: proving {len(chosen)} config(s) in a process of their own: "
             f"{', '.join(c.name for c in chosen)}")
    start = time.monotonic()
    code, output = process.call(argv, PROVE_TIMEOUT_S, env=env)
    why = f"did not finish within {PROVE_TIMEOUT_S} s" if code is None else f"exit {code}"
    out = save(cell, runner, opts, chosen, read(work / "proofs.json"), f"ptbr prove {why}, no result:\n"
               f"{tail(output, 6)}", root)
    opts.log(f"{cell.id}: {len(chosen)} config(s) proven in {time.monotonic() - start:.1f} s")
    return out


def settle(cell: Cell, runner: Runner, opts: Options, chosen: Sequence[UserConfig], stage: Path, ended: Ended,
           root: Path = results.CELLS) -> int:
    """Save what the cell's one run proved of ``chosen`` (harness/run/cell_plugin.py wrote each config's proof as it
    was proven). Where the run ended before the last, the config it was proving says how, and the rest are proven in
    a process of their own; where the cell's time ran out, each unproven one says so. Returns how many processes
    it started (0 or 1)."""
    proven = read(stage / "prove" / "proofs.json")
    save(cell, runner, opts, chosen[:len(proven)], proven, "", root)
    rest = chosen[len(proven):]
    if not rest:
        return 0
    if ended.timed_out:
        save(cell, runner, opts, rest, [], f"not proven: the cell's run did not finish within its "
                                           f"{opts.timeout_s:.0f} s (--timeout)", root)
        return 0
    save(cell, runner, opts, rest[:1], [], f"proving it in the cell's run stopped ({ended.how}) before its result "
                                           f"was written:\n{ended.tail}", root)
    prove_configs(cell, runner, opts, rest[1:], stage, root)
    return 1 if rest[1:] else 0


class Ended(NamedTuple):
    """How a cell's one run ended, for the configs it had not proven."""

    timed_out: bool
    how: str
    """In words: its exit status or signal, or that ``ptbr prove`` itself failed."""
    tail: str


def save(cell: Cell, runner: Runner, opts: Options, chosen: Sequence[UserConfig], proven: list[dict], missing: str,
         root: Path = results.CELLS) -> list[dict]:
    """Each of ``chosen`` with its proof (in order), or, past the proofs there are, ``missing`` as its error: its
    result saved (harness/run/configs.py) and logged; returns them."""
    key = runner.fingerprint(cell)
    out = []
    for n, config in enumerate(chosen):
        proof = proven[n] if n < len(proven) else {"error": missing}
        nox = shlex.split(repro(cell, (), opts.matrix))
        named_from = ["--config-root", str(opts.config_root)] if opts.config_root else []
        nox = shlex.join([*nox, *([] if "--" in nox else ["--"]), "--configs-only", "--rerun", *named_from, "--config",
                          config.name])
        saved = configs.result(cell, runner.name, key, config, proof, nox, opts.config_root)
        opts.hooks.complete_config(saved)
        configs.save(saved, root)
        out.append(saved)
        opts.log(f"{cell.id}: {config.name}: {configs.summary(saved)}")
    return out


def read(path: Path) -> list[dict]:
    """The configs' results ``ptbr prove --json --out`` wrote, in order (it writes them again after each config, so a
    run that died keeps those before); none where there is no file of this layout."""
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(written, dict) or written.get("schema_version") != PROOFS_SCHEMA:
        return []
    proven = written.get("configs")
    return [p for p in proven if isinstance(p, dict)] if isinstance(proven, list) else []
