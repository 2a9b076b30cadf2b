"""signals.bounds: every number of a signal has the bound of the column it ends up in."""

from dataclasses import fields
from decimal import Decimal as D

import pytest

from brokers.models import Order
from signals import bounds
from signals.intent import ExitRule, SignalIntent


def _decimal_fields(cls) -> list[str]:
    return [f.name for f in fields(cls) if "Decimal" in str(f.type)]


def test_every_number_of_the_intent_has_a_bound():
    # A numeric field added to the intent without a column behind it would be unbounded.
    names = _decimal_fields(SignalIntent)
    names += [
        f"{rule}.{name}"
        for rule in ("take_profit", "stop_loss")
        for name in _decimal_fields(ExitRule)
    ]
    assert names and set(names) <= set(bounds.FIELDS)


def test_a_bound_is_what_its_column_holds(monkeypatch):
    column = Order._meta.get_field("quantity")
    monkeypatch.setattr(column, "max_digits", 14)
    monkeypatch.setattr(column, "decimal_places", 4)
    narrow = bounds.Bound.of(Order, "quantity")
    assert (narrow.limit, narrow.places) == (D("1e10"), 4)
    assert narrow.rounded(D("9999999999.99994")) == D("9999999999.9999")
    assert narrow.rounded(D("9999999999.99996")) is None  # rounds up past the bound


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (D("999999999999.99999999"), D("999999999999.99999999")),
        (D("1e12"), None),
        (D("-1e12"), None),
        (D("0.123456785"), D("0.12345678")),  # half to even
        (D("1e-9"), D("0E-8")),
        (D("1e999999"), None),  # checked before quantize, which would need 10^6 digits
        (D("Infinity"), None),
    ],
)
def test_rounded(value, expected):
    assert bounds.bound("quantity").rounded(value) == expected
