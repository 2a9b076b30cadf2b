"""The worker SIGKILLed in the middle of a fan-out to many paper accounts: its processes
only (the message comes back: acks late, reject on worker lost, and another process
resumes the signal), or the whole worker, main process included (the message stays
unacknowledged in Redis: the sweep enqueues the signal again for the next worker). Either
way every account ends with exactly one order and one fill."""

import os
import signal as os_signal
import subprocess
import uuid
from decimal import Decimal as D

import pytest

from brokers.models import Order, PaperOrder, Position
from config.celery import app as celery_app
from signals.intent import SignalIntent
from signals.models import Signal
from signals.services import signal_accept
from tests.e2e.conftest import worker_start, worker_stop
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory
from tests.faults.conftest import assert_processed_once, rescue_until_done, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 400


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _fan_out(org) -> Signal:
    strategy = StrategyFactory(organization=org)
    for _ in range(ACCOUNTS):
        SubscriptionFactory(
            strategy=strategy, account=BrokerAccountFactory(organization=org), sizing_value=3
        )
    intent = SignalIntent(ticker="AAPL", action="buy", price=D("50"))
    return signal_accept(
        organization=org,
        dialect=Signal.Dialect.TRADERSPOST,
        strategy=strategy,
        ticker="AAPL",
        action="buy",
        intent=intent.to_json(),
    )


def _filled_halfway(accepted) -> int:
    def some_filled():
        filled = Order.objects.filter(signal=accepted, status=Order.Status.FILLED).count()
        return filled if 0 < filled < ACCOUNTS else 0

    return wait_for(some_filled, timeout=30, interval=0.01)


def _assert_every_account_once(accepted) -> Signal:
    done = Signal.objects.get(pk=accepted.pk)
    assert done.status == Signal.Status.COMPLETED, done.error
    assert done.attempts >= 2  # it was resumed, not finished by the killed process
    assert Order.objects.filter(signal=accepted).count() == ACCOUNTS
    assert Order.objects.filter(signal=accepted, status=Order.Status.FILLED).count() == ACCOUNTS
    assert PaperOrder.objects.count() == ACCOUNTS
    assert set(Position.objects.values_list("quantity", flat=True)) == {3}
    assert_processed_once([accepted.pk])
    return done


def test_a_worker_killed_halfway_through_a_fan_out_places_no_second_order(worker, org):
    accepted = _fan_out(org)
    filled_at_kill = _filled_halfway(accepted)
    for child in _children(worker.pid):
        os.kill(child, os_signal.SIGKILL)

    wait_for(
        lambda: Signal.objects.filter(pk=accepted.pk, status=Signal.Status.COMPLETED).first(),
        timeout=60,
    )

    assert 0 < filled_at_kill < ACCOUNTS
    _assert_every_account_once(accepted)


def test_the_whole_worker_killed_mid_fan_out_is_rescued_by_the_sweep(
    real_services, org, tmp_path, monkeypatch
):
    from django.conf import settings

    queue = f"faults-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(celery_app.conf, "task_default_queue", queue)
    first = worker_start(redis_url=settings.REDIS_URL, queue=queue, log=tmp_path / "w1.log")
    try:
        accepted = _fan_out(org)
        filled_at_kill = _filled_halfway(accepted)
        processes = [first.pid, *_children(first.pid)]
        for pid in processes:
            os.kill(pid, os_signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        worker_stop(first)
    assert Signal.objects.get(pk=accepted.pk).status == Signal.Status.PROCESSING

    second = worker_start(redis_url=settings.REDIS_URL, queue=queue, log=tmp_path / "w2.log")
    try:
        rescue_until_done([accepted.pk], redis_url=settings.REDIS_URL, queue=queue)
    finally:
        worker_stop(second)

    assert 0 < filled_at_kill < ACCOUNTS
    _assert_every_account_once(accepted)
