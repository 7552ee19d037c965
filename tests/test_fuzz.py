"""Fuzzing `ptbr validate`: 10,000 mutants of real configs (upstream GLiNER's and the example) must each end in exit 0
or 2 with a message, never a traceback, exit 1 or a hang.

Mutations mix random bytes (control characters, NUL, invalid UTF-8) with YAML's own syntax (anchors and aliases,
merges, brackets, tags, indentation, documents, numbers YAML 1.1 and 1.2 read differently) and line edits. Every
mutant comes from a seeded generator: a failure names its chunk and index, and writes the input to reproduce it.
"""

from __future__ import annotations

import contextlib
import io
import random
import time
from pathlib import Path

import pytest
from support import ROOT, UPSTREAM

from ptbr import cli

INPUTS = 10_000
CHUNKS = 8  # spread over xdist workers
BUDGET_S = 120.0
"""Per chunk of 1,250 inputs: measured 6-8 s on 2 cores (validate takes 4-6 ms once the stack is imported)."""
CORPUS = [*UPSTREAM, ROOT / "examples" / "tiny.yaml"]
TOKENS = [
    b"&a ", b"*a", b"<<: *a\n", b"&b [*a, *a, *a, *a]", b"[", b"]", b"{", b"}", b": ", b"- ", b"\n", b"  ", b"\t",
    b"!!python/object/apply:os.system ['true']", b"!!binary aGk=", b"!custom ", b"0042", b"1:30", b"0b11", b"0x1F",
    b"1e-5", b"-.inf", b".nan", b"null", b"~", b"''", b'"', b"#", b"%YAML 1.2\n", b"---\n", b"...\n", b"? ", b"|\n",
    b">\n", b"\x00", b"\x0c", b"\x1b[31m", b"\xef\xbb\xbf", b"\xff\xfe", b"9" * 40, b"-1", b"true", b"no", b"[" * 200,
    b"{a: " * 50, b"\\u0000",
]


def _mutant(rng: random.Random, texts: list[bytes]) -> bytes:
    data = bytearray(rng.choice(texts))
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data) + 1)
        kind = rng.randrange(5)
        if kind == 0:  # random bytes over a short range
            data[at:at + rng.randrange(4)] = bytes(rng.randrange(256) for _ in range(rng.randrange(4)))
        elif kind == 1:  # a piece of YAML syntax
            data[at:at + rng.randrange(3)] = rng.choice(TOKENS)
        else:  # line edits: delete, duplicate, re-indent
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            if kind == 2:
                del lines[i]
            elif kind == 3:
                lines.insert(rng.randrange(len(lines) + 1), lines[i])
            else:
                lines[i] = b" " * rng.randrange(6) + lines[i].lstrip()
            data = bytearray(b"\n".join(lines))
    return bytes(data)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_validate_never_crashes_on_mutated_configs(chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example's relative paths resolve: unmutated, it validates (exit 0)
    texts = [p.read_bytes() for p in CORPUS]
    rng = random.Random(chunk)
    path = tmp_path / "config.yaml"
    codes: dict[int, int] = {}
    failures: list[str] = []
    start = time.monotonic()
    for index in range(INPUTS // CHUNKS):
        data = _mutant(rng, texts)
        path.write_bytes(data)
        err = io.StringIO()
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                code = cli.main(["validate", str(path)])
        except BaseException as e:
            code, err = -1, io.StringIO(f"{type(e).__name__}: {e}")
        codes[code] = codes.get(code, 0) + 1
        if code not in (0, 2) or "Traceback" in err.getvalue():
            kept = tmp_path / f"failing-{chunk}-{index}.yaml"
            kept.write_bytes(data)
            failures.append(f"chunk {chunk} input {index} ({kept}): exit {code}: {err.getvalue()[-300:]}")
    elapsed = time.monotonic() - start
    assert not failures, f"{len(failures)} of {INPUTS // CHUNKS} inputs crashed validate:\n" + "\n".join(failures[:5])
    assert elapsed < BUDGET_S, f"{INPUTS // CHUNKS} inputs took {elapsed:.0f} s (budget {BUDGET_S:.0f} s)"
    assert codes.get(2, 0) > 0, "the mutants reach the error path"
