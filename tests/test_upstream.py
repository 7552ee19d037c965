"""Upstream GLiNER's own configs, as upstream ships them today: `ptbr validate` accepts each (data paths overridden),
with a warning for each key the architecture reads nowhere; `--strict` refuses those keys; `explain --json` is JSON.
The project's copies (tests/configs/upstream) hold the same keys and values as the shipped files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import EXAMPLES, RELEASED, SHIPPED

from ptbr import compat, loader

CONFIGS = sorted(SHIPPED.glob("*.yaml")) if SHIPPED.is_dir() else RELEASED
"""Upstream's files where ../shared is here (CI), else the project's copies of them."""
DECODER_DEFAULTS = ["model.decoder_mode", "model.blank_entity_prob", "model.decoder_loss_coef"]
"""Keys upstream's configs/config.yaml sets for a decoder while its labels_decoder is null."""
UPSTREAM_ONLY = ["training.size_sup", "training.shuffle_types", "training.random_drop"]
"""Keys upstream's configs all carry and no gliner release reads."""


def _validate(ptbr, path: Path, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return ptbr("validate", path, "--set", f"data.train_data={EXAMPLES / 'train.json'}",
                "--set", f"data.root_dir={tmp_path / 'out'}", *extra)


def _warned(err: str) -> list[str]:
    return [line.split(": ")[2] for line in err.splitlines() if line.startswith("warning: ")]  # warning: where: key


@pytest.mark.skipif(not SHIPPED.is_dir(), reason=f"{SHIPPED} is not here (CI has it): nothing to compare with")
@pytest.mark.parametrize("name", [p.name for p in RELEASED])
def test_the_copies_hold_the_keys_and_values_upstream_ships(name: str) -> None:
    shipped, copy = loader.load(SHIPPED / name).data, loader.load(RELEASED[0].parent / name).data
    assert copy == shipped, f"tests/configs/upstream/{name}: expected upstream's keys and values"


def test_upstream_ships_six_configs_and_the_copies_have_them_all() -> None:
    names = {p.name for p in RELEASED}
    assert len(names) == 6, f"expected upstream's six configs/*.yaml, got {sorted(names)}"
    if SHIPPED.is_dir():
        assert names == {p.name for p in SHIPPED.glob("*.yaml")}, "one copy per config upstream ships"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_upstream_config_validates_with_its_warnings(ptbr, path: Path, tmp_path: Path) -> None:
    code, out, err = _validate(ptbr, path, tmp_path)
    assert code == 0, f"{path.name}: expected exit 0, got {code}: {err}"
    assert out.startswith(f"ok: {path}"), "the summary"
    assert [line for line in err.splitlines() if not line.startswith(("warning: ", "  hint: "))] == [], \
        "stderr holds warnings only"
    warned = _warned(err)
    assert set(UPSTREAM_ONLY) <= set(warned), "the upstream keys no gliner reads are named"
    if path.name == "config.yaml" and compat.architecture({"model_name": "x"}) is not None:
        assert set(DECODER_DEFAULTS) <= set(warned), "decoder settings without a labels decoder are warnings"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_strict_refuses_what_would_only_be_a_warning(ptbr, path: Path, tmp_path: Path) -> None:
    _, _, lenient = _validate(ptbr, path, tmp_path)
    code, _, err = _validate(ptbr, path, tmp_path, "--strict")
    refused = [line.split(": ")[2] for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2
    assert refused == _warned(lenient), "--strict refuses exactly the keys validate warns about"
    config_strict = _validate(ptbr, path, tmp_path, "--set", "run.strict=true")
    assert config_strict[0] == 2, "run.strict: true is --strict"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_explain_json_is_json_with_the_warnings(ptbr, path: Path, tmp_path: Path) -> None:
    code, out, _ = ptbr("explain", path, "--json", "--set", f"data.train_data={EXAMPLES / 'train.json'}",
                        "--set", f"data.root_dir={tmp_path / 'out'}")
    report = json.loads(out)
    assert code == 0
    assert {w["key"] for w in report["warnings"]} >= set(UPSTREAM_ONLY)
    assert report["refused"] == [], "nothing validate would refuse"


def test_train_says_what_it_ignores_before_it_trains(tmp_path: Path) -> None:
    """`ptbr train --smoke` on upstream's default config: the warnings come first, then training."""
    import subprocess
    import sys

    path = CONFIGS[[p.name for p in CONFIGS].index("config.yaml")]
    done = subprocess.run([sys.executable, "-m", "ptbr", "train", str(path), "--smoke", "--set",
                           f"data.train_data={EXAMPLES / 'train.json'}", "--set", f"data.root_dir={tmp_path / 'o'}",
                           "--set", "model.hidden_size=32", "--set", "model.max_len=64"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ptbr: trained" in done.stdout
    lines = done.stderr.splitlines()
    warned = [i for i, line in enumerate(lines) if line.startswith("ptbr: warning: ")]
    libraries = [i for i, line in enumerate(lines) if not line.startswith(("ptbr: ", "  hint: "))]
    assert warned, "the upstream keys no gliner reads are warned about"
    assert libraries, "the libraries' own output: the model is built and trained"
    assert warned[-1] < libraries[0], "every warning before the model is built and trained"
    assert any("training.size_sup" in lines[i] for i in warned)
