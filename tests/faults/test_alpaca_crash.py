"""The worker SIGKILLed after Alpaca accepted an order and before we recorded its answer:
the stand-in creates (and fills) the order, then holds the HTTP answer and tells the test,
which kills the whole worker (main process and pool), so the only trace on our side is
the Order committed as SUBMITTING before the call. A new worker, the sweep and the
reconciliation command (``manage.py reconcile``, what beat's periodic task runs) must end
with exactly one order at the broker for that client order id, recorded as ours, and the
signal's result settled; never a second order."""

import json
import os
import signal as os_signal
import subprocess
import sys
import uuid
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings

from brokers.models import Order, PositionDrift
from brokers.services import broker_account_create
from config.celery import app as celery_app
from signals.intent import SignalIntent
from signals.models import Signal, SignalResult
from signals.services import signal_accept
from tests.e2e.conftest import _database_url, worker_start, worker_stop
from tests.factories import InstrumentFactory, SubscriptionFactory
from tests.faults.conftest import rescue_until_done
from tests.standins.alpaca import AlpacaStandin

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
HOLD_SECONDS = 20  # far longer than the test takes to kill the worker


@pytest.fixture
def standin():
    standin = AlpacaStandin().start()
    standin.set_price("AAPL", "187.5")
    yield standin
    standin.stop()


def _env(standin, **more) -> dict:
    return {
        "ALPACA_TRADING_URL": standin.url,
        "ALPACA_DATA_URL": standin.url,
        "ALPACA_STREAM_URL": standin.stream_url,
        # The held answer must not time out before the kill (that path records the order).
        "ALPACA_TIMEOUT_SECONDS": str(HOLD_SECONDS + 10),
        "ALPACA_RETRY_WAIT_SECONDS": "0.05",
        **more,
    }


def _alpaca_signal(org, standin) -> tuple[Signal, str]:
    key, secret = f"PK{uuid.uuid4().hex[:16].upper()}", uuid.uuid4().hex
    standin.add_account(key, secret)
    account = broker_account_create(
        organization=org, name="Alpaca paper", broker="alpaca", mode="paper",
        credentials={"api_key": key, "secret_key": secret},
    )  # fmt: skip
    InstrumentFactory(symbol="AAPL", asset_class="stock")
    subscription = SubscriptionFactory(
        strategy__organization=org, account=account, use_signal_quantity=True
    )
    intent = SignalIntent(ticker="AAPL", action="buy", price=D("187.5"), quantity=D("3"))
    accepted = signal_accept(
        organization=org,
        dialect=Signal.Dialect.TRADERSPOST,
        strategy=subscription.strategy,
        ticker="AAPL",
        action="buy",
        intent=intent.to_json(),
    )
    return accepted, key


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _kill(worker) -> None:
    for pid in [worker.pid, *_children(worker.pid)]:
        os.kill(pid, os_signal.SIGKILL)
    worker.wait(timeout=10)


