"""The propagation suite: does each config field reach the trainer, layer by layer?

Layers (each test names its layer and fields with ``@covers``; the JUnit XML carries them as properties):
- ``ptbr``: PTBR → gliner. What crosses gliner's entry points (``GLiNER.from_config``, ``train_model``, and
  ``Trainer.train`` for a resumed run), captured where PTBR looks them up.
- ``transformers``: gliner → transformers. The real Trainer that gliner builds from PTBR's arguments, and what it does
  with them (dataloaders, optimizer groups, scheduler, loss arguments, evaluation cadence).
- ``gliner-kwargs``: gliner's own ``train_model(**kwargs)`` path with the same values, so a gliner defect is told apart
  from a PTBR one. Deselected by default (``-m gliner_path`` runs it): it fails today, by design, on gliner's defects.
- ``torch``: the dtype and device the model's forward pass actually uses, and that CUDA is never touched on CPU.
- ``e2e``: ``ptbr train`` end to end: files on disk, cadence, and a golden loss trace.

A failure's first line says ``<field> [<layer>]: expected X, got Y (<rule>)``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ptbr import compat

LAYERS = ("ptbr", "transformers", "gliner-kwargs", "torch", "e2e")


def covers(layer: str, *fields: str) -> pytest.MarkDecorator:
    """Mark a test (or a param) as proving ``fields`` in ``layer``."""
    assert layer in LAYERS, layer
    return pytest.mark.propagation(layer=layer, fields=fields)


ASSERTED: list[str] = []
"""The fields the running test has checked with expect() (conftest.py compares them with its @covers claim)."""


def expect(field: str, layer: str, got: Any, expected: Any, rule: str, also: tuple[str, ...] = ()) -> None:
    """Equal values (a bool never passes for a number) or an AssertionError whose first line says it all. ``also``:
    other fields the same value proves (a ratio of num_steps proves num_steps too)."""
    ASSERTED.extend((field, *also))
    same = got == expected and isinstance(got, bool) == isinstance(expected, bool)
    if not same:
        raise AssertionError(f"{field} [{layer}]: expected {expected!r}, got {got!r} ({rule})")


REPORTERS = ("wandb", "mlflow")
"""Reporting integrations the suite's configs name."""


class Stop(Exception):
    """Raised at the boundary once what crosses it is captured."""


@dataclass
class Crossing:
    """What PTBR handed to gliner."""

    model_config: Any = None
    from_config_kwargs: dict[str, Any] = field(default_factory=dict)
    from_pretrained: tuple[Any, dict[str, Any]] | None = None
    model: Any = None
    args: Any = None
    train_model_kwargs: dict[str, Any] = field(default_factory=dict)
    train: list | None = None
    evaluation: list | None = None
    env: dict[str, str] = field(default_factory=dict)
    trainer: Any = None
    resume: Any = None

    def read(self, what: str) -> Any:
        """``args.<canonical>``, ``model.<key>``, ``from_config.<kw>``, ``kwargs.<kw>``, ``env.<NAME>``."""
        kind, _, name = what.partition(".")
        if kind == "args":
            return compat.read_back(self.args, name)
        if kind == "model":  # on the configuration gliner builds from what PTBR passed to GLiNER.from_config
            return getattr(gliner_config(self.model_config), name, None)
        if kind == "from_config":
            return self.from_config_kwargs[name]
        if kind == "kwargs":
            return self.train_model_kwargs.get(name)
        if kind == "env":
            return self.env.get(name)
        raise ValueError(what)


def gliner_config(given: dict[str, Any]) -> Any:
    """The configuration object gliner makes of a from_config dict, with its own conversion (its class for the keys
    given, nested configs as config objects): what the model it builds is configured with, without the network
    (whose backbones would have to come from the Hub)."""
    import gliner

    from_dict = getattr(gliner.GLiNER, "_config_from_dict", None)  # gliner 0.2.28+: picks the class from model_type
    if from_dict is not None:
        return from_dict(dict(given))
    return gliner.GLiNERConfig(**{k: v for k, v in given.items() if k != "model_type"})  # infers the type itself


