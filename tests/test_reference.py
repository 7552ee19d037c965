"""Generated artefacts in the repository are current: the README's config reference, ptbr.schema.json, and the
example's tiny backbone."""

from __future__ import annotations

import json

from support import EXAMPLES, ROOT

from ptbr import backbone, reference


def test_readme_reference_is_generated_from_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reference.splice(readme) == readme, "run `nox -s reference` after changing the schema"


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
