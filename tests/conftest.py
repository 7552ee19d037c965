"""Shared fixtures. Every test runs offline (a network guard fails any non-local connection), on CPU, in any order."""

from __future__ import annotations

import os

# Before anything imports huggingface_hub / transformers: a hub lookup must fail fast, never hang.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
# CPU only, unless the suite runs in its GPU mode (PTBR_TEST_GPU=1: tests marked `gpu` run, with the GPU visible)
os.environ.update({} if os.environ.get("PTBR_TEST_GPU") == "1" else {"CUDA_VISIBLE_DEVICES": ""})
# xdist workers share the cores: torch would start one thread per core in each worker, and on 2 cores 2 workers × 2
# threads ran the propagation suite 1.4x slower than 2 × 1 (benchmarks/suite_ratio.py). Before torch is imported.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import pytest
from support import EXAMPLE, write_config
from transformers.utils import logging as transformers_logging

# transformers binds its log handler to sys.stderr as it is when the library is first imported. Bound inside a test
# that captures output (capsys), it would write to that test's closed stream ever after, and every later warning
# would print "--- Logging error ---" with a traceback into another test's output: bound here, to the session's.
from ptbr import backbone, cli

transformers_logging.get_logger("transformers")

GPU_MODE = os.environ.get("PTBR_TEST_GPU") == "1"


class NetworkBlocked(ConnectionRefusedError):
    """A test tried to reach the network. An OSError, as a real refusal is: code that handles an unreachable host
    (the harness asking whether the PyTorch CPU index answers) sees what it would see offline."""


_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            local = ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = host == "localhost"
        if not local:
            raise NetworkBlocked(f"tests run offline: connection to {address!r} refused by the network guard")
    return _connect(self, address)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `gpu` run only in the GPU mode, on a machine with a CUDA GPU; elsewhere they say why not."""
    why = None
    if not GPU_MODE:
        why = "GPU mode is off (PTBR_TEST_GPU=1 runs it, on a machine with a CUDA GPU)"
    else:
        import torch

        if not torch.cuda.is_available():
            why = "PTBR_TEST_GPU=1 but torch sees no CUDA GPU"
    if why:
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT backbone directory (no weights), made locally."""
    return backbone.write(tmp_path_factory.mktemp("backbone"), EXAMPLE["tokenized_text"])


@pytest.fixture
def train_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.json"
    path.write_text(json.dumps([EXAMPLE] * 8), encoding="utf-8")
    return path


@pytest.fixture
def make_config(tmp_path: Path, tiny_backbone: Path, train_file: Path):
    """Write a config file from sections merged over a small valid config; returns its path."""

    def make(**sections: dict[str, Any]) -> Path:
        return write_config(tmp_path / "config.yaml", tiny_backbone, train_file, tmp_path / "out", sections)

    return make


@pytest.fixture
def ptbr(capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process: returns (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
