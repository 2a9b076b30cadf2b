"""The hostile bodies of issue 10 against the production server (gunicorn with the
production config), both dialects: each is a 4xx in the dialect's envelope with its log
row, never a 500 (which TradingView answers by sending the alert again)."""

import http.client
import json
from urllib.parse import urlsplit

import pytest

from accounts.services import api_key_create
from signals.models import Signal
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

# 20,000 levels: within the 64 KiB body bound, far past Python's recursion limit.
DEEP = "[" * 20_000 + "]" * 20_000
TRADERSPOST = [
    ('{"ticker": "AMD", "action": "buy", "quantity": 1e400}', "invalid-quantity"),
    ('{"ticker": "AMD", "action": "buy", "extras": {"a": -1E+999}}', "invalid-payload"),
    ('{"ticker": "AMD", "action": "buy", "price": 100, "quantity": 1e14}', "invalid-quantity"),
    ('{"ticker": "AMD", "action": "buy", "extras": ' + DEEP + "}", "invalid-payload"),
    ('{"ticker": "AMD\\u0000", "action": "buy"}', "invalid-payload"),
    ('{"ticker": "AMD", "action": "buy\\ud800"}', "invalid-payload"),
]
UTM = [
    ('"quantity": 1e400', "quantity"),
    ('"quantity": 100000000000000', "quantity"),
    ('"extra": ' + DEEP, "body"),
    ('"clientSignalId": "a\\u0000"', "clientSignalId"),
    ('"symbol": "\\ud800"', "symbol"),
]


def _request(base: str, method: str, path: str, body: str = "", **headers) -> tuple[int, dict]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        conn.request(method, path, body=body.encode(), headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read()), response.getheader("Allow")
    finally:
        conn.close()


def test_traderspost_dialect(production_server, make_webhook):
    webhook, path = make_webhook()
    for body, code in TRADERSPOST:
        status, answer, _ = _request(production_server, "POST", path, body)
        assert (status, answer["messageCode"]) == (400, code), (body[:80], answer)
        assert Signal.objects.get(log_id=answer["logId"]).status == Signal.Status.REJECTED


def test_utm_dialect(production_server, org):
    _, key = api_key_create(organization=org, name="k")
    account = BrokerAccountFactory(organization=org)
    head = f'{{"symbol": "AAPL", "action": "openLong", "accountId": "{account.pk}"'
    for tail, field in UTM:
        status, answer, _ = _request(
            production_server,
            "POST",
            "/api/v1/signals/ingest",
            f"{head}, {tail}}}",
            **{"X-API-Key": key, "Content-Type": "application/json"},
        )
        assert (status, answer["error"]) == (400, "VALIDATION_ERROR"), (tail[:80], answer)
        assert field in [d["field"] for d in answer["details"]]
        assert Signal.objects.get(log_id=answer["logId"]).status == Signal.Status.REJECTED
    status, answer, allow = _request(
        production_server, "OPTIONS", "/api/v1/signals/ingest", **{"X-API-Key": key}
    )
    assert (status, answer["error"], allow) == (405, "METHOD_NOT_ALLOWED", "POST")
