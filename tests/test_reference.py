"""Generated artefacts in the repository are current: ptbr.schema.json and the example's tiny backbone (the config
reference is generated when the documentation is built, never committed)."""

from __future__ import annotations

import json

from support import EXAMPLES, ROOT

from ptbr import backbone, reference


def test_no_page_commits_the_generated_reference() -> None:
    """The reference is generated at build time (harness/docs.py): a page holds the marker, never a copy."""
    pages = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")}
    assert "<!-- ptbr: reference -->" in pages["config.md"]
    first_row = reference.markdown().splitlines()[0]
    assert not any(first_row in text for text in [*pages.values(), (ROOT / "README.md").read_text()])


def test_committed_json_schema_is_current() -> None:
    assert json.loads((ROOT / "ptbr.schema.json").read_text()) == reference.json_schema(installed=False)


def test_example_backbone_is_what_the_generator_writes(tmp_path) -> None:
    words = [w for item in json.loads((EXAMPLES / "train.json").read_text()) for w in item["tokenized_text"]]
    fresh = backbone.write(tmp_path, words)
    for name in ("config.json", "vocab.txt", "tokenizer_config.json"):
        assert (fresh / name).read_text() == (EXAMPLES / "tiny-backbone" / name).read_text(), name


def test_reference_lists_every_field_with_its_destination() -> None:
    text = reference.markdown()
    assert "| `lr_others` | number \\| null | `null` | `TrainingArguments.others_lr` |" in text
    assert "not forwarded: upstream GLiNER key" in text
