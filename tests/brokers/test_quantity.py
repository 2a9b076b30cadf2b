from decimal import Decimal

import pytest

from brokers.quantity import quantity_round

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "asset_class", "step", "fractional", "expected"),
    [
        # stocks: whole shares, always down
        ("10", "stock", None, False, "10"),
        ("10.99", "stock", None, False, "10"),
        ("0.99", "stock", None, False, "0"),
        ("1", "stock", None, False, "1"),
        # stocks with fractional on: 6 decimals, down
        ("0.99", "stock", None, True, "0.99"),
        ("1.23456789", "stock", None, True, "1.234567"),
        ("0.0000009", "stock", None, True, "0"),
        ("0.000001", "stock", None, True, "0.000001"),
        # an instrument's coarser lot wins
        ("250", "stock", "100", False, "200"),
        ("99", "stock", "100", False, "0"),
        ("1.5", "stock", "1", True, "1.5"),
        # options and futures: whole contracts, fractional or not
        ("2.9", "option", None, False, "2"),
        ("2.9", "future", None, True, "2"),
        ("0.5", "future", Decimal("1"), False, "0"),
        # crypto: the instrument's step, else 1e-8
        ("0.123456789", "crypto", "0.0001", False, "0.1234"),
        ("0.00009", "crypto", "0.0001", False, "0"),
        ("1.23456789123", "crypto", None, False, "1.23456789"),
        ("7.7", "crypto", "0.5", False, "7.5"),
        # nothing negative or zero goes out
        ("0", "stock", None, False, "0"),
        ("-3", "stock", None, False, "0"),
    ],
)
def test_quantity_round(quantity, asset_class, step, fractional, expected):
    result = quantity_round(
        quantity=D(quantity),
        asset_class=asset_class,
        step=D(step) if step is not None else None,
        fractional=fractional,
    )
    assert result == D(expected)
    assert result <= max(D(quantity), D(0))  # never more than asked


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "abc", None])
def test_quantity_round_refuses_non_numbers(bad):
    with pytest.raises(ValueError):
        quantity_round(quantity=bad, asset_class="stock")


def test_quantity_round_presents_the_step_precision():
    assert str(quantity_round(quantity=D("3.000"), asset_class="stock")) == "3"
    assert str(quantity_round(quantity=D("0.5"), asset_class="crypto")) == "0.50000000"
