"""webhooks.utm.utm_parse on any JSON at all: a UtmSignal or a UtmValidationError listing
fields, never another exception (which would be a 500 at the endpoint)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signals.intent import SignalIntent
from webhooks.utm import ACTIONS, UtmValidationError, utm_parse

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = ["symbol", "action", "accountId", "quantity", "quantityType", "orderType"]
FIELDS += ["limitPrice", "stopPrice", "timeInForce", "exitRules", "strategyId", "comment"]
FIELDS += ["clientSignalId", "price"]
plausible = {
    "symbol": st.sampled_from(["AAPL", "brk.b", "", "  ", "A B"]) | st.text(max_size=5),
    "action": st.sampled_from([*ACTIONS, "buy", "OPENLONG"]),
    "accountId": st.sampled_from(["acc", ""]) | st.uuids().map(str),
    "quantity": st.sampled_from([1, 0, -1, "5", "1e3", 1e300, True]),
    "quantityType": st.sampled_from(["FIXED", "PERCENT_EQUITY", "x"]),
    "orderType": st.sampled_from(["MARKET", "LIMIT", "STOP", "STOP_LIMIT", "limit"]),
    "exitRules": st.fixed_dictionaries(
        {},
        optional={
            "stopLoss": st.fixed_dictionaries(
                {},
                optional={
                    "type": st.sampled_from(["PERCENT", "PRICE", "AMOUNT", "x"]),
                    "value": st.sampled_from([1, 0, 150, "2"]) | json_values,
                },
            ),
            "takeProfit": json_values,
        },
    ),
}
bodies = st.fixed_dictionaries(
    {},
    optional={name: plausible.get(name, json_values) | json_values for name in FIELDS},
)


@settings(max_examples=400, derandomize=True, suppress_health_check=list(HealthCheck))
@given(body=bodies | json_values)
def test_any_json_parses_or_lists_its_bad_fields(body):
    try:
        parsed = utm_parse(body)
    except UtmValidationError as err:
        assert err.details
        assert all(isinstance(d["field"], str) and d["message"] for d in err.details)
        return
    intent = parsed.intent
    assert intent.ticker == intent.ticker.upper()
    assert SignalIntent.from_json(json.loads(json.dumps(intent.to_json()))) == intent
    json.dumps(parsed.payload)  # storable as JSON


@pytest.mark.parametrize(
    "symbol, expected",
    [("aapl", "AAPL"), (" msft ", "MSFT"), ("BRK.B", "BRK.B"), ("BTC/USD", "BTC/USD")],
)
def test_symbols_are_normalized(symbol, expected):
    parsed = utm_parse({"symbol": symbol, "action": "openLong", "accountId": "a"})
    assert parsed.intent.ticker == expected


def test_defaults_are_the_seeds():
    parsed = utm_parse({"symbol": "AAPL", "action": "openlong", "accountId": "a", "quantity": 3})
    assert parsed.payload["quantityType"] == "FIXED"
    assert parsed.payload["orderType"] == "MARKET"
    assert parsed.payload["timeInForce"] == "DAY"
    assert parsed.payload["action"] == "openLong"
    assert parsed.intent.quantity_type == "fixed_quantity"
