"""What the package index has: the releases of torch, transformers and gliner (final or not, yanked or not) and the
requirements a release declares, for floating cells, `nox -s discover` and `nox -s bisect`.

Read through the index's JSON simple API (PEP 691; ``PTBR_INDEX_URL``, default PyPI) and, for a release's declared
requirements, its wheel's METADATA (PEP 658 file where the index has one, else the wheel itself). Answers are cached
under reports/index/ (``PTBR_INDEX_CACHE``) for an hour (``PTBR_INDEX_TTL`` seconds), so listing nox sessions does not
query the index each time; a release's requirements never change and are cached for good.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

from harness.run.pins import Cell
from harness.run.results import REPORTS
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import parse_wheel_filename
from packaging.version import InvalidVersion, Version


def _cache() -> Path:
    return Path(os.environ.get("PTBR_INDEX_CACHE", REPORTS / "index"))
ACCEPT = "application/vnd.pypi.simple.v1+json"


class IndexUnavailable(RuntimeError):
    """The index could not be read and nothing is cached."""


@dataclass(frozen=True, order=True)
class Release:
    version: Version
    yanked: bool = False

    def __str__(self) -> str:
        return str(self.version)


def url() -> str:
    return os.environ.get("PTBR_INDEX_URL", "https://pypi.org/simple").rstrip("/")


def _get(url: str, accept: str | None = None) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read()
    except OSError as e:
        raise IndexUnavailable(f"cannot read {url}: {e}") from e


def _project(package: str) -> dict:
    """The index's project page (files, yanked flags), cached for PTBR_INDEX_TTL seconds."""
    path = _cache() / f"{package}.json"
    ttl = float(os.environ.get("PTBR_INDEX_TTL", "3600"))
    if path.is_file() and time.time() - path.stat().st_mtime < ttl:
        return json.loads(path.read_text())
    try:
        page = json.loads(_get(f"{url()}/{package}/", ACCEPT))
    except IndexUnavailable:
        if path.is_file():  # stale beats nothing; said where it is used
            return json.loads(path.read_text())
        raise
    kept = {"files": [{k: f.get(k) for k in ("filename", "url", "yanked", "core-metadata", "requires-python")}
                      for f in page["files"]]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kept))
    return kept


def _version_of(filename: str, package: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        match = re.fullmatch(rf"{re.escape(package)}-(.+)\.(tar\.gz|zip)", filename, re.IGNORECASE)
        return Version(match[1]) if match else None
    except (InvalidVersion, ValueError):
        return None


def releases(package: str, pre: bool = False) -> list[Release]:
    """Every release of ``package`` in version order; final releases only unless ``pre``. A release is yanked when
    all its files are (an exact pin still installs it)."""
    files: dict[Version, list[bool]] = {}
    for f in _project(package)["files"]:
        version = _version_of(f["filename"], package)
        if version is not None and (pre or not (version.is_prerelease or version.is_devrelease)):
            files.setdefault(version, []).append(bool(f["yanked"]))
    return [Release(v, all(y)) for v, y in sorted(files.items())]


def latest(package: str, spec: str = "") -> Release:
    """The newest final, not yanked release of ``package`` within ``spec`` (e.g. ">=4.51.3,<5.17")."""
    allowed = SpecifierSet(spec)
    found = [r for r in releases(package) if not r.yanked and r.version in allowed]
    if not found:
        raise LookupError(f"no release of {package} matches {spec!r} on {url()}")
    return found[-1]


def between(package: str, first: str, last: str, pre: bool = False) -> list[Release]:
    """The releases from ``first`` to ``last``, both included, in version order."""
    low, high = Version(first), Version(last)
    return [r for r in releases(package, pre) if low <= r.version <= high]


def requires(package: str, version: str, dependency: str) -> str:
    """The specifier release ``version`` of ``package`` declares for ``dependency`` ("" when it declares none),
    read from its wheel's METADATA."""
    path = _cache() / "requires" / f"{package}-{version}.json"
    if not path.is_file():
        wheel = next((f for f in _project(package)["files"] if f["filename"].endswith(".whl")
                      and _version_of(f["filename"], package) == Version(version)), None)
        if wheel is None:
            raise LookupError(f"{package} {version} has no wheel on {url()}")
        if wheel.get("core-metadata"):
            text = _get(wheel["url"] + ".metadata").decode()
        else:
            with zipfile.ZipFile(io.BytesIO(_get(wheel["url"]))) as z:
                text = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        reqs = [str(r) for r in map(Requirement, Parser().parsestr(text).get_all("Requires-Dist") or [])
                if not r.marker or r.marker.evaluate({"extra": ""})]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(reqs))
    for req in map(Requirement, json.loads(path.read_text())):
        if req.name.lower() == dependency.lower():
            return str(req.specifier)
    return ""


def _runs_on(tag: Tag, python: str) -> bool:
    """Whether a wheel tag installs on CPython ``python`` (major.minor) on x86_64 Linux."""
    minor = int(python.split(".")[1])
    interpreter = tag.interpreter in (f"cp3{minor}", "py3", f"py3{minor}") or (
        tag.abi == "abi3" and re.fullmatch(r"cp3(\d+)", tag.interpreter) is not None
        and int(tag.interpreter[3:]) <= minor)
    return interpreter and (tag.platform == "any" or (tag.platform.endswith("x86_64") and "linux" in tag.platform))


def python_problem(package: str, version: str, python: str) -> str | None:
    """Why release ``version`` of ``package`` cannot be installed on CPython ``python`` (x86_64 Linux), known
    before installing: every file's Requires-Python excludes it, or it has wheels only and none for it. None when
    it can be, or the index cannot tell (unreadable, or no such release: the install says so)."""
    try:
        files = [f for f in _project(package)["files"] if _version_of(f["filename"], package) == Version(version)]
    except (IndexUnavailable, InvalidVersion, OSError, ValueError):
        return None
    if not files:
        return None
    allowed = [f for f in files if not f.get("requires-python")
               or Version(f"{python}.0") in SpecifierSet(f["requires-python"])]
    if not allowed:
        declared = sorted({f["requires-python"] for f in files})
        return f"{package} {version} requires Python {' or '.join(declared)}: not {python}"
    if any(not f["filename"].endswith(".whl") for f in allowed):
        return None  # a source distribution: whether it builds is the install's to say
    if any(_runs_on(t, python) for f in allowed for t in parse_wheel_filename(f["filename"])[3]):
        return None
    built = sorted({t.interpreter for f in allowed for t in parse_wheel_filename(f["filename"])[3]})
    return f"{package} {version} has no wheel for CPython {python} on x86_64 Linux (its wheels: {', '.join(built)})"


def cell_problem(cell: Cell) -> str | None:
    """Why one of a cell's pins cannot go on its Python (``python_problem``), or None."""
    return next(filter(None, (python_problem(p, v, cell.python) for p, v in cell.pins.items())), None)
