"""The drift scan reads the training API of releases from their wheels (ast, nothing imported) and the atlas
predicts each pair from it, per path; real results verify it and a disagreement is a defect of the scan."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from harness.releases import atlas, drift, index
from test_report import _result

ARGS = '''
from dataclasses import dataclass, field
@dataclass
class TrainingArguments:
    output_dir: str = None
    report_to: str = field(default={report_to!r}, metadata={{"help": "x"}})
    {extra}
    def __post_init__(self):
        if self.report_to is None:
            self.report_to = "all"
'''
TRAINER = '''
class Trainer:
    {decorator}
    def __init__(self, model=None, args=None, processing_class=None, train_dataset=None):
        pass
'''
GLINER_OLD = '''
class GLiNER:
    def create_training_args(self, output_dir, warmup_ratio=0.1, **kwargs):
        return TrainingArguments(output_dir=output_dir, warmup_ratio=warmup_ratio, **kwargs)
    def train_model(self, train_dataset, training_args=None, **kwargs):
        trainer = Trainer(model=self, args=training_args, tokenizer=self.tokenizer)
'''
GLINER_NEW = '''
class GLiNER:
    def create_training_args(self, output_dir, **kwargs):
        return TrainingArguments(output_dir=output_dir, **kwargs)
    def train_model(self, train_dataset, training_args=None, **kwargs):
        trainer_kwargs = {"model": self, "args": training_args}
        if version.parse(transformers.__version__) < version.parse("5.0.0"):
            trainer_kwargs["tokenizer"] = self.tokenizer
        else:
            trainer_kwargs["processing_class"] = self.tokenizer
        trainer = Trainer(**trainer_kwargs)
'''


def _wheel(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, text in files.items():
            z.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


RELEASES = {  # transformers: (has warmup_ratio, report_to default, tokenizer shim)
    "4.57.6": (True, None, True), "5.0.0": (True, "none", False), "5.15.0": (False, "none", False)}


@pytest.fixture
def fake_pypi(monkeypatch, tmp_path):
    wheels = {f"transformers-{v}-py3-none-any.whl": _wheel({
        "transformers/training_args.py": ARGS.format(report_to=rt, extra="warmup_ratio: float = 0.0" if wr else ""),
        "transformers/trainer.py": TRAINER.format(decorator='@deprecate_kwarg("tokenizer", new_name="processing_class")'
                                                  if shim else "")}) for v, (wr, rt, shim) in RELEASES.items()}
    wheels["gliner-0.2.23-py3-none-any.whl"] = _wheel({"gliner/model.py": GLINER_OLD})
    wheels["gliner-0.2.29-py3-none-any.whl"] = _wheel({"gliner/model.py": GLINER_NEW})
    wheels["gliner-0.2.0-py3-none-any.whl"] = _wheel({"gliner/model.py": "class GLiNER: pass\n"})
    requires = {"0.2.23": "transformers>=4.57.3", "0.2.29": "transformers<5.17,>=4.51.3", "0.2.0": "transformers"}

    def get(url: str, accept: str | None = None) -> bytes:
        name = url.rsplit("/", 1)[-1]
        if name in wheels:
            return wheels[name]
        if name.endswith(".metadata"):
            version = name.split("-")[1]
            return f"Name: gliner\nVersion: {version}\nRequires-Dist: {requires[version]}\n".encode()
        package = url.rstrip("/").rsplit("/", 1)[-1]
        files = [{"filename": w, "url": f"https://files.example/{w}", "yanked": False, "core-metadata": True}
                 for w in wheels if w.startswith(package + "-")]
        return json.dumps({"files": files}).encode()

    monkeypatch.setattr(index, "_get", get)
    monkeypatch.setenv("PTBR_WHEEL_CACHE", str(tmp_path / "wheels"))
    monkeypatch.setattr(drift, "FIRST_TRANSFORMERS", "4.50.0")
    return wheels


def test_the_scan_reads_fields_defaults_trainer_parameters_and_gliners_keywords(fake_pypi) -> None:
    scanned = drift.scan(workers=2, log=lambda _m: None)
    tf = scanned["releases"]["transformers"]
    assert tf["4.57.6"]["fields"]["report_to"] == {"default": None, "effective": "all"}, \
        "the declared default, and what __post_init__ makes of it"
    assert tf["5.0.0"]["fields"]["report_to"] == {"default": "none"}
    assert (tf["4.57.6"]["trainer_aliases"], tf["5.0.0"]["trainer_aliases"]) == ({"tokenizer": "processing_class"},
                                                                                 {})
    history = scanned["fields"]["warmup_ratio"]
    assert (history["first"], history["last"], history["present_in_newest"]) == ("4.57.6", "5.0.0", False)
    assert list(scanned["releases"]["gliner"]) == ["0.2.23", "0.2.29"], "a release without train_model is left out"
    new = scanned["releases"]["gliner"]["0.2.29"]
    assert {(k["keyword"], tuple(k["when"] or ())) for k in new["trainer_keywords"]} == {
        ("model", ()), ("args", ()), ("tokenizer", ("<", "5.0.0")), ("processing_class", (">=", "5.0.0"))}, \
        "Trainer(**kwargs): the dict's keys, under the version condition gliner puts on them"
    assert scanned["releases"]["gliner"]["0.2.23"]["args_keywords"] == ["output_dir", "warmup_ratio"]
    assert "`report_to` | 4.57.6 | (still there) | 4.57.6: None (→ 'all'); 5.0.0: 'none'" in drift.markdown(scanned)


def test_a_warm_scan_reads_no_wheel_again(fake_pypi, monkeypatch) -> None:
    drift.scan(workers=2, log=lambda _m: None)
    parsed = []
    monkeypatch.setattr(drift, "scan_transformers", lambda w: parsed.append(w))
    monkeypatch.setattr(drift, "scan_gliner", lambda w: parsed.append(w))
    drift.scan(workers=1, log=lambda _m: None)
    assert parsed == [], "each wheel's scan is cached next to it"


def test_the_atlas_predicts_each_path_and_finds_its_boundaries(fake_pypi) -> None:
    built = atlas.build(drift.scan(workers=2, log=lambda _m: None), [], ptbr={"output_dir", "report_to"})
    by = {(p["gliner"], p["transformers"]): p for p in built["pairs"]}
    old_on_5 = by[("0.2.23", "5.0.0")]["predicted"]
    assert (old_on_5["ptbr"]["verdict"], old_on_5["ptbr"]["reasons"]) == (
        "breaks", ["Trainer(tokenizer=) is not a parameter of transformers 5.0.0's Trainer"])
    assert by[("0.2.23", "4.57.6")]["predicted"]["ptbr"]["verdict"] == "works", "the deprecation shim maps it"
    own = by[("0.2.23", "5.15.0")]["predicted"]["gliner"]["reasons"][0]
    assert own == "TrainingArguments has no field 'warmup_ratio' in transformers 5.15.0 (gliner passes it)"
    assert {k: v["verdict"] for k, v in by[("0.2.29", "5.15.0")]["predicted"].items()} == \
        {"ptbr": "works", "gliner": "works"}, "gliner 0.2.29 passes processing_class from 5.0 on"
    assert by[("0.2.29", "5.15.0")]["inside_declared_range"] is True
    assert by[("0.2.23", "4.57.6")]["inside_declared_range"] is True
    assert atlas.boundaries(built) == [("0.2.23", "4.57.6"), ("0.2.23", "5.0.0")], \
        "both sides of where a prediction changes along transformers"
    picture = atlas.svg(built)
    svg = ElementTree.fromstring(picture)  # well-formed: a browser shows it
    rects = svg.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == len(built["pairs"]) * 2 + 3, "two halves per pair, and the legend"
    assert "gliner 0.2.23 × transformers 5.0.0, ptbr path: breaks (predicted)" in picture


def test_a_real_cell_verifies_a_pair_and_a_disagreement_is_a_scan_defect(fake_pypi) -> None:
    cause = ("ptbr.errors.ConfigError: installed versions: training: gliner 0.2.23 builds its Trainer with "
             "tokenizer=, which transformers 5.0.0 no longer accepts")
    refused = [{"layer": "e2e", "field": f"training.f{i}", "test": f"t::{i}", "message": cause, "cause": cause}
               for i in range(5)]
    typed = "cannot train: TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'"
    own = [{"layer": "gliner-kwargs", "field": f"training.f{i}", "test": f"g::{i}", "message": typed, "cause": typed}
           for i in range(5)]
    real = [_result("2.13.0", "5.0.0", "0.2.23", "broken", refused, own),
            _result("2.13.0", "4.57.6", "0.2.23", "broken", refused, ())]  # PTBR's path predicted to work: a defect
    built = atlas.build(drift.scan(workers=2, log=lambda _m: None), real, ptbr={"output_dir", "report_to"})
    by = {(p["gliner"], p["transformers"]): p for p in built["pairs"]}
    assert atlas.shown(by[("0.2.23", "5.0.0")], "ptbr")[:2] == ("breaks", True), "verified, as predicted"
    assert [(d["transformers"], d["path"], d["predicted"]["verdict"], d["real"]["verdict"])
            for d in built["scan_defects"]] == [("4.57.6", "ptbr", "works", "breaks")]
    assert "## Defects of the scan" in atlas.markdown(built)


def test_a_moved_loss_trace_is_behaviour_drift_and_other_findings_still_train() -> None:
    trace = {"layer": "e2e", "field": "loss trace", "test": "t::trace", "message": "moved", "cause": None}
    freeze = {"layer": "transformers", "field": "training.freeze_components", "test": "t::freeze",
              "message": "AttributeError: x", "cause": "AttributeError: x"}
    assert atlas.real_verdict(_result("2.13.0", "5.1.0", "0.2.26", "broken", [trace], ()))["ptbr"]["verdict"] == \
        "drift"
    assert atlas.real_verdict(_result("2.13.0", "4.51.3", "0.2.26", "broken", [freeze], ()))["ptbr"]["verdict"] \
        == "works", "one test's crash is a finding of the pair, not a pair that cannot train"
    assert atlas.real_verdict(_result("2.13.0", "5.0.0", "0.2.29", "error", [], ())) is None


def test_verification_takes_the_boundaries_first_then_a_seeded_sample_shared_out_by_shard(fake_pypi) -> None:
    built = atlas.build(drift.scan(workers=2, log=lambda _m: None), [], ptbr={"output_dir", "report_to"})
    chosen = atlas.to_verify(built, 2, seed=3)
    assert chosen[:2] == atlas.boundaries(built), "both sides of every boundary first"
    assert len(chosen) == 4
    assert atlas.to_verify(built, 2, seed=3) == chosen, "the same seed picks the same pairs"
    shards = [atlas.to_verify(built, 2, seed=3, shard=(i, 3)) for i in (1, 2, 3)]
    assert sorted(p for s in shards for p in s) == sorted(chosen), "the shards share the pairs out, none twice"


def test_drift_writes_the_releases_file_ptbr_reads() -> None:
    """Moving drift.py once pointed RELEASES_FILE under harness/: a scan then wrote a file nothing reads."""
    import ptbr.surface

    assert drift.RELEASES_FILE.resolve() == (Path(ptbr.surface.__file__).parent / "releases.json").resolve()
