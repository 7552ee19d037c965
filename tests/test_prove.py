"""`ptbr prove` on the installed versions (what the matrix runs in each cell for a user's config): every key's
fate read back at its destination, the smoke training and its checkpoint read back, and the configs that cannot be
proven, each a result, never a crash. The configs are real: the example, the team config in upstream's layout, and
edits of them; the expected values come from the rules named in each assertion."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from support import EXAMPLES, HERE

from ptbr import cli, fates, prove

TEAM = HERE / "configs" / "team" / "team.yaml"


def _edit(source: Path, dest: Path, **sections: dict) -> Path:
    """``source`` with keys of its sections replaced (None: removed), written to ``dest``."""
    data = yaml.safe_load(source.read_text())
    for section, values in sections.items():
        for key, value in values.items():
            if value is None:
                data[section].pop(key, None)
            else:
                data.setdefault(section, {})[key] = value
    dest.write_text(yaml.safe_dump(data, sort_keys=False))
    return dest


def _keys(result: dict) -> dict[str, dict]:
    return {k["key"]: k for k in result["keys"]}


@pytest.fixture(scope="module")
def proven(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The example, the team config and edits of them, proven in one process as the matrix proves them."""
    where = tmp_path_factory.mktemp("fate")
    configs = {
        "tiny": EXAMPLES / "tiny.yaml",
        "team": TEAM,
        # a key the schema refuses (a typo) beside keys that are fine
        "typo": _edit(EXAMPLES / "tiny.yaml", where / "typo.yaml", training={"lr_encodr": 3e-4}),
        # a data file this machine does not have
        "no-data": _edit(EXAMPLES / "tiny.yaml", where / "no-data.yaml",
                         data={"train_data": "corpora/team-train.json", "val_data_dir": None},
                         training={"eval_every": None}),
        # a passthrough option the installed transformers normalises
        "passthrough": _edit(EXAMPLES / "tiny.yaml", where / "passthrough.yaml",
                             training={"include_num_input_tokens_seen": True}),
        "not-yaml": where / "not-yaml.yaml",
        # a nested config (labels_encoder_config) that gliner turns into a config object with entries of its own
        "nested": HERE / "configs" / "upstream" / "config_streaming_span.yaml",
        # the warmup given as warmup_ratio, as upstream's flat files and the original PTBR write it
        "warmup-ratio": _edit(EXAMPLES / "tiny.yaml", where / "warmup-ratio.yaml",
                              training={"warmup_steps": None, "warmup_ratio": 0.25}),
    }
    configs["not-yaml"].write_text("training:\n  num_steps: [1\n")
    out = where / "proofs.json"
    assert cli.main(["prove", "--json", "--out", str(out), "--work", str(where / "work"),
                     *map(str, configs.values())]) == 0, "a run that proved every config exits 0, whatever it found"
    written = json.loads(out.read_text())
    assert written["schema_version"] == prove.SCHEMA_VERSION, "the output says which layout it has"
    return dict(zip(configs, written["configs"], strict=True))


def test_a_warmup_ratio_is_changed_into_whole_steps(proven) -> None:
    tiny = yaml.safe_load((EXAMPLES / "tiny.yaml").read_text())["training"]
    key = _keys(proven["tiny"])["training.warmup_steps"]
    assert (key["fate"], key["value"]) == ("changed", 0.1)
    assert key["to"] == math.ceil(tiny["warmup_steps"] * tiny["num_steps"]), \
        "a warmup_steps below 1 is a ratio of num_steps, rounded up (README: warmup)"
    assert {"finding": "training.warmup_steps: changed → 2", "why": key["why"].splitlines()[0]} in \
        proven["tiny"]["findings"], "and it is a finding of the config in this cell"


def test_a_warmup_ratio_is_changed_into_whole_steps_under_its_own_name(proven) -> None:
    """warmup_ratio decides the warmup whenever warmup_steps is not written: never "ignored"."""
    tiny = yaml.safe_load((EXAMPLES / "tiny.yaml").read_text())["training"]
    key = _keys(proven["warmup-ratio"])["training.warmup_ratio"]
    assert (key["fate"], key["to"]) == ("changed", math.ceil(0.25 * tiny["num_steps"])), "ceil(ratio × num_steps)"


def test_wandb_keys_are_ignored_when_nothing_reports_to_wandb(proven) -> None:
    keys = _keys(proven["tiny"])
    for name in ("run.tags", "run.description"):
        assert keys[name]["fate"] == "ignored", f"{name} is read by the wandb integration only"
        assert "wandb" in keys[name]["why"], "and the why says so"


def test_explicit_zeros_arrive_as_zeros(proven) -> None:
    keys = _keys(proven["team"])
    for name in ("training.lr_others", "training.weight_decay_other", "training.weight_decay_encoder",
                 "training.max_grad_norm", "model.dropout", "training.loss_gamma", "training.label_smoothing"):
        assert keys[name]["fate"] == "arrives", f"{name}: an explicit 0 is a value, never a default"
        assert keys[name]["value"] == 0, name


