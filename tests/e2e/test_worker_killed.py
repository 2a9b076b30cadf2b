"""A worker process killed (SIGKILL) in the middle of a fan-out: the message comes back
(acks late, reject on worker lost), another process resumes the signal, and every account
ends with exactly one order and one fill."""

import os
import signal as os_signal
import subprocess
from decimal import Decimal as D

import pytest

from brokers.models import Order, PaperOrder, Position
from signals.intent import SignalIntent
from signals.models import Signal
from signals.services import signal_accept
from tests.e2e.conftest import wait_for
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 400


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def test_a_worker_killed_halfway_through_a_fan_out_places_no_second_order(worker, org):
    strategy = StrategyFactory(organization=org)
    for _ in range(ACCOUNTS):
        SubscriptionFactory(
            strategy=strategy, account=BrokerAccountFactory(organization=org), sizing_value=3
        )
    intent = SignalIntent(ticker="AAPL", action="buy", price=D("50"))
    accepted = signal_accept(
        organization=org,
        dialect=Signal.Dialect.TRADERSPOST,
        strategy=strategy,
        ticker="AAPL",
        action="buy",
        intent=intent.to_json(),
    )

    def some_filled():
        filled = Order.objects.filter(signal=accepted, status=Order.Status.FILLED).count()
        return filled if 0 < filled < ACCOUNTS else 0

    filled_at_kill = wait_for(some_filled, timeout=30, interval=0.01)
    for child in _children(worker.pid):
        os.kill(child, os_signal.SIGKILL)

    done = wait_for(
        lambda: Signal.objects.filter(pk=accepted.pk, status=Signal.Status.COMPLETED).first(),
        timeout=60,
    )

    assert 0 < filled_at_kill < ACCOUNTS
    assert done.attempts >= 2  # it was resumed, not finished by the killed process
    assert Order.objects.filter(signal=accepted).count() == ACCOUNTS
    assert Order.objects.filter(signal=accepted, status=Order.Status.FILLED).count() == ACCOUNTS
    assert PaperOrder.objects.count() == ACCOUNTS
    assert set(Position.objects.values_list("quantity", flat=True)) == {3}
