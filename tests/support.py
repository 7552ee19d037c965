"""Paths and data shared by the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
ROOT = HERE.parent
EXAMPLES = ROOT / "examples"
UPSTREAM = sorted((HERE / "configs" / "upstream").glob("*.yaml"))
# config_streaming_span uses model keys no released gliner declares yet; upstream ships the other six today
RELEASED = [p for p in UPSTREAM if p.stem != "config_streaming_span"]
SHIPPED = ROOT.parent / "shared" / "upstream" / "gliner-configs"
"""Upstream's six configs as upstream ships them, byte for byte, where the checkout has ../shared (CI has it)."""

EXAMPLE = {
    "tokenized_text": ["Alice", "works", "for", "Acme", "in", "Paris", "."],
    "ner": [[0, 0, "person"], [3, 3, "organization"], [5, 5, "city"]],
}


def write_config(path: Path, backbone: Path, train_data: Path, root_dir: Path, sections: dict[str, dict[str, Any]],
                 ) -> Path:
    """A small valid config (tiny backbone, CPU) with ``sections`` merged over it."""
    import yaml

    config: dict[str, Any] = {
        "model": {"model_name": str(backbone), "backbone_from_pretrained": False, "hidden_size": 16, "max_width": 3,
                  "max_len": 32},
        "data": {"root_dir": str(root_dir), "train_data": str(train_data)},
        "training": {"num_steps": 4, "train_batch_size": 2, "use_cpu": True},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def library_training_fields() -> set[str]:
    """The init fields of the installed gliner's TrainingArguments, read from gliner itself: what a test decides by
    (which options this gliner has), never PTBR's own reading of it (ptbr.surface)."""
    import dataclasses

    from gliner.training import TrainingArguments

    return {f.name for f in dataclasses.fields(TrainingArguments) if f.init}


def gliner_reads(name: str) -> bool:
    """Whether any module of the installed gliner but its config classes names ``name``: the test's own reading of
    gliner's source, apart from PTBR's (compat.unread_model_keys)."""
    import re

    import gliner
    import gliner.config

    word, config = re.compile(rf"\b{re.escape(name)}\b"), Path(gliner.config.__file__).resolve()
    return any(word.search(p.read_text(encoding="utf-8", errors="replace"))
               for p in Path(gliner.__file__).parent.rglob("*.py") if p.resolve() != config)
