"""Arrival order under concurrency: an open and a close sent milliseconds apart, picked up
by two workers at once, are still executed open-then-close."""

import threading

import pytest
from django.db import connection

from brokers.models import Order, PaperOrder, Position
from signals.models import Signal, SignalResult
from signals.pipeline import signal_process
from tests.factories import SubscriptionFactory
from tests.signals.adapters import SlowAdapter, use_adapter
from tests.signals.factories import signal_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="two workers racing need PostgreSQL"
    ),
]


def _race(*signals) -> list[BaseException]:
    barrier = threading.Barrier(len(signals))
    errors: list[BaseException] = []

    def work(signal):
        try:
            barrier.wait()
            signal_process(signal_id=signal.pk)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(s,)) for s in signals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.mark.parametrize("later_first", [False, True])
def test_open_then_close_racing_on_two_workers_run_in_arrival_order(monkeypatch, org, later_first):
    sub = SubscriptionFactory(strategy__organization=org, sizing_value=5)
    use_adapter(monkeypatch, sub.account, SlowAdapter, delay=0.3, spans=[])
    opening = signal_for(strategy=sub.strategy, action="buy", price=100)
    closing = signal_for(strategy=sub.strategy, action="exit", price=101)

    order = (closing, opening) if later_first else (opening, closing)
    assert _race(*order) == []

    assert set(Signal.objects.values_list("status", flat=True)) == {Signal.Status.COMPLETED}
    exit_result = SignalResult.objects.get(signal=closing)
    assert (exit_result.status, exit_result.reason) == ("ordered", "sell 5 (exit)")
    (entry_start, entry_end), (exit_start, _) = SlowAdapter.spans
    assert entry_end <= exit_start  # the close was sent only after the open was done
    assert Position.objects.get(account=sub.account, symbol="AAPL").quantity == 0


def test_other_tickers_do_not_wait_for_a_busy_lane(monkeypatch, org):
    sub = SubscriptionFactory(strategy__organization=org)
    use_adapter(monkeypatch, sub.account, SlowAdapter, delay=0.5, spans=[])
    slow = signal_for(strategy=sub.strategy, action="buy", price=100, ticker="AAPL")
    other = signal_for(strategy=sub.strategy, action="buy", price=100, ticker="MSFT")

    assert _race(slow, other) == []

    assert Order.objects.filter(status=Order.Status.FILLED).count() == 2
    (start_a, end_a), (start_b, end_b) = SlowAdapter.spans
    # Each submission started before the other ended: the two lanes ran side by side.
    assert start_a < end_b and start_b < end_a


def test_a_large_fan_out_is_submitted_in_parallel_batches_exactly_once(org):
    sub = SubscriptionFactory(strategy__organization=org, sizing_value=2)
    for _ in range(119):
        SubscriptionFactory(strategy=sub.strategy, sizing_value=2)
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)

    signal_process(signal_id=signal.pk)
    Signal.objects.filter(pk=signal.pk).update(status=Signal.Status.PROCESSING)
    signal_process(signal_id=signal.pk)  # redelivered: nothing more

    signal.refresh_from_db()
    assert signal.status == Signal.Status.COMPLETED, signal.error
    assert Order.objects.filter(signal=signal, status=Order.Status.FILLED).count() == 120
    assert PaperOrder.objects.count() == 120
    assert set(Position.objects.values_list("quantity", flat=True)) == {2}
    assert SignalResult.objects.filter(signal=signal, status="ordered").count() == 120


def test_a_signal_and_an_approval_of_its_ticker_share_one_lane(org):
    from signals.lanes import lane_lock, signal_lane

    signal = signal_for(
        organization=org,
        strategy=SubscriptionFactory(strategy__organization=org).strategy,
        action="buy",
        ticker="aapl",
    )
    with signal_lane(signal_id=signal.pk) as lane:
        assert lane is not None
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            held = cursor.fetchone()[0]
        # Taking the approval-side lock of the same lane from this session stacks on the
        # same advisory lock (re-entrant per session): no new lock object appears.
        with lane_lock(organization_id=org.pk, ticker="AAPL"), connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            assert cursor.fetchone()[0] == held
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        )
        assert cursor.fetchone()[0] == 0
