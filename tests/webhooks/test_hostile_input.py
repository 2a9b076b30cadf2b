"""Hostile bodies on the TradersPost dialect (issue 10): numbers beyond float range, bodies
nested deeper than the parse bound, text PostgreSQL cannot store, numbers beyond what an
order's columns hold. Each is a 400 in the envelope naming the field, with its log row."""

import pytest

from signals.models import Signal
from tests.webhooks.conftest import assert_schema

pytestmark = pytest.mark.django_db

BUY = '{"ticker": "AMD", "action": "buy", "price": 100'


def _rejected(send, path, body, code):
    response = send(path, body)
    assert response.status_code == 400, response.content
    answer = assert_schema(response)
    assert answer["messageCode"] == code
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and str(signal.log_id) == answer["logId"]
    assert signal.message_code == code and len(signal.raw_body) <= 64 * 1024
    assert not response.enqueued
    return answer, signal


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999"])
@pytest.mark.parametrize(
    ("tail", "code"),
    [
        (', "quantity": {}}}', "invalid-quantity"),
        (', "limitPrice": {}}}', "invalid-payload"),
        (', "takeProfit": {{"percent": {}}}}}', "invalid-take-profit-percent"),
        (', "stopLoss": {{"amount": {}}}}}', "invalid-stop-loss-amount"),
        (', "trailAmount": {}, "orderType": "trailing_stop"}}', "invalid-trailing-stop"),
        (', "strikePrice": {}}}', "invalid-strike-price"),
    ],
)
def test_numbers_beyond_float_range_are_the_fields_error(webhook, send, literal, tail, code):
    _, path = webhook
    _, signal = _rejected(send, path, BUY + tail.format(literal), code)
    assert literal in signal.raw_body  # the log keeps what was sent, as text


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999"])
def test_numbers_beyond_float_range_in_extras_are_refused(webhook, send, literal):
    _, path = webhook
    body = BUY + f', "extras": {{"note": "x", "levels": [1, {literal}]}}}}'
    answer, signal = _rejected(send, path, body, "invalid-payload")
    assert "extras.levels[1]" in answer["message"]
    assert signal.payload["extras"]["levels"] == [1, literal]


def test_the_price_field_names_itself(webhook, send):
    _, path = webhook
    body = '{"ticker": "AMD", "action": "buy", "price": 1e400}'
    answer, signal = _rejected(send, path, body, "invalid-payload")
    assert "price" in answer["message"]
    assert signal.payload["price"] == "1e400"


@pytest.mark.parametrize(
    ("tail", "code"),
    [
        (', "quantity": 100000000000000}', "invalid-quantity"),
        (', "quantity": 1000000000000}', "invalid-quantity"),
        (', "limitPrice": 1000000000000}', "invalid-payload"),
        (', "takeProfit": {"limitPrice": 1e13}}', "invalid-take-profit-limit-price"),
        (', "stopLoss": {"percent": 1e12}}', "invalid-stop-loss-percent"),
        (', "trailPercent": 5e12, "orderType": "trailing_stop"}', "invalid-trailing-stop"),
    ],
)
def test_numbers_beyond_what_an_order_holds_are_refused(webhook, send, tail, code):
    _, path = webhook
    answer, _ = _rejected(send, path, BUY + tail, code)
    assert "1000000000000" in answer["message"]  # the bound is said


def test_the_largest_storable_quantity_is_accepted(webhook, send, instruments):
    _, path = webhook
    response = send(
        path, '{"ticker": "AMD", "action": "buy", "price": 1, "quantity": 999999999999}'
    )
    assert response.status_code == 200, response.content
    assert response.json()["payload"]["quantity"] == 999999999999


@pytest.mark.parametrize(
    ("quantity", "expected"), [("0.123456789", 0.12345679), ("2.50", 2.5), (0.1 + 0.2, 0.3)]
)
def test_decimals_beyond_the_columns_are_rounded_to_eight_places(webhook, send, quantity, expected):
    _, path = webhook
    body = {"ticker": "AMD", "action": "buy", "quantity": quantity}
    response = send(path, body)
    assert response.status_code == 200, response.content
    assert response.json()["payload"]["quantity"] == expected


def test_a_quantity_that_rounds_to_zero_is_refused(webhook, send):
    _, path = webhook
    _rejected(
        send,
        path,
        '{"ticker": "AMD", "action": "buy", "quantity": 0.000000001}',
        "invalid-quantity",
    )


@pytest.mark.parametrize("depth", [33, 500, 100_000])
def test_nesting_deeper_than_the_bound_is_refused(webhook, send, settings, depth):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024 * 1024  # 100,000 levels are 200 KB
    _, path = webhook
    body = '{"ticker": "AMD", "action": "buy", "extras": ' + "[" * depth + "]" * depth + "}"
    answer, signal = _rejected(send, path, body, "invalid-payload")
    assert "32 levels" in answer["message"]
    assert signal.payload is None


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{{"ticker": "AMD{}", "action": "buy"}}', "ticker"),
        ('{{"ticker": "AMD", "action": "buy{}"}}', "action"),
        ('{{"ticker": "AMD", "action": "buy", "interval": "5{}"}}', "interval"),
        ('{{"ticker": "AMD", "action": "buy", "extras": {{"k": ["{}"]}}}}', "extras.k[0]"),
        ('{{"ticker": "AMD", "action": "buy", "extras": {{"{}": 1}}}}', "extras.\ufffd"),
    ],
)
def test_text_postgresql_cannot_store_is_refused_naming_the_field(
    webhook, send, escape, template, field
):
    _, path = webhook
    answer, signal = _rejected(send, path, template.format(escape), "invalid-payload")
    assert f"The {field} field" in answer["message"]
    assert signal.raw_body == template.format(escape)  # the escapes, as sent
