"""Expected verdicts as rules: derived from observed verdicts (the fewest, simplest conditions that reproduce them
all), written once with the versions where they hold, read back, and applied to cells no one has run."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest
from harness import definition
from harness.definition import Cell
from harness.verdicts import expected, rules

GLINERS = ("0.2.23", "0.2.24", "0.2.26", "0.2.29")
TRANSFORMERS = ("4.51.3", "4.57.6", "5.0.0", "5.16.1", "5.24.0")


def _seen(cell: Cell, status: str = "pass", *found: str, config: str | None = None, why: str = "") -> rules.Observed:
    return rules.Observed(cell, status, {config: {f: why for f in found}})


def test_a_finding_seen_below_a_release_holds_below_it_and_a_new_cell_is_judged_without_an_accept() -> None:
    cells = [Cell("2.13.0", tf, g) for g in GLINERS for tf in ("4.57.6", "5.16.1")]
    old = "cannot train: AttributeError: no labels_encoder"
    derived = rules.derive([_seen(c, "broken" if c.gliner < "0.2.29" else "pass",
                                  *([old] if c.gliner < "0.2.29" else []), why="gliner's defect")
                            for c in cells])
    assert [(r.kind, r.text, r.when) for r in derived.rules] == [
        ("status", "broken", ({"gliner": "<0.2.29"},)), ("finding", old, ({"gliner": "<0.2.29"},))], \
        "one rule per status and per finding, bounded by the first release where it is not seen"
    unseen = Cell("2.13.0", "5.25.0", "0.2.26")
    assert derived.predict(unseen)["status"] == "broken"
    assert derived.findings(unseen) == [{"finding": old, "why": "gliner's defect"}], \
        "a cell on a newer transformers is judged by the rules: open above the newest version seen"
    assert derived.predict(Cell("2.13.0", "5.25.0", "0.2.29"))["breaks"] == []


def test_a_finding_in_one_corner_needs_two_conditions_and_one_everywhere_needs_none() -> None:
    cells = [Cell("2.13.0", tf, g) for g in GLINERS for tf in TRANSFORMERS]
    corner = "gliner's path: Trainer(tokenizer=)"
    derived = rules.derive([_seen(c, "pass", "everywhere",
                                  *([corner] if c.gliner < "0.2.26" and c.transformers >= "5" else []))
                            for c in cells])
    when = {r.text: r.when for r in derived.rules}
    assert when == {"everywhere": (), corner: ({"gliner": "<0.2.26", "transformers": ">=5.0.0"},)}


def test_derived_rules_reproduce_every_observation_whatever_the_pattern() -> None:
    """A seeded fuzz of the derivation: random verdicts over a random matrix, each reproduced exactly."""
    rng = random.Random(29)
    cases = 0
    for _ in range(150):
        cells = list({Cell(rng.choice(("2.6.0", "2.13.0")), rng.choice(TRANSFORMERS), rng.choice(GLINERS),
                           rng.random() < 0.2, python=rng.choice(("3.10", "3.11", "3.13"))).id: None
                      for _ in range(rng.randint(1, 14))})
        cells = [Cell.parse(i, override=rng.random() < 0.2) for i in cells]
        observed = [rules.Observed(c, rng.choice(("pass", "pass", "broken", "install-failed")),
                                   {None: {f"finding {n}": f"why {n % 2}" for n in range(4) if rng.random() < 0.5},
                                    "a.yaml": {"key: ignored": ""} if rng.random() < 0.5 else {}})
                    for c in cells]
        derived = rules.derive(observed)
        for o in observed:
            assert derived.status(o.cell)[0] == o.status, (o, derived)
            for scope, found in o.findings.items():
                assert {f["finding"]: f["why"] for f in derived.findings(o.cell, scope)} == found, (o, derived)
            cases += 1
    assert cases > 500


def test_a_hand_written_condition_stays_while_it_holds_and_gives_way_when_a_result_contradicts_it() -> None:
    cells = [Cell("2.13.0", tf, "0.2.29") for tf in ("4.40.2", "4.51.3", "5.0.0")]
    fp16 = "training.fp16: transformers refuses fp16 without a GPU"
    by_hand = rules.Rules([rules.Rule("finding", fp16, "transformers 4.40 checks fp16 at once",
                                      ({"transformers": "<4.41"},))])
    why = by_hand.rules[0].why  # as `observe` sees it: the why of the rule that predicted it, or of its finding
    seen = [_seen(c, "pass", *([fp16] if c.transformers == "4.40.2" else []), why=why) for c in cells]
    assert rules.derive(seen, by_hand) == by_hand, "accepting what the rules already say changes nothing"
    later = [*seen[:2], _seen(cells[2], "pass", fp16, why=why)]
    again = rules.derive(later, by_hand)
    assert again.rules[0].why == "transformers 4.40 checks fp16 at once", "the why stays"
    assert [again.rules[0].holds(c) for c in cells] == [True, False, True], \
        "the conditions follow the results where they contradict the hand-written ones"


def test_a_message_that_quotes_the_cells_own_version_is_one_rule() -> None:
    cells = [Cell("2.13.0", "4.57.6", g) for g in GLINERS]
    said = "training.rel_focal_loss_alpha: refused: not a training option of gliner {}: it is one of gliner 0.2.26"
    observed = [_seen(c, "pass", *([said.format(c.gliner)] if c.gliner < "0.2.26" else []), config="team.yaml",
                      why=f"gliner {c.gliner} has no rel_focal_loss_alpha (gliner 0.2.23-0.2.24)") for c in cells]
    derived = rules.derive(observed)
    assert [(r.text, r.why, r.when) for r in derived.rules] == [
        (said.format("{gliner}"), "gliner {gliner} has no rel_focal_loss_alpha (gliner 0.2.23-0.2.24)",
         ({"gliner": "<0.2.26"},))], \
        "the version the message quotes is the cell's own; one quoted as a range (0.2.23-0.2.24) stays as written"
    assert derived.findings(Cell("2.13.0", "5.0.0", "0.2.24"), "team.yaml")[0]["finding"] == said.format("0.2.24")


def test_a_status_rule_comes_first_and_pass_is_what_no_rule_says(tmp_path: Path) -> None:
    path = tmp_path / "expected.toml"
    path.write_text('[[status]]\nstatus = "install-failed"\nwhen = [{ python = ">=3.13", torch = "<2.5" }]\n'
                    'why = "no cp313 wheel"\n\n[[finding]]\nfinding = "x [ptbr]"\nwhen = [{ override = true }]\n')
    read = rules.load(path)
    assert read.status(Cell("2.4.1", "4.57.6", "0.2.29", python="3.13")) == ("install-failed", "no cp313 wheel")
    assert read.status(Cell("2.4.1", "4.57.6", "0.2.29", python="3.12")) == ("pass", "")
    assert read.predict(Cell("2.4.1", "4.57.6", "0.2.29", python="3.13"))["breaks"] == [], \
        "no suite findings where the suite is not expected to run"
    assert [f["finding"] for f in read.findings(Cell("2.13.0", "5.24.0", "0.2.29", override=True))] == ["x [ptbr]"]
    assert read.findings(Cell("2.13.0", "5.24.0", "0.2.29")) == []


def test_the_committed_rules_are_what_accept_writes_and_each_why_is_written_once() -> None:
    committed = expected.load()
    cells = definition.cells(floating=False)
    derived, _ = expected.accept(cells, {}, committed)
    assert expected.dump(derived) == expected.EXPECTED.read_text(), \
        "accepting with no new result changes nothing: the file is in its derived form"
    texts = [(r.kind, r.configs, r.text, r.why) for r in committed.rules]
    assert len(texts) == len(set(texts)), "a finding with its why is written once"
    assert all(r.why for r in committed.rules), "every rule says why"


@pytest.mark.parametrize(("predicted", "seen", "state"), [
    pytest.param("install-failed", "pass", "now installable", id="install-failed-to-pass"),
    pytest.param("pass", "install-failed", "new break", id="pass-to-install-failed"),
    pytest.param("broken", "pass", "fixed", id="broken-to-pass"),
    pytest.param("pass", "broken", "new break", id="pass-to-broken"),
])
def test_words_new_break_only_where_a_status_gets_worse_and_now_installable_where_it_installs(
        predicted: str, seen: str, state: str) -> None:
    from test_report import _result

    result = _result("2.13.0", "5.25.0", "0.2.29", seen, gliner_breaks=())
    result = {**result, "conclusive": True}
    cell = Cell("2.13.0", "5.25.0", "0.2.29")
    said = rules.Rules([rules.Rule("status", predicted, "why")] if predicted != "pass" else [])
    assert expected.compare([cell], {cell.id: result}, said)[0]["state"] == state


def test_news_says_what_is_new_and_whether_the_rules_predicted_it() -> None:
    from test_report import _result

    pinned = Cell("2.13.0", "5.16.1", "0.2.29")
    floating = dataclasses.replace(Cell("2.13.0", "5.25.0", "0.2.29", override=True), floating="transformers=latest")
    said = rules.Rules([rules.Rule("finding", "gliner's path: training.lr_others [gliner-kwargs]", "x or default")])
    now = {c.id: _result(c.torch, c.transformers, c.gliner) for c in (pinned, floating)}
    compared = expected.compare([pinned, floating], now, said)
    assert expected.news_lines(compared) == [
        "transformers 5.25.0 is new (torch2.13.0-tf5.25.0-gliner0.2.29): PTBR's path passes with 1 finding(s), as the "
        "rules predict"]
    assert expected.lines(compared) == [], "news is not among the pinned cells' differences"
    assert expected.failures(compared, news_fails=True) == [], "predicted news fails not even the nightly run"
    regressed = {**now[floating.id], "status": "broken",
                 "breaks": [{"layer": "ptbr", "field": "training.seed", "test": "t", "message": "m", "cause": None}]}
    compared = expected.compare([pinned, floating], {**now, floating.id: regressed}, said)
    assert expected.news_lines(compared) == [
        "transformers 5.25.0 is new (torch2.13.0-tf5.25.0-gliner0.2.29): a finding the rules do not predict:",
        "  + status broken (expected pass)", "  + training.seed [ptbr]"]
    assert expected.failures(compared) == [], "news never fails the gate"
    assert [c["id"] for c in expected.failures(compared, news_fails=True)] == [floating.id]


@pytest.mark.parametrize(("text", "said"), [
    pytest.param('[[finding]]\nfinding = "x"\nwhen = []\n', r"expected.toml:3: finding 'x': when: expected a list of "
                 r"alternatives .*\(leave it out for every cell\), got \[\]", id="no-alternative"),
    pytest.param('[[finding]]\nfinding = "x"\nwhen = [{ gliner = "<0.2.x" }]\n',
                 r"expected.toml:3: finding 'x': when: gliner: expected a PEP 440 specifier", id="bad-specifier"),
    pytest.param('[[status]]\nstatus = "pass"\n', r"expected.toml:2: status 'pass': status: expected one of broken, "
                 r".*\(pass is what no rule says\)", id="pass-status"),
    pytest.param('["torch2.13.0-tf5.0.0-gliner0.2.29"]\nstatus = "pass"\nbreaks = []\n',
                 r"expected.toml:1: torch2.13.0-tf5.0.0-gliner0.2.29: not a kind of rule .*former layout",
                 id="per-cell"),
    pytest.param('[[findings]]\nfinding = "x"\n', r"expected.toml:1: findings: not a kind of rule .*did you mean "
                 r"finding\?", id="misspelled-kind"),
    pytest.param('[[finding]]\nfinding = "x"\nwhy = 3\nwhen = [{ override = "yes" }]\n',
                 r"(?s)expected.toml:3: finding 'x': why: expected a string.*expected.toml:4: finding 'x': when: "
                 r"override: expected true or false", id="every-problem-at-once"),
])
def test_a_rule_that_cannot_be_used_is_refused_at_its_line(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "expected.toml"
    path.write_text(text)
    with pytest.raises(Exception, match=said):
        rules.load(path)


def test_a_finding_alike_in_several_configs_is_one_rule_naming_them(tmp_path: Path) -> None:
    cells = [Cell("2.13.0", "5.16.1", g) for g in GLINERS]
    ignored = "training.size_sup: ignored"
    observed = [rules.Observed(c, "pass", {name: {ignored: "no gliner release reads it"}
                                           for name in ("up/config.yaml", "up/config_span.yaml")}) for c in cells]
    derived = rules.derive(observed)
    assert [(r.configs, r.text, r.when) for r in derived.rules] == [
        (("up/config.yaml", "up/config_span.yaml"), ignored, ())], "written once, for both configs"
    path = tmp_path / "expected.toml"
    path.write_text(rules.dump(derived))
    assert rules.load(path) == derived, "a list of configs reads back"
    assert [f["finding"] for f in rules.load(path).findings(cells[0], "up/config_span.yaml")] == [ignored]
    assert rules.load(path).findings(cells[0], "my.yaml") == [], "a config no rule names expects no finding"


def test_an_override_condition_and_a_status_read_back_as_written(tmp_path: Path) -> None:
    cells = [Cell("2.13.0", tf, "0.2.29", override=tf != "5.16.1") for tf in ("5.16.1", "5.24.0", "5.25.0")]
    status = "".join(["bro", "ken"])  # equal to, not identical with, the other cell's "broken": as results give it
    observed = [rules.Observed(cells[0], "pass", {None: {}}),
                rules.Observed(cells[1], status, {None: {"x [ptbr]": ""}}),
                rules.Observed(cells[2], "broken", {None: {"x [ptbr]": ""}})]
    derived = rules.derive(observed)
    path = tmp_path / "expected.toml"
    path.write_text(rules.dump(derived))
    read = rules.load(path)
    assert read == derived, "read back as written"
    assert [read.status(c)[0] for c in cells] == ["pass", "broken", "broken"]
    assert [len(read.findings(c)) for c in cells] == [0, 1, 1]
    by_hand = rules.Rules([rules.Rule("finding", "y [ptbr]", "w", ({"override": False}, {"override": True,
                                                                                         "gliner": "<0.2.26"}))])
    path.write_text(rules.dump(by_hand))
    assert rules.load(path) == by_hand, "override = false and true read back as written"


def test_a_top_level_key_that_is_not_tables_of_rules_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "expected.toml"
    path.write_text('finding = ["x"]\n')
    with pytest.raises(Exception, match=r"expected.toml:1: finding: expected \[\[finding\]\] tables"):
        rules.load(path)


def test_a_hand_written_condition_is_kept_for_its_own_finding_only() -> None:
    cells = [Cell("2.13.0", tf, g) for g, tf in (("0.2.23", "4.40.2"), ("0.2.29", "4.51.3"), ("0.2.29", "5.0.0"))]
    by_hand = rules.Rules([rules.Rule("finding", "b: fp16 refused", "w", ({"transformers": "<4.51.3"},))])
    texts = ["".join(["b: fp16 ", "refused"]), "a: another"]  # equal, not identical, strings: as a result gives
    observed = [rules.Observed(c, "pass", {None: {t: "w" for t in texts} if c.gliner == "0.2.23" else {}})
                for c in cells]
    kept = {r.text: r.when for r in rules.derive(observed, by_hand).rules}
    fresh = {r.text: r.when for r in rules.derive(observed).rules}
    assert kept["b: fp16 refused"] == ({"transformers": "<4.51.3"},), "its own rule's conditions stay"
    assert kept["a: another"] == fresh["a: another"], "another finding's are derived, not borrowed"
