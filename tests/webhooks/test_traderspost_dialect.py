import json
import uuid

import pytest

from accounts.services import organization_suspend
from signals.models import RejectedAttempts, Signal
from tests.webhooks.conftest import CLIENT_IP, SCHEMAS, assert_schema, webhook_path
from webhooks.traderspost import MESSAGES

pytestmark = pytest.mark.django_db

# (body sent, payload echoed, webhook asset class): every example of the seed document.
SEED_EXAMPLES = [
    ({"ticker": "AMD", "action": "buy"}, None, "stock"),
    ({"ticker": "SQ", "action": "buy"}, None, "stock"),
    ({"ticker": "SQ", "action": "exit"}, None, "stock"),
    ({"ticker": "SQ", "action": "sell", "sentiment": "flat"}, None, "stock"),
    ({"ticker": "SQ", "action": "sell"}, None, "stock"),
    ({"ticker": "SQ", "action": "buy", "sentiment": "flat"}, None, "stock"),
    ({"ticker": "SQ", "action": "cancel"}, None, "stock"),
    ({"ticker": "SQ", "action": "add"}, None, "stock"),
    ({"ticker": "SQ", "action": "buy", "quantity": 5}, None, "stock"),
    ({"ticker": "SQ", "action": "buy", "price": 60.30}, None, "stock"),
    ({"ticker": "TSLA", "action": "buy"}, None, "stock"),
    ({"ticker": "AMD", "action": "buy", "price": 85.50}, None, "stock"),
    (
        {"ticker": "NQ", "action": "buy", "sentiment": "bullish", "price": 12663.5, "quantity": 1},
        None,
        "future",
    ),
]


@pytest.mark.parametrize(("body", "echo", "asset_class"), SEED_EXAMPLES)
def test_seed_examples_are_accepted_and_echoed(make_webhook, send, body, echo, asset_class):
    webhook, path = make_webhook(asset_class=asset_class)
    response = send(path, body)
    assert response.status_code == 200
    answer = assert_schema(response)
    signal = Signal.objects.get()
    assert answer == {
        "success": True,
        "id": str(signal.id),
        "logId": str(signal.log_id),
        "payload": echo or body,
    }
    assert signal.status == Signal.Status.PENDING
    assert signal.webhook == webhook and signal.organization == webhook.organization
    assert signal.intent["ticker"] == body["ticker"] and signal.intent["action"] == body["action"]
    assert len(response.enqueued) == 1


def test_spec_full_example_is_normalized(make_webhook, send):
    _, path = make_webhook()
    body = {
        "ticker": " aapl ",
        "action": " BUY",
        "sentiment": "Long",
        "price": "191.25",
        "quantity": "10",
        "quantityType": "FIXED_QUANTITY",
        "orderType": "Market",
        "time": "2025-06-18T14:30:00Z",
        "test": True,
        "takeProfit": {"percent": "10"},
        "stopLoss": {"type": "stop", "percent": 5},
        "extras": {"strategy": "EMA_Crossover", "comment": "Breakout entry"},
        "somethingUnknown": {"ignored": True},
    }
    response = send(path, body)
    assert response.status_code == 200, response.json()
    payload = assert_schema(response)["payload"]
    assert payload == {
        "ticker": "AAPL",
        "action": "buy",
        "sentiment": "bullish",
        "price": 191.25,
        "quantity": 10,
        "orderType": "market",
        "quantityType": "fixed_quantity",
        "takeProfit": {"percent": 10},
        "stopLoss": {"type": "stop", "percent": 5},
        "time": "2025-06-18T14:30:00Z",
        "test": True,
        "extras": {"strategy": "EMA_Crossover", "comment": "Breakout entry"},
    }
    signal = Signal.objects.get()
    assert (signal.ticker, signal.action) == ("AAPL", "buy")
    intent = signal.intent
    assert intent["quantity"] == "10" and intent["price"] == "191.25"
    assert intent["take_profit"] == {"percent": "10"}
    assert intent["stop_loss"] == {"percent": "5", "stop_type": "stop"}


