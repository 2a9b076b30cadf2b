"""End to end with Alpaca: a webhook signal to an Alpaca-kind account, a real Celery
worker placing the order through alpaca-py at the loopback stand-in of Alpaca's API, and
the trade_stream process (manage.py trade_stream, its own process) recording the fill the
stand-in pushes over its websocket. Nothing in-process: the test sends requests and reads
rows."""

import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from brokers.models import Order, Position
from brokers.services import broker_account_create
from config.celery import app as celery_app
from signals.models import Signal
from tests.e2e.conftest import _database_url, wait_for, worker_start, worker_stop
from tests.factories import InstrumentFactory, SubscriptionFactory
from tests.standins.alpaca import AlpacaStandin
from webhooks.services import webhook_create, webhook_password

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def standin():
    standin = AlpacaStandin().start()
    # The order is answered "new" and fills a moment later, as Alpaca's do: the fill can
    # only reach us through the stream (or, much later, the poller).
    standin.fill_delay = 0.5
    yield standin
    standin.stop()


def _alpaca_env(standin) -> dict:
    return {
        "ALPACA_TRADING_URL": standin.url,
        "ALPACA_DATA_URL": standin.url,
        "ALPACA_STREAM_URL": standin.stream_url,
    }


@pytest.fixture(scope="module")
def alpaca_worker(standin, django_db_setup, django_db_blocker, tmp_path_factory):
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("end-to-end tests need REDIS_URL and DATABASE_URL (PostgreSQL)")
    queue = f"e2e-alpaca-{uuid.uuid4().hex[:10]}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    worker = worker_start(
        redis_url=settings.REDIS_URL, queue=queue, log=log, **_alpaca_env(standin)
    )
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        yield worker
    finally:
        celery_app.conf.task_default_queue = previous
        worker_stop(worker)


@pytest.fixture
def trade_stream(standin, alpaca_worker, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        **_alpaca_env(standin),
        "TRADE_STREAM_REFRESH_SECONDS": "0.3",
        # The fallback poller waits long after its first look: the fill must come by stream.
        "TRADE_STREAM_POLL_MIN_SECONDS": "60",
        "TRADE_STREAM_POLL_MAX_SECONDS": "60",
    }
    log = (tmp_path / "stream.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "trade_stream"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def test_webhook_to_alpaca_once_and_the_fill_from_the_stream(
    client, org, standin, alpaca_worker, trade_stream
):
    key, secret = f"PK{uuid.uuid4().hex[:16].upper()}", uuid.uuid4().hex
    standin.add_account(key, secret)
    standin.set_price("AAPL", "187.5")
    account = broker_account_create(
        organization=org, name="Alpaca paper", broker="alpaca", mode="paper",
        credentials={"api_key": key, "secret_key": secret},
    )  # fmt: skip
    InstrumentFactory(symbol="AAPL", asset_class="stock")
    subscription = SubscriptionFactory(
        strategy__organization=org, account=account, use_signal_quantity=True
    )
    webhook = webhook_create(organization=org, strategy=subscription.strategy, name="tv")
    wait_for(lambda: standin.listeners(key) == 1, timeout=30)

    path = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
    body = {"ticker": "AAPL", "action": "buy", "price": 187.5, "quantity": 3}
    response = client.post(path, data=json.dumps(body), content_type="text/plain")
    assert response.status_code == 200, response.content
    signal_id = response.json()["id"]

    order = wait_for(
        lambda: Order.objects.filter(signal_id=signal_id, status="filled").first(), timeout=30
    )
    assert (order.filled_quantity, order.filled_avg_price) == (3, D("187.5"))
    assert order.broker_order_id
    wait_for(lambda: Position.objects.filter(account=account, symbol="AAPL", quantity=3).exists())
    assert Signal.objects.get(pk=signal_id).status == Signal.Status.COMPLETED

    # Exactly once, with the right payload.
    assert standin.order_posts == 1
    [sent] = standin.orders_received
    assert sent["key_id"] == key
    assert sent["client_order_id"] == order.client_order_id
    assert (sent["symbol"], sent["side"], D(str(sent["qty"]))) == ("AAPL", "buy", 3)
    assert (sent["type"], sent["time_in_force"]) == ("market", "day")
    [at_broker] = standin.orders(key)
    assert at_broker.id == order.broker_order_id and at_broker.status == "filled"
