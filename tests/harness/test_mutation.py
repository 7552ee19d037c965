"""The mutation session's bookkeeping: samples are seeded subsets, annotation mutants are told apart (no test can
kill them), the score counts killed against survived. cosmic-ray itself runs in `nox -s mutation`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness import mutation

ANNOTATION = """--- mutation diff ---
--- a/src/ptbr/forwarding.py
+++ b/src/ptbr/forwarding.py
@@ -117,7 +117,7 @@
-    def active(config: Config) -> str | None:
+    def active(config: Config) -> str % None:
"""
CODE = """--- mutation diff ---
--- a/src/ptbr/forwarding.py
+++ b/src/ptbr/forwarding.py
@@ -94,7 +94,7 @@
-    fallback = value is None and len(sources) > 1
+    fallback = value is None and len(sources) > 2
"""


def _session(path: Path, results: list[tuple[str, str, str]], job_prefix: str = "") -> Path:
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE work_items (job_id VARCHAR PRIMARY KEY)")
        c.execute("CREATE TABLE mutation_specs (module_path VARCHAR, operator_name VARCHAR, operator_args JSON, "
                  "occurrence INTEGER, start_pos_row INTEGER, start_pos_col INTEGER, end_pos_row INTEGER, "
                  "end_pos_col INTEGER, definition_name VARCHAR, job_id VARCHAR PRIMARY KEY)")
        c.execute("CREATE TABLE work_results (worker_outcome VARCHAR, output TEXT, test_outcome VARCHAR, diff TEXT, "
                  "job_id VARCHAR PRIMARY KEY)")
        for i, (operator, outcome, diff) in enumerate(results):
            job = f"{job_prefix}{i}"  # cosmic-ray's job ids are random per session
            c.execute("INSERT INTO work_items VALUES (?)", (job,))
            c.execute("INSERT INTO mutation_specs VALUES (?, ?, '{}', 0, ?, 0, 0, 0, '', ?)",
                      ("src/ptbr/forwarding.py", operator, i + 1, job))
            c.execute("INSERT INTO work_results VALUES ('NORMAL', '', ?, ?, ?)", (outcome, diff, job))
    return path


def test_annotation_mutants_are_told_apart_and_the_score_counts_the_rest(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mutation, "REPORTS", tmp_path)
    db = _session(tmp_path / "s.sqlite", [("core/ReplaceBinaryOperator_BitOr_Mod", "SURVIVED", ANNOTATION),
                                          ("core/NumberReplacer", "SURVIVED", CODE),
                                          ("core/NumberReplacer", "KILLED", CODE),
                                          ("core/NumberReplacer", "KILLED", CODE)])
    found = mutation.outcomes(db)
    assert [f["outcome"] for f in found] == ["annotation", "survived", "killed", "killed"]
    report = mutation.summarise(found, ["src/ptbr/forwarding.py"], None, 0, 1.0)
    assert (report["killed"], report["survived"], report["annotation"], report["score"]) == (2, 1, 1, 0.667)
    assert (tmp_path / "mutation.json").is_file()


def test_a_sample_is_the_same_mutations_for_the_same_seed_whatever_the_job_ids(tmp_path: Path) -> None:
    def kept(seed: int, prefix: str) -> list[int]:
        db = _session(tmp_path / f"{prefix}{seed}.sqlite", [("core/NumberReplacer", "KILLED", CODE)] * 10, prefix)
        mutation._sample(db, 3, seed)
        with sqlite3.connect(db) as c:
            return sorted(r for (r,) in c.execute("SELECT start_pos_row FROM mutation_specs"))

    first = kept(0, "a")
    assert len(first) == 3
    assert kept(0, "z") == first, "the same seed picks the same mutations (source lines), whatever the job ids"
