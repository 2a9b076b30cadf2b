"""Whatever is thrown at the UTM ingest endpoint with a valid key: never a 5xx, always the
UTM envelope, one log row per request, and every accepted signal ends COMPLETED or with
an ordinary trading reason (never a storage error)."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from accounts.services import api_key_create
from signals.models import Signal
from tests import hostile
from tests.api.conftest import INGEST
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db

ACTIONS = ["openLong", "openShort", "closeLong", "closeShort", "reverseToLong"]
EXIT_RULE = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["PERCENT", "PRICE", "AMOUNT", "percent"]) | hostile.JSON_VALUES,
        "value": hostile.NUMBERS | hostile.JSON_VALUES,
    },
)
ACCOUNT = "\u2063account"  # replaced by the test's account id
TEXT = hostile.UNSAFE_TEXT | hostile.LONG_TEXT | hostile.JSON_VALUES
BODIES = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "TSLA", "BTC/USD"]) | TEXT,
        "action": st.sampled_from(ACTIONS) | TEXT,
        "accountId": st.just(ACCOUNT) | TEXT,
    },
    optional={
        **dict.fromkeys(["quantity", "price", "limitPrice", "stopPrice"], hostile.NUMBERS | TEXT),
        "quantityType": st.sampled_from(["FIXED", "DOLLAR_AMOUNT", "PERCENT_EQUITY"]) | TEXT,
        "orderType": st.sampled_from(["MARKET", "LIMIT", "STOP", "STOP_LIMIT"]) | TEXT,
        "timeInForce": st.sampled_from(["DAY", "GTC"]) | TEXT,
        "exitRules": st.fixed_dictionaries(
            {}, optional={"stopLoss": EXIT_RULE, "takeProfit": EXIT_RULE}
        )
        | TEXT,
        "comment": TEXT,
        "clientSignalId": TEXT,
        "strategyId": TEXT,
        "extra": hostile.JSON_VALUES,
    },
)
GOOD_RULE = st.fixed_dictionaries(
    {"type": st.sampled_from(["PERCENT", "PRICE", "AMOUNT"]), "value": hostile.NUMBERS}
)
# Bodies whose names and enumerations are right, so the numbers are what is tried (and
# some are accepted, then processed).
NEARLY_VALID = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(["AAPL", "TSLA"]),
        "action": st.sampled_from(ACTIONS),
        "accountId": st.just(ACCOUNT),
    },
    optional={
        **dict.fromkeys(["quantity", "price", "limitPrice", "stopPrice"], hostile.NUMBERS),
        "quantityType": st.sampled_from(["FIXED", "DOLLAR_AMOUNT", "PERCENT_EQUITY"]),
        "orderType": st.sampled_from(["MARKET", "LIMIT"]),
        "exitRules": st.fixed_dictionaries(
            {}, optional={"stopLoss": GOOD_RULE, "takeProfit": GOOD_RULE}
        ),
        "comment": hostile.UNSAFE_TEXT,
        "extra": hostile.JSON_VALUES,
    },
)
PAYLOADS = (
    st.binary(max_size=200).map(lambda b: ("raw", b))
    | hostile.JSON_VALUES.map(lambda v: ("raw", hostile.encode(v)))
    | BODIES.map(lambda body: ("body", body))
    | NEARLY_VALID.map(lambda body: ("body", body))
    | NEARLY_VALID.map(lambda body: ("body", body))
)
METHODS = st.sampled_from(["POST"] * 8 + ["GET", "OPTIONS", "PUT"])
MAX_RUNS = 40
_STATE: dict = {}


def _tenant(org):
    # One key and account per test run (fixtures are function scoped; examples share them).
    if _STATE.get("org") != org.pk:
        _STATE.clear()
        org.api_rate_per_minute = 10**6
        org.save(update_fields=["api_rate_per_minute"])
        _STATE.update(org=org.pk, key=api_key_create(organization=org, name="k")[1], runs=0)
        _STATE["account"] = str(BrokerAccountFactory(organization=org).pk)
    return _STATE


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(payload=PAYLOADS, method=METHODS)
def test_never_a_5xx_always_the_envelope(org, payload, method):
    state = _tenant(org)
    kind, value = payload
    raw = hostile.encode(value) if kind == "body" else value
    raw = raw.replace(json.dumps(ACCOUNT).encode(), json.dumps(state["account"]).encode())
    before = Signal.objects.count()
    response = APIClient().generic(
        method, INGEST, data=raw, content_type="application/json", HTTP_X_API_KEY=state["key"]
    )
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.content
    answer = response.json()
    assert answer["success"] is (response.status_code == 200)
    assert answer["logId"]
    if answer["success"]:
        assert set(answer) == {"success", "signalId", "status", "message", "logId"}
    else:
        assert answer["error"] and answer["message"] and isinstance(answer["details"], list)
        assert all(set(d) == {"field", "message"} for d in answer["details"])
    assert Signal.objects.count() == before + 1
    replay = response.get("Idempotent-Replayed") == "true"
    if answer["success"] and not replay and state["runs"] < MAX_RUNS:
        state["runs"] += 1
        hostile.assert_ends_ordinarily(answer["signalId"])
