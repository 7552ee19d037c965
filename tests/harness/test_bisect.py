"""`nox -s bisect`: the first release whose verdict differs from the range's start, within ⌈log2(n)⌉ + 1 real cells,
saying when the verdict changes more than once; each probe an ordinary cell result."""

from __future__ import annotations

import math

import pytest
from fakes import fake_index
from harness import inputs
from harness.releases import bisect
from harness.run import cell, install, options, results, runners
from test_report import TOKENIZER, _result


@pytest.mark.parametrize("n", [2, 3, 4, 5, 17, 48, 49, 64])
def test_the_first_change_is_found_within_the_budget_wherever_it_is(n: int) -> None:
    versions = [f"5.{i}.0" for i in range(n)]
    for change in [*range(1, n), None]:  # None: nothing changes in the range
        probed: list[str] = []

        def probe(version: str, change: int | None = change, probed: list[str] = probed) -> str:
            probed.append(version)
            return "after" if change is not None and versions.index(version) >= change else "before"

        outcome = bisect.first_change(versions, probe)
        assert outcome.first == change, f"n={n}: the change at {change} is found"
        assert len(probed) == len(set(probed)) <= math.ceil(math.log2(n)) + 1 == bisect.budget(n), \
            "at most ⌈log2(n)⌉ + 1 cells, none twice"


def test_a_verdict_that_changes_twice_among_the_probes_is_said() -> None:
    versions = [f"5.{i}.0" for i in range(8)]
    verdicts = {0: "A", 1: "A", 2: "A", 3: "B", 4: "C", 5: "C", 6: "C", 7: "C"}  # A → B → C
    outcome = bisect.first_change(versions, lambda v: verdicts[versions.index(v)])
    assert (outcome.first, len(outcome.changes)) == (3, 2), "5.3 first differs; the probes saw two changes"
    ran = {versions[i]: _result("2.13.0", versions[i], "0.2.24", {"A": "pass", "B": "broken", "C": "error"}[v])
           for i, v in outcome.probed.items()}
    said = bisect.describe(outcome, "transformers", ran)
    assert any(line.startswith("WARNING: the verdict changes") for line in said), said


def test_a_verdict_leaves_version_numbers_out() -> None:
    def refused(tf: str) -> results.CellResult:
        why = f"cannot train: gliner 0.2.24 builds its Trainer with tokenizer=, which transformers {tf} refuses"
        return _result("2.13.0", tf, "0.2.24", "broken", [{"layer": "e2e", "field": "training.seed", "test": "t",
                                                           "message": why, "cause": why}], ())

    assert bisect.verdict(refused("5.0.0")) == bisect.verdict(refused("5.24.0")), \
        "the same refusal on two releases is one verdict, not a change at every release"
    assert bisect.verdict(refused("5.0.0")) != bisect.verdict(_result("2.13.0", "4.57.6", "0.2.24", gliner_breaks=()))


def test_bisect_runs_ordinary_cells_and_names_the_first_release_and_what_changed(monkeypatch, tmp_path) -> None:
    releases = ["4.57.3", "4.57.4", "4.57.5", "4.57.6", "5.0.0", "5.1.0", "5.2.0", "5.3.0", "5.10.0", "5.24.0"]
    fake_index(monkeypatch, {"transformers": releases, "gliner": ["0.2.24"]},
               {("gliner", "0.2.24"): ["transformers>=4.57.3"]}, yanked=("transformers==5.10.0",))
    monkeypatch.setattr(results, "CELLS", tmp_path / "cells")
    monkeypatch.setattr(bisect, "own_venv", lambda c: tmp_path / c.id / "bin" / "python")
    monkeypatch.setattr(bisect.report, "write", lambda **_kw: {})
    ran: list[tuple[str, bool]] = []
    cause = {"layer": "e2e", "field": "training.seed", "test": "t::train", "message": TOKENIZER, "cause": TOKENIZER}

    def run(c: cell.Cell, runner: runners.Runner, opts: options.Options) -> results.CellResult:  # the cell boundary
        ran.append((c.transformers, c.override))
        broken = c.transformers.startswith("5.")
        return _result(c.torch, c.transformers, c.gliner, "broken" if broken else "pass", [cause] if broken else [],
                       ())

    monkeypatch.setattr(bisect.cells, "run", run)
    said: list[str] = []
    assert bisect.main(["--gliner", "0.2.24", "--transformers", "4.57.3..5.24.0", "--torch", "2.13.0"],
                       log=said.append) == 0
    assert len(ran) <= bisect.budget(9), "9 releases (the yanked 5.10.0 left out): at most 5 cells"
    assert "5.10.0" not in [v for v, _ in ran]
    assert all(not override for _, override in ran), "inside gliner 0.2.24's declared range: no override"
    first = next(line for line in said if line.startswith("FIRST DIFFERENT"))
    assert first.startswith("FIRST DIFFERENT: transformers 5.0.0 (broken; 4.57.3..4.57.6: pass)")
    assert f"  + {TOKENIZER}" in said, "what changed, as a finding"
    assert any(line.startswith("reproduce: ") for line in said)


def test_a_range_whose_ends_the_index_lacks_is_refused(monkeypatch) -> None:
    fake_index(monkeypatch, {"transformers": ["5.0.0", "5.1.0"], "gliner": ["0.2.24"]})
    with pytest.raises(inputs.Invalid, match="both ends must be releases it has"):
        bisect.main(["--gliner", "0.2.24", "--transformers", "4.57.3..5.1.0", "--torch", "2.13.0"], log=print)
    with pytest.raises(inputs.Invalid, match="exactly one package as a range"):
        bisect.main(["--gliner", "0.2.24", "--transformers", "5.0.0", "--torch", "2.13.0"], log=print)


