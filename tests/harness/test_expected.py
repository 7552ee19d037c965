"""Expected verdicts: each cell of the definition against what the rules of constraints/expected.toml predict; what
fails the gate (news never does, but with --news-fails); accepting the current verdicts as rules derived again, with
their diff, keeping each why."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from harness.definition import Cell
from harness.run import results
from harness.verdicts import expected, github, report, rules
from test_report import GLINER, ONLY_OLD, TOKENIZER, _result

OLD = _result("2.13.0", "4.51.3", "0.2.26", "broken", [ONLY_OLD])
NEW = _result("2.13.0", "5.0.0", "0.2.29")
CAUSE = {"layer": "e2e", "field": "training.seed,training.num_steps", "test": "t::train", "message": TOKENIZER,
         "cause": TOKENIZER}
REGRESSION = {"layer": "ptbr", "field": "training.lr_others", "test": "t::lr", "message": "expected 0.0, got 1e-05",
              "cause": None}


def _expect(*cells: results.CellResult) -> rules.Rules:
    """The rules a reviewed `nox -s accept` would write for these results."""
    return expected.accept([results.cell_of(c) for c in cells], {c["id"]: c for c in cells}, rules.Rules())[0]


def _compare(now: list[results.CellResult], want: rules.Rules, cells: list[results.CellResult] | None = None
             ) -> dict:
    definition_cells = [results.cell_of(c) for c in (cells or now)]
    return {c["id"]: c for c in expected.compare(definition_cells, {c["id"]: c for c in now}, want)}


def test_findings_are_value_breaks_by_field_and_causes_by_exception_on_each_path() -> None:
    result = _result("2.13.0", "5.0.0", "0.2.24", "broken", [ONLY_OLD, CAUSE, REGRESSION], gliner_breaks=(GLINER,))
    assert expected.findings(result) == [
        "AttributeError: 'UniEncoderSpanConfig' object has no attribute 'labels_encoder'",
        "cannot train: TypeError: Trainer.__init__() got an unexpected keyword argument 'tokenizer'",
        "gliner's path: training.lr_others [gliner-kwargs]",
        "training.lr_others [ptbr]",
    ], "one line per cause (whatever the tests it stopped), one per wrong value, gliner's path prefixed"


def test_a_cause_is_one_stable_line_without_machine_paths() -> None:
    cause = "FileNotFoundError: [Errno 2] No such file: '/tmp/pytest-of-root/pytest-7/x0/train.json'\nTraceback..."
    result = _result("2.13.0", "5.0.0", "0.2.29", "broken", [{**CAUSE, "cause": cause, "message": cause}], ())
    assert expected.findings(result) == ["FileNotFoundError: [Errno 2] No such file: '<path>'"], \
        "another run on another machine has the same finding"


def test_each_cell_is_as_expected_new_fixed_not_run_or_news() -> None:
    want = _expect(OLD, NEW)
    regressed = {**NEW, "status": "broken", "breaks": [REGRESSION]}
    fixed = {**OLD, "status": "pass", "breaks": []}
    floating = _result("2.13.0", "5.25.0", "0.2.29", "broken", [REGRESSION])
    unrun = Cell("2.6.0", "5.0.0", "0.2.29")
    definition_cells = [results.cell_of(c) for c in (regressed, fixed)] + [
        dataclasses.replace(results.cell_of(floating), floating="transformers=latest"), unrun]
    got = {c["id"]: c for c in expected.compare(definition_cells, {c["id"]: c for c in (regressed, fixed, floating)},
                                                want)}
    assert (got[NEW["id"]]["state"], got[NEW["id"]]["new"]) == \
        ("new break", ["status broken (expected pass)", "training.lr_others [ptbr]"])
    assert (got[OLD["id"]]["state"], got[OLD["id"]]["fixed"]) == \
        ("fixed", ["status pass (expected broken)",
                   "AttributeError: 'UniEncoderSpanConfig' object has no attribute 'labels_encoder'"])
    assert (got[floating["id"]]["state"], got[floating["id"]]["news"]) == ("new break", "transformers 5.25.0"), \
        "a floating cell on a release newer than every pin is news, judged by the rules like any cell"
    assert got[unrun.id]["state"] == "not run"
    assert [c["id"] for c in expected.failures(list(got.values()))] == [NEW["id"], OLD["id"]], \
        "a regression and a fix fail; news does not; a cell not run is not judged"
    assert [c["id"] for c in expected.failures(list(got.values()), news_fails=True)][-1] == floating["id"], \
        "--news-fails (the nightly run): news the rules do not predict fails too"
    assert [c["id"] for c in expected.failures(list(got.values()), require_all=True)][-1] == unrun.id, \
        "where every cell ran (a workflow), a cell without a result fails too"


def test_the_current_results_as_accepted_are_as_expected() -> None:
    want = _expect(OLD, NEW)
    got = _compare([OLD, NEW], want)
    assert [c["state"] for c in got.values()] == ["as expected"] * 2
    assert expected.summary(list(got.values())) == "all 2 pinned cells are as expected"
    assert expected.lines(list(got.values())) == []


@pytest.mark.parametrize("status", ["error", "timeout"])
def test_a_cell_the_harness_could_not_judge_fails_and_cannot_be_accepted(status: str) -> None:
    stuck = {**NEW, "status": status, "conclusive": False, "reason": "the suite did not finish within 1200 s"}
    got = _compare([stuck], _expect(NEW))
    assert got[NEW["id"]]["state"] == "cannot judge"
    _, kept = expected.accept([results.cell_of(NEW)], {NEW["id"]: stuck}, _expect(NEW))
    assert kept == [f"{NEW['id']}: {status} cannot be accepted (the suite did not finish within 1200 s)"]


def test_a_failed_build_fails_but_a_resolver_conflict_is_a_verdict() -> None:
    build = {**NEW, "status": "install-failed", "conclusive": False, "reason": "docker build exit 1: no space"}
    conflict = {**NEW, "status": "install-failed", "conclusive": True, "reason": "No solution found"}
    assert _compare([build], _expect(NEW))[NEW["id"]]["state"] == "cannot judge"
    assert _compare([conflict], _expect(conflict))[NEW["id"]]["state"] == "as expected", \
        "versions that cannot be installed together are a finding that can be expected"


def test_a_regression_only_on_transformers_5_and_one_everywhere_fail_the_gate() -> None:
    cells = [OLD, NEW, _result("2.13.0", "4.57.6", "0.2.29"), _result("2.13.0", "5.16.1", "0.2.29")]
    want = _expect(*cells)
    on_5 = [{**c, "status": "broken", "breaks": [*c["breaks"], REGRESSION]} if c["requested"]["transformers"] >= "5"
            else c for c in cells]
    everywhere = [{**c, "status": "broken", "breaks": [*c["breaks"], REGRESSION]} for c in cells]
    built = [_report(now, cells, want) for now in (on_5, everywhere)]
    assert [_failing(github.gate(b)) for b in built] == [
        ["NEW BREAK torch2.13.0-tf5.0.0-gliner0.2.29", "NEW BREAK torch2.13.0-tf5.16.1-gliner0.2.29"],
        [f"NEW BREAK {c['id']}" for c in cells]], "every cell that regressed fails the gate"
    assert "  + training.lr_others [ptbr]" in github.gate(built[0]), "with the new finding"
    no_build = [{**c, "status": "install-failed", "conclusive": False, "reason": "docker build exit 1"}
                for c in cells]
    assert _failing(github.gate(_report(no_build, cells, want))) == [f"CANNOT JUDGE {c['id']}" for c in cells], \
        "all cells failing to build fail the gate"
    assert github.gate(_report(cells, cells, want)) == [], "as expected passes"


def _failing(gate: list[str]) -> list[str]:
    return [line for line in gate if not line.startswith(" ")]


def _report(now: list, cells: list, want: dict) -> dict:
    return report.build(now, definition_cells=[results.cell_of(c) for c in cells], expected=want,
                        definition_configs=[])


def _why(want: rules.Rules, finding: str) -> str:
    return next(r.why for r in want.rules if r.text == finding)


def test_accepting_rewrites_the_file_keeps_each_why_and_shows_the_diff(tmp_path: Path) -> None:
    path = tmp_path / "expected.toml"
    want = _expect(OLD, NEW)
    reviewed = "gliner 0.2.23–0.2.27 read config.labels_encoder on uni-encoder models"
    want = rules.Rules([dataclasses.replace(r, why=reviewed) if r.text == expected.findings(OLD)[0] else r
                        for r in want.rules])
    old = expected.dump(want)
    path.write_text(old)
    assert expected.load(path) == want, "the file reads back as written (TOML)"
    now = [{**OLD, "breaks": [ONLY_OLD, REGRESSION]}, NEW]
    new, kept = expected.accept([results.cell_of(c) for c in now], {c["id"]: c for c in now}, expected.load(path))
    assert kept == []
    assert (_why(new, expected.findings(OLD)[0]), _why(new, "training.lr_others [ptbr]")) == (reviewed, ""), \
        "a finding that stays keeps its why; a new one gets an empty why to write"
    diff = expected.diff(old, expected.dump(new), path)
    assert [line for line in diff.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
            ] == ["+", "+[[finding]]", '+finding = "training.lr_others [ptbr]"', '+when = [{ gliner = "<0.2.29" }]',
                  '+why = ""'], "the diff shows exactly what was accepted: one rule, with where it holds"
    assert expected.load(path).status(results.cell_of(OLD)) == ("broken", "")


def test_accepting_some_cells_leaves_what_the_rules_predict_for_the_others() -> None:
    want = _expect(OLD, NEW)
    regressed = {**NEW, "status": "broken", "breaks": [REGRESSION]}
    now = {OLD["id"]: {**OLD, "status": "pass", "breaks": []}, NEW["id"]: regressed}
    cells = [results.cell_of(OLD), results.cell_of(NEW)]
    new, _ = expected.accept(cells, now, want, only={NEW["id"]})
    assert new.predict(cells[0]) == want.predict(cells[0]), "a cell not named keeps its expected verdict"
    assert new.status(cells[1])[0] == "broken"


def test_a_repro_run_fails_its_session_unless_its_tests_pass_whatever_the_cell_verdict() -> None:
    """A repro run that judged nothing (pytest's usage error, exit 4) once ended "not run" and the session
    succeeded: a repro run stands on its own outcome."""
    as_expected = _compare([NEW], _expect(NEW))[NEW["id"]]
    usage = {**NEW, "status": "error", "selection": ["-p", "nonexistent"], "conclusive": False,
             "reason": "pytest exit 4:\nERROR: unrecognized arguments: --config"}
    why = expected.session_failure(usage, as_expected)
    assert why is not None, "an error is never a success, though the cell's full result is as expected"
    assert why.startswith(f"repro run of {NEW['id']}: error: pytest exit 4")
    reproduced = {**OLD, "selection": ["t::a"]}
    assert expected.session_failure(reproduced, None) is not None, "a repro run whose tests fail exits non-zero"
    assert expected.session_failure({**NEW, "selection": ["t::a"]}, None) is None, "its tests pass: success"
    assert expected.session_failure(usage, as_expected, explore=True) is None, "--explore: exit 0 whatever happened"


def test_a_full_run_fails_its_session_when_the_cell_is_not_as_expected_or_an_ad_hoc_cell_does_not_pass() -> None:
    assert expected.session_failure(NEW, _compare([NEW], _expect(NEW))[NEW["id"]]) is None
    changed = _compare([OLD], _expect({**OLD, "status": "pass", "breaks": []}))[OLD["id"]]
    assert expected.session_failure(OLD, changed) == f"{OLD['id']} is not as expected (new break)"
    assert expected.session_failure(OLD, None) == f"{OLD['id']} is broken", "a cell without a verdict must pass"


def test_an_ad_hoc_cell_is_judged_by_the_rules_apart_and_fails_only_when_asked() -> None:
    """An ad-hoc cell's result, compared like a floating one: as the rules predict or a finding they do not; never
    a failure of its session but with --news-fails; one that judged nothing (an error) fails."""
    cell = results.cell_of(OLD)
    rules_ = _expect({**OLD, "status": "pass", "breaks": []})
    (entry,) = expected.compare([], {OLD["id"]: OLD}, rules_, ad_hoc=[cell])
    assert (entry["ad_hoc"], entry["state"]) == (True, "new break"), "judged by the rules (they predict a pass)"
    assert entry["news"] == f"the ad-hoc cell {OLD['id']}"
    assert expected.session_failure(OLD, entry) is None, "reported, not failed"
    assert expected.session_failure(OLD, entry, news_fails=True) == f"{OLD['id']} is not as expected (new break)"
    (said, *_) = expected.news_lines([entry])
    assert said.startswith(f"the ad-hoc cell {OLD['id']}: a finding the rules do not predict")
    (predicted,) = expected.compare([], {OLD["id"]: OLD}, _expect(OLD), ad_hoc=[cell])
    assert expected.news_lines([predicted])[0].endswith("as the rules predict")
    (pinned,) = expected.compare([results.cell_of(NEW)], {NEW["id"]: NEW}, _expect(NEW))
    assert expected.summary([pinned, entry]) == "all 1 pinned cells are as expected", "apart from the pinned cells"
    errored = {**OLD, "status": "error", "reason": "the harness failed", "conclusive": False}
    (judged_nothing,) = expected.compare([], {OLD["id"]: errored}, rules_, ad_hoc=[cell])
    assert expected.session_failure(errored, judged_nothing) is not None, "an ad-hoc run that judged nothing fails"


def _config(cell: results.CellResult, name: str, *found: str, error: str | None = None) -> dict:
    """A config result as harness/run/configs.py saves it, with these findings (None: it could not be judged)."""
    return {"cell": cell["id"], "config": name, "runner": "venv", "error": error,
            "findings": None if error else [{"finding": f, "why": f"PTBR's reason for {f}"} for f in found]}


WARMUP = "training.warmup_steps: changed → 2"
TAGS = "run.tags: ignored"


def test_a_config_is_compared_per_cell_and_a_config_the_file_does_not_name_expects_no_finding() -> None:
    want = _expect(NEW)
    now = {NEW["id"]: {"team.yaml": _config(NEW, "team.yaml", WARMUP), "clean.yaml": _config(NEW, "clean.yaml")}}
    got = {c["config"]: c for c in expected.compare_configs([results.cell_of(NEW)], now, want,
                                                            ["team.yaml", "clean.yaml", "absent.yaml"])}
    assert (got["team.yaml"]["state"], got["team.yaml"]["new"]) == ("new break", [WARMUP]), \
        "findings nobody accepted fail the strict run"
    assert got["clean.yaml"]["state"] == "as expected", "a config whose every key arrives needs no entry"
    assert got["absent.yaml"]["state"] == "not run"
    assert expected.failures(list(got.values())) == [got["team.yaml"]]


def test_accepting_records_a_configs_findings_with_a_why_and_then_it_is_as_expected() -> None:
    now = {NEW["id"]: {"team.yaml": _config(NEW, "team.yaml", WARMUP, TAGS)}}
    want, kept = expected.accept([results.cell_of(NEW)], {NEW["id"]: NEW}, rules.Rules(), None, now)
    assert kept == []
    assert want.findings(results.cell_of(NEW), "team.yaml")[0]["why"] == f"PTBR's reason for {TAGS}", \
        "a new finding's why starts as PTBR's reason; a reviewer may rewrite it"
    got = expected.compare_configs([results.cell_of(NEW)], now, want, ["team.yaml"])
    assert got[0]["state"] == "as expected"
    reviewed = rules.Rules([dataclasses.replace(r, why="reviewed") for r in want.rules])
    again, _ = expected.accept([results.cell_of(NEW)], {NEW["id"]: NEW}, reviewed, None, now)
    assert {f["why"] for f in again.findings(results.cell_of(NEW), "team.yaml")} == {"reviewed"}, \
        "accepting again keeps the reviewed why"


def test_a_key_whose_fate_changes_fails_until_accepted() -> None:
    want, _ = expected.accept([results.cell_of(NEW)], {NEW["id"]: NEW}, rules.Rules(), None,
                              {NEW["id"]: {"team.yaml": _config(NEW, "team.yaml", WARMUP)}})
    moved = {NEW["id"]: {"team.yaml": _config(NEW, "team.yaml", "training.warmup_steps: changed → 3")}}
    got = expected.compare_configs([results.cell_of(NEW)], moved, want, ["team.yaml"])[0]
    assert (got["state"], got["new"], got["fixed"]) == ("new break", ["training.warmup_steps: changed → 3"],
                                                        [WARMUP])


def test_a_config_that_could_not_be_judged_fails_and_is_never_accepted() -> None:
    now = {NEW["id"]: {"team.yaml": _config(NEW, "team.yaml", error="ptbr prove exit 1, no result")}}
    got = expected.compare_configs([results.cell_of(NEW)], now, _expect(NEW), ["team.yaml"])[0]
    assert got["state"] == "cannot judge"
    want, kept = expected.accept([results.cell_of(NEW)], {NEW["id"]: NEW}, rules.Rules(), None, now)
    assert want.findings(results.cell_of(NEW), "team.yaml") == []
    assert kept == [f"{NEW['id']}: config team.yaml: cannot be judged (ptbr prove exit 1, no result)"]


def test_config_verdicts_survive_the_files_round_trip(tmp_path: Path) -> None:
    want, _ = expected.accept([results.cell_of(NEW)], {NEW["id"]: NEW}, rules.Rules(), None,
                              {NEW["id"]: {"tests/configs/team.yaml": _config(NEW, "tests/configs/team.yaml", WARMUP,
                                                                               TAGS)}})
    path = tmp_path / "expected.toml"
    path.write_text(expected.dump(want))
    assert expected.load(path) == want, "dump then load gives the same verdicts (a config's name is one key)"


def test_a_malformed_rule_is_refused_with_its_place(tmp_path: Path) -> None:
    path = tmp_path / "expected.toml"
    path.write_text('[[finding]]\nconfig = "a.yaml"\nfinding = ["x"]\n\n[[finding]]\nfinding = "y"\n'
                    'when = [{ glinr = "<0.2.29" }]\n')
    with pytest.raises(Exception, match=r"(?s)expected.toml:3: finding \['x'\]: finding: expected the finding as a "
                                        r"string.*expected.toml:7: finding 'y': when: glinr: not a condition .*"
                                        r"did you mean gliner\?"):
        expected.load(path)


def test_a_config_in_an_ad_hoc_cell_is_judged_by_the_rules_a_matrix_cells_fails_on_a_difference() -> None:
    accepted = {"id": NEW["id"], "config": "a.yaml", "state": "as expected", "new": [], "fixed": []}
    found = {**accepted, "state": "new break", "new": [WARMUP]}
    assert expected.config_session_failure([accepted]) is None
    assert expected.config_session_failure([found]) == f"a.yaml in {NEW['id']}: new break\n  + {WARMUP}"
    ad_hoc = results.cell_of(NEW)
    now = {NEW["id"]: {"a.yaml": _config(NEW, "a.yaml", WARMUP)}}
    (unpredicted,) = expected.compare_configs([], now, rules.Rules(), ["a.yaml"], ad_hoc=[ad_hoc])
    assert (unpredicted["ad_hoc"], unpredicted["state"]) == (True, "new break"), "judged by the (empty) rules"
    assert expected.config_session_failure([unpredicted]) is None, "an ad-hoc cell's finding is reported, not failed"
    assert expected.config_session_failure([unpredicted], news_fails=True) is not None, "unless asked"
    assert expected.news_lines([unpredicted])[0].startswith(f"the ad-hoc cell {NEW['id']}, config a.yaml: a finding")
    assert expected.compare_configs([], now, rules.Rules(), ["b.yaml"], ad_hoc=[ad_hoc]) == [], \
        "only the configs an ad-hoc cell proved"


def test_with_every_cell_required_a_definition_config_must_have_run_where_the_suite_could() -> None:
    broken_install = _result("2.6.0", "5.0.0", "0.2.29", "install-failed", gliner_breaks=())
    cells = [results.cell_of(NEW), results.cell_of(broken_install)]
    built = report.build([NEW, broken_install], definition_cells=cells, expected=_expect(NEW),
                         definition_configs=["team.yaml"], config_results=[])
    states = {e["id"]: e["state"] for e in built["configs_expected"]}
    assert states == {NEW["id"]: "not run", broken_install["id"]: "cell did not run"}
    assert [e["id"] for e in expected.failures(built["configs_expected"], require_all=True)] == [NEW["id"]], \
        "a workflow that ran every cell fails where a definition config was not proven, not where none could be"
    from harness.run import configs

    mine = configs.result(cells[0], "venv", "k", configs.UserConfig(Path("mine.yaml"), "mine.yaml"),
                          {"findings": []}, "nox")
    asked = report.build([NEW], definition_cells=cells[:1], expected=_expect(NEW), definition_configs=[],
                         config_results=[mine])
    assert asked["configs_expected"][0]["in_definition"] is False


def test_a_cell_not_run_here_is_no_verdict_and_fails_only_where_every_cell_was_asked_for() -> None:
    on_313 = _result("2.13.0", "5.0.0", "0.2.29", python="3.13")
    here = {**on_313, "status": "unavailable", "conclusive": False, "breaks": [],
            "reason": "no Python 3.13 on this machine (...): install it (`uv python install 3.13`) or -- --docker"}
    got = _compare([here], _expect(on_313))[on_313["id"]]
    assert got["state"] == "not run here"
    assert got["why"].startswith("no Python 3.13 on this machine")
    assert expected.failures([got]) == [], "the main job exits 0 on a machine without the interpreter"
    assert expected.failures([got], require_all=True) == [got], "a workflow that runs every cell needs it to run"
    assert expected.lines([got]) == [f"NOT RUN HERE {on_313['id']}: {got['why']}"]
    _, kept = expected.accept([results.cell_of(on_313)], {on_313["id"]: here}, _expect(on_313))
    assert [k for k in kept if "unavailable cannot be accepted" in k] == kept, "never taken as the expected verdict"
    assert kept


def test_a_known_finding_seen_where_no_rule_predicted_it_keeps_its_why() -> None:
    moved = _result("2.13.0", "5.16.1", "0.2.29", "broken", [ONLY_OLD])
    known = rules.Rules([
        rules.Rule("finding", expected.findings(OLD)[0], "gliner's defect", ({"gliner": "<0.2.29"},)),
        rules.Rule("finding", WARMUP, "ceil(ratio × num_steps)", (), ("team.yaml",))])
    cells = [results.cell_of(moved)]
    now = {moved["id"]: {"team.yaml": _config(moved, "team.yaml", WARMUP), "mine.yaml": _config(moved, "mine.yaml",
                                                                                                 WARMUP)}}
    observed, _ = expected.observe(cells, {moved["id"]: moved}, known, None, now)
    assert observed[0].findings[None][expected.findings(OLD)[0]] == "gliner's defect", \
        "a finding of the suite known elsewhere: its rule's why"
    assert observed[0].findings["mine.yaml"][WARMUP] == "ceil(ratio × num_steps)", \
        "a config no rule names, with a finding another config's rule knows: that rule's why"
