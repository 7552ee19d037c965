"""Proving configs in a cell's prepared environment with PTBR's own ``ptbr prove --json`` (src/ptbr/prove.py), one
process for all of them, each config's result saved (harness/run/configs.py)."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Sequence
from pathlib import Path

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


def prove_configs(cell: Cell, runner: Runner, opts: Options, chosen: Sequence[UserConfig], stage: Path,
                  root: Path = results.CELLS) -> list[dict]:
    """Prove ``chosen`` in the cell's prepared environment with PTBR's own ``ptbr prove --json``, in one process, and
    save each config's result (harness/run/configs.py); returns them. A process that writes nothing readable is a
    result for each config that says why, never a crash."""
    if not chosen:
        return []
    key = runner.fingerprint(cell)
    work = stage / "prove"
    work.mkdir(exist_ok=True)
    work.chmod(0o777)
    args = ["-m", "ptbr", "prove", "--json", "--out", "{stage}/prove/proofs.json", "--work", "{stage}/prove/work",
            "--base", runner.visible(opts.config_root or configs.base()), *(runner.visible(c.path) for c in chosen)]
    argv, env = runner.argv(args, {"HF_HUB_OFFLINE": "1"}, stage)
    opts.log(f"{cell.id}: proving {len(chosen)} config(s): {', '.join(c.name for c in chosen)}")
    start = time.monotonic()
    code, output = process.call(argv, PROVE_TIMEOUT_S, env=env)
    proven = _proofs(work / "proofs.json", len(chosen))
    if proven is None:
        why = f"did not finish within {PROVE_TIMEOUT_S} s" if code is None else f"exit {code}"
        proven = [{"error": f"ptbr prove {why}, no result:\n{tail(output, 6)}"} for _ in chosen]
    out = []
    for config, proof in zip(chosen, proven, strict=True):
        nox = shlex.split(repro(cell, (), opts.matrix))
        named_from = ["--config-root", str(opts.config_root)] if opts.config_root else []
        nox = shlex.join([*nox, *([] if "--" in nox else ["--"]), "--configs-only", "--rerun", *named_from, "--config",
                          config.name])
        saved = configs.result(cell, runner.name, key, config, proof, nox, opts.config_root)
        opts.hooks.complete_config(saved)
        configs.save(saved, root)
        out.append(saved)
        opts.log(f"{cell.id}: {config.name}: {configs.summary(saved)}")
    opts.log(f"{cell.id}: {len(chosen)} config(s) proven in {time.monotonic() - start:.1f} s")
    return out


def _proofs(path: Path, expected: int) -> list[dict] | None:
    """The configs' results ``ptbr prove --json`` wrote, or None when there are none of this layout for each."""
    try:
        written = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(written, dict) or written.get("schema_version") != PROOFS_SCHEMA:
        return None
    proven = written.get("configs")
    return proven if isinstance(proven, list) and len(proven) == expected else None
