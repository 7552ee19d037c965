"""A user's own configs through a cell (``nox -s matrix -- --config my.yaml``): each config's every key proven with
the cell's versions by ``ptbr prove --json`` (src/ptbr/prove.py), run by the cell's runner (its virtualenv, its
image's Python in a container with the checkout mounted read-only: ``prove_configs`` in harness/run/proving.py), and
stored beside the cell's result:

    reports/cells/<id>/configs/<slug>.json        the config's fates, findings, fingerprint and repro commands
    reports/cells/<id>/configs/<slug>.junit.xml   one test case per key (ignored, refused, fails: a failure)

A config result's fingerprint is the cell's (pins, code, runner) with the config's bytes and those of each data file
it names: an edited config, or edited data, makes that result stale and nothing else; the cell's own suite result
stays current.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict
from xml.sax.saxutils import escape, quoteattr

from harness.run import results
from harness.run.pins import ROOT, Cell

MOUNTED_ROOT = Path("/in/root")
"""Where a container sees the checkout the configs were named from (read-only); a pasted ``docker run`` mounts
``$PWD`` there."""
DIRECTORY = "configs"
SCHEMA_VERSION = 1


class BadConfigPath(ValueError):
    """A --config that names nothing usable."""


@dataclass(frozen=True)
class UserConfig:
    path: Path
    """Absolute, on this machine."""
    name: str
    """As a person at the checkout's root names it (relative to it, else absolute): the key of its results and of
    its expected verdicts."""

    @property
    def slug(self) -> str:
        return re.sub(r"[^\w.-]+", "_", self.name.removesuffix(".yaml").removesuffix(".yml")).strip("_")


def base() -> Path:
    """Where configs are named from and relative data paths read: the checkout, or in an image the checkout that
    a pasted ``docker run`` mounted."""
    return MOUNTED_ROOT if MOUNTED_ROOT.is_dir() else ROOT


def named(path: Path, root: Path | None = None) -> UserConfig:
    root = root or base()
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    return UserConfig(path, str(path.relative_to(root)) if path.is_relative_to(root) else str(path))


def expand(paths: Sequence[str | Path], root: Path | None = None) -> list[UserConfig]:
    """--config arguments → configs, in order, each once: a file as given, a directory as every *.yaml / *.yml in it
    (sorted). ``BadConfigPath`` names every argument that is neither."""
    found, problems = [], []
    for given in paths:
        path = Path(given).expanduser()
        if not path.is_absolute():
            path = (root or Path.cwd()) / path
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not inside:
                problems.append(f"--config {given}: a directory with no *.yaml file in it")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            problems.append(f"--config {given}: no such file or directory")
    if problems:
        raise BadConfigPath("\n".join(problems))
    return list({c.path: c for c in (named(p, root) for p in found)}.values())


def config_dir(cell_id: str, root: Path = results.CELLS) -> Path:
    return results.cell_dir(cell_id, root) / DIRECTORY


def load(cell_id: str, config: UserConfig | str, root: Path = results.CELLS) -> dict[str, Any] | None:
    slug = config.slug if isinstance(config, UserConfig) else config
    try:
        return json.loads((config_dir(cell_id, root) / f"{slug}.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def load_all(cell_id: str, root: Path = results.CELLS) -> list[dict[str, Any]]:
    found = sorted(config_dir(cell_id, root).glob("*.json"))
    return [r for p in found if (r := load(cell_id, p.stem, root)) is not None]


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def fingerprint(cell_key: str, config_path: Path, data: list[dict[str, Any]], root: Path | None = None) -> str:
    """The cell's fingerprint with the config's bytes and the current bytes of each data file it names (``data``:
    as its fate result recorded them, relative paths read from ``root``)."""
    root = root or base()
    digest = hashlib.sha256(cell_key.encode() + b"\0" + (_sha(config_path) or "missing").encode())
    for d in data:
        where = Path(d["path"]).expanduser()
        digest.update(f"\0{d['key']}={_sha(where if where.is_absolute() else root / where) or 'missing'}".encode())
    return digest.hexdigest()[:16]


def is_current(saved: dict[str, Any] | None, cell_key: str, root: Path | None = None) -> bool:
    """A saved config result still stands: made with this cell key, and neither the config nor a data file it
    names has changed since (a result that failed to judge never stands). The config is found by its name, from
    ``root`` (a result a container made names the file the host has)."""
    if not saved or saved.get("findings") is None or saved.get("cell_fingerprint") != cell_key:
        return False
    root = Path(saved["root"]) if saved.get("root") else root or base()  # another repository's configs: its root
    path = Path(saved["config"]) if Path(saved["config"]).is_absolute() else root / saved["config"]
    data = (saved.get("fate") or {}).get("data", [])
    return fingerprint(cell_key, path, data, root) == saved["fingerprint"]


def stale(cell_id: str, cell_key: str, chosen: Sequence[UserConfig], root: Path = results.CELLS
          ) -> list[UserConfig]:
    return [c for c in chosen if not is_current(load(cell_id, c, root), cell_key)]


def save(saved: dict[str, Any], root: Path = results.CELLS) -> None:
    """Write a config result and its JUnit XML (atomically, each)."""
    where = config_dir(saved["cell"], root)
    slug = UserConfig(Path(saved["path"]), saved["config"]).slug
    results.write_atomic(where / f"{slug}.json", json.dumps(saved, indent=2) + "\n")
    results.write_atomic(where / f"{slug}.junit.xml", junit_xml(saved))


class ConfigResult(TypedDict):
    """A config's result in one cell (reports/cells/<id>/configs/<slug>.json)."""

    schema_version: int
    cell: str
    override: bool
    config: str
    """The config's name as the user gave it (its path relative to ``root``, or as typed)."""
    root: str | None
    """Where the config is named from and its data read, when that is not the checkout (``--config-root``)."""
    path: str
    runner: str
    cell_fingerprint: str
    fingerprint: str
    """The cell's fingerprint, the config's bytes and its data files': what makes the result current."""
    findings: list[dict[str, str]] | None
    """What expected verdicts compare (``ptbr prove``'s findings); None when it could not be judged."""
    error: str | None
    fate: dict[str, Any]
    """What ``ptbr prove --json`` wrote for the config (src/ptbr/prove.py ``Proof``)."""
    seconds: float | None
    finished_at: str
    repro: dict[str, str | None]


