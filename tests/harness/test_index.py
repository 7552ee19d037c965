"""The package index as the harness reads it: final releases in version order, yanked ones flagged, a release's
declared requirements from its METADATA, answers cached; and floating axes of the definition resolved through it."""

from __future__ import annotations

from pathlib import Path

from fakes import fake_index
from harness import definition
from harness.releases import index

TRANSFORMERS = ["4.57.6", "5.0.0", "5.10.0", "5.10.1", "5.16.1", "5.17.0rc1", "5.17.0", "5.9.0", "5.25.0.dev0"]
GLINER = ["0.2.24", "0.2.29", "0.2.30"]
REQUIRES = {("gliner", "0.2.29"): ["transformers<5.17.0,>=4.51.3", "torch>=2.0.0", 'onnxruntime; extra == "onnx"'],
            ("gliner", "0.2.30"): ["transformers>=4.51.3,<5.10"]}


def test_releases_are_final_in_version_order_with_yanked_ones_flagged(monkeypatch) -> None:
    fake_index(monkeypatch, {"transformers": TRANSFORMERS}, yanked=("transformers==5.10.0",))
    found = index.releases("transformers")
    assert [str(r) for r in found] == ["4.57.6", "5.0.0", "5.9.0", "5.10.0", "5.10.1", "5.16.1", "5.17.0"], \
        "versions compare as versions (5.9 < 5.10), pre- and dev releases left out"
    assert [str(r) for r in found if r.yanked] == ["5.10.0"]
    assert str(index.latest("transformers")) == "5.17.0"
    assert str(index.latest("transformers", "<5.17.0,>=4.51.3")) == "5.16.1"
    assert [str(r) for r in index.between("transformers", "5.9.0", "5.16.1")] == ["5.9.0", "5.10.0", "5.10.1",
                                                                                  "5.16.1"]
    assert "5.17.0rc1" in [str(r) for r in index.releases("transformers", pre=True)]


def test_a_releases_requirement_comes_from_its_metadata_without_extras(monkeypatch) -> None:
    fake_index(monkeypatch, {"gliner": GLINER}, REQUIRES)
    assert index.requires("gliner", "0.2.29", "transformers") == "<5.17.0,>=4.51.3"
    assert index.requires("gliner", "0.2.29", "onnxruntime") == "", "an extra's requirement is not a requirement"


def test_answers_are_cached_and_a_stale_cache_beats_an_unreachable_index(monkeypatch) -> None:
    read = fake_index(monkeypatch, {"gliner": GLINER}, REQUIRES)
    index.releases("gliner"), index.releases("gliner"), index.requires("gliner", "0.2.29", "torch")
    index.requires("gliner", "0.2.29", "transformers")
    assert len(read) == 2, "one project page and one METADATA, each read once"
    monkeypatch.setenv("PTBR_INDEX_TTL", "0")

    def unreachable(url: str, accept: str | None = None) -> bytes:
        raise index.IndexUnavailable(f"cannot read {url}")

    monkeypatch.setattr(index, "_get", unreachable)
    assert [str(r) for r in index.releases("gliner")] == GLINER, "offline, the last answer stands"


def test_floating_axes_resolve_to_todays_releases_and_a_pinned_twin_wins(monkeypatch, tmp_path: Path) -> None:
    fake_index(monkeypatch, {"gliner": GLINER, "transformers": TRANSFORMERS}, REQUIRES)
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('python = "3.11"\n[[group]]\ngliner = ["0.2.29"]\ntransformers = ["5.16.1"]\n'
                      'torch = ["2.13.0"]\n[[group]]\ngliner = ["0.2.29", "latest"]\n'
                      'transformers = ["latest", "latest-in-range"]\ntorch = ["2.13.0"]\n')
    got = {c.id: c for c in definition.cells(matrix)}
    assert list(got) == ["torch2.13.0-tf5.16.1-gliner0.2.29", "torch2.13.0-tf5.17.0-gliner0.2.29",
                         "torch2.13.0-tf5.17.0-gliner0.2.30", "torch2.13.0-tf5.9.0-gliner0.2.30"]
    assert got["torch2.13.0-tf5.16.1-gliner0.2.29"].floating == "", "the pinned cell, not a floating twin"
    assert (got["torch2.13.0-tf5.17.0-gliner0.2.29"].override, got["torch2.13.0-tf5.17.0-gliner0.2.29"].floating) \
        == (True, "transformers=latest"), "latest outside gliner's declared range installs with an override"
    assert (got["torch2.13.0-tf5.9.0-gliner0.2.30"].override, got["torch2.13.0-tf5.9.0-gliner0.2.30"].floating) == \
        (False, "transformers=latest-in-range,gliner=latest"), "the newest transformers gliner 0.2.30 allows"
    assert [c.id for c in definition.cells(matrix, floating=False)] == ["torch2.13.0-tf5.16.1-gliner0.2.29"]


