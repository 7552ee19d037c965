"""The mutation session's bookkeeping: samples are seeded subsets, annotation mutants are set aside before they run
(no test can kill them), the score counts killed against survived. cosmic-ray itself runs in `nox -s mutation`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness import mutation

CODE = """--- mutation diff ---
--- a/src/ptbr/forwarding.py
+++ b/src/ptbr/forwarding.py
@@ -94,7 +94,7 @@
-    fallback = value is None and len(sources) > 1
+    fallback = value is None and len(sources) > 2
"""


def _session(path: Path, results: list[tuple[str, str, str]], job_prefix: str = "",
             positions: list[tuple[int, int, int, int]] | None = None) -> Path:
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
            row, col, end_row, end_col = positions[i] if positions else (i + 1, 0, i + 1, 0)
            c.execute("INSERT INTO mutation_specs VALUES (?, ?, '{}', 0, ?, ?, ?, ?, '', ?)",
                      ("src/ptbr/forwarding.py", operator, row, col, end_row, end_col, job))
            c.execute("INSERT INTO work_results VALUES ('NORMAL', '', ?, ?, ?)", (outcome, diff, job))
    return path


MODULE = """from __future__ import annotations


def active(config: Config, size: int = 1 | 2) -> str | None:
    return None
"""


def test_mutants_inside_annotations_are_set_aside_before_anything_runs(tmp_path: Path) -> None:
    # cosmic-ray's positions: line from 1, column from 0, end exclusive; `str | None` is line 4, columns 49-59
    positions = [(4, 53, 4, 54), (4, 41, 4, 42), (4, 19, 4, 25)]  # `|` of the return annotation, `|` of 1 | 2, Config
    db = _session(tmp_path / "s.sqlite", [("core/ReplaceBinaryOperator_BitOr_Mod", "", "")] * 3, positions=positions)
    aside = mutation._set_annotations_aside(db, MODULE)
    assert sorted((a["line"], a["outcome"]) for a in aside) == [(4, "annotation")] * 2, \
        "the two mutants inside annotations are set aside; the one in the default value (evaluated) is not"
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT start_pos_col FROM mutation_specs").fetchall() == [(41,)], "only the code mutant runs"
        assert c.execute("SELECT COUNT(*) FROM work_items").fetchone() == (1,), "and only its job is left"
    evaluated = MODULE.replace("from __future__ import annotations\n", "")
    db = _session(tmp_path / "t.sqlite", [("core/ReplaceBinaryOperator_BitOr_Mod", "", "")] * 3, positions=positions)
    assert mutation._set_annotations_aside(db, evaluated) == [], "without the future import annotations are evaluated"


def test_the_score_counts_killed_against_survived(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(mutation, "REPORTS", tmp_path)
    db = _session(tmp_path / "s.sqlite", [("core/NumberReplacer", "SURVIVED", CODE),
                                          ("core/NumberReplacer", "KILLED", CODE),
                                          ("core/NumberReplacer", "KILLED", CODE)])
    found = [{"module": "m", "operator": "o", "line": 1, "outcome": "annotation", "diff": None},
             *mutation.outcomes(db)]
    assert [f["outcome"] for f in found] == ["annotation", "survived", "killed", "killed"]
    report = mutation.summarise(found, ["src/ptbr/forwarding.py"], None, 0, 1.0)
    assert (report["killed"], report["survived"], report["annotation"], report["score"]) == (2, 1, 1, 0.667), \
        "score = killed / (killed + survived); annotation mutants are counted apart"
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


def test_a_rerun_of_survivors_keeps_only_their_mutants(tmp_path: Path) -> None:
    db = _session(tmp_path / "s.sqlite", [("core/NumberReplacer", "", ""), ("core/AddNot", "", ""),
                                          ("core/NumberReplacer", "", "")])  # on lines 1, 2, 3
    mutation._keep_only(db, {("src/ptbr/forwarding.py", "core/NumberReplacer", 3)})
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT start_pos_row FROM mutation_specs").fetchall() == [(3,)], \
            "only the mutant at the survivor's module, operator and line runs again"
        assert c.execute("SELECT COUNT(*) FROM work_items").fetchone() == (1,)


def _report(environment: str, survivors: list[tuple[int, str]], killed: int) -> dict:
    return {"environment": environment, "modules": ["src/ptbr/compat.py"], "sample": None, "killed": killed,
            "survived": len(survivors), "score": round(killed / (killed + len(survivors)), 3),
            "survivors": [{"module": "src/ptbr/compat.py", "operator": "op", "line": line, "diff": diff}
                          for line, diff in survivors]}


def test_a_union_keeps_only_the_mutants_that_survive_in_every_environment() -> None:
    # line 10 survives in both cells (no test anywhere sees it); 20 only where its branch does not run
    a = _report("torch2.13.0-tf4.57.6-gliner0.2.29", [(10, "-x\n+y"), (20, "-a\n+b")], killed=8)
    b = _report("torch2.13.0-tf5.14.1-gliner0.2.29", [(10, "-x\n+y"), (30, "-c\n+d")], killed=8)
    combined = mutation.union([a, b])
    assert [s["line"] for s in combined["survivors"]] == [10], "killed in one cell is killed"
    assert (combined["judged"], combined["killed"], combined["score"]) == (10, 9, 0.9)
    assert combined["per_environment"] == {a["environment"]: 0.8, b["environment"]: 0.8}


def test_a_union_refuses_samples_and_different_modules() -> None:
    import pytest

    full = _report("x", [], killed=3)
    with pytest.raises(ValueError, match="full runs"):
        mutation.union([full, {**full, "sample": 8}])
    with pytest.raises(ValueError, match="full runs"):
        mutation.union([full, {**full, "modules": ["src/ptbr/forwarding.py"]}])
    with pytest.raises(ValueError, match="no per-cell mutation reports"):
        mutation.union([])


def test_functions_keep_only_the_mutants_inside_them(tmp_path: Path) -> None:
    db = _session(tmp_path / "s.sqlite", [("op", "", "")] * 3)
    with sqlite3.connect(db) as c:
        for job, name in (("0", "_keep_warmup"), ("1", "versions"), ("2", None)):
            c.execute("UPDATE mutation_specs SET definition_name = ? WHERE job_id = ?", (name, job))
    mutation._keep_functions(db, {"_keep_warmup"})
    with sqlite3.connect(db) as c:
        kept = c.execute("SELECT definition_name FROM mutation_specs").fetchall()
        items = c.execute("SELECT job_id FROM work_items").fetchall()
    assert (kept, items) == ([("_keep_warmup",)], [("0",)]), "a mutant outside them is dropped, its work item too"
