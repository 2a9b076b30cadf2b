"""Numbers the pipeline computes from valid inputs (sizing, bracket prices, an order's
value) can still be beyond what the columns hold. The account's result then ends with an
ordinary trading reason, never a storage error, and no order row is attempted."""

from decimal import Decimal as D

import pytest

from brokers.models import Order
from signals.intent import ExitRule
from signals.models import Signal, SignalResult
from signals.tasks import process_signal
from strategies.planning import PlannedLeg, plan_bounds_problem
from tests.factories import InstrumentFactory, SubscriptionFactory
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db

QUANTITY = "exceeds the largest quantity the broker account can hold"
PRICE = "exceeds the largest price an order can hold"
VALUE = "exceeds the largest amount the broker account can hold"

CASES = [
    pytest.param(  # $100bn at a hundred-millionth of a dollar
        {"use_signal_quantity": False, "sizing_method": "dollar_amount", "sizing_value": D("1e11")},
        {"price": D("0.00000001")},
        "order quantity 1e+19 " + QUANTITY,
        id="dollar-amount-sizing",
    ),
    pytest.param(
        {"signal_quantity_multiplier": D("1000000")},
        {"quantity": D("1000000000"), "price": D("1")},
        "order quantity 1e+15 " + QUANTITY,
        id="quantity-times-multiplier",
    ),
    pytest.param(  # 1e20 satoshis: rounding it to the step alone needed 29 digits
        {},
        {"ticker": "BTCUSD", "quantity": D("999999999999"), "quantity_type": "dollar_amount"}
        | {"price": D("0.00000001")},
        "order quantity 1e+20 " + QUANTITY,
        id="crypto-dollar-amount",
    ),
    pytest.param(
        {},
        {"quantity": D("1"), "price": D("1000000000")}
        | {"take_profit": ExitRule(percent=D("1000000"))},
        "take profit price 1e+13 " + PRICE,
        id="take-profit-percent",
    ),
    pytest.param(
        {"stop_loss_kind": "amount", "stop_loss_value": D("1"), "stop_loss_type": "stop_limit"},
        {"quantity": D("1"), "price": D("1"), "order_type": "limit"}
        | {"limit_price": D("999999999999")}
        | {"take_profit": ExitRule(amount=D("999999999999"))},
        "take profit price 2e+12 " + PRICE,
        id="take-profit-amount",
    ),
    pytest.param(
        {},
        {"quantity": D("1000000000"), "price": D("1000000000")},
        "order value 1e+18 " + VALUE,
        id="quantity-times-price",
    ),
]


@pytest.mark.parametrize(("settings_fields", "intent_fields", "reason"), CASES)
def test_computed_values_beyond_the_columns_end_with_a_trading_reason(
    org, settings_fields, intent_fields, reason
):
    InstrumentFactory(symbol="BTCUSD", asset_class="crypto", quantity_step=D("0.00000001"))
    sub = SubscriptionFactory(strategy__organization=org, **settings_fields)
    signal = signal_for(strategy=sub.strategy, action="buy", **intent_fields)
    process_signal.delay(str(signal.pk))
    signal.refresh_from_db()

    result = SignalResult.objects.get(signal=signal, account=sub.account)
    assert result.status == SignalResult.Status.FAILED
    assert reason in result.reason
    assert signal.status == Signal.Status.FAILED and reason in signal.error
    assert "Internal error" not in signal.error and "overflow" not in signal.error
    assert not Order.objects.filter(signal=signal).exists()


def _leg(side: str, quantity: str, leg: str = "entry") -> PlannedLeg:
    return PlannedLeg(leg=leg, side=side, quantity=D(quantity))


@pytest.mark.parametrize(
    ("legs", "position", "problem"),
    [
        ([_leg("buy", "6e11")], D("6e11"), "position 1.2e+12 " + QUANTITY),
        ([_leg("sell", "6e11")], D("-6e11"), "position 1.2e+12 " + QUANTITY),
        ([_leg("buy", "6e11", "exit"), _leg("buy", "6e11")], D("-6e11"), None),  # a reversal
        ([_leg("buy", "6e11")], D("0"), None),
    ],
)
def test_an_entry_may_not_take_the_position_past_its_column(legs, position, problem):
    found = plan_bounds_problem(legs=legs, price=None, position=position)
    assert (found and found.split(" (")[0]) == problem