def _bisect(monkeypatch, tmp_path, outcome, releases=("4.57.3", "4.57.6", "5.0.0", "5.1.0")) -> list[str]:
    """bisect.main over ``releases`` of transformers, each probe's result made by ``outcome(cell)`` at the cell
    boundary; returns what it said."""
    fake_index(monkeypatch, {"transformers": list(releases), "gliner": ["0.2.24"]},
               {("gliner", "0.2.24"): ["transformers>=4.57.3"]})
    monkeypatch.setattr(results, "CELLS", tmp_path / "cells")
    monkeypatch.setattr(bisect, "own_venv", lambda c: tmp_path / c.id / "bin" / "python")
    monkeypatch.setattr(bisect.report, "write", lambda **_kw: {})
    monkeypatch.setattr(bisect.cells, "run", lambda c, _runner, _opts: outcome(c))
    said: list[str] = []
    bisect.main(["--gliner", "0.2.24", "--transformers", f"{releases[0]}..{releases[-1]}", "--torch", "2.13.0"],
                log=said.append)
    return said


def test_a_start_that_cannot_be_installed_stops_the_bisect_with_its_reason(monkeypatch, tmp_path) -> None:
    """Nothing to compare with: not "no probed release differs", which would read as "the verdict holds"."""
    def outcome(c):
        failed = _result(c.torch, c.transformers, c.gliner, "install-failed", reason="install exit 1:\nno wheel")
        failed["conclusive"] = True
        return failed

    with pytest.raises(bisect.CannotAnswer, match=r"the range's start, torch2.13.0-tf4.57.3-gliner0.2.24, ended "
                                                   r"install-failed: install exit 1"):
        _bisect(monkeypatch, tmp_path, outcome)


def test_probes_that_all_fail_every_test_for_one_reason_are_no_answer(monkeypatch, tmp_path) -> None:
    why = "cannot train: AttributeError: module 'gliner' has no attribute 'train_model'"

    def outcome(c):
        r = _result(c.torch, c.transformers, c.gliner, "broken",
                    [{"layer": "e2e", "field": "training.seed", "test": "t", "message": why, "cause": why}], ())
        r["tests"] = {"tests": 40, "failures": 38, "errors": 0, "skipped": 2}
        return r

    with pytest.raises(bisect.CannotAnswer, match="failed every test for the same reason: cannot train"):
        _bisect(monkeypatch, tmp_path, outcome)


def test_a_verdict_that_holds_over_a_range_where_tests_pass_is_an_answer(monkeypatch, tmp_path) -> None:
    def outcome(c):
        r = _result(c.torch, c.transformers, c.gliner, "pass", (), ())
        r["tests"] = {"tests": 40, "failures": 0, "errors": 0, "skipped": 2}
        return r

    said = _bisect(monkeypatch, tmp_path, outcome)
    assert any("the verdict holds over 4.57.3..5.1.0" in line for line in said), said


def test_a_boundary_at_a_declared_range_is_said_plainly(monkeypatch, tmp_path) -> None:
    def outcome(c):
        if c.transformers.startswith("5."):
            r = _result(c.torch, c.transformers, c.gliner, "install-failed", reason=(
                "install exit 1: Because gliner==0.2.24 depends on transformers<5 and you require "
                "transformers==5.0.0, we can conclude that your requirements are unsatisfiable.\n"
                "× No solution found when resolving dependencies:\n╰─▶ Because gliner==0.2.24 ..."))
            r["conclusive"] = True
            return r
        r = _result(c.torch, c.transformers, c.gliner, "pass", (), ())
        r["tests"] = {"tests": 40, "failures": 0, "errors": 0, "skipped": 2}
        return r

    said = _bisect(monkeypatch, tmp_path, outcome)
    first = next(line for line in said if line.startswith("FIRST DIFFERENT"))
    assert first.startswith("FIRST DIFFERENT: transformers 5.0.0 cannot be installed together with torch 2.13.0, "
                            "gliner 0.2.24 (a declared range, not a forwarding verdict: Because gliner==0.2.24")


@pytest.mark.parametrize(("text", "settled"), [
    ("× No solution found when resolving dependencies:\n╰─▶ Because there is no version of torch==9.9 and you "
     "require torch==9.9, we can conclude that your requirements are unsatisfiable.", False),
    ("× No solution found when resolving dependencies:\n╰─▶ Because gliner==0.2.26 depends on transformers<5 and "
     "you require transformers==5.1.0, we can conclude that your requirements are unsatisfiable.", True),
    ("error: Failed to fetch: `https://pypi.org/simple/torch/`", False),
])
def test_an_install_failure_is_a_reusable_verdict_only_when_the_versions_conflict(text: str, settled: bool) -> None:
    """A version the index lacks (a typo in the request) may install tomorrow: never stored as conclusive."""
    assert install.settled(text) is settled


def test_an_install_failure_says_why_on_its_first_line() -> None:
    """The first line is what the terminal, the report and a finding show: the resolver's reason, not "exit 1"."""
    output = ("Using Python 3.11.7 environment at: .nox/x\nerror: No solution found when resolving dependencies\n"
              "  cause: Because only kernels<=0.17.2 is available and transformers>=5.25.0 depends on "
              "kernels>=0.19.1,<0.20, we can conclude that transformers>=5.25.0 cannot be used.\n")
    assert install._why(output).startswith("Because only kernels<=0.17.2 is available")
    assert install._why("error: Failed to fetch: `https://pypi.org/simple/torch/`\n") == \
        "error: Failed to fetch: `https://pypi.org/simple/torch/`"
