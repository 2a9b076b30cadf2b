"""The decision table and the sizing rules, against the pure planning functions (no DB)."""

from decimal import Decimal as D

import pytest

from brokers.adapters.base import NoPriceAvailable
from signals.intent import ExitRule, SignalIntent
from strategies.models import Subscription
from strategies.planning import Market, PlanError, plan_signal


def _settings(**overrides) -> Subscription:
    values = {
        "allowed_sides": "both",
        "allow_add": False,
        "use_signal_quantity": False,
        "sizing_method": "fixed_quantity",
        "sizing_value": D("10"),
        "exit_percent_of_position": D("50"),
    }
    values.update(overrides)
    return Subscription(**values)


def _summary(plan) -> list[str] | str:
    if plan.cancel:
        return "cancel"
    if plan.ignored:
        return f"ignored: {plan.ignored}"
    return [f"{leg.leg} {leg.side} {leg.quantity:f}" for leg in plan.legs]


LONG, SHORT, FLAT = D("20"), D("-20"), D("0")
OPEN_LONG, OPEN_SHORT = ["entry buy 10"], ["entry sell 10"]
CLOSE_LONG, CLOSE_SHORT = "exit sell 20", "exit buy 20"

# action, sentiment, position, allowed sides, allow_add, max position size -> outcome
DECISION_TABLE = [
    # buy: closes a short, opens a long where allowed, adds only with allow_add
    ("buy", None, FLAT, "both", False, None, OPEN_LONG),
    ("buy", None, FLAT, "long", False, None, OPEN_LONG),
    (
        "buy",
        None,
        FLAT,
        "short",
        False,
        None,
        "ignored: long entries are off for this subscription",
    ),
    ("buy", "bullish", FLAT, "both", False, None, OPEN_LONG),
    ("buy", None, LONG, "both", False, None, "ignored: already long and adding is off"),
    ("buy", None, LONG, "both", True, None, OPEN_LONG),
    ("buy", None, LONG, "short", True, None, "ignored: long entries are off for this subscription"),
    ("buy", None, SHORT, "both", False, None, [CLOSE_SHORT, *OPEN_LONG]),
    ("buy", "bullish", SHORT, "both", False, None, [CLOSE_SHORT, *OPEN_LONG]),
    ("buy", None, SHORT, "short", False, None, [CLOSE_SHORT]),
    # buy + flat: exit everything, open nothing
    ("buy", "flat", SHORT, "both", False, None, [CLOSE_SHORT]),
    ("buy", "flat", LONG, "both", True, None, [CLOSE_LONG]),
    ("buy", "flat", FLAT, "both", False, None, "ignored: no position to exit"),
    # buy + bearish: partial exit of a short (50 % of 20), leaving it short
    ("buy", "bearish", SHORT, "both", False, None, ["exit buy 10"]),
    ("buy", "bearish", SHORT, "long", False, None, ["exit buy 10"]),
    (
        "buy",
        "bearish",
        LONG,
        "both",
        False,
        None,
        "ignored: a partial exit reduces a short position; the position is long",
    ),
    ("buy", "bearish", FLAT, "both", False, None, "ignored: no position to exit"),
    # sell mirrors buy
    ("sell", None, FLAT, "both", False, None, OPEN_SHORT),
    (
        "sell",
        None,
        FLAT,
        "long",
        False,
        None,
        "ignored: short entries are off for this subscription",
    ),
    ("sell", None, LONG, "both", False, None, [CLOSE_LONG, *OPEN_SHORT]),
    ("sell", "bearish", LONG, "both", False, None, [CLOSE_LONG, *OPEN_SHORT]),
    ("sell", None, LONG, "long", False, None, [CLOSE_LONG]),
    ("sell", None, SHORT, "both", False, None, "ignored: already short and adding is off"),
    ("sell", None, SHORT, "both", True, None, OPEN_SHORT),
    ("sell", "flat", LONG, "both", False, None, [CLOSE_LONG]),
    ("sell", "flat", SHORT, "both", False, None, [CLOSE_SHORT]),
    ("sell", "flat", FLAT, "both", False, None, "ignored: no position to exit"),
    ("sell", "bullish", LONG, "both", False, None, ["exit sell 10"]),
    (
        "sell",
        "bullish",
        SHORT,
        "both",
        False,
        None,
        "ignored: a partial exit reduces a long position; the position is short",
    ),
    # exit, cancel, add
    ("exit", None, LONG, "both", False, None, [CLOSE_LONG]),
    ("exit", None, SHORT, "long", False, None, [CLOSE_SHORT]),
    ("exit", None, FLAT, "both", False, None, "ignored: no position to exit"),
    ("cancel", None, FLAT, "both", False, None, "cancel"),
    ("cancel", None, LONG, "short", False, None, "cancel"),
    ("add", None, LONG, "both", False, None, OPEN_LONG),
    ("add", None, SHORT, "both", False, None, OPEN_SHORT),
    ("add", None, FLAT, "both", True, None, "ignored: no position to add to"),
    # UTM actions on the same machinery
    ("open_long", None, FLAT, "both", False, None, OPEN_LONG),
    ("open_long", None, LONG, "both", False, None, "ignored: already long and adding is off"),
    ("open_long", None, LONG, "both", True, None, OPEN_LONG),
    (
        "open_long",
        None,
        SHORT,
        "both",
        False,
        None,
        "ignored: position is short: openLong does not close it; send reverseToLong",
    ),
    (
        "open_long",
        None,
        FLAT,
        "short",
        False,
        None,
        "ignored: long entries are off for this subscription",
    ),
    ("open_short", None, FLAT, "both", False, None, OPEN_SHORT),
    (
        "open_short",
        None,
        LONG,
        "both",
        False,
        None,
        "ignored: position is long: openShort does not close it; send reverseToShort",
    ),
    ("close_long", None, LONG, "both", False, None, [CLOSE_LONG]),
    ("close_long", None, SHORT, "both", False, None, "ignored: no long position to close"),
    ("close_long", None, FLAT, "both", False, None, "ignored: no long position to close"),
    ("close_short", None, SHORT, "both", False, None, [CLOSE_SHORT]),
    ("close_short", None, LONG, "both", False, None, "ignored: no short position to close"),
    ("reverse_to_long", None, SHORT, "both", False, None, [CLOSE_SHORT, *OPEN_LONG]),
    ("reverse_to_long", None, FLAT, "both", False, None, OPEN_LONG),
    (
        "reverse_to_long",
        None,
        LONG,
        "both",
        True,
        None,
        "ignored: already long: nothing to reverse",
    ),
    ("reverse_to_short", None, LONG, "both", False, None, [CLOSE_LONG, *OPEN_SHORT]),
    ("reverse_to_short", None, LONG, "long", False, None, [CLOSE_LONG]),
    (
        "reverse_to_short",
        None,
        SHORT,
        "both",
        False,
        None,
        "ignored: already short: nothing to reverse",
    ),
    # maximum position size: entries reduced to the room left, or dropped
    ("buy", None, FLAT, "both", False, D("4"), ["entry buy 4"]),
    ("buy", None, LONG, "both", True, D("25"), ["entry buy 5"]),
    ("buy", None, LONG, "both", True, D("20"), "ignored: maximum position size 20 reached"),
    ("add", None, SHORT, "both", False, D("20"), "ignored: maximum position size 20 reached"),
    ("buy", None, SHORT, "both", False, D("4"), [CLOSE_SHORT, "entry buy 4"]),
    ("exit", None, LONG, "both", False, D("4"), [CLOSE_LONG]),
]


