"""A release that appears between two runs, served by a real package index on 127.0.0.1 (PEP 691 pages and wheels
from a local directory): pinned cells keep their resolution and verdict, the gate's exit code does not change, the
floating cell reports news, and --news-fails fails on news the rules do not predict. Nothing but that index is
reached."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_bad_inputs import nox

PINNED = "torch2.13.0-tf5.16.1-gliner0.2.29"
NEWS = "torch2.13.0-tf5.25.0-gliner0.2.29"
KNOWN = "gliner's path: training.lr_others [gliner-kwargs]"


class Index:
    """A package index served from a directory: /simple/<name>/ (PEP 691 JSON) and /files/<wheel>(.metadata)."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url
        self.files: dict[str, list[dict]] = {}

    def publish(self, name: str, version: str, *requires: str) -> None:
        """Add a release: a real wheel (METADATA, WHEEL, RECORD) and its PEP 658 metadata, then the project page."""
        files = self.root / "files"
        files.mkdir(parents=True, exist_ok=True)
        wheel = files / f"{name}-{version}-py3-none-any.whl"
        metadata = "".join([f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                            *(f"Requires-Dist: {r}\n" for r in requires)])
        info = f"{name}-{version}.dist-info"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"{name}/__init__.py", "")
            z.writestr(f"{info}/METADATA", metadata)
            z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                        "Tag: py3-none-any\n")
            z.writestr(f"{info}/RECORD", "".join(f"{f},,\n" for f in (f"{name}/__init__.py", f"{info}/METADATA",
                                                                      f"{info}/WHEEL", f"{info}/RECORD")))
        Path(f"{wheel}.metadata").write_text(metadata)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        meta_digest = hashlib.sha256(metadata.encode()).hexdigest()
        self.files.setdefault(name, []).append({
            "filename": wheel.name, "url": f"{self.url}/files/{wheel.name}", "hashes": {"sha256": digest},
            "core-metadata": {"sha256": meta_digest}, "requires-python": None, "yanked": False})
        page = self.root / "simple" / name / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(json.dumps({"meta": {"api-version": "1.1"}, "name": name, "files": self.files[name]}))


class _Handler(http.server.SimpleHTTPRequestHandler):
    def guess_type(self, path: str) -> str:
        return "application/vnd.pypi.simple.v1+json" if path.endswith("index.html") else "application/octet-stream"

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Index]:
    root = tmp_path / "index"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("PTBR_INDEX_URL", f"{url}/simple")
    monkeypatch.setenv("PTBR_INDEX_TTL", "0")  # every run reads the index as it is now
    try:
        yield Index(root, url)
    finally:
        server.shutdown()
        server.server_close()


DEFINITION = """python = "3.11"
configs = []
exclude_newer = "2026-12-04"

[[group]]
gliner = ["0.2.29"]
transformers = ["5.16.1"]
torch = ["2.13.0"]

[[group]]
gliner = ["latest"]
transformers = ["latest"]
torch = ["2.13.0"]
"""
RULES = f"""[[finding]]
finding = "{KNOWN}"
why = "gliner's train_model(**kwargs) turns others_lr 0.0 into the encoder's (`x or default`)"
"""
WRITE = """import json, sys
from harness.definition import Cell
from harness.run import results
cell_id, status, findings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
cell = Cell.parse(cell_id, override=True)
breaks = [{"layer": f.split("[")[1].rstrip("]"), "field": f.split(": ")[-1].split(" [")[0], "test": "t", "message": "m",
           "cause": None} for f in findings]
results.save(results.CellResult(
    id=cell.id, requested=cell.requested, resolved=cell.pins, installed=None, python="3.11.7",
    declared_support={"gliner_requires": "transformers>=4.51", "inside": False, "override": cell.override},
    torch_source="local", status=status, reason=None, conclusive=True, tests=None,
    breaks=[b for b, f in zip(breaks, findings) if not f.startswith("gliner's path: ")],
    gliner_path={"status": "broken",
                 "breaks": [b for b, f in zip(breaks, findings) if f.startswith("gliner's path: ")]},
    repro={"nox": "nox", "docker_build": None, "docker_run": None}, runner="venv", image=None, duration_s=1.0,
    timings={}, fingerprint=results.fingerprint(cell), finished_at=results.now(), selection=None))
"""


def _result(checkout: Path, cell_id: str, status: str, *findings: str) -> None:
    """A cell's result file as a run of it writes it, current for the checkout's code (its fingerprint)."""
    subprocess.run([sys.executable, "-c", WRITE, cell_id, status, json.dumps(list(findings))], cwd=checkout,
                   check=True, env={**os.environ, "PYTHONPATH": str(checkout)})


