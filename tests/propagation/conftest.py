"""Fixtures of the propagation suite (helpers in layers.py)."""

from __future__ import annotations

from typing import Any

import pytest
from layers import Crossing, run_to


@pytest.fixture
def cross(make_config, tmp_path):
    """Run ``ptbr.train.run`` on a config (sections merged over a small valid one) up to a boundary."""

    def run(stop_at: str = "train_model", **sections: dict[str, Any]) -> Crossing:
        return run_to(stop_at, make_config(**sections), tmp_path)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Copy each test's layer and fields into its user properties (JUnit <properties>), for the matrix report."""
    for item in items:
        marker = item.get_closest_marker("propagation")
        if marker is not None:
            item.user_properties.append(("layer", marker.kwargs["layer"]))
            item.user_properties.append(("fields", ",".join(marker.kwargs["fields"])))
