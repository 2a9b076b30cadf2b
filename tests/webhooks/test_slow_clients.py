"""A client that stops sending cannot hold a worker of the production server: its request
gets the dialect's 4xx (and its log row) once a read from it has waited
GUNICORN_CLIENT_TIMEOUT, long before gunicorn's own timeout would kill the worker, and the
next request is served by the same, single worker."""

import json
import socket
import subprocess
import urllib.request
import uuid
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings

from accounts.services import api_key_create
from signals.models import Signal
from tests.factories import BrokerAccountFactory
from tests.webhooks.conftest import requires_production_stack, start_production_server

pytestmark = pytest.mark.django_db(transaction=True)

BODY = b'{"ticker": "AAPL", "action": "buy", "price": 190.5, "quantity": 1}'
# Long enough to notice a worker killed by gunicorn's timeout (GUNICORN_TIMEOUT below).
PATIENCE = 20


@pytest.fixture
def one_worker_server(tmp_path):
    requires_production_stack()
    queue, log = f"test-slow-{uuid.uuid4().hex[:8]}", tmp_path / "server.log"
    with log.open("wb") as out:
        server, base = start_production_server(
            stdout=out, stderr=subprocess.STDOUT, CELERY_QUEUE=queue,
            GUNICORN_CLIENT_TIMEOUT="1", GUNICORN_TIMEOUT=str(PATIENCE + 10),
        )  # fmt: skip
    try:
        yield base, log
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)


def _stalled(base: str, head: str, sent_body: bytes = b"") -> socket.socket:
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname, url.port), timeout=PATIENCE)
    sock.sendall(head.encode() + sent_body)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    with sock:
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(payload or b"null")


def _healthz(base: str) -> int:
    with urllib.request.urlopen(f"{base}/healthz", timeout=PATIENCE) as response:
        return response.status


def _post_head(path: str, length: int, **headers) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_stalled_webhook_body_is_a_400_with_a_log_row(one_worker_server, make_webhook):
    base, log = one_worker_server
    webhook, path = make_webhook()
    sock = _stalled(base, _post_head(path, len(BODY) + 90), BODY[:10])
    status, answer = _answer(sock)
    assert (status, answer["messageCode"]) == (400, "invalid-payload"), answer
    assert "could not be read" in answer["message"]
    row = Signal.objects.get(log_id=answer["logId"])
    assert (row.webhook_id, row.status, row.raw_body) == (webhook.id, Signal.Status.REJECTED, "")
    assert _healthz(base) == 200
    assert "WORKER TIMEOUT" not in log.read_text()


def test_a_stalled_utm_body_is_a_400_with_a_log_row(one_worker_server, org):
    base, log = one_worker_server
    BrokerAccountFactory(organization=org)
    _, raw_key = api_key_create(organization=org, name="slow")
    head = _post_head("/api/v1/signals/ingest", 100, **{"X-API-Key": raw_key})
    status, answer = _answer(_stalled(base, head, b'{"symbol"'))
    assert (status, answer["error"]) == (400, "VALIDATION_ERROR"), answer
    assert Signal.objects.get(log_id=answer["logId"]).status == Signal.Status.REJECTED
    assert "WORKER TIMEOUT" not in log.read_text()


def test_stalled_request_heads_do_not_starve_the_only_worker(one_worker_server):
    base, log = one_worker_server
    stalled = [_stalled(base, "POST /trading/webhook/x/y HTTP/1.1\r\nHost: 1") for _ in range(4)]
    assert _healthz(base) == 200  # served by the one worker after each stall gave up
    for sock in stalled:
        with sock:
            assert sock.recv(65536) == b""  # closed by the server, not answered
    text = log.read_text()
    assert "WORKER TIMEOUT" not in text
    # One bounded line per slow client, not a traceback.
    assert text.count("A client sent nothing for too long") == 4 and "Traceback" not in text
