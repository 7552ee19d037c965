"""Training counted in epochs, as HF Trainer users write it: num_train_epochs instead of num_steps, the eval, save and
logging strategies, and the best model kept at the end, each checked the way the installed transformers checks it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from support import EXAMPLES


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


EPOCHS = {"num_steps": None, "num_train_epochs": 2, "train_batch_size": 8}
VAL = {"val_data_dir": str(EXAMPLES / "val.jsonl")}


def test_num_train_epochs_without_num_steps_validates(ptbr, make_config) -> None:
    code, out, err = ptbr("validate", "--no-step", make_config(training=EPOCHS))
    assert code == 0, _errors(err)
    assert "2 epochs × batch 8" in out


@pytest.mark.parametrize(("training", "key", "said"), [
    pytest.param({**EPOCHS, "num_steps": 10}, "training.num_train_epochs", "both set: one name per value", id="both"),
    pytest.param({"num_steps": None}, "training.num_steps", "required key is missing (or set training.num_train_"
                 "epochs)", id="neither"),
    pytest.param({**EPOCHS, "eval_strategy": "epoch"}, "training.eval_strategy", "there is no validation data",
                 id="evaluating-without-data"),
    pytest.param({**EPOCHS, "save_strategy": "epochs"}, "training.save_strategy", "did you mean 'epoch'?",
                 id="a-strategy-transformers-lacks"),
])
def test_a_length_or_strategy_that_cannot_be_honoured_is_refused_at_its_key(ptbr, make_config, training, key,
                                                                               said) -> None:
    code, _, err = ptbr("validate", "--no-step", make_config(training=training))
    assert code == 2
    assert re.search(rf":\d+:\d+: {re.escape(key)}: ", err), f"at {key}'s line"
    assert said in err


def test_best_model_needs_matching_strategies_as_transformers_checks(ptbr, make_config) -> None:
    mismatched = {**EPOCHS, "eval_strategy": "epoch", "save_strategy": "steps", "load_best_model_at_end": True}
    code, _, err = ptbr("validate", "--no-step", make_config(data=VAL, training=mismatched))
    assert code == 2
    (error,) = _errors(err)
    assert ": training.load_best_model_at_end: transformers rejected" in error, "transformers' own check, at the key"
    matched = {**mismatched, "save_strategy": "epoch", "metric_for_best_model": "loss", "greater_is_better": False}
    assert ptbr("validate", "--no-step", make_config(data=VAL, training=matched))[0] == 0


@pytest.mark.training
def test_an_epoch_run_trains_its_epochs_and_saves_at_each_end(ptbr, make_config, tmp_path: Path) -> None:
    """40 examples in batches of 8 are 5 steps an epoch: 2 epochs end at steps 5 and 10, where each is saved."""
    examples = len(json.loads((EXAMPLES / "train.json").read_text()))
    assert examples == 40, "the example data this test counts on"
    training = {**EPOCHS, "eval_strategy": "epoch", "save_strategy": "epoch", "load_best_model_at_end": True,
                "metric_for_best_model": "loss", "greater_is_better": False, "warmup_ratio": 0.2}
    path = make_config(data={**VAL, "train_data": str(EXAMPLES / "train.json")}, training=training)
    code, out, err = ptbr("train", path)
    assert code == 0, err[-2000:]
    assert "trained 10 steps" in out, "ceil(40 / 8) × 2 epochs"
    out_dir = Path(re.search(r"model saved to (\S+)/final", out)[1])
    assert sorted(p.name for p in out_dir.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-5"]
    state = json.loads((out_dir / "checkpoint-10" / "trainer_state.json").read_text())
    assert [e["epoch"] for e in state["log_history"] if "eval_loss" in e] == [1.0, 2.0], "evaluated at each end"
    assert state["best_model_checkpoint"] is not None, "load_best_model_at_end tracked the best"
