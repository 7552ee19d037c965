"""Credentials are never shown or saved (ptbr.secrets): under a key that holds one, the value is *** in everything PTBR
prints or writes, and it still reaches its destination."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptbr import layouts, secrets, train, validation

HF, HUB, WANDB = "hf_SECRETvalue1", "hub_SECRETvalue2", "wandbSECRETvalue3"
SECTIONS = {"training": {"hub_token": HUB, "report_to": "none"},
            "environment": {"hf_token": HF, "wandb_api_key": WANDB}}


@pytest.mark.parametrize(("key", "secret"), [
    *((k, True) for k in ("environment.hf_token", "training.hub_token", "environment.wandb_api_key", "token",
                          "training.push_to_hub_token", "x.client_secret", "x.db_password", "x.openai_api_key")),
    *((k, False) for k in ("model.ent_token", "model.sep_token", "model.label_token", "model.rel_token",
                           "model.token_loss_coef", "training.include_num_input_tokens_seen", "model.max_len")),
])
def test_a_key_holds_a_credential_by_its_name_not_glinerss_marker_tokens(key: str, secret: bool) -> None:
    assert secrets.is_secret(key) is secret


def _no_secret(text: str, where: str) -> None:
    for value in (HF, HUB, WANDB):
        assert value not in text, f"{where}: a credential shown in clear"


@pytest.mark.parametrize("command", [["validate", "--no-step"], ["explain"], ["explain", "--json"],
                                     ["prove", "--json", "--no-smoke"]], ids=" ".join)
def test_no_command_prints_a_credential(ptbr, make_config, command: list[str]) -> None:
    code, out, err = ptbr(*command, make_config(**SECTIONS))
    assert code == 0, err
    _no_secret(out + err, " ".join(command))
    if command[0] != "validate":
        assert secrets.MASK in out, "the key is shown, its value masked"


def test_explain_json_masks_the_value_at_each_destination(ptbr, make_config) -> None:
    _, out, _ = ptbr("explain", "--json", make_config(**SECTIONS))
    entry = next(k for k in json.loads(out)["keys"] if k["key"] == "environment.hf_token")
    assert entry["value"] == secrets.MASK
    assert [d["value"] for d in entry["destinations"]] == [secrets.MASK], "env HF_TOKEN = ***"


def test_the_saved_config_holds_no_credential_and_the_run_got_them(ptbr, make_config, tmp_path: Path) -> None:
    code, out, err = ptbr("train", "--smoke", make_config(**SECTIONS))
    assert code == 0, err[-2000:]
    _no_secret(out + err, "train")
    for saved in (tmp_path / "out").rglob("*"):
        if saved.is_file() and saved.suffix in (".yaml", ".json", ".txt"):
            _no_secret(saved.read_text(errors="replace"), str(saved))
    written = (tmp_path / "out" / "smoke" / train.CONFIG_FILE).read_text()
    assert f"hf_token: '{secrets.MASK}'" in written


def test_a_credential_still_reaches_its_destination(make_config) -> None:
    config = validation.validate(layouts.load(make_config(**SECTIONS)))
    plan, args, _ = train.prepare(config)
    assert args.hub_token == HUB, "TrainingArguments.hub_token holds the real token"
    assert plan.env["HF_TOKEN"] == HF, "the run's HF_TOKEN is the real token"


def test_an_error_about_a_credential_does_not_quote_it(ptbr, make_config) -> None:
    code, _, err = ptbr("validate", make_config(training={"hub_token": 98765432}))
    assert code == 2
    assert "98765432" not in err
    assert f"got {secrets.MASK}" in err


def test_a_credential_given_with_set_is_masked_too(ptbr, make_config) -> None:
    code, out, err = ptbr("explain", make_config(), "--set", f"training.hub_token={HUB}")
    assert code == 0, err
    _no_secret(out + err, "explain --set")
