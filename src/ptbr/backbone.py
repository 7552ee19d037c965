"""Tiny random backbones written to a local directory, for ``ptbr train --smoke`` and the tests (nothing
downloaded):

- :func:`write`: a BERT encoder (config.json, vocab.txt, tokenizer_config.json). The vocabulary holds the letters and
  digits as words and as ``##`` continuations, so any text tokenizes without [UNK], plus the given words whole.
  ``architecture="deberta-v2"`` writes a DeBERTa-v2 encoder (the architecture of DeBERTa-v3, gliner's usual backbone,
  with its own layer names: query_proj, value_proj) with the same vocabulary and tokenizer; ``size`` sets the
  hidden size, layers and vocabulary padding of a real-size one.
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


def write(directory: str | Path, words: Iterable[str] = (), architecture: str = "bert",
          size: tuple[int, int, int] = (HIDDEN_SIZE, 2, 0)) -> Path:
    """Write the backbone files to ``directory`` (created) and return it. Deterministic for the same words.
    ``size``: (hidden size, layers, vocabulary size; 0: the vocabulary's own)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    hidden, layers, vocab_size = size
    vocab = vocabulary(words)
    vocab += [f"[unused{i}]" for i in range(vocab_size - len(vocab))]  # a real-size vocabulary: gliner keeps the
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")  # tokenizer's size
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": len(vocab),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": max(2, hidden // 64),
        "intermediate_size": 4 * hidden if hidden > HIDDEN_SIZE else 2 * HIDDEN_SIZE,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
        "pad_token_id": 0,
    }
    if architecture == "deberta-v2":  # DeBERTa-v3's settings: relative positions, no absolute ones
        config.update(model_type="deberta-v2", architectures=["DebertaV2Model"], type_vocab_size=0,
                      relative_attention=True, position_buckets=256, pos_att_type=["p2c", "c2p"],
                      max_relative_positions=-1, position_biased_input=False, norm_rel_ebd="layer_norm",
                      share_att_key=True)
    elif architecture != "bert":
        raise ValueError(f"architecture: bert or deberta-v2, not {architecture!r}")
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
