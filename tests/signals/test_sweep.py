"""The beat's sweep: an accepted signal whose task never ran (Redis was down) or whose
worker died is processed after all."""

from datetime import timedelta

import pytest
from django.utils import timezone

from brokers.models import Order
from signals.models import Signal
from signals.pipeline import signal_sweep
from signals.tasks import sweep_pending
from tests.factories import SubscriptionFactory
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db


def test_sweep_picks_up_forgotten_and_stuck_signals_only(org):
    sub = SubscriptionFactory(strategy__organization=org)
    now = timezone.now()
    forgotten = signal_for(strategy=sub.strategy, action="buy", price=10)
    stuck = signal_for(strategy=sub.strategy, action="buy", price=10, ticker="MSFT")
    fresh = signal_for(strategy=sub.strategy, action="buy", price=10, ticker="TSLA")
    done = signal_for(strategy=sub.strategy, action="buy", price=10, ticker="AMD")
    Signal.objects.filter(pk=forgotten.pk).update(received_at=now - timedelta(seconds=31))
    Signal.objects.filter(pk=stuck.pk).update(
        status=Signal.Status.PROCESSING,
        received_at=now - timedelta(minutes=10),
        processing_started_at=now - timedelta(minutes=5),
    )
    Signal.objects.filter(pk=done.pk).update(
        status=Signal.Status.COMPLETED, received_at=now - timedelta(minutes=10)
    )

    assert set(signal_sweep(now=now)) == {forgotten.pk, stuck.pk}
    assert fresh.pk not in signal_sweep(now=now)

    assert sweep_pending.delay().get() == 2

    for signal in (forgotten, stuck):
        signal.refresh_from_db()
        assert signal.status == Signal.Status.COMPLETED
    assert Order.objects.filter(signal__in=[forgotten, stuck]).count() == 2
    assert not Order.objects.filter(signal__in=[fresh, done]).exists()
