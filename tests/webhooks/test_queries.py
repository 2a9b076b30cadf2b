import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from signals.models import Signal
from tests.webhooks.conftest import webhook_path

pytestmark = pytest.mark.django_db


def test_an_accepted_request_costs_at_most_five_queries(
    make_webhook, send, django_assert_max_num_queries
):
    _, path = make_webhook(limit_to_tradingview=True, allowed_tickers=["AMD"])
    send(path, {"ticker": "AMD", "action": "buy", "quantity": 1}, ip="52.89.214.238")
    with django_assert_max_num_queries(5):
        response = send(path, {"ticker": "AMD", "action": "buy", "quantity": 2}, ip="52.89.214.238")
    assert response.status_code == 200
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 2


def test_a_cold_instrument_cache_adds_one_query(make_webhook, send, django_assert_num_queries):
    _, path = make_webhook()
    # webhook + organization (one join), instrument lookup, signal insert.
    with django_assert_num_queries(3):
        response = send(path, {"ticker": "AMD", "action": "buy"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "settings_fields, password, body, status",
    [
        ({}, None, {"ticker": "AMD", "action": "buy", "quantity": 3}, 200),
        ({"allowed_ips": ["203.0.113.0/24"], "allowed_tickers": ["AMD"]}, None,
         {"ticker": "AMD", "action": "buy"}, 200),
        ({}, None, {"ticker": "AMD", "action": "buy", "quantity": 1}, 200),  # a duplicate
        ({}, None, "{not json", 400),
        ({"enabled": False}, None, {"ticker": "AMD", "action": "buy"}, 400),
        ({"limit_to_tradingview": True}, None, {"ticker": "AMD", "action": "buy"}, 400),
        ({"asset_class": "crypto"}, None, {"ticker": "AMD", "action": "buy"}, 400),
    ],
)  # fmt: skip
def test_every_answer_reads_the_webhook_once_and_writes_one_row(
    make_webhook, send, settings_fields, password, body, status
):
    # The webhook lookup defers the columns ingestion does not read; reading one of them
    # on any path would add a query here.
    webhook, _ = make_webhook(**settings_fields)
    path = webhook_path(webhook, password)
    send(webhook_path(webhook), {"ticker": "AMD", "action": "buy", "quantity": 1})  # warm
    with CaptureQueriesContext(connection) as queries:
        response = send(path, body)
    assert response.status_code == status
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    # The webhook with its organization; the log row (a duplicate's in a savepoint).
    assert [s for s in statements if s not in ("SAVEPOINT", "RELEASE")] == ["SELECT", "INSERT"]


def test_a_wrong_password_reads_the_webhook_and_updates_its_minutes_count(make_webhook, send):
    webhook, _ = make_webhook()
    wrong = webhook_path(webhook, "wrong")
    statements = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            assert send(wrong, {"ticker": "AMD", "action": "buy"}).status_code == 400
        statements.append([q["sql"].split()[0] for q in queries.captured_queries])
    # The minute's first one creates its row (the UPDATE finds none; the INSERT is in a
    # savepoint for a racing twin); from then on one UPDATE, whatever the flood. Both
    # could straddle a minute boundary: then the second is a first too.
    first = ["SELECT", "UPDATE", "SAVEPOINT", "INSERT", "RELEASE"]
    assert statements[0] == first
    assert statements[1] in (["SELECT", "UPDATE"], first)


def test_a_suspended_organization_too(make_webhook, send, org, django_assert_num_queries):
    from accounts.services import organization_suspend

    _, path = make_webhook()
    send(path, {"ticker": "AMD", "action": "buy", "quantity": 1})
    organization_suspend(organization=org)
    with django_assert_num_queries(2):
        response = send(path, {"ticker": "AMD", "action": "buy"})
    assert response.json()["messageCode"] == "organization-suspended"


def test_an_unknown_webhook_costs_one_query(send, db, django_assert_num_queries):
    with django_assert_num_queries(1):
        response = send(f"/trading/webhook/{uuid.uuid4()}/x", {"ticker": "AMD"})
    assert response.status_code == 404