@pytest.mark.parametrize(
    ("action", "sentiment", "position", "sides", "allow_add", "max_size", "expected"),
    DECISION_TABLE,
)
def test_decision_table(action, sentiment, position, sides, allow_add, max_size, expected):
    settings = _settings(allowed_sides=sides, allow_add=allow_add, max_position_size=max_size)
    intent = SignalIntent(ticker="AAPL", action=action, sentiment=sentiment, price=D("100"))
    plan = plan_signal(
        intent=intent, settings=settings, market=Market(position=position, price=D("100"))
    )
    assert _summary(plan) == expected


# sizing settings, signal quantity (value, type), market -> entry quantity
SIZING_TABLE = [
    ({"sizing_method": "fixed_quantity", "sizing_value": D("7")}, None, {}, "7"),
    ({"sizing_method": "dollar_amount", "sizing_value": D("1000")}, None, {}, "6"),  # 1000/150
    (
        {"sizing_method": "dollar_amount", "sizing_value": D("1000"), "fractional": True},
        None,
        {},
        "6.666666",
    ),
    ({"sizing_method": "percent_of_equity", "sizing_value": D("10")}, None, {}, "33"),  # 5000/150
    # the signal's quantity only with use_signal_quantity, times the multiplier
    ({"use_signal_quantity": False}, (D("5"), None), {}, "1"),
    ({"use_signal_quantity": True}, (D("5"), None), {}, "5"),
    (
        {"use_signal_quantity": True, "signal_quantity_multiplier": D("2.5")},
        (D("5"), None),
        {},
        "12",
    ),
    ({"use_signal_quantity": True}, (D("3000"), "dollar_amount"), {}, "20"),
    ({"use_signal_quantity": True}, (D("30"), "percent_of_equity"), {}, "100"),
    # crypto trades in lot steps, fractional or not
    (
        {"sizing_method": "dollar_amount", "sizing_value": D("100")},
        None,
        {"asset_class": "crypto"},
        "0.66666666",
    ),
    (
        {"sizing_method": "dollar_amount", "sizing_value": D("100")},
        None,
        {"asset_class": "crypto", "quantity_step": D("0.001")},
        "0.666",
    ),
    (
        {"sizing_method": "fixed_quantity", "sizing_value": D("2.7")},
        None,
        {"asset_class": "future"},
        "2",
    ),
]