@pytest.mark.parametrize(
    ("sent", "normalized"),
    [("long", "bullish"), ("short", "bearish"), (" LONG ", "bullish"), ("Flat", "flat")],
)
def test_sentiment_aliases(make_webhook, send, sent, normalized):
    _, path = make_webhook()
    response = send(path, {"ticker": "AMD", "action": "sell", "sentiment": sent})
    assert response.json()["payload"]["sentiment"] == normalized
    assert Signal.objects.get().intent["sentiment"] == normalized


@pytest.mark.parametrize(
    ("field", "sent", "echoed"),
    [
        ("quantity", "5", 5),
        ("quantity", " 2.5 ", 2.5),
        ("quantity", 1.0, 1),
        ("quantity", "1e2", 100),
        ("price", "60.30", 60.3),
        ("price", 12663.5, 12663.5),
        ("signalPrice", "10", 10),
        ("limitPrice", "99.5", 99.5),
        ("stopPrice", 98, 98),
    ],
)
def test_numbers_are_accepted_as_numeric_strings_and_echoed_as_numbers(
    make_webhook, send, field, sent, echoed
):
    _, path = make_webhook()
    response = send(path, {"ticker": "AMD", "action": "buy", field: sent})
    assert response.status_code == 200
    assert response.json()["payload"][field] == echoed


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/json", "text/plain; charset=utf-8", ""]
)
def test_any_content_type_is_read_as_json(make_webhook, send, content_type):
    _, path = make_webhook()
    response = send(path, '{"ticker": "AMD", "action": "buy"}', content_type=content_type)
    assert response.status_code == 200
    assert Signal.objects.get().content_type == content_type


def test_tradingview_exchange_prefix_and_bom_are_tolerated(make_webhook, send):
    _, path = make_webhook()
    body = '\ufeff{"ticker": "NASDAQ:AMD", "action": "buy"}'.encode()
    response = send(path, body)
    assert response.status_code == 200
    assert response.json()["payload"]["ticker"] == "AMD"


def test_options_fields_are_accepted_and_stored(make_webhook, send):
    _, path = make_webhook(asset_class="option")
    body = {
        "ticker": "SPY",
        "action": "buy",
        "optionType": "Call",
        "intrinsicValue": "otm",
        "expiration": "+6 months",
        "strikeCount": "5",
        "strikesAway": -2,
        "strikePrice": 596,
    }
    response = send(path, body)
    assert response.status_code == 200, response.json()
    payload = response.json()["payload"]
    assert payload["optionType"] == "call" and payload["strikeCount"] == 5
    assert Signal.objects.get().payload["strikesAway"] == -2


def test_option_symbol_resolves_through_its_underlying(make_webhook, send):
    _, path = make_webhook(asset_class="option")
    response = send(path, {"ticker": "SPY 250624C596", "action": "buy"})
    assert response.status_code == 200


@pytest.mark.parametrize("ticker", ["MNQU2025", "ESZ2026", "NQ1!", "ESH6"])
def test_futures_contracts_resolve_through_their_root(make_webhook, send, ticker):
    _, path = make_webhook(asset_class="future")
    response = send(path, {"ticker": ticker, "action": "buy"})
    assert response.status_code == 200, response.json()


# --- every messageCode, provoked from outside ----------------------------------------

