"""A webhook request skips Django's per-request health check (a SELECT 1 round trip) and
instead retries its first query once on a new connection when the kept one is dead
(webhooks/selectors.py): a terminated PostgreSQL session, as after a restart, still
never costs a webhook a 500. Proved against the production server (gunicorn with
config/gunicorn.conf.py) whose sessions are really terminated with pg_terminate_backend."""

import json
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import close_old_connections, connection
from django.test import Client

from tests.servers import free_port
from tests.webhooks.conftest import database_url, webhook_path

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL sessions"),
]


def _terminate_other_sessions() -> list[int]:
    """End every other session on the test database (the server's), as a restart would."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'"
        )
        return [pid for pid, _ in cursor.fetchall()]


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_terminated_sessions_never_cost_a_webhook_a_500(production_server, make_webhook):
    server = production_server
    webhook, path = make_webhook(duplicate_window_seconds=0)
    url = server + path
    body = json.dumps({"ticker": "AAPL", "action": "buy", "quantity": 1}).encode()
    assert _post(url, body)[0] == 200  # the server now keeps a session

    for _ in range(3):
        assert _terminate_other_sessions(), "the server kept no session to terminate"
        status, answer = _post(url, body)
        assert status == 200, answer
        assert _terminate_other_sessions()
        status, answer = _post(server + webhook_path(webhook, "wrong"), body)
        assert (status, answer["messageCode"]) == (400, "invalid-password")
        assert _terminate_other_sessions()
        status, answer = _post(server + f"/trading/webhook/{uuid.uuid4()}/x", body)
        assert (status, answer["messageCode"]) == (404, "not-found")

    from signals.models import RejectedAttempts, Signal

    assert Signal.objects.filter(webhook=webhook, status=Signal.Status.PENDING).count() == 4
    # Wrong passwords are counted per minute, not logged one by one (test_abuse.py).
    counted = RejectedAttempts.objects.filter(webhook=webhook, message_code="invalid-password")
    assert sum(counted.values_list("count", flat=True)) == 3


def _count_health_checks(monkeypatch) -> list[int]:
    calls = [0]
    is_usable = connection.is_usable

    def counted():
        calls[0] += 1
        return is_usable()

    monkeypatch.setattr(connection, "is_usable", counted)
    return calls


def test_the_webhook_path_makes_no_health_check_round_trip(make_webhook, monkeypatch):
    _, path = make_webhook(duplicate_window_seconds=0)
    client = Client()
    body = json.dumps({"ticker": "AAPL", "action": "buy", "quantity": 1})
    assert client.post(path, body, content_type="text/plain").status_code == 200
    calls = _count_health_checks(monkeypatch)
    for _ in range(3):
        close_old_connections()  # a request boundary, as request_started/finished do
        assert client.post(path, body, content_type="text/plain").status_code == 200
    assert calls[0] == 0
    close_old_connections()
    assert client.get("/healthz").status_code == 200  # other paths still check
    assert calls[0] == 1


def test_in_process_a_terminated_session_is_replaced_once(make_webhook):
    _, path = make_webhook(duplicate_window_seconds=0)
    client = Client()
    body = json.dumps({"ticker": "AAPL", "action": "buy", "quantity": 1})
    assert client.post(path, body, content_type="text/plain").status_code == 200
    before = connection.connection
    import psycopg

    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    close_old_connections()
    assert client.post(path, body, content_type="text/plain").status_code == 200
    assert connection.connection is not before  # closed and replaced


def test_a_database_that_stays_down_is_a_503_not_a_retry_loop(make_webhook, monkeypatch):
    # Retried once, not forever: a second failure is a 503 (it was a 500), which is what
    # makes TradingView send the alert again (tests/webhooks/test_admission_faults.py).
    _, path = make_webhook()
    client = Client(raise_request_exception=True)
    assert client.post(path, "{}", content_type="text/plain").status_code == 400
    import psycopg

    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
    monkeypatch.setitem(connection.settings_dict, "PORT", str(free_port()))  # and stays down
    close_old_connections()
    response = client.post(path, "{}", content_type="text/plain")
    assert response.status_code == 503
    assert response.json()["messageCode"] == "service-unavailable"
    monkeypatch.undo()
    connection.close()
