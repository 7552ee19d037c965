"""Tiny random backbones written to a local directory, for ``ptbr train --smoke`` and the tests (nothing
downloaded):

- :func:`write`: a BERT encoder (config.json, vocab.txt, tokenizer_config.json). The vocabulary holds the letters and
  digits as words and as ``##`` continuations, so any text tokenizes without [UNK], plus the given words whole.
- :func:`write_decoder`: a GPT-2 causal LM for GLiNER's labels decoder, with a byte-level vocabulary and no merges.
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


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(extra)}}


def write_decoder(directory: str | Path) -> Path:
    """Write a tiny GPT-2 labels decoder to ``directory`` (created) and return it."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    eos = "<|endoftext|>"
    vocab = {c: i for i, c in enumerate(_bytes_to_unicode().values())}
    vocab[eos] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    config = {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "vocab_size": len(vocab),
        "n_embd": HIDDEN_SIZE,
        "n_layer": 2,
        "n_head": 2,
        "n_positions": 512,
        "bos_token_id": vocab[eos],
        "eos_token_id": vocab[eos],
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tokenizer = {"tokenizer_class": "GPT2Tokenizer", "bos_token": eos, "eos_token": eos, "unk_token": eos,
                 "model_max_length": 512}
    (directory / "tokenizer_config.json").write_text(json.dumps(tokenizer, indent=2), encoding="utf-8")
    return directory