TP = {"ticker": "AMD", "action": "buy"}
REJECTIONS = [
    ("empty-json", {}, ""),
    ("empty-json", {}, "   \n"),
    ("empty-json", {}, {}),
    ("malformed-json", {}, '{\n    "ticker": "TSLA",\n    "action": "buy",\n}'),
    (
        "malformed-json",
        {},
        "{\n    \u201cticker\u201d: \u201cTSLA\u201d,\n    \u201caction\u201d: \u201cbuy\u201d\n}",
    ),
    ("malformed-json", {}, b"\xff\xfe{}"),
    ("malformed-json", {}, '{"ticker": "AMD", "action": "buy", "price": NaN}'),
    ("invalid-payload", {}, {"ticker": "AMD"}),
    ("invalid-payload", {}, {"action": "buy"}),
    ("invalid-payload", {}, {"ticker": None, "action": "buy"}),
    ("invalid-payload", {}, [1, 2]),
    ("invalid-payload", {}, '"AMD buy"'),
    ("invalid-payload", {}, {"ticker": 5, "action": "buy"}),
    ("invalid-payload", {}, TP | {"price": "sixty"}),
    ("invalid-payload", {}, TP | {"time": "yesterday"}),
    ("invalid-payload", {}, TP | {"extras": "text"}),
    ("invalid-payload", {}, TP | {"test": "yes"}),
    ("invalid-action", {}, {"ticker": "NQ", "action": "bu"}),
    ("invalid-action", {}, {"ticker": "AMD", "action": ""}),
    ("invalid-action", {}, {"ticker": "AMD", "action": 1}),
    ("invalid-sentiment", {}, TP | {"sentiment": "up"}),
    ("invalid-sentiment-action", {}, {"ticker": "AMD", "action": "exit", "sentiment": "flat"}),
    ("invalid-quantity", {}, TP | {"quantity": "abc"}),
    ("invalid-quantity", {}, TP | {"quantity": -1}),
    ("invalid-quantity", {}, TP | {"quantity": 0}),
    ("invalid-quantity", {}, TP | {"quantity": True}),
    ("invalid-quantity", {}, TP | {"quantity": "1e999"}),
    ("empty-ticker-name", {}, {"ticker": "", "action": "buy"}),
    ("empty-ticker-name", {}, {"ticker": "   ", "action": "buy"}),
    ("unsupported-ticker", {"allowed_tickers": ["AAPL", "TSLA"]}, TP),
    ("ticker-does-not-exist", {}, {"ticker": "ZZZZ", "action": "buy"}),
    ("invalid-asset-class", {}, {"ticker": "BTCUSD", "action": "buy"}),
    ("invalid-asset-class", {"asset_class": "crypto"}, TP),
    ("invalid-order-type", {}, TP | {"orderType": "moc"}),
    ("invalid-trailing-stop", {}, TP | {"orderType": "trailing_stop"}),
    ("invalid-trailing-stop", {}, TP | {"trailAmount": 1, "trailPercent": 2}),
    ("invalid-trailing-stop", {}, TP | {"trailPercent": "x"}),
    ("invalid-quantity-type", {}, TP | {"quantity": 1, "quantityType": "shares"}),
    (
        "invalid-quantity-type-action",
        {},
        {"ticker": "AMD", "action": "cancel", "quantity": 1, "quantityType": "fixed_quantity"},
    ),
    (
        "invalid-risk-dollar-amount-action",
        {},
        TP | {"quantity": 100, "quantityType": "risk_dollar_amount"},
    ),
    (
        "invalid-percent-of-position-action",
        {},
        TP | {"quantity": 50, "quantityType": "percent_of_position"},
    ),
    ("quantity-type-requires-quantity", {}, TP | {"quantityType": "dollar_amount"}),
    ("invalid-time-in-force", {}, TP | {"timeInForce": "week"}),
    ("invalid-extended-hours", {}, TP | {"extendedHours": "maybe"}),
    ("invalid-take-profit-percent", {}, TP | {"takeProfit": {"percent": -1}}),
    ("invalid-take-profit-amount", {}, TP | {"takeProfit": {"amount": "x"}}),
    ("invalid-take-profit-limit-price", {}, TP | {"takeProfit": {"limitPrice": 0}}),
    (
        "invalid-take-profit-amount-and-percent",
        {},
        TP | {"takeProfit": {"amount": 1, "percent": 1}},
    ),
    (
        "invalid-take-profit-relative-and-absolute",
        {},
        TP | {"takeProfit": {"limitPrice": 10, "percent": 1}},
    ),
    ("invalid-take-profit-value-required", {}, TP | {"takeProfit": {}}),
    ("invalid-take-profit-value-required", {}, TP | {"takeProfit": 5}),
    ("invalid-stop-loss-type", {}, TP | {"stopLoss": {"type": "market", "percent": 1}}),
    ("invalid-stop-loss-percent", {}, TP | {"stopLoss": {"percent": -1}}),
    ("invalid-stop-loss-amount", {}, TP | {"stopLoss": {"amount": "x"}}),
    ("invalid-stop-loss-stop-price", {}, TP | {"stopLoss": {"stopPrice": 0}}),
    ("invalid-stop-loss-limit-price", {}, TP | {"stopLoss": {"stopPrice": 9, "limitPrice": 8}}),
    (
        "invalid-stop-loss-trail-amount",
        {},
        TP | {"stopLoss": {"type": "trailing_stop", "trailAmount": "x"}},
    ),
    (
        "invalid-stop-loss-trail-percent",
        {},
        TP | {"stopLoss": {"type": "trailing_stop", "trailPercent": -3}},
    ),
    (
        "invalid-stop-loss-trail-value",
        {},
        TP | {"stopLoss": {"type": "trailing_stop", "trailPercent": 1, "trailAmount": 1}},
    ),
    ("invalid-stop-loss-trail-value", {}, TP | {"stopLoss": {"type": "stop", "trailAmount": 1}}),
    ("invalid-stop-loss-trail-value-required", {}, TP | {"stopLoss": {"type": "trailing_stop"}}),
    ("invalid-stop-loss-amount-and-percent", {}, TP | {"stopLoss": {"amount": 1, "percent": 1}}),
    (
        "invalid-stop-loss-relative-and-absolute",
        {},
        TP | {"stopLoss": {"stopPrice": 9, "percent": 1}},
    ),
    (
        "invalid-stop-loss-stop-price-required",
        {},
        TP | {"stopLoss": {"type": "stop_limit", "limitPrice": 8, "percent": 2}},
    ),
    ("invalid-stop-loss-value-required", {}, TP | {"stopLoss": {"type": "stop"}}),
    ("invalid-option-type", {}, TP | {"optionType": "straddle"}),
    ("invalid-intrinsic-value", {}, TP | {"intrinsicValue": "atm"}),
    ("invalid-expiration", {}, TP | {"expiration": "soon"}),
    ("invalid-strike-count", {}, TP | {"strikeCount": 0}),
    ("invalid-strikes-away", {}, TP | {"strikesAway": 1.5}),
    ("invalid-strike-price", {}, TP | {"strikePrice": -5}),
    ("not-trading-view", {"limit_to_tradingview": True}, TP),
    ("not-trend-spider", {"limit_to_trendspider": True}, TP),
    ("invalid-ip-address", {"allowed_ips": ["198.51.100.0/24"]}, TP),
    ("webhook-disabled", {"enabled": False}, TP),
]