def test_the_team_config_arrives_whole_and_trains_on_the_installed_gliner(proven) -> None:
    team = proven["team"]
    written = yaml.safe_load(TEAM.read_text())
    assert {k["key"] for k in team["keys"]} == {f"{s}.{k}" for s, keys in written.items() for k in keys}, \
        "every key of the file has a fate"
    assert [k["key"] for k in team["keys"] if k["fate"] != "arrives"] == [], \
        "on the newest gliner every key of the team config arrives as written"
    smoke = team["smoke"]
    assert smoke["status"] == "trained", smoke.get("why")
    assert smoke["checked"] > 0, "the checkpoint's own records were read back"
    assert smoke["differences"] == [], "and hold what was built"
    assert any("tiny random backbone" in note for note in smoke["notes"]), \
        "the hub backbone was replaced, and the result says so"


def test_a_refused_key_is_named_and_every_other_key_still_judged_and_trained(proven) -> None:
    typo = proven["typo"]
    keys = _keys(typo)
    assert keys["training.lr_encodr"]["fate"] == "refused"
    assert "lr_encoder" in keys["training.lr_encodr"]["why"] + str(typo["refused"]), "with a did-you-mean"
    assert keys["training.lr_encoder"]["fate"] == "arrives", "the other keys are still proven"
    assert typo["smoke"]["status"] == "trained"
    assert "without the refused training.lr_encodr" in typo["smoke"]["notes"][0], "trained without it, said so"


def test_a_missing_data_file_is_replaced_and_the_result_says_so(proven) -> None:
    data = proven["no-data"]["data"]
    assert [(d["key"], d["replaced"]) for d in data] == [("data.train_data", True)]
    assert "corpora/team-train.json is not on this machine" in data[0]["why"]
    assert _keys(proven["no-data"])["data.train_data"]["replaced"] == data[0]["why"], "beside the key too"
    assert proven["no-data"]["smoke"]["status"] == "trained", "the generated dataset trains"


def test_a_value_the_installed_transformers_normalises_is_changed_to_what_it_holds(proven) -> None:
    from transformers import TrainingArguments

    held = TrainingArguments(output_dir="unused", include_num_input_tokens_seen=True,
                             report_to="none").include_num_input_tokens_seen
    key = _keys(proven["passthrough"])["training.include_num_input_tokens_seen"]
    if held is True:
        assert key["fate"] == "arrives", "this transformers keeps the value as given"
    else:
        assert (key["fate"], key["to"]) == ("changed", held), "the real TrainingArguments' value, not PTBR's guess"
        assert "the installed transformers holds" in key["why"]


def test_a_nested_config_arrives_when_the_object_gliner_builds_holds_every_entry_written(proven) -> None:
    written = yaml.safe_load((HERE / "configs" / "upstream" / "config_streaming_span.yaml").read_text())["model"]
    key = _keys(proven["nested"])["model.labels_encoder_config"]
    assert isinstance(written["labels_encoder_config"], dict), "upstream's streaming config nests one"
    assert key["fate"] == "arrives", "the entries gliner adds (transformers_version, ...) are not a change"
    assert fates._holds({"hidden_size": 32, "added": 1}, {"hidden_size": 32})
    assert not fates._holds({"hidden_size": 64}, {"hidden_size": 32}), "an entry with another value is a change"


def test_a_file_that_is_not_yaml_is_a_refused_result_not_a_crash(proven) -> None:
    broken = proven["not-yaml"]
    assert "error" not in broken, broken.get("traceback")
    assert broken["refused"], "the problem, with its line"
    assert broken["smoke"]["status"] == "not-run"
    assert broken["findings"][0]["finding"].startswith("config refused: ")


def test_a_failing_training_names_the_key_whose_destination_the_failing_code_reads(tmp_path) -> None:
    import dataclasses

    from gliner.training import trainer

    if "use_span_width_weight" not in {f.name for f in dataclasses.fields(trainer.TrainingArguments)}:
        pytest.skip("this gliner has no use_span_width_weight training option (gliner 0.2.29 has)")
    config = _edit(TEAM, tmp_path / "width.yaml", training={"use_span_width_weight": True})
    result = prove.prove(config, tmp_path / "work")
    keys = _keys(result)
    assert result["smoke"]["status"] == "failed", "gliner 0.2.29's span-width weighting fails on a relation model"
    assert keys["training.use_span_width_weight"]["fate"] == "fails", \
        f"the failing gliner code reads use_span_width_weight ({result['smoke']['where']})"
    assert [k for k, v in keys.items() if v["fate"] == "fails"] == ["training.use_span_width_weight"], \
        "and no key it does not read is blamed"


def test_out_holds_every_config_proven_so_far_after_each_one(tmp_path, monkeypatch) -> None:
    """--out is written again after each config, so a process that dies while proving one keeps those before."""
    seen: list[list[str]] = []
    real = cli._write_json

    def write(path: Path, data: dict) -> None:
        real(path, data)
        seen.append([Path(p["config"]).name for p in json.loads(path.read_text())["configs"]])

    monkeypatch.setattr(cli, "_write_json", write)
    bad = tmp_path / "not-yaml.yaml"
    bad.write_text("training: [1\n")
    out = tmp_path / "proofs.json"
    assert cli.main(["prove", "--out", str(out), "--no-smoke", str(EXAMPLES / "tiny.yaml"), str(bad)]) == 0
    assert seen == [["tiny.yaml"], ["tiny.yaml", "not-yaml.yaml"]], "the file, whole, after each config"
    assert not list(tmp_path.glob(".*.tmp")), "no half-written file is left beside it"