def test_an_unreachable_index_leaves_floating_cells_out_and_says_so(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.toml"
    matrix.write_text('python = "3.11"\n[[group]]\ngliner = ["latest"]\ntransformers = ["5.0.0"]\n'
                      'torch = ["2.13.0"]\n')
    assert definition.cells(matrix) == []
    (why,) = definition.UNRESOLVED
    assert "cannot read http://127.0.0.1:9/simple/gliner/" in why, \
        "listing never fails for it (every nox command lists cells); the report says why"


def _files(monkeypatch, files: dict[str, list[dict]]) -> None:
    """Project pages with the given files (PEP 691: filename, requires-python)."""
    import json

    def get(url: str, accept: str | None = None) -> bytes:
        package = url.removeprefix(index.url() + "/").split("/")[0]
        return json.dumps({"files": [{"url": f"{index.url()}/files/{f['filename']}", "yanked": False,
                                      "core-metadata": True, **f} for f in files[package]]}).encode()

    monkeypatch.setattr(index, "_get", get)


def test_a_release_that_cannot_go_on_a_python_is_known_before_installing(monkeypatch) -> None:
    _files(monkeypatch, {
        "gliner": [{"filename": "gliner-0.2.29-py3-none-any.whl", "requires-python": ">=3.10"},
                   {"filename": "gliner-0.2.29.tar.gz", "requires-python": ">=3.10"},
                   {"filename": "gliner-0.2.24-py3-none-any.whl", "requires-python": ">=3.8"}],
        "torch": [{"filename": f"torch-2.4.1-cp3{m}-cp3{m}-manylinux1_x86_64.whl"} for m in (10, 11, 12)]
        + [{"filename": "torch-2.4.1-cp313-cp313-macosx_11_0_arm64.whl"}]
        + [{"filename": f"torch-2.13.0-cp3{m}-cp3{m}-manylinux_2_28_x86_64.whl"} for m in (10, 11, 12, 13)]})
    assert index.python_problem("gliner", "0.2.29", "3.9") == "gliner 0.2.29 requires Python >=3.10: not 3.9", \
        "Requires-Python (every file's) excludes it"
    assert index.python_problem("gliner", "0.2.24", "3.9") is None
    assert index.python_problem("gliner", "0.2.29", "3.13") is None
    assert index.python_problem("torch", "2.4.1", "3.13") == \
        "torch 2.4.1 has no wheel for CPython 3.13 on x86_64 Linux (its wheels: cp310, cp311, cp312, cp313)", \
        "wheels only, none for this Python on this platform (a macOS wheel does not count)"
    assert index.python_problem("torch", "2.13.0", "3.13") is None
    assert index.python_problem("torch", "9.9.9", "3.13") is None, "a release the index lacks: the install says so"
    cell = definition.Cell("2.4.1", "5.0.0", "0.2.29", python="3.13")
    assert index.cell_problem(cell) == index.python_problem("torch", "2.4.1", "3.13"), "a cell: its first such pin"


def test_an_unreadable_index_says_nothing_about_pythons(monkeypatch) -> None:
    def unreachable(url: str, accept: str | None = None) -> bytes:
        raise index.IndexUnavailable(f"cannot read {url}")

    monkeypatch.setattr(index, "_get", unreachable)
    assert index.python_problem("gliner", "0.2.29", "3.9") is None, "the install is the judge then"