def _reconcile(standin, **env) -> dict:
    """``manage.py reconcile`` in its own process, as an operator or beat's task runs it."""
    done = subprocess.run(
        [sys.executable, "manage.py", "reconcile"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": _database_url(), **_env(standin, **env)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _crash(org, standin, queue, tmp_path) -> tuple[Signal, str, Order]:
    standin.sleep_after_create = HOLD_SECONDS
    first = worker_start(
        redis_url=settings.REDIS_URL, queue=queue, log=tmp_path / "w1.log", **_env(standin)
    )
    try:
        accepted, key = _alpaca_signal(org, standin)
        assert standin.order_created.wait(30), "the order never reached the stand-in"
        _kill(first)
    finally:
        worker_stop(first)
    standin.sleep_after_create = 0

    # The broker has the order (filled); we only have "about to submit".
    [at_broker] = standin.orders(key)
    assert at_broker.status == "filled"
    order = Order.objects.get(signal=accepted)
    assert order.status == Order.Status.SUBMITTING and not order.broker_order_id
    assert at_broker.client_order_id == order.client_order_id
    assert Signal.objects.get(pk=accepted.pk).status == Signal.Status.PROCESSING
    return accepted, key, order


def _assert_recorded_once(standin, key, order: Order) -> Order:
    [at_broker] = standin.orders(key)  # exactly one order at the broker
    assert at_broker.client_order_id == order.client_order_id
    order.refresh_from_db()
    assert order.status == Order.Status.FILLED
    assert order.broker_order_id == at_broker.id
    assert (order.filled_quantity, order.filled_avg_price) == (D("3"), D("187.5"))
    return order


@pytest.fixture
def queue(real_services, monkeypatch):
    name = f"faults-alpaca-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(celery_app.conf, "task_default_queue", name)
    return name


def test_killed_after_alpaca_accepted_the_rerun_adopts_the_order(org, standin, queue, tmp_path):
    accepted, key, order = _crash(org, standin, queue, tmp_path)

    second = worker_start(
        redis_url=settings.REDIS_URL, queue=queue, log=tmp_path / "w2.log", **_env(standin)
    )
    try:
        rescue_until_done([accepted.pk], redis_url=settings.REDIS_URL, queue=queue)
    finally:
        worker_stop(second)
    report = _reconcile(standin, RECONCILE_SUBMITTING_GRACE_SECONDS="0")

    # The rerun sent the same client order id; Alpaca refused it as a duplicate and the
    # adapter carried on with the order it has.
    assert standin.order_posts == 2
    assert {sent["client_order_id"] for sent in standin.orders_received} == {order.client_order_id}
    _assert_recorded_once(standin, key, order)
    done = Signal.objects.get(pk=accepted.pk)
    assert done.status == Signal.Status.COMPLETED, done.error
    assert done.attempts == 2
    assert SignalResult.objects.get(signal=accepted).status == SignalResult.Status.ORDERED
    # Nothing left for reconciliation to settle, and the positions agree.
    assert report["orders_checked"] == 0 and report["drifts_open"] == 0, report
    assert not PositionDrift.objects.exists()


def test_killed_after_alpaca_accepted_reconciliation_adopts_what_the_rerun_gave_up(
    org, standin, queue, tmp_path
):
    accepted, key, order = _crash(org, standin, queue, tmp_path)

    # The redelivered signal finds its attempts used up (SIGNAL_MAX_ATTEMPTS=1) and gives
    # up without touching the broker: the order is left SUBMITTING, for reconciliation.
    second = worker_start(
        redis_url=settings.REDIS_URL, queue=queue, log=tmp_path / "w2.log",
        **_env(standin, SIGNAL_MAX_ATTEMPTS="1"),
    )  # fmt: skip
    try:
        rescue_until_done([accepted.pk], redis_url=settings.REDIS_URL, queue=queue)
    finally:
        worker_stop(second)
    failed = Signal.objects.get(pk=accepted.pk)
    assert failed.status == Signal.Status.FAILED and "Gave up" in failed.error
    order.refresh_from_db()
    assert order.status == Order.Status.SUBMITTING
    assert standin.order_posts == 1

    report = _reconcile(standin, RECONCILE_SUBMITTING_GRACE_SECONDS="0")

    assert report["orders_checked"] == 1 and report["orders_settled"] == 1, report
    assert standin.order_posts == 1  # asked for by client order id, never placed again
    _assert_recorded_once(standin, key, order)
    result = SignalResult.objects.get(signal=accepted)
    assert result.status == SignalResult.Status.ORDERED, result.reason
    assert "not confirmed" not in result.reason
    assert report["drifts_open"] == 0 and not PositionDrift.objects.exists()
    # A second pass changes nothing.
    again = _reconcile(standin, RECONCILE_SUBMITTING_GRACE_SECONDS="0")
    assert again["orders_checked"] == 0 and again["drifts_open"] == 0, again
    assert len(standin.orders(key)) == 1