def _report(checkout: Path, *args: str) -> tuple[int, str]:
    run = nox(checkout, "-s", "report", "--", *args)
    return run.returncode, run.stdout + run.stderr


def test_a_release_that_appears_is_news_and_changes_no_verdict_of_what_the_commit_pins(checkout: Path,
                                                                                        index: Index) -> None:
    for version in ("5.16.1", "5.24.0"):
        index.publish("transformers", version, "hfdep>=1.0")
    index.publish("hfdep", "1.0")
    index.publish("torch", "2.13.0")
    index.publish("gliner", "0.2.29", "transformers<5.26,>=4.51.3")
    (checkout / "constraints" / "matrix.toml").write_text(DEFINITION)
    (checkout / "constraints" / "expected.toml").write_text(RULES)
    floating_then = "torch2.13.0-tf5.24.0-gliner0.2.29"
    for cell_id in (PINNED, floating_then):
        _result(checkout, cell_id, "pass", KNOWN)
    before, said = _report(checkout)
    assert before == 0, said
    assert f"NEWS transformers 5.24.0 is new ({floating_then}): PTBR's path passes with 1 finding(s), as the " \
        "rules predict" in said

    index.publish("transformers", "5.25.0", "hfdep>=1.0")  # this week's releases
    index.publish("hfdep", "1.1")
    listed = nox(checkout, "-l")
    assert f"matrix({PINNED})" in listed.stdout, "the pinned cell is the same cell"
    assert f"matrix({NEWS})" in listed.stdout, "the floating one follows the new release"
    after, said = _report(checkout)
    assert after == before == 0, f"the same commit, the same exit code on any day:\n{said}"
    assert "all 1 pinned cells are as expected" in said, "the pinned cell keeps its verdict"
    _result(checkout, NEWS, "pass", KNOWN)
    code, said = _report(checkout, "--news-fails")
    assert code == 0, said
    assert f"NEWS transformers 5.25.0 is new ({NEWS}): PTBR's path passes with 1 finding(s), as the rules " \
        "predict" in said
    _result(checkout, NEWS, "broken", KNOWN, "training.seed [ptbr]")
    code, said = _report(checkout)
    assert code == 0, f"news never fails the main job or a pull request:\n{said}"
    assert f"NEWS transformers 5.25.0 is new ({NEWS}): a finding the rules do not predict:" in said
    assert "  + training.seed [ptbr]" in said
    code, said = _report(checkout, "--news-fails")
    assert code == 1, f"the nightly run fails on news the rules do not predict:\n{said}"
    subprocess.run([sys.executable, "-m", "harness", "github", "news", "reports/matrix.json", "news"], cwd=checkout,
                   check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(checkout)})
    assert (checkout / "news" / "1.title").read_text() == \
        "Matrix news: transformers 5.25.0 is not as the rules predict\n", "the nightly's issue, one per release"
    assert f"nox -s accept -- {NEWS}" in (checkout / "news" / "1.md").read_text(), "the issue says how to accept it"
    assert not (checkout / "news" / "2.title").exists()


def test_a_lock_file_keeps_a_cells_resolution_when_a_dependency_is_released(tmp_path: Path, index: Index) -> None:
    """The mechanism pinned cells rely on, with the resolver they install with (uv), against the same local index:
    the lock file `nox -s lock` writes keeps the resolution; without it, the newer release is taken."""
    from harness.run import sources

    beside_nox = Path(os.environ.get("PTBR_NOX_PYTHON", sys.executable)).with_name("uv")  # the uv nox runs cells with
    uv = [str(beside_nox)] if beside_nox.is_file() else sources.uv()
    index.publish("hfdep", "1.0")
    index.publish("transformers", "5.16.1", "hfdep>=1.0")
    spec = tmp_path / "cell.in"
    spec.write_text("transformers==5.16.1\n")
    lock = tmp_path / "cell.txt"

    def compile_(*args: str) -> str:
        env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_NO_CONFIG": "1"}
        env.pop("UV_FIND_LINKS", None)
        out = subprocess.run([*uv, "pip", "compile", str(spec), "--index-url", f"{index.url}/simple", "--quiet",
                              "--no-header", "--no-annotate", "--python-version", "3.11", "--refresh", *args], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stdout

    lock.write_text(compile_())
    assert "hfdep==1.0" in lock.read_text()
    index.publish("hfdep", "1.1")
    assert "hfdep==1.0" in compile_("--constraint", str(lock)), "a pinned cell resolves from its lock file"
    assert "hfdep==1.1" in compile_(), "what a lock file does not hold follows the index"

