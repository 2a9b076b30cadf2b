"""No webhook password or API key reaches any log, whatever a client sends.

A fuzz corpus of hostile requests (encoded and doubled slashes, wrong methods and
passwords, oversized lines and headers, broken request lines and bodies, a client that
stalls until the worker is killed, API keys in the header and anywhere in the query) goes
through the production server (gunicorn with config/gunicorn.conf.py, access and error
logs in files) and a Celery worker processing what it accepts. Then every log file and
every captured output is searched for every secret the test created or sent."""

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings

from accounts.services import api_key_create
from tests.factories import BrokerAccountFactory, SubscriptionFactory
from tests.webhooks.conftest import (
    ROOT,
    database_url,
    requires_production_stack,
    start_production_server,
    wait_until_serving,
    webhook_path,
)

pytestmark = pytest.mark.django_db(transaction=True)

CELERY = Path(sys.executable).with_name("celery")
BODY = b'{"ticker": "AAPL", "action": "buy", "price": 190.5, "quantity": 1}'
UTM = b'{"symbol": "AAPL", "action": "openLong", "accountId": "%s", "quantity": 1}'


@pytest.fixture
def logged_stack(tmp_path):
    """The production server and a Celery worker on one queue, every log in tmp_path."""
    requires_production_stack()
    queue = f"test-logs-{uuid.uuid4().hex[:8]}"
    logs = {name: tmp_path / f"{name}.log" for name in ("access", "error", "out", "worker")}
    with logs["out"].open("wb") as out, logs["worker"].open("wb") as worker_out:
        worker = subprocess.Popen(
            [str(CELERY), "-A", "config", "worker", "-P", "solo", "-Q", queue, "-l", "info",
             "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, stdout=worker_out, stderr=subprocess.STDOUT,
            env={**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
                 "CELERY_QUEUE": queue, "CELERY_TASK_ALWAYS_EAGER": "false"},
        )  # fmt: skip
        server, base = start_production_server(
            stdout=out,
            stderr=subprocess.STDOUT,
            CELERY_QUEUE=queue,
            GUNICORN_ACCESS_LOG=str(logs["access"]),
            GUNICORN_ERROR_LOG=str(logs["error"]),
            # A worker stuck on a stalled client is killed after this, before its own read
            # timeout ends the wait, and logs "Error handling request POST <path>".
            GUNICORN_TIMEOUT="3",
            GUNICORN_CLIENT_TIMEOUT="30",
            # Everything either logger would ever write, debug lines included.
            LOG_LEVEL="DEBUG",
            GUNICORN_CMD_ARGS="--log-level debug",
        )
        try:
            yield base, logs, server
        finally:
            for process in (server, worker):
                process.terminate()
            for process in (server, worker):
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
            redis.Redis.from_url(settings.REDIS_URL).delete(queue)


def _exchange(base: str, raw: bytes, *, stall: bool = False) -> bytes:
    """Send ``raw`` as it is; the answer (b"" when the server just closed). ``stall``
    keeps the connection open without sending the rest of the announced body."""
    url = urlsplit(base)
    with socket.create_connection((url.hostname, url.port), timeout=20) as sock:
        sock.sendall(raw)
        if not stall:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
    return data


def _request(method: str, target: str, body: bytes = b"", **headers: str) -> bytes:
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    head += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _webhook_corpus(hook_id: str, password: str) -> list[bytes]:
    bad = b"{not json"
    paths = [
        f"/trading/webhook/{hook_id}/{password}",
        f"/trading/webhook/{hook_id}%2F{password}",
        f"/trading/webhook/{hook_id}%2f{password}",
        f"/trading/webhook/{hook_id}%252F{password}",
        f"/trading/webhook/{hook_id}%25252f{password}",
        f"//trading/webhook/{hook_id}/{password}",
        f"/trading//webhook/{hook_id}/{password}",
        f"/trading/webhook//{hook_id}/{password}",
        f"/trading/webhook/{hook_id}//{password}",
        f"///trading///webhook///{hook_id}///{password}///",
        f"/TRADING/WEBHOOK/{hook_id}/{password}",
        f"/tr%61ding/webhook/{hook_id}/{password}",
        f"/trading%2Fwebhook%2F{hook_id}%2F{password}",
        f"/trading/webhook/{hook_id}%5C{password}",
        f"/trading/webhook/{hook_id}/{password}/extra",
        f"/trading/webhook/{hook_id}{password}",
        f"/trading/webhook/{password}",
        f"/trading/webhook/{hook_id}/{password}?x=1",
        f"http://127.0.0.1/trading/webhook/{hook_id}/{password}",
    ]
    corpus = [_request("POST", path, bad) for path in paths]
    corpus += [_request(method, paths[0]) for method in ("GET", "PUT", "DELETE", "OPTIONS")]
    corpus += [
        _request("POST", paths[0], BODY),
        _request("POST", paths[1], BODY),
        _request("POST", paths[0], b"\xff\xfe"),
        _request("POST", paths[0], b"[]"),
        _request("POST", paths[0], b"{}", Content_Type="application/json"),
        _request("POST", f"/trading/webhook/{hook_id}/wrong", bad, Referer=paths[0]),
        _request("POST", "/nowhere", bad, Referer=f"https://example.com{paths[0]}"),
        _request("POST", paths[0] + "?pad=" + "a" * 9000, bad),  # request line too long
        _request("POST", paths[0], bad, X_Big="b" * 9000),  # header too large
        _request("POST", paths[0], bad, **{f"X-H{i}": "1" for i in range(120)}),  # too many
        f"POST {paths[0]} HTTP/1.1 junk\r\n\r\n".encode(),  # not a request line
        f"POST {paths[0]}\x00 HTTP/1.1\r\n\r\n".encode(),
        f"POST {paths[0]} HTTP/9.9\r\n\r\n".encode(),
        f"post {paths[0]} HTTP/1.1\r\n\r\n".encode(),
        f"POST {paths[0]} HTTP/1.1\r\nBad Header: 1\r\n\r\n".encode(),
        f"POST {paths[0]} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n".encode(),
    ]
    return corpus


def _utm_corpus(api_key: str, account_id: str) -> list[bytes]:
    ingest, body = "/api/v1/signals/ingest", UTM % account_id.encode()
    queries = [
        f"?apiKey={api_key}",
        f"?a=1&apiKey={api_key}&b=2",
        f"?a=1&APIKEY={api_key}",
        f"?api%4Bey={api_key}",
        f"?apiKey%3D{api_key}",
        f"?apiKey={api_key.replace('_', '%5F')}",
        f"?x=1;apiKey={api_key}",
    ]
    corpus = [_request("POST", ingest, body, X_API_Key=api_key)]
    corpus += [_request("POST", ingest, b"{bad", X_API_Key=api_key)]
    corpus += [_request("POST", ingest + query, b"{bad") for query in queries]
    corpus += [_request("GET", ingest + query) for query in queries[:2]]
    corpus += [_request("POST", "/api/v1/webhooks/" + queries[0], b"{}")]
    corpus += [_request("POST", ingest, b"{bad", Referer=f"https://x.example{ingest}{queries[0]}")]
    corpus += [f"POST {ingest}{queries[0]} HTTP/1.1 junk\r\n\r\n".encode()]
    return corpus


def test_no_password_or_api_key_reaches_any_log(logged_stack, make_webhook, org):
    base, logs, server = logged_stack
    account = BrokerAccountFactory(organization=org)
    hooks = [make_webhook()[0] for _ in range(2)]
    for hook in hooks:
        SubscriptionFactory(organization=org, strategy=hook.strategy, account=account)
    passwords = [webhook_path(hook).rsplit("/", 1)[1] for hook in hooks]
    api_key = api_key_create(organization=org, name="fuzz")[1]
    wrong_password, wrong_key = secrets.token_hex(16), f"tr_{secrets.token_hex(4)}_x{'y' * 40}"

    corpus = _webhook_corpus(str(hooks[0].id), passwords[0])
    corpus += _webhook_corpus(str(hooks[1].id), wrong_password)
    corpus += _webhook_corpus(passwords[1], passwords[1])
    corpus += _utm_corpus(api_key, str(account.id)) + _utm_corpus(wrong_key, str(account.id))
    answers = [_exchange(base, raw) for raw in corpus]
    # A client announcing a body it never sends holds the worker until gunicorn kills it.
    stalled = _request("POST", webhook_path(hooks[1]), BODY)[:-20]
    _exchange(base, stalled, stall=True)
    _wait_for_new_worker(server, base, logs["error"])
    time.sleep(2)  # the worker logs the accepted signals' tasks; the server flushes

    assert not [a for a in answers if a.startswith(b"HTTP/1.1 500")], "no request is a 500"
    text = {name: path.read_text(errors="replace") for name, path in logs.items()}
    _assert_the_logs_recorded_the_corpus(text, hooks)
    for secret in [*passwords, wrong_password, api_key, wrong_key]:
        hits = [f"{name}: {line}" for name in text for line in text[name].splitlines()
                if secret in line or secret.lower() in line.lower()]  # fmt: skip
        assert hits == [], "a secret reached the logs:\n" + "\n".join(hits[:20])


def _wait_for_new_worker(server, base: str, error_log: Path) -> None:
    deadline = time.monotonic() + 30
    while "Error handling request" not in error_log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "the stalled request was never aborted"
        time.sleep(0.2)
    wait_until_serving(server, base)


def _assert_the_logs_recorded_the_corpus(text: dict[str, str], hooks) -> None:
    # Otherwise an empty log would pass: each channel saw its share of the corpus.
    assert f"/trading/webhook/{hooks[0].id}/" in text["access"]
    assert "/api/v1/signals/ingest" in text["access"]
    assert " 414 " in text["access"] or "too large" in text["error"].lower()
    assert "Invalid request from ip=" in text["error"]
    assert "Error handling request" in text["error"]
    assert "Not Found: " in text["out"] and "Bad Request: " in text["out"]
    assert "signals.process_signal" in text["worker"] and "succeeded" in text["worker"]