def _assert_rejected(response, code, status=400):
    assert response.status_code == status
    answer = assert_schema(response)
    signal = Signal.objects.get()
    assert answer == {
        "success": False,
        "logId": str(signal.log_id),
        "messageCode": code,
        "message": signal.message,
    }
    assert signal.status == Signal.Status.REJECTED and signal.message_code == code
    assert not response.enqueued
    return signal


@pytest.mark.parametrize(("code", "settings_fields", "body"), REJECTIONS)
def test_each_message_code(make_webhook, send, code, settings_fields, body):
    webhook, path = make_webhook(**settings_fields)
    response = send(path, body)
    signal = _assert_rejected(response, code)
    assert signal.webhook == webhook
    raw = (
        body
        if isinstance(body, bytes)
        else (json.dumps(body) if not isinstance(body, str) else body).encode()
    )
    assert signal.raw_body == raw.decode("utf-8", "replace")


def test_spec_messages_are_used_word_for_word(make_webhook, send):
    _, path = make_webhook()
    response = send(path, {"ticker": "NQ", "action": "bu"})
    assert response.json()["message"] == SCHEMAS["400_examples"]["invalid-action"]["message"]


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "options"])
def test_other_methods_answer_post_required(make_webhook, send, method):
    _, path = make_webhook()
    response = send(path, TP, method=method)
    _assert_rejected(response, "post-required")
    assert response.json()["message"] == SCHEMAS["400_examples"]["post-required"]["message"]


