"""Bodies sent with ``Transfer-Encoding: chunked`` and no Content-Length (custom code that
streams its request) are read like any other, by both dialects, against the production
server: Django's ``request.body`` reads nothing without a Content-Length, so they used to
be answered empty-json. A body over the limit or with a broken chunk encoding gets the
dialect's 4xx and a log row, never a 500."""

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from accounts.services import api_key_create
from signals.models import Signal
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

BODY = {"ticker": "AAPL", "action": "buy", "price": 190.5, "quantity": 3}


def _post_chunked(base: str, path: str, chunks: list[bytes], **headers) -> tuple[int, dict]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    try:
        # An iterable body without a Content-Length goes out chunked, one chunk per item.
        conn.request(
            "POST", path, body=iter(chunks), headers={"Content-Type": "text/plain", **headers}
        )
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _post_raw(base: str, request: bytes, *, shut_write: bool = False) -> tuple[int, dict]:
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload)


def _split(raw: bytes, size: int) -> list[bytes]:
    return [raw[i : i + size] for i in range(0, len(raw), size)]


def test_a_chunked_webhook_is_accepted_and_logged_as_sent(production_server, make_webhook):
    webhook, path = make_webhook()
    raw = json.dumps(BODY).encode()
    status, answer = _post_chunked(production_server, path, _split(raw, 7))
    assert status == 200, answer
    assert answer["success"] is True and answer["payload"]["quantity"] == 3
    row = Signal.objects.get(log_id=answer["logId"])
    assert (row.status, row.raw_body, row.ticker) == (Signal.Status.PENDING, raw.decode(), "AAPL")


def test_a_chunked_body_over_the_limit_is_refused(production_server, make_webhook):
    webhook, path = make_webhook()
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    raw = json.dumps({**BODY, "extras": "x" * limit}).encode()
    status, answer = _post_chunked(production_server, path, _split(raw, 8192))
    assert (status, answer["messageCode"]) == (400, "invalid-payload"), answer
    assert "too large" in answer["message"]
    assert Signal.objects.get(log_id=answer["logId"]).status == Signal.Status.REJECTED


@pytest.mark.parametrize(
    ("chunks", "shut_write"),
    [
        (b"ZZ\r\n" + json.dumps(BODY).encode() + b"\r\n0\r\n\r\n", False),  # not a chunk size
        (b"400\r\n" + json.dumps(BODY).encode(), True),  # cut short: 1,024 bytes announced
    ],
    ids=["bad-chunk-size", "cut-short"],
)
def test_a_broken_chunk_encoding_is_a_4xx_with_a_log_row(
    production_server, make_webhook, chunks, shut_write
):
    webhook, path = make_webhook()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    ).encode()
    status, answer = _post_raw(production_server, head + chunks, shut_write=shut_write)
    assert (status, answer["messageCode"]) == (400, "invalid-payload"), answer
    assert "chunked encoding" in answer["message"]
    row = Signal.objects.get(log_id=answer["logId"])
    assert (row.webhook_id, row.status, row.raw_body) == (webhook.id, Signal.Status.REJECTED, "")


def test_a_chunked_utm_signal_is_accepted(production_server, org):
    account = BrokerAccountFactory(organization=org)
    _, raw_key = api_key_create(organization=org, name="chunked")
    body = {"symbol": "AAPL", "action": "openLong", "accountId": str(account.id), "quantity": 5}
    chunks = _split(json.dumps(body).encode(), 10)
    status, answer = _post_chunked(
        production_server, "/api/v1/signals/ingest", chunks, **{"X-API-Key": raw_key}
    )
    assert status == 200, answer
    row = Signal.objects.get(api_key__organization=org)
    assert (row.status, row.account_id) == (Signal.Status.PENDING, account.id)
    assert json.loads(row.raw_body) == body
