"""PostgreSQL sessions terminated again and again while a real worker fans signals out to
Alpaca accounts over real HTTP (the stand-in, through alpaca-py): a session may die while
the orders are in flight and their answers not yet recorded. The retry sends the same
client order ids, Alpaca refuses each it already has as a duplicate and the adapter
carries on with the order it finds, so every accepted signal completes, none fails, and
each of our orders is exactly one order at the broker, recorded as ours."""

import time
import uuid
from collections import Counter
from decimal import Decimal as D

import pytest
from django.conf import settings

from brokers.models import Order
from brokers.services import broker_account_create
from config.celery import app as celery_app
from signals.intent import SignalIntent
from signals.models import Signal
from signals.services import signal_accept
from tests.e2e.conftest import worker_start, worker_stop
from tests.factories import InstrumentFactory, StrategyFactory, SubscriptionFactory
from tests.faults.conftest import SessionKiller, rescue_until_done, wait_for
from tests.standins.alpaca import AlpacaStandin

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 12
SIGNALS = 8  # alternately AAPL and TSLA
KILL_PERIOD = 0.2


@pytest.fixture
def standin():
    standin = AlpacaStandin().start()
    standin.set_price("AAPL", "187.5")
    standin.set_price("TSLA", "250")
    standin.latency = 0.01
    standin.order_latency = 0.05  # answers in flight long enough to be cut off
    yield standin
    standin.stop()


@pytest.fixture
def queue(real_services, monkeypatch):
    name = f"faults-alpaca-db-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(celery_app.conf, "task_default_queue", name)
    return name


def _accounts(org, standin) -> tuple:
    strategy = StrategyFactory(organization=org)
    keys = {}
    for i in range(ACCOUNTS):
        key, secret = f"PKDB{uuid.uuid4().hex[:14].upper()}", uuid.uuid4().hex
        standin.add_account(key, secret, cash="10000000")
        account = broker_account_create(
            organization=org, name=f"Alpaca {i}", broker="alpaca", mode="paper",
            credentials={"api_key": key, "secret_key": secret},
        )  # fmt: skip
        SubscriptionFactory(
            strategy=strategy, account=account, use_signal_quantity=True, allow_add=True
        )
        keys[account.pk] = key
    for ticker in ("AAPL", "TSLA"):
        InstrumentFactory(symbol=ticker, asset_class="stock")
    return strategy, keys


def _accept(org, strategy, n: int) -> Signal:
    ticker = ("AAPL", "TSLA")[n % 2]
    price = D("187.5") if ticker == "AAPL" else D("250")
    intent = SignalIntent(ticker=ticker, action="buy", price=price, quantity=D(1 + n % 3))
    return signal_accept(
        organization=org, dialect=Signal.Dialect.TRADERSPOST, strategy=strategy,
        ticker=ticker, action="buy", intent=intent.to_json(),
    )  # fmt: skip


def _resent(standin) -> int:
    received = Counter(body["client_order_id"] for body in list(standin.orders_received))
    return sum(n - 1 for n in received.values())


def test_sessions_terminated_during_an_alpaca_fan_out_place_each_order_once(
    org, standin, queue, tmp_path, capsys
):
    strategy, keys = _accounts(org, standin)
    worker = worker_start(
        redis_url=settings.REDIS_URL, queue=queue, log=tmp_path / "worker.log",
        ALPACA_TRADING_URL=standin.url, ALPACA_DATA_URL=standin.url,
        ALPACA_RETRY_WAIT_SECONDS="0.05", BROKER_CONCURRENCY_ALPACA="4",
    )  # fmt: skip
    killer = SessionKiller(period=KILL_PERIOD)
    accepted = []
    try:
        killer.start()
        # The signals arrive while sessions die, so faults land mid-fan-out; the killer
        # goes on until a retry has resent an order (the path under test) or 30 s.
        for n in range(SIGNALS):
            accepted.append(_accept(org, strategy, n).pk)
            time.sleep(0.1)
        wait_for(lambda: killer.rounds >= 10 and _resent(standin) > 0, timeout=30)
        killer.stop()
        rescue_until_done(accepted, redis_url=settings.REDIS_URL, queue=queue, timeout=90)
    finally:
        if killer.is_alive():
            killer.stop()
        worker_stop(worker)

    signals = Signal.objects.filter(pk__in=accepted)
    ours = list(Order.objects.filter(signal__in=accepted, parent__isnull=True))
    received = Counter(body["client_order_id"] for body in standin.orders_received)
    at_broker = {o.client_order_id: o for key in keys.values() for o in standin.orders(key)}
    with capsys.disabled():
        print(
            f"\n[faults] sessions terminated during an Alpaca fan-out: {killer.kills} sessions "
            f"in {killer.rounds} rounds; {len(ours)} orders, {standin.order_posts} POSTs "
            f"({sum(n - 1 for n in received.values())} resent with the same id by the "
            "retries after a lost session)"
        )

    assert killer.kills > 0 and _resent(standin) > 0  # the faults made retries resend
    assert {s.status for s in signals} == {Signal.Status.COMPLETED}, [
        (s.status, s.error) for s in signals if s.status != Signal.Status.COMPLETED
    ]
    assert len(ours) == SIGNALS * ACCOUNTS
    # One of our orders per signal and account, each one order at the broker, ours.
    assert len({(o.signal_id, o.account_id) for o in ours}) == len(ours)
    assert set(at_broker) == {o.client_order_id for o in ours}
    for order in ours:
        broker_order = at_broker[order.client_order_id]
        assert broker_order.key_id == keys[order.account_id]
        assert order.status == Order.Status.FILLED, (order.status, order.error)
        assert order.broker_order_id == broker_order.id
    # The positions at the broker are what the signals add up to, nothing twice.
    expected = {"AAPL": sum(1 + n % 3 for n in range(0, SIGNALS, 2)),
                "TSLA": sum(1 + n % 3 for n in range(1, SIGNALS, 2))}  # fmt: skip
    for key in keys.values():
        held = {s: q for s, (q, _) in standin.accounts[key].positions.items()}
        assert held == {s: D(q) for s, q in expected.items()}