@pytest.mark.parametrize(("sub", "signalled", "market", "expected"), SIZING_TABLE)
def test_entry_sizing(sub, signalled, market, expected):
    quantity, quantity_type = signalled or (None, None)
    intent = SignalIntent(
        ticker="X", action="buy", quantity=quantity, quantity_type=quantity_type, price=D("150")
    )
    settings = _settings(**{"sizing_value": D("1"), **sub})
    market = Market(price=D("150"), equity=D("50000"), **market)
    plan = plan_signal(intent=intent, settings=settings, market=market)
    assert [str(leg.quantity) for leg in plan.legs] == [expected]


def test_risk_dollar_amount_divides_the_risk_by_the_stop_distance():
    settings = _settings(
        sizing_method="risk_dollar_amount",
        sizing_value=D("200"),
        stop_loss_kind="percent",
        stop_loss_value=D("2"),
    )
    intent = SignalIntent(ticker="X", action="buy", price=D("100"))
    (leg,) = plan_signal(intent=intent, settings=settings, market=Market(price=D("100"))).legs
    assert leg.quantity == 100  # 200 / (100 * 2 %)
    assert leg.bracket.stop_loss_stop_price == D("98.00")


def test_risk_dollar_amount_without_a_stop_loss_fails_clearly():
    settings = _settings(sizing_method="risk_dollar_amount", sizing_value=D("200"))
    intent = SignalIntent(ticker="X", action="buy", price=D("100"))
    with pytest.raises(PlanError, match="needs a stop loss"):
        plan_signal(intent=intent, settings=settings, market=Market(price=D("100")))


@pytest.mark.parametrize(
    "sub",
    [
        {"sizing_method": "dollar_amount", "sizing_value": D("1000")},
        {"entry_order_type": "limit"},
        {"take_profit_kind": "percent", "take_profit_value": D("5")},
    ],
)
def test_no_price_available_fails_with_the_symbol(sub):
    intent = SignalIntent(ticker="MSFT", action="buy")
    with pytest.raises(NoPriceAvailable, match="No price available for MSFT"):
        plan_signal(intent=intent, settings=_settings(**sub), market=Market(price=None))


def test_market_order_with_fixed_quantity_needs_no_price():
    intent = SignalIntent(ticker="MSFT", action="buy")
    (leg,) = plan_signal(intent=intent, settings=_settings(), market=Market(price=None)).legs
    assert (leg.order_type, leg.limit_price, leg.quantity) == ("market", None, 10)


@pytest.mark.parametrize(
    ("signalled", "expected"),
    [
        ((D("25"), "percent_of_position"), "exit sell 5"),
        ((D("3"), "fixed_quantity"), "exit sell 3"),
        ((D("300"), "fixed_quantity"), "exit sell 20"),  # never more than the position
        (None, "exit sell 10"),  # the subscription's 50 %
    ],
)
def test_partial_exit_quantity(signalled, expected):
    quantity, quantity_type = signalled or (None, None)
    intent = SignalIntent(
        ticker="X",
        action="sell",
        sentiment="bullish",
        quantity=quantity,
        quantity_type=quantity_type,
    )
    settings = _settings(use_signal_quantity=True)
    plan = plan_signal(
        intent=intent, settings=settings, market=Market(position=LONG, price=D("10"))
    )
    assert _summary(plan) == [expected]


def test_flat_always_exits_the_full_position_whatever_the_quantity():
    intent = SignalIntent(
        ticker="X",
        action="sell",
        sentiment="flat",
        quantity=D("25"),
        quantity_type="percent_of_position",
    )
    plan = plan_signal(
        intent=intent, settings=_settings(use_signal_quantity=True), market=Market(position=LONG)
    )
    assert _summary(plan) == [CLOSE_LONG]


