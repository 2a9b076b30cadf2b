"""End to end: an HTTP request in either dialect, a real Celery worker on Redis, the paper
broker, PostgreSQL. Nothing in-process: the test only sends requests and reads rows."""

import json
from decimal import Decimal as D

import pytest
from django.db import connection

from accounts.models import ApiKey
from accounts.services import api_key_create
from brokers.models import Order, Position
from signals.models import Signal, SignalResult
from tests.e2e.conftest import wait_for
from tests.factories import InstrumentFactory, SubscriptionFactory
from webhooks.services import webhook_create, webhook_password

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _done(signal_id) -> Signal | None:
    signal = Signal.objects.get(pk=signal_id)
    return signal if signal.status in (Signal.Status.COMPLETED, Signal.Status.FAILED) else None


def _position(account, symbol="AAPL") -> D:
    row = Position.objects.filter(account=account, symbol=symbol).first()
    return row.quantity if row else D("0")


@pytest.fixture
def subscription(org):
    InstrumentFactory(symbol="AAPL", asset_class="stock")
    return SubscriptionFactory(strategy__organization=org, use_signal_quantity=True)


def test_traderspost_webhook_post_ends_in_a_filled_paper_order(
    celery_worker_process, client, subscription
):
    webhook = webhook_create(
        organization=subscription.organization, strategy=subscription.strategy, name="tv"
    )
    path = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"

    def post(body: dict):
        response = client.post(path, data=json.dumps(body), content_type="text/plain")
        assert response.status_code == 200, response.content
        return response.json()["id"]

    opened = wait_for(
        lambda: _done(post({"ticker": "AAPL", "action": "buy", "price": 187.5, "quantity": 3}))
    )

    assert opened.status == Signal.Status.COMPLETED, opened.error
    order = Order.objects.get(signal=opened)
    assert (order.status, order.filled_quantity, order.filled_avg_price) == (
        "filled",
        3,
        D("187.5"),
    )
    assert _position(subscription.account) == 3
    assert SignalResult.objects.get(signal=opened).status == SignalResult.Status.ORDERED
    assert opened.planned_at and opened.submitted_at and opened.filled_at

    closed = wait_for(
        lambda: _done(post({"ticker": "AAPL", "action": "sell", "sentiment": "flat", "price": 190}))
    )

    assert closed.status == Signal.Status.COMPLETED, closed.error
    assert Order.objects.get(signal=closed).side == "sell"
    assert _position(subscription.account) == 0
    assert Order.objects.count() == 2


def test_close_and_open_sent_back_to_back_are_not_swapped(
    celery_worker_process, client, subscription
):
    webhook = webhook_create(
        organization=subscription.organization, strategy=subscription.strategy, name="tv"
    )
    path = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
    bodies = [
        {"ticker": "AAPL", "action": "buy", "price": 100, "quantity": 2},
        {"ticker": "AAPL", "action": "exit", "price": 101},
        {"ticker": "AAPL", "action": "sell", "price": 102, "quantity": 4},
        {"ticker": "AAPL", "action": "buy", "price": 103, "quantity": 1},
    ]
    ids = [
        client.post(path, data=json.dumps(b), content_type="text/plain").json()["id"]
        for b in bodies
    ]

    signals = [wait_for(lambda i=i: _done(i)) for i in ids]

    assert [s.status for s in signals] == [Signal.Status.COMPLETED] * 4
    # buy 2 -> exit 2 -> sell 4 (short) -> buy: cover 4, open 1
    assert _position(subscription.account) == 1
    reasons = [SignalResult.objects.get(signal=s).reason for s in signals]
    assert reasons == [
        "buy 2 (entry)",
        "sell 2 (exit)",
        "sell 4 (entry)",
        "buy 4 (exit); buy 1 (entry)",
    ]


def test_utm_ingest_ends_in_a_filled_paper_order(worker, client, org, subscription):
    account = subscription.account
    _, raw_key = api_key_create(organization=org, name="bot", scopes=[ApiKey.Scope.SIGNALS_WRITE])
    body = {
        "symbol": "AAPL",
        "action": "openLong",
        "accountId": str(account.pk),
        "quantity": 5,
        "orderType": "LIMIT",
        "limitPrice": 50,
    }
    response = client.post(
        "/api/v1/signals/ingest",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_API_KEY=raw_key,
    )
    assert response.status_code in (200, 202), response.content

    signal = wait_for(lambda: _done(response.json()["signalId"]))

    assert signal.status == Signal.Status.COMPLETED, signal.error
    order = Order.objects.get(signal=signal)
    assert (order.status, order.order_type, order.filled_avg_price) == ("filled", "limit", 50)
    assert _position(account) == 5


def _worker_sessions() -> set[int]:
    """The other sessions on the test database: the worker processes' connections."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


def test_the_worker_keeps_its_database_session_from_task_to_task(
    celery_worker_process, client, subscription
):
    # Celery's Django fixup would close it before and after every task: a new PostgreSQL
    # backend per signal (config.celery and CELERY_DB_REUSE_MAX keep it).
    webhook = webhook_create(
        organization=subscription.organization, strategy=subscription.strategy, name="tv"
    )
    path = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"

    def run(price: int) -> None:
        body = {"ticker": "AAPL", "action": "buy", "price": price, "quantity": 1}
        signal_id = client.post(path, data=json.dumps(body), content_type="text/plain").json()
        assert wait_for(lambda: _done(signal_id["id"])).status == Signal.Status.COMPLETED

    run(100)
    first = _worker_sessions()
    for price in (101, 102, 103, 104):
        run(price)
    later = _worker_sessions()

    assert first, "no worker session left open after a task"
    assert first <= later
    assert len(later) <= 2  # -c 2: one session per worker process
