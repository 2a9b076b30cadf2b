"""Submission: "about to submit" is committed before the broker is called; no transaction
is open across a network broker's call, while the in-database paper broker books a batch
inside the transaction that records it; a network broker's orders are in flight together,
bounded per broker kind."""

import threading
from decimal import Decimal as D

import psycopg
import pytest
from django.db import connection

from brokers.adapters import ADAPTERS
from brokers.adapters.paper import PaperAdapter
from brokers.models import BrokerAccount, Order, PaperOrder
from signals.models import Signal
from signals.tasks import process_signal
from tests.execution.loopback import LoopbackAdapter, OrderServer
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory
from tests.signals.factories import signal_for


class WatchingPaperAdapter(PaperAdapter):
    """The paper broker, noting at each call whether a transaction is open on the caller's
    connection and what another connection sees of the order."""

    seen: list = []

    def submit_order(self, request):
        status = {}

        def read():  # another connection: only committed rows
            row = Order.objects.filter(client_order_id=request.client_order_id).first()
            status["other"] = row.status if row else None
            connection.close()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join()
        type(self).seen.append((connection.in_atomic_block, status["other"]))
        return super().submit_order(request)


def _seen_from_another_connection() -> int:
    found = []

    def read():
        found.append(PaperOrder.objects.count())
        connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    return found[0]


def _use(monkeypatch, name, adapter_class, accounts):
    monkeypatch.setitem(ADAPTERS, name, f"{adapter_class.__module__}.{adapter_class.__name__}")
    BrokerAccount.objects.filter(pk__in=[a.pk for a in accounts]).update(broker=name)


@pytest.mark.django_db(transaction=True)
def test_the_order_is_committed_as_submitting_before_the_broker_is_called(monkeypatch, org):
    monkeypatch.setattr(WatchingPaperAdapter, "seen", [])
    sub = SubscriptionFactory(strategy__organization=org, sizing_value=D("5"))
    _use(monkeypatch, "watching", WatchingPaperAdapter, [sub.account])
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)

    process_signal.delay(str(signal.pk))

    # Another connection already sees "submitting"; the paper booking itself runs in the
    # batch's transaction, which commits it together with our record of its answer.
    assert WatchingPaperAdapter.seen == [(True, Order.Status.SUBMITTING)]
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.FILLED and PaperOrder.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_paper_booking_and_its_record_commit_together_or_not_at_all(monkeypatch, org):
    """A fault after the batch's bookings (here: recording the answer) rolls back the
    bookings too: nothing is booked that we did not record, the order stays submitting,
    and the retry books it once under the same client order id."""
    from execution import submission

    sub = SubscriptionFactory(strategy__organization=org, sizing_value=D("5"))
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)
    real_record, calls, outside = submission._record, [], []

    def record_then_fail(sent):
        calls.append(sent)
        recorded = real_record(sent)
        if len(calls) == 1:
            outside.append(_seen_from_another_connection())
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return recorded

    monkeypatch.setattr(submission, "_record", record_then_fail)

    process_signal.delay(str(signal.pk))

    signal.refresh_from_db()
    assert len(calls) == 2  # the first attempt's record failed; the retry's did not
    # While the first attempt recorded, its booking was not visible outside its transaction.
    assert outside == [0]
    assert signal.status == Signal.Status.COMPLETED, signal.error
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.FILLED
    assert list(PaperOrder.objects.values_list("client_order_id", flat=True)) == [
        order.client_order_id
    ]
    sub.account.refresh_from_db()
    assert sub.account.cash == sub.account.initial_cash - 5 * 100  # one fill, not two


@pytest.fixture
def order_server():
    server = OrderServer(delay=0.05)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.django_db
def test_a_network_fan_out_is_in_flight_together_bounded_per_broker(
    monkeypatch, settings, org, order_server
):
    settings.BROKER_CONCURRENCY = {"loopback": 4}
    monkeypatch.setattr(LoopbackAdapter, "url", order_server.url)
    strategy = StrategyFactory(organization=org)
    accounts = [BrokerAccountFactory(organization=org) for _ in range(12)]
    for account in accounts:
        SubscriptionFactory(strategy=strategy, account=account, sizing_value=D("2"))
    _use(monkeypatch, "loopback", LoopbackAdapter, accounts)
    signal = signal_for(strategy=strategy, action="buy", price=100)

    process_signal.delay(str(signal.pk))

    signal.refresh_from_db()
    assert signal.status == Signal.Status.COMPLETED, signal.error
    orders = list(Order.objects.filter(signal=signal))
    assert len(orders) == 12
    assert all(o.status == Order.Status.FILLED and o.broker_order_id for o in orders)
    # Each order reached the broker exactly once, and 4 were in flight at a time.
    assert sorted(order_server.posts) == sorted(o.client_order_id for o in orders)
    assert order_server.max_in_flight == 4