def test_partial_exit_that_rounds_to_zero_is_ignored():
    plan = plan_signal(
        intent=SignalIntent(ticker="X", action="sell", sentiment="bullish"),
        settings=_settings(exit_percent_of_position=D("1")),
        market=Market(position=D("20")),
    )
    assert plan.ignored == "exit quantity rounds to zero"


@pytest.mark.parametrize(
    ("sub", "intent_fields", "expected"),
    [
        # limit = reference +/- offset: a buy pays up to the offset, a sell gives it up
        (
            {"entry_order_type": "limit", "limit_price_offset": D("0.05")},
            {},
            ("limit", D("100.05"), None),
        ),
        ({"entry_order_type": "limit"}, {"limit_price": D("99.5")}, ("limit", D("99.50"), None)),
        ({}, {"order_type": "stop", "stop_price": D("101")}, ("stop", None, D("101.00"))),
        ({"entry_order_type": "stop_limit"}, {}, ("stop_limit", D("100.00"), D("100.00"))),
    ],
)
def test_entry_order_type_and_prices(sub, intent_fields, expected):
    intent = SignalIntent(ticker="X", action="buy", price=D("100"), **intent_fields)
    (leg,) = plan_signal(
        intent=intent, settings=_settings(**sub), market=Market(price=D("100"))
    ).legs
    assert (leg.order_type, leg.limit_price, leg.stop_price) == expected


def test_sell_limit_subtracts_the_offset_and_signal_time_in_force_wins():
    settings = _settings(
        entry_order_type="limit", limit_price_offset=D("0.10"), entry_time_in_force="day"
    )
    intent = SignalIntent(ticker="X", action="sell", price=D("50"), time_in_force="gtc")
    (leg,) = plan_signal(intent=intent, settings=settings, market=Market(price=D("50"))).legs
    assert (leg.side, leg.limit_price, leg.time_in_force) == ("sell", D("49.90"), "gtc")


def test_exit_leg_uses_the_exit_order_settings():
    settings = _settings(
        exit_order_type="limit", exit_time_in_force="gtc", limit_price_offset=D("1")
    )
    intent = SignalIntent(ticker="X", action="exit", price=D("50"))
    (leg,) = plan_signal(
        intent=intent, settings=settings, market=Market(position=LONG, price=D("50"))
    ).legs
    assert (leg.leg, leg.order_type, leg.time_in_force, leg.limit_price) == (
        "exit",
        "limit",
        "gtc",
        D("49.00"),
    )
    assert leg.bracket is None


@pytest.mark.parametrize(
    ("sub", "intent_fields", "action", "expected"),
    [
        (
            {
                "take_profit_kind": "percent",
                "take_profit_value": D("10"),
                "stop_loss_kind": "amount",
                "stop_loss_value": D("5"),
            },
            {},
            "buy",
            {"take_profit_limit_price": D("110.00"), "stop_loss_stop_price": D("95.00")},
        ),
        (
            {
                "take_profit_kind": "percent",
                "take_profit_value": D("10"),
                "stop_loss_kind": "percent",
                "stop_loss_value": D("5"),
            },
            {},
            "sell",
            {"take_profit_limit_price": D("90.00"), "stop_loss_stop_price": D("105.00")},
        ),
        (
            {"take_profit_kind": "percent", "take_profit_value": D("10")},
            {
                "take_profit": ExitRule(price=D("120")),
                "stop_loss": ExitRule(price=D("90"), stop_type="stop_limit", limit_price=D("89")),
            },
            "buy",
            {
                "take_profit_limit_price": D("120.00"),
                "stop_loss_stop_price": D("90.00"),
                "stop_loss_limit_price": D("89.00"),
            },
        ),
        (
            {
                "stop_loss_kind": "percent",
                "stop_loss_value": D("3"),
                "stop_loss_type": "trailing_stop",
            },
            {},
            "buy",
            {"stop_loss_trail_percent": D("3")},
        ),
    ],
)
def test_bracket_from_signal_or_subscription(sub, intent_fields, action, expected):
    intent = SignalIntent(ticker="X", action=action, price=D("100"), **intent_fields)
    (leg,) = plan_signal(
        intent=intent, settings=_settings(**sub), market=Market(price=D("100"))
    ).legs
    got = {k: v for k, v in vars(leg.bracket).items() if v is not None}
    assert got == expected