def test_head_is_post_required_too(make_webhook, client):
    _, path = make_webhook()
    response = client.head(path, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 400
    assert Signal.objects.get().message_code == "post-required"


@pytest.mark.parametrize(
    "path",
    [
        f"/trading/webhook/{uuid.uuid4()}/secret",
        "/trading/webhook/not-a-uuid/secret",
        f"/trading/webhook/{uuid.uuid4()}",
        "/trading/webhook/%00%ff/x/",
        "/trading/webhook/",
        f"/trading/webhook/{uuid.uuid4()}/secret/extra",
    ],
)
def test_unknown_webhook_is_not_found_and_not_logged(send, path):
    response = send(path, TP)
    assert response.status_code == 404
    assert assert_schema(response) == {
        "success": False,
        "messageCode": "not-found",
        "message": "Webhook not found.",
    }
    assert not Signal.objects.exists()


def test_get_to_unknown_webhook_is_post_required_without_log(send):
    response = send(f"/trading/webhook/{uuid.uuid4()}/x", TP, method="get")
    assert response.status_code == 400
    assert response.json()["messageCode"] == "post-required" and "logId" not in response.json()
    assert not Signal.objects.exists()


@pytest.mark.parametrize(
    "password_for",
    [lambda w: "wrong", lambda w: "", lambda w: None],
    ids=["wrong", "empty", "missing"],
)
def test_invalid_password(webhook, send, password_for):
    hook, path = webhook
    password = password_for(hook)
    path = f"/trading/webhook/{hook.id}" if password is None else webhook_path(hook, password)
    response = send(path, TP)
    assert response.status_code == 400
    # Without the password a request is counted in its minute's row, whose id is the
    # logId; no Signal row (anyone who knows the uuid can send these: test_abuse.py).
    counted = RejectedAttempts.objects.get()
    assert assert_schema(response) == {
        "success": False,
        "logId": str(counted.id),
        "messageCode": "invalid-password",
        "message": MESSAGES["invalid-password"],
    }
    assert (counted.webhook, counted.message_code, counted.count) == (
        hook,
        "invalid-password",
        1,
    )
    assert counted.source_ips == [CLIENT_IP] and counted.sample_body == json.dumps(TP)
    assert not Signal.objects.exists() and not response.enqueued


def test_wrong_passwords_of_one_minute_share_one_row_and_logid(webhook, send):
    hook, _ = webhook
    answers = [
        send(webhook_path(hook, "wrong"), TP | {"n": i}, ip=f"198.51.100.{i}") for i in range(7)
    ]
    assert len({a.json()["logId"] for a in answers}) <= 2  # 2 only across a minute boundary
    rows = RejectedAttempts.objects.all()
    assert sum(r.count for r in rows) == 7
    assert all(len(r.source_ips) <= RejectedAttempts.SAMPLE_IPS_MAX for r in rows)
    assert {a.json()["logId"] for a in answers} == {str(r.id) for r in rows}


def test_suspended_organization_is_refused_and_logged(make_webhook, send, org):
    _, path = make_webhook()
    organization_suspend(organization=org)
    response = send(path, TP)
    _assert_rejected(response, "organization-suspended")


def test_another_tenants_webhook_needs_its_own_password(make_webhook, send, org, other_org):
    mine, _ = make_webhook()
    theirs, _ = make_webhook(organization=other_org)
    response = send(webhook_path(theirs, password=webhook_path(mine).rsplit("/", 1)[1]), TP)
    assert response.json()["messageCode"] == "invalid-password"
    counted = RejectedAttempts.objects.get()
    assert (counted.organization, counted.webhook) == (other_org, theirs)
    assert not Signal.objects.exists()


# --- the check order: a request with two faults gets the first one's code -------------

ORDER_CASES = [
    ("post-required", {}, "wrong-password", TP, "get"),
    ("invalid-password", {"limit_to_tradingview": True}, "wrong-password", "{", "post"),
    ("webhook-disabled", {"enabled": False, "limit_to_tradingview": True}, None, TP, "post"),
    ("not-trading-view", {"limit_to_tradingview": True}, None, "{", "post"),
    ("malformed-json", {}, None, '{"action": "bu",', "post"),
    ("invalid-payload", {}, None, {"action": "bu"}, "post"),
    ("invalid-action", {}, None, {"ticker": "", "action": "bu", "sentiment": "up"}, "post"),
    ("invalid-sentiment", {}, None, {"ticker": "AMD", "action": "exit", "sentiment": "up"}, "post"),
    (
        "invalid-sentiment-action",
        {},
        None,
        {"ticker": "AMD", "action": "exit", "sentiment": "flat", "quantity": "x"},
        "post",
    ),
    ("invalid-quantity", {}, None, {"ticker": "", "action": "buy", "quantity": "x"}, "post"),
    ("empty-ticker-name", {}, None, {"ticker": "", "action": "buy", "orderType": "x"}, "post"),
    (
        "unsupported-ticker",
        {"allowed_tickers": ["AAPL"]},
        None,
        {"ticker": "ZZZZ", "action": "buy"},
        "post",
    ),
    (
        "ticker-does-not-exist",
        {},
        None,
        {"ticker": "ZZZZ", "action": "buy", "orderType": "x"},
        "post",
    ),
    (
        "invalid-order-type",
        {},
        None,
        TP | {"orderType": "x", "quantityType": "x", "timeInForce": "x"},
        "post",
    ),
    ("invalid-quantity-type", {}, None, TP | {"quantityType": "x", "timeInForce": "x"}, "post"),
    ("invalid-time-in-force", {}, None, TP | {"timeInForce": "x", "takeProfit": {}}, "post"),
    (
        "invalid-take-profit-value-required",
        {},
        None,
        TP | {"takeProfit": {}, "stopLoss": {}},
        "post",
    ),
]


@pytest.mark.parametrize(("code", "settings_fields", "password", "body", "method"), ORDER_CASES)
def test_check_order(make_webhook, send, code, settings_fields, password, body, method):
    hook, path = make_webhook(**settings_fields)
    if password:
        path = webhook_path(hook, password)
    response = send(path, body, method=method)
    assert response.json()["messageCode"] == code
    # Without the right password the request is counted, not logged (test_abuse.py).
    record = RejectedAttempts.objects.get() if password else Signal.objects.get()
    assert record.message_code == code


@pytest.mark.parametrize(
    "body",
    [
        '{"ticker": "AMD\\u0000", "action": "buy"}',
        '{"ticker": "\\ud800", "action": "buy"}',
        '{"ticker": "AMD", "action": "buy\\u0000"}',
        '{"ticker": "AMD", "action": "buy", "extras": {"\\u0000k": "\\udfff"}}',
        '{"ticker": "AMD", "action": "buy", "time": "2024-01-15T14:30:00Z\\u0000"}',
        '{"ticker": "' + "A" * 500 + '", "action": "' + "b" * 500 + '"}',
    ],
)
def test_text_postgresql_cannot_store_is_a_clean_answer(make_webhook, send, body):
    _, path = make_webhook()
    response = send(path, body)
    assert response.status_code in (200, 400)
    assert Signal.objects.count() == 1