def result(cell: Cell, runner: str, cell_key: str, config: UserConfig, fate: dict[str, Any], nox: str,
           root: Path | None = None) -> ConfigResult:
    """A config result from what ``ptbr prove`` wrote for it (``fate``; ``error`` when it wrote none)."""
    return {
        "schema_version": SCHEMA_VERSION, "cell": cell.id, "override": cell.override, "config": config.name,
        "path": str(config.path), "root": str(root) if root else None, "runner": runner,
        "cell_fingerprint": cell_key, "fingerprint": fingerprint(cell_key, config.path, fate.get("data", []), root),
        "findings": None if "error" in fate else fate.get("findings", []),
        "error": fate.get("error"), "fate": fate, "seconds": fate.get("seconds"),
        "finished_at": results.now(), "repro": {"nox": nox, "docker_build": None, "docker_run": None},
    }


def summary(saved: dict[str, Any]) -> str:
    """One line: how many keys arrive, and each finding."""
    if saved["findings"] is None:
        return f"cannot judge: {(saved.get('error') or '').splitlines()[0][:200]}"
    keys = saved["fate"].get("keys", [])
    arriving = sum(k["fate"] == "arrives" for k in keys)
    found = saved["findings"]
    return f"{arriving} of {len(keys)} keys arrive as written" + (
        "; " + "; ".join(f["finding"] for f in found) if found else "")


def junit_xml(saved: dict[str, Any]) -> str:
    """One test case per key of the config (a key that does not arrive: a failure with its why; changed: passed,
    with the change in its output), and one for the smoke training."""
    cases = []
    name = f"{saved['cell']}::{saved['config']}"
    fate = saved["fate"]
    for k in fate.get("keys", []):
        attrs = f"classname={quoteattr(name)} name={quoteattr(k['key'])}"
        detail = f"{k['fate']}" + (f" → {json.dumps(k.get('to'))}" if k["fate"] == "changed" else "") + \
            (f": {k['why']}" if k.get("why") else "")
        if k["fate"] in ("ignored", "refused", "fails"):
            cases.append(f"  <testcase {attrs}><failure message={quoteattr(detail)}/></testcase>")
        else:
            cases.append(f"  <testcase {attrs}><system-out>{escape(detail)}</system-out></testcase>")
    smoke = fate.get("smoke") or {"status": "not-run", "why": saved.get("error") or ""}
    attrs = f"classname={quoteattr(name)} name=\"smoke training\""
    if smoke["status"] == "trained":
        cases.append(f"  <testcase {attrs}/>")
    elif smoke["status"] == "failed" or saved["findings"] is None:
        cases.append(f"  <testcase {attrs}><failure message={quoteattr(smoke.get('why') or '')}/></testcase>")
    else:
        cases.append(f"  <testcase {attrs}><skipped message={quoteattr(smoke.get('why') or '')}/></testcase>")
    failures = sum("<failure" in c for c in cases)
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name={quoteattr(name)} tests="{len(cases)}" '
            f'failures="{failures}">\n' + "\n".join(cases) + "\n</testsuite>\n")