@contextlib.contextmanager
def boundary(stop_at: str) -> Iterator[Crossing]:
    """Capture what crosses gliner's entry points; ``stop_at`` is "model" (GLiNER.from_config), "train_model", or
    "trainer" (transformers' Trainer.train: the real Trainer gliner built, captured before it trains)."""
    import gliner
    import transformers
    from gliner.model import BaseGLiNER

    c = Crossing()
    real_from_config = gliner.GLiNER.from_config
    real_train_model = BaseGLiNER.train_model

    def from_config(config: Any, **kwargs: Any) -> Any:
        c.model_config, c.from_config_kwargs = config, kwargs
        if stop_at == "model":
            raise Stop
        c.model = real_from_config(config, **kwargs)
        return c.model

    # stand-ins keep the real signatures: PTBR reads gliner's parameters to decide what to pass
    @functools.wraps(real_from_config)
    def from_config_(config: Any, **kwargs: Any) -> Any:
        return from_config(config, **kwargs)

    @functools.wraps(gliner.GLiNER.from_pretrained)
    def from_pretrained(path: Any, **kwargs: Any) -> Any:
        c.from_pretrained = (path, kwargs)
        raise Stop

    @functools.wraps(real_train_model)
    def train_model(self: Any, train_dataset: Any, eval_dataset: Any, training_args: Any = None, **kwargs: Any):
        c.args, c.train, c.evaluation, c.train_model_kwargs = training_args, train_dataset, eval_dataset, kwargs
        c.env = dict(os.environ)
        if stop_at == "train_model":
            raise Stop
        return real_train_model(self, train_dataset, eval_dataset, training_args=training_args, **kwargs)

    def trainer_train(self: Any, resume_from_checkpoint: Any = None, **_kwargs: Any) -> Any:
        c.trainer, c.resume, c.args = self, resume_from_checkpoint, self.args
        raise Stop

    # the profiles report to these integrations, which test environments do not install: declared available where
    # PTBR's preflight looks them up (what crosses to gliner is the point here)
    available = transformers.integrations.get_available_reporting_integrations
    with (
        mock.patch.object(transformers.integrations, "get_available_reporting_integrations",
                          return_value=sorted({*available(), *REPORTERS})),
        mock.patch.object(gliner.GLiNER, "from_config", from_config_),
        mock.patch.object(gliner.GLiNER, "from_pretrained", from_pretrained),
        mock.patch.object(BaseGLiNER, "train_model", train_model),
        mock.patch.object(transformers.Trainer, "train", trainer_train),
    ):
        yield c


GOLDEN = Path(__file__).parent / "golden" / "loss_trace.json"
GOLDEN_STEPS = 6


def golden_data(workdir: Path) -> Path:
    """The example's training data with ``ner_labels`` on each example: every type of the dataset, sorted. Without
    them gliner orders each example's labels (and samples negatives) through a set of strings, whose order follows the
    string hash (the process's hash seed and, 3.10 vs 3.11, Python's hash algorithm): the trace would too."""
    examples = json.loads((Path(__file__).parents[2] / "examples" / "train.json").read_text())
    labels = sorted({entity[-1] for example in examples for entity in example["ner"]})
    path = workdir / "golden-train.json"
    path.write_text(json.dumps([{**example, "ner_labels": labels} for example in examples]))
    return path


def loss_trace(workdir: Path, seed: int = 7, steps: int = GOLDEN_STEPS) -> list[float]:
    """Train the example config on :func:`golden_data` for ``steps`` steps with ``ptbr train`` and return the loss
    logged at each step. Deterministic on CPU for a given seed, whatever the string hashing; the golden trace records
    GOLDEN_STEPS of them."""
    import io

    from ptbr import cli

    examples = Path(__file__).parents[2] / "examples"
    overrides = {
        "model.model_name": examples / "tiny-backbone", "data.train_data": golden_data(workdir),
        "data.val_data_dir": "none", "data.root_dir": workdir / "run", "training.num_steps": steps,
        "training.logging_steps": 1, "training.save_steps": steps, "training.seed": seed,
    }
    argv = ["train", str(examples / "tiny.yaml")]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        code = cli.main(argv)
    assert code == 0, f"ptbr train exited {code}: {err.getvalue().strip()}"
    state = json.loads((workdir / "run" / f"checkpoint-{steps}" / "trainer_state.json").read_text())
    return [h["loss"] for h in state["log_history"] if "loss" in h]


@contextlib.contextmanager
def working_directory(path: Path) -> Iterator[None]:
    """``contextlib.chdir``, which Python 3.10 lacks (the suite runs on every Python the matrix has)."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def run_to(stop_at: str, config_path: Path, cwd: Path) -> Crossing:
    """``ptbr.train.run`` on a config file, from ``cwd``, up to a boundary; what crossed it."""
    from ptbr import loader, train, validation

    config = validation.validate(loader.load(config_path))
    # a test crosses the boundary several times in its own directory: each run replaces the scratch run before it
    with working_directory(cwd), boundary(stop_at) as c, contextlib.suppress(Stop):
        train.run(config, log=lambda _m: None, existing="overwrite")
    return c
