"""A database fault during a request's admission, in both dialects: the whole admission
(key or webhook lookup, checks, duplicate claim, log INSERT) is retried once on a new
session; a database that stays down is a 503 with Retry-After in the dialect's envelope.
A retried admission never logs twice, never claims twice, never answers "duplicate" to
itself. Faults are real: the test's own PostgreSQL session is terminated."""

import json

import psycopg
import pytest
from django.db import connection
from django.test import Client

from accounts.services import api_key_create
from signals import services
from signals.models import Signal
from tests.factories import BrokerAccountFactory
from tests.servers import free_port
from tests.webhooks.conftest import database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="terminates PostgreSQL sessions"),
]

TRADERSPOST_BODY = {"ticker": "AAPL", "action": "buy", "quantity": 1}


@pytest.fixture(autouse=True)
def _new_session_after():
    yield
    connection.close()  # whatever a test left of its session, the teardown starts anew


def _terminate_own_session() -> None:
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid
    with psycopg.connect(database_url(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def _insert_fault(monkeypatch, *, landed: bool) -> list[int]:
    """The log INSERT's first call fails on a lost session: before the row is written, or
    (``landed``) after it committed, as when the answer to the INSERT is what got lost."""
    real, calls = services._insert, [0]

    def insert(row):
        calls[0] += 1
        if calls[0] > 1:
            return real(row)
        if landed:
            real(row)
        _terminate_own_session()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")  # the dead session's error, raised here
        return real(row)

    monkeypatch.setattr(services, "_insert", insert)
    return calls


def _commit_fault(monkeypatch) -> list[int]:
    """The first COMMIT goes through, then its session is lost before the answer returns
    (the UTM dialect writes its row in a transaction: that is where a row can land
    unseen)."""
    real_commit, real_insert, calls, inserted = connection.commit, services._insert, [0], [0]

    def insert(row):
        inserted[0] += 1
        return real_insert(row)

    def commit():
        real_commit()
        if inserted[0]:  # the commit of the log row's transaction
            calls[0] += 1
            if calls[0] == 1:
                _terminate_own_session()
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")

    monkeypatch.setattr(services, "_insert", insert)
    monkeypatch.setattr(connection, "commit", commit)
    return inserted


class Dialect:
    """One request of a dialect and how its answer names the accepted signal."""

    def __init__(self, name, post, accepted_id, body):
        self.name, self.post, self.accepted_id, self.body = name, post, accepted_id, body


@pytest.fixture(params=["traderspost", "utm"])
def dialect(request, make_webhook, org):
    client = Client()
    if request.param == "traderspost":
        _, path = make_webhook()

        def post(body=None, **headers):
            data = json.dumps(body or TRADERSPOST_BODY)
            return client.post(path, data, content_type="text/plain", **headers)

        return Dialect("traderspost", post, lambda answer: answer["id"], TRADERSPOST_BODY)
    _, raw = api_key_create(organization=org, name="faults")
    account = BrokerAccountFactory(organization=org)
    utm_body = {"symbol": "AAPL", "action": "openLong", "accountId": str(account.id)}

    def post(body=None, **headers):
        data = json.dumps(body or utm_body)
        return client.post(
            "/api/v1/signals/ingest",
            data,
            content_type="application/json",
            HTTP_X_API_KEY=raw,
            **headers,
        )

    return Dialect("utm", post, lambda answer: answer["signalId"], utm_body)


def _accepted_rows():
    return Signal.objects.exclude(status__in=[Signal.Status.REJECTED, Signal.Status.DUPLICATE])


@pytest.mark.parametrize("landed", [False, True])
def test_a_session_lost_at_the_log_insert_is_retried_into_one_row(monkeypatch, dialect, landed):
    if landed and dialect.name == "utm":
        calls = _commit_fault(monkeypatch)
    else:
        calls = _insert_fault(monkeypatch, landed=landed)

    response = dialect.post()

    assert response.status_code == 200, response.content
    assert calls[0] == (1 if landed else 2)  # a row that landed is found, not inserted again
    row = _accepted_rows().get()  # one row, whether or not the first INSERT landed
    assert dialect.accepted_id(response.json()) == str(row.id)
    assert str(row.log_id) == response.json()["logId"]
    assert Signal.objects.count() == 1


@pytest.mark.parametrize("landed", [False, True])
def test_a_retried_admission_is_not_a_duplicate_of_itself(monkeypatch, make_webhook, landed):
    # The first try made the duplicate claim; the retry reuses it (same signal id), and
    # the real resend is the duplicate, of the retried row.
    _, path = make_webhook(duplicate_window_seconds=60)
    client = Client()
    body = json.dumps(TRADERSPOST_BODY)
    _insert_fault(monkeypatch, landed=landed)
    first = client.post(path, body, content_type="text/plain")
    monkeypatch.undo()
    again = client.post(path, body, content_type="text/plain")

    assert first.status_code == again.status_code == 200
    row = _accepted_rows().get()
    assert first.json()["id"] == again.json()["id"] == str(row.id)
    assert Signal.objects.get(status=Signal.Status.DUPLICATE).duplicate_of_id == row.id


def test_a_retried_idempotent_request_answers_as_accepted_not_replayed(monkeypatch, org, dialect):
    if dialect.name != "utm":
        pytest.skip("idempotency keys are the UTM dialect's")
    calls = _commit_fault(monkeypatch)

    response = dialect.post(HTTP_IDEMPOTENCY_KEY="alert-1")

    assert calls[0] == 1  # the first try's row landed; the retry found it, inserted nothing
    assert response.status_code == 200 and "Idempotent-Replayed" not in response
    row = Signal.objects.get()
    assert row.status != Signal.Status.DUPLICATE and row.idempotency_key == "alert-1"
    assert response.json()["signalId"] == str(row.id)


ENVELOPES = {
    "traderspost": {
        "success": False,
        "messageCode": "service-unavailable",
        "message": "The service is temporarily unavailable; send the signal again.",
    },
    "utm": {
        "success": False,
        "error": "SERVICE_UNAVAILABLE",
        "message": "The service is temporarily unavailable; send the signal again.",
        "details": [],
    },
}


def test_a_database_that_stays_down_answers_503_with_retry_after(monkeypatch, dialect, caplog):
    assert dialect.post().status_code == 200  # the session is now kept, and the claim made
    _terminate_own_session()
    monkeypatch.setitem(connection.settings_dict, "PORT", str(free_port()))  # and stays down

    response = dialect.post(body=None)

    assert response.status_code == 503, response.content
    assert response.json() == ENVELOPES[dialect.name]
    assert int(response["Retry-After"]) > 0
    records = [r for r in caplog.records if r.levelname == "ERROR"]
    assert records and all(len(r.getMessage()) < 300 for r in records)  # bounded
    monkeypatch.undo()
    connection.close()


def test_after_a_503_the_resend_is_accepted_not_a_duplicate(monkeypatch, make_webhook):
    _, path = make_webhook(duplicate_window_seconds=60)
    client = Client()
    body = json.dumps({**TRADERSPOST_BODY, "extras": {"n": 1}})
    assert client.post(path, "{}", content_type="text/plain").status_code == 400
    real, calls = services._insert, [0]

    def insert(row):  # every INSERT of this request fails: the database "stays down"
        calls[0] += 1
        _terminate_own_session()
        return real(row)

    monkeypatch.setattr(services, "_insert", insert)
    assert client.post(path, body, content_type="text/plain").status_code == 503
    assert calls[0] == 2
    monkeypatch.undo()

    resend = client.post(path, body, content_type="text/plain")  # TradingView's resend

    assert resend.status_code == 200
    assert str(_accepted_rows().get().pk) == resend.json()["id"]
    assert not Signal.objects.filter(status=Signal.Status.DUPLICATE).exists()


def test_a_retried_admission_counts_once_against_the_rate_limit(monkeypatch, org, dialect):
    # A retry is the same request: counting it twice would refuse the trader's next alert.
    org.webhook_rate_per_minute = org.api_rate_per_minute = 2
    org.save(update_fields=["webhook_rate_per_minute", "api_rate_per_minute"])
    _insert_fault(monkeypatch, landed=False)
    assert dialect.post().status_code == 200
    monkeypatch.undo()

    # A different body each time, so the duplicate window does not answer first.
    second = dialect.post(body={**dialect.body, "quantity": 2})
    third = dialect.post(body={**dialect.body, "quantity": 3})

    assert second.status_code == 200, second.content
    assert third.status_code == 429, third.content