@pytest.mark.django_db
def test_a_network_broker_down_fails_nothing_and_keeps_the_orders_submitting(
    monkeypatch, settings, org, order_server
):
    settings.SIGNAL_MAX_ATTEMPTS = 1
    monkeypatch.setattr(LoopbackAdapter, "url", "http://127.0.0.1:9/unreachable")
    sub = SubscriptionFactory(strategy__organization=org, sizing_value=D("1"))
    _use(monkeypatch, "loopback", LoopbackAdapter, [sub.account])
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)

    # Connection refused is not the broker's answer, and giving up does not guess: asked
    # by client order id (refused too), the order is left for reconciliation.
    process_signal.delay(str(signal.pk))
    signal.refresh_from_db()
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.SUBMITTING
    assert "unreachable" in order.error
    result = signal.results.get()
    assert result.status == "ordered" and "not confirmed by the broker yet" in result.reason


@pytest.mark.django_db
def test_an_alpaca_fan_out_reaches_the_broker_once_per_account_with_bounded_concurrency(
    settings, org, alpaca_standin
):
    """30 Alpaca accounts, each its own key (its own account at the stand-in), answered
    after 50 ms: every order reaches the stand-in exactly once, and the POSTs overlap up to
    the configured bound and no further."""
    from brokers.services import broker_account_create

    settings.BROKER_CONCURRENCY = {"alpaca": 4}
    alpaca_standin.set_price("AAPL", 100)
    strategy = StrategyFactory(organization=org)
    keys = []
    for i in range(30):
        key_id, secret = f"PKFAN{i:015d}", f"fan-secret-{i:04d}-" + "x" * 24
        alpaca_standin.add_account(key_id, secret)
        keys.append(key_id)
        account = broker_account_create(
            organization=org,
            name=f"Alpaca {i}",
            broker=BrokerAccount.Broker.ALPACA,
            mode=BrokerAccount.Mode.PAPER,
            credentials={"api_key": key_id, "secret_key": secret},
        )
        SubscriptionFactory(strategy=strategy, account=account, sizing_value=D("1"))
    alpaca_standin.order_latency = 0.05
    alpaca_standin.latency = 0.02  # every answer, position reads included
    signal = signal_for(strategy=strategy, action="buy", price=100)

    process_signal.delay(str(signal.pk))

    signal.refresh_from_db()
    assert signal.status == Signal.Status.COMPLETED, signal.error
    orders = list(Order.objects.filter(signal=signal))
    assert len(orders) == 30 and all(o.status == Order.Status.FILLED for o in orders)
    posted = [body["client_order_id"] for body in alpaca_standin.orders_received]
    assert sorted(posted) == sorted(o.client_order_id for o in orders)
    assert alpaca_standin.order_posts == 30
    assert sorted(body["key_id"] for body in alpaca_standin.orders_received) == sorted(keys)
    assert 1 < alpaca_standin.orders_max_in_flight <= 4
    # Planning read each account's position once, concurrently, within the same bound.
    reads = [r for r in alpaca_standin.requests if r == ("GET", "/v2/positions/AAPL")]
    assert len(reads) == 30
    assert 1 < alpaca_standin.requests_max_in_flight <= 4


@pytest.mark.django_db(transaction=True)
def test_one_accounts_unexpected_failure_is_its_own(monkeypatch, org, settings):
    """A paper booking that fails with no broker error (a bug, a value the book cannot
    hold) no longer takes its batch down: the other accounts are booked and filled, the
    failed one's order stays submitting with a note, and reconciliation settles it from
    the paper book (nothing was booked: it never arrived)."""
    from execution.reconcile import NEVER_ARRIVED, reconcile

    strategy = StrategyFactory(organization=org)
    subs = [SubscriptionFactory(strategy=strategy, sizing_value=D("2")) for _ in range(4)]
    broken = subs[2].account
    real_submit = PaperAdapter.submit_order

    def submit(self, request):
        if self.account.pk == broken.pk:
            raise ValueError("a value the book cannot hold")
        return real_submit(self, request)

    monkeypatch.setattr(PaperAdapter, "submit_order", submit)
    signal = signal_for(strategy=strategy, action="buy", price=100)

    process_signal.delay(str(signal.pk))

    signal.refresh_from_db()
    assert signal.status == Signal.Status.COMPLETED, signal.error
    orders = {o.account_id: o for o in Order.objects.filter(signal=signal)}
    assert {a for a, o in orders.items() if o.status == Order.Status.FILLED} == {
        s.account_id for s in subs if s.account_id != broken.pk
    }
    stuck = orders[broken.pk]
    assert stuck.status == Order.Status.SUBMITTING and "ValueError" in stuck.error
    assert PaperOrder.objects.count() == 3

    monkeypatch.setattr(PaperAdapter, "submit_order", real_submit)
    settings.RECONCILE_SUBMITTING_GRACE_SECONDS = 0
    reconcile(accounts=[broken])
    stuck.refresh_from_db()
    assert (stuck.status, stuck.error) == (Order.Status.FAILED, NEVER_ARRIVED)
    assert PaperOrder.objects.count() == 3  # settled, never booked late
