"""Hostile bodies on the UTM dialect (issue 10): numbers beyond float range or beyond
what an order's columns hold, bodies nested deeper than the parse bound, text PostgreSQL
cannot store, and methods other than POST (OPTIONS included). Each is a 4xx in the UTM
envelope with details naming the field, and its log row."""

import json

import pytest
from rest_framework.test import APIClient

from signals.models import Signal
from tests.api.conftest import INGEST
from tests.api.test_utm_ingest import assert_error, body_for, post

pytestmark = pytest.mark.django_db


def _raw(account, tail: str) -> bytes:
    head = json.dumps(body_for(account, price=100))[:-1]
    return (head + tail).encode()


def _rejected(response, field: str):
    data = assert_error(response, 400, "VALIDATION_ERROR")
    assert field in [d["field"] for d in data["details"]], data
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and str(signal.log_id) == data["logId"]
    assert signal.message_code == "VALIDATION_ERROR" and len(signal.raw_body) <= 64 * 1024
    return data, signal


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1E+999"])
@pytest.mark.parametrize(
    ("tail", "field"),
    [
        (', "quantity": {}}}', "quantity"),
        (', "orderType": "LIMIT", "limitPrice": {}}}', "limitPrice"),
        (', "orderType": "STOP", "stopPrice": {}}}', "stopPrice"),
        (
            ', "exitRules": {{"takeProfit": {{"type": "PERCENT", "value": {}}}}}}}',
            "exitRules.takeProfit.value",
        ),
        (
            ', "exitRules": {{"stopLoss": {{"type": "AMOUNT", "value": {}}}}}}}',
            "exitRules.stopLoss.value",
        ),
        (', "price": {}}}', "price"),
    ],
)
def test_numbers_beyond_float_range_are_the_fields_error(
    raw_key, paper_account, literal, tail, field
):
    raw = _raw(paper_account, tail.format(literal))
    data, signal = _rejected(post(raw_key, None, raw=raw), field)
    message = next(d["message"] for d in data["details"] if d["field"] == field)
    bound = "greater than 0" if literal.startswith("-") else "less than 1000000000000"
    assert message == f"{field} must be {bound}"
    assert literal in signal.raw_body


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"quantity": 100000000000000}, "quantity"),
        ({"quantity": 1000000000000}, "quantity"),
        ({"quantity": "1e14"}, "quantity"),
        ({"orderType": "LIMIT", "limitPrice": 1e12}, "limitPrice"),
        (
            {"exitRules": {"takeProfit": {"type": "PRICE", "value": 5e12}}},
            "exitRules.takeProfit.value",
        ),
        (
            {"exitRules": {"takeProfit": {"type": "PERCENT", "value": 1e12}}},
            "exitRules.takeProfit.value",
        ),
        ({"price": 123456789012345678901234.5}, "price"),
        ({"price": "12345678901234567890123.123456789"}, "price"),
    ],
)
def test_numbers_beyond_what_an_order_holds_are_refused(raw_key, paper_account, extra, field):
    data, _ = _rejected(post(raw_key, body_for(paper_account, **extra)), field)
    message = next(d["message"] for d in data["details"] if d["field"] == field)
    assert "1000000000000" in message


def test_the_largest_storable_quantity_is_accepted(raw_key, paper_account):
    response = post(raw_key, body_for(paper_account, quantity=999999999999, price=1))
    assert response.status_code == 200, response.content
    assert Signal.objects.get().intent["quantity"] == "999999999999"


@pytest.mark.parametrize("depth", [33, 500, 100_000])
def test_nesting_deeper_than_the_bound_is_refused(raw_key, paper_account, settings, depth):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024 * 1024  # 100,000 levels are 200 KB
    raw = _raw(paper_account, ', "extra": ' + "[" * depth + "]" * depth + "}")
    data, _ = _rejected(post(raw_key, None, raw=raw), "body")
    assert "32 levels" in data["details"][0]["message"]


@pytest.mark.parametrize("escape", ["\\u0000", "\\ud800", "\\udfff"])
@pytest.mark.parametrize(
    "field", ["clientSignalId", "symbol", "comment", "accountId", "strategyId"]
)
def test_text_postgresql_cannot_store_is_refused_naming_the_field(
    raw_key, paper_account, escape, field
):
    head = json.dumps({k: v for k, v in body_for(paper_account).items() if k != field})[:-1]
    raw = f'{head}, "{field}": "AB{escape}C"}}'.encode()
    data, signal = _rejected(post(raw_key, None, raw=raw), field)
    assert "NUL" in data["details"][0]["message"]
    assert signal.raw_body == raw.decode()  # the escapes, as sent
    assert signal.idempotency_key is None


def test_a_refused_client_signal_id_is_not_an_idempotency_key(raw_key, paper_account):
    raw = _raw(paper_account, ', "clientSignalId": "A\\u0000"}')
    for _ in range(2):
        assert_error(post(raw_key, None, raw=raw), 400, "VALIDATION_ERROR")
    assert Signal.objects.filter(status=Signal.Status.REJECTED).count() == 2


@pytest.mark.parametrize("header", ["a\x00b", "\ud800"])
def test_an_idempotency_key_header_with_unsafe_text_is_refused(raw_key, paper_account, header):
    response = post(raw_key, body_for(paper_account), HTTP_IDEMPOTENCY_KEY=header)
    _rejected(response, "Idempotency-Key")
    assert Signal.objects.get().idempotency_key is None


@pytest.mark.parametrize("method", ["options", "head", "get", "delete"])
def test_methods_other_than_post_are_405_in_the_envelope(raw_key, method):
    response = getattr(APIClient(), method)(INGEST, HTTP_X_API_KEY=raw_key)
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    if method != "head":
        assert_error(response, 405, "METHOD_NOT_ALLOWED")
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and signal.message_code == "METHOD_NOT_ALLOWED"


def test_options_without_a_key_is_401_in_the_envelope():
    response = APIClient().options(INGEST)
    assert_error(response, 401, "INVALID_API_KEY")
    assert not Signal.objects.exists()
