"""Every schema field is proven to reach its destination in layer 1 or 2, or is listed as not forwarded with a reason.

Coverage is read from the ``@covers`` marks of the layer modules themselves (not from the collected session), so the
check holds whatever subset of tests runs. A new field without a test or a reason fails here.
"""

from __future__ import annotations

import importlib

from _pytest.mark.structures import ParameterSet

from ptbr import forwarding, schema

PROVING_MODULES = ("test_layer1_ptbr", "test_layer2_transformers")
PROVING_LAYERS = ("ptbr", "transformers")


def _marks(test) -> list:
    marks = list(getattr(test, "pytestmark", []))
    for mark in list(marks):
        if mark.name == "parametrize":
            marks += [m for p in mark.args[1] if isinstance(p, ParameterSet) for m in p.marks]
    return marks


def covered_fields() -> set[str]:
    fields = set()
    for name in PROVING_MODULES:
        module = importlib.import_module(name)
        for attr, test in vars(module).items():
            if attr.startswith("test_"):
                for mark in _marks(test):
                    if mark.name == "propagation" and mark.kwargs["layer"] in PROVING_LAYERS:
                        fields.update(mark.kwargs["fields"])
    return fields


def uncovered(fields: list[str], covered: set[str], not_forwarded: dict[str, str]) -> list[str]:
    return [f for f in fields if f not in covered and f not in not_forwarded]


def test_every_field_is_proven_or_listed_as_not_forwarded() -> None:
    missing = uncovered(schema.fields(), covered_fields(), forwarding.NOT_FORWARDED)
    assert missing == [], (
        f"completeness: expected every schema field proven in layer 1 or 2 or listed in forwarding.NOT_FORWARDED, "
        f"got no test for {missing}"
    )


def test_a_new_untested_field_is_reported() -> None:
    # the rule itself: proven (num_steps) and not-forwarded (size_sup) fields pass, a field with neither is reported
    fields = ["training.num_steps", "training.size_sup", "training.zz_new_field"]
    assert uncovered(fields, covered_fields(), forwarding.NOT_FORWARDED) == ["training.zz_new_field"]


def test_not_forwarded_fields_are_not_also_claimed_as_forwarded() -> None:
    both = sorted(set(forwarding.NOT_FORWARDED) & covered_fields())
    assert both == [], f"completeness: {both} are listed as not forwarded but a test claims to forward them"
