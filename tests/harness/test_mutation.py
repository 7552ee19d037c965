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


def _session(path: Path, results: list[tuple[str, str, str]]) -> Path:
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE work_items (job_id VARCHAR PRIMARY KEY)")
        c.execute("CREATE TABLE mutation_specs (module_path VARCHAR, operator_name VARCHAR, operator_args JSON, "
                  "occurrence INTEGER, start_pos_row INTEGER, start_pos_col INTEGER, end_pos_row INTEGER, "
                  "end_pos_col INTEGER, definition_name VARCHAR, job_id VARCHAR PRIMARY KEY)")
        c.execute("CREATE TABLE work_results (worker_outcome VARCHAR, output TEXT, test_outcome VARCHAR, diff TEXT, "
                  "job_id VARCHAR PRIMARY KEY)")
        for i, (operator, outcome, diff) in enumerate(results):
            c.execute("INSERT INTO work_items VALUES (?)", (str(i),))
            c.execute("INSERT INTO mutation_specs VALUES (?, ?, '{}', 0, ?, 0, 0, 0, '', ?)",
                      ("src/ptbr/forwarding.py", operator, i + 1, str(i)))
            c.execute("INSERT INTO work_results VALUES ('NORMAL', '', ?, ?, ?)", (outcome, diff, str(i)))
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


def test_a_sample_is_a_seeded_subset(tmp_path: Path) -> None:
    def kept(seed: int) -> list[str]:
        db = _session(tmp_path / f"s{seed}-{len(list(tmp_path.iterdir()))}.sqlite",
                      [("core/NumberReplacer", "KILLED", CODE)] * 10)
        mutation._sample(db, 3, seed)
        with sqlite3.connect(db) as c:
            return sorted(j for (j,) in c.execute("SELECT job_id FROM work_items"))

    assert len(kept(0)) == 3
    assert kept(0) == kept(0), "the same seed picks the same mutants"
