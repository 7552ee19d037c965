"""Fixtures of the propagation suite (helpers in layers.py)."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from layers import ASSERTED, Crossing, run_to


@pytest.fixture
def cross(make_config, tmp_path):
    """Run ``ptbr.train.run`` on a config (sections merged over a small valid one) up to a boundary."""

    def run(stop_at: str = "train_model", **sections: dict[str, Any]) -> Crossing:
        return run_to(stop_at, make_config(**sections), tmp_path)

    return run


def pytest_configure(config: pytest.Config) -> None:
    """Under xdist, the suite's modules go to one worker each unless --dist says otherwise (as the matrix's cells run
    it): their module-scoped fixtures (one real training, the profiles, the surface's shared arguments) are then
    built once, not once per worker (measured: 15.7 s against 13.3 s on 2 cores)."""
    given = any(a == "--dist" or a.startswith("--dist=") or a == "-d" for a in config.invocation_params.args)
    if getattr(config.option, "dist", "no") == "load" and not given:
        config.option.dist = "loadfile"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Copy each test's layer and fields into its user properties (JUnit <properties>), for the matrix report."""
    for item in items:
        marker = item.get_closest_marker("propagation")
        if marker is not None:
            item.user_properties.append(("layer", marker.kwargs["layer"]))
            item.user_properties.append(("fields", ",".join(marker.kwargs["fields"])))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test proves only the fields it checked: one that claims a field (@covers) and never passed it to expect()
    fails, naming it. Skips and failures are left as they are."""
    ASSERTED.clear()
    result = yield
    marker = item.get_closest_marker("propagation")
    if marker is not None:
        claimed = marker.kwargs["fields"]
        missing = [f for f in claimed if f.startswith(("training.", "data.", "model.", "run.", "lora.", "environment."))
                   and not any(fnmatch.fnmatchcase(f, checked) for checked in ASSERTED)]
        if missing:
            raise AssertionError(f"{', '.join(missing)} [{marker.kwargs['layer']}]: claimed by @covers but never "
                                 "checked with expect() (a claim is not a proof)")
    return result
