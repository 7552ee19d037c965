"""A tiny random BERT backbone written to a local directory: config.json, vocab.txt, tokenizer_config.json.

Used by ``ptbr train --smoke`` (prove a config end to end in seconds, nothing downloaded) and by the tests. The
vocabulary holds the letters and digits as words and as ``##`` continuations, so any text tokenizes without [UNK],
plus the given words whole.
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
from pathlib import Path

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN_SIZE = 32


def vocabulary(words: Iterable[str] = ()) -> list[str]:
    chars = string.ascii_lowercase + string.digits
    base = [*SPECIAL, *chars, *(f"##{c}" for c in chars), *string.punctuation]
    extra = sorted({w.lower() for w in words if w.isalnum()} - set(base))
    return base + extra


def write(directory: str | Path, words: Iterable[str] = ()) -> Path:
    """Write the backbone files to ``directory`` (created) and return it. Deterministic for the same words."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary(words)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": len(vocab),
        "hidden_size": HIDDEN_SIZE,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 2 * HIDDEN_SIZE,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "pad_token_id": 0,
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tokenizer = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "model_max_length": 512}
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer, indent=2), encoding="utf-8")
    return directory
