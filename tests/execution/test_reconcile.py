"""Reconciliation against the paper broker: orders left non-terminal are settled by asking
the broker by client order id, and positions are compared with the broker's."""

import json
from datetime import timedelta
from decimal import Decimal as D
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from brokers.adapters import get_adapter
from brokers.models import Order, PaperOrder, Position, PositionDrift
from execution.orders import paper_account_reset
from execution.reconcile import NEVER_ARRIVED, reconcile
from execution.records import order_request
from signals.models import Signal
from signals.tasks import process_signal
from tests.factories import SubscriptionFactory
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sub(org):
    return SubscriptionFactory(
        strategy__organization=org, use_signal_quantity=True, sizing_value=D("10")
    )


def _bought(sub, quantity=10) -> Order:
    signal = signal_for(strategy=sub.strategy, action="buy", price=100, quantity=quantity)
    process_signal.delay(str(signal.pk))
    return Order.objects.get(signal=signal)


def _submitting(account, *, age_seconds=600, signal=None) -> Order:
    created = timezone.now() - timedelta(seconds=age_seconds)
    return Order.objects.create(
        organization=account.organization,
        account=account,
        signal=signal,
        symbol="AAPL",
        side="buy",
        quantity=D("4"),
        client_order_id=f"tr-crash-{age_seconds}-{signal.pk if signal else 'none'}",
        status=Order.Status.SUBMITTING,
        created_at=created,
    )


def test_injected_drift_is_recorded_then_resolved(sub):
    assert _bought(sub).status == Order.Status.FILLED
    assert reconcile(accounts=[sub.account]).drifts_open == 0
    assert not PositionDrift.objects.exists()

    # Someone trades the account behind our back: the broker now holds 7, we think 10.
    Position.objects.filter(account=sub.account, symbol="AAPL").update(quantity=D("7"))
    report = reconcile(accounts=[sub.account])
    drift = PositionDrift.objects.get()
    assert report.drifts_open == 1
    assert (drift.symbol, drift.ours, drift.brokers) == ("AAPL", D("10"), D("7"))
    assert drift.resolved_at is None and drift.action == PositionDrift.Action.RECORDED
    assert drift.organization_id == sub.account.organization_id

    # Still drifting, differently: the same open drift, kept up to date; nothing traded.
    Position.objects.filter(account=sub.account, symbol="AAPL").update(quantity=D("6"))
    reconcile(accounts=[sub.account])
    drift.refresh_from_db()
    assert PositionDrift.objects.count() == 1 and drift.brokers == D("6")
    assert PaperOrder.objects.count() == 1

    Position.objects.filter(account=sub.account, symbol="AAPL").update(quantity=D("10"))
    assert reconcile(accounts=[sub.account]).drifts_resolved == 1
    drift.refresh_from_db()
    assert drift.resolved_at is not None and drift.action == PositionDrift.Action.RESOLVED


def test_a_position_the_broker_has_and_we_never_ordered_is_drift(sub):
    Position.objects.create(
        organization=sub.account.organization, account=sub.account, symbol="TSLA", quantity=3
    )
    reconcile(accounts=[sub.account])
    drift = PositionDrift.objects.get()
    assert (drift.symbol, drift.ours, drift.brokers) == ("TSLA", D("0"), D("3"))


def test_a_reset_paper_account_does_not_drift(sub):
    _bought(sub)
    paper_account_reset(account=sub.account)
    assert reconcile(accounts=[sub.account]).drifts_open == 0
    _bought(sub, quantity=2)
    assert reconcile(accounts=[sub.account]).drifts_open == 0


def test_a_submitting_order_the_broker_has_is_adopted_not_placed_again(sub):
    # The worker died after the broker accepted the order and before we recorded it.
    order = _submitting(sub.account)
    get_adapter(sub.account).submit_order(order_request(order, {"reference_price": "100"}))
    assert PaperOrder.objects.count() == 1

    report = reconcile(accounts=[sub.account])
    order.refresh_from_db()
    assert report.orders_settled == 1
    assert order.status == Order.Status.FILLED and order.filled_quantity == D("4")
    assert order.broker_order_id == str(PaperOrder.objects.get().pk)
    assert PaperOrder.objects.count() == 1  # asked for, never sent again
    assert Position.objects.get(account=sub.account).quantity == D("4")
    assert not PositionDrift.objects.exists()  # the adopted fill is ours now


def test_a_submitting_order_the_broker_never_got_fails_after_the_grace(sub):
    order = _submitting(sub.account, age_seconds=settings.RECONCILE_SUBMITTING_GRACE_SECONDS + 5)
    report = reconcile(accounts=[sub.account])
    order.refresh_from_db()
    assert report.orders_failed == 1
    assert order.status == Order.Status.FAILED and order.error == NEVER_ARRIVED
    assert not PaperOrder.objects.exists()


def test_a_recent_submitting_order_or_one_of_a_signal_in_progress_is_left_alone(sub):
    recent = _submitting(sub.account, age_seconds=1)
    signal = signal_for(strategy=sub.strategy, action="buy", price=100)
    Signal.objects.filter(pk=signal.pk).update(status=Signal.Status.PROCESSING)
    in_progress = _submitting(sub.account, signal=signal)

    assert reconcile(accounts=[sub.account]).orders_checked == 0
    for order in (recent, in_progress):
        order.refresh_from_db()
        assert order.status == Order.Status.SUBMITTING


def test_an_open_order_takes_the_brokers_state(sub):
    signal = signal_for(
        strategy=sub.strategy, action="buy", price=100, order_type="limit", limit_price=90
    )
    process_signal.delay(str(signal.pk))
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.OPEN
    PaperOrder.objects.filter(client_order_id=order.client_order_id).update(status="canceled")

    assert reconcile(accounts=[sub.account]).orders_settled == 1
    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED
    assert order.signal.results.get().status == "ignored"  # the result follows its orders


def test_the_command_and_the_periodic_task(sub):
    order = _submitting(sub.account)
    out = StringIO()
    call_command("reconcile", "--account", str(sub.account.pk), stdout=out)
    assert json.loads(out.getvalue())["orders_failed"] == 1
    order.refresh_from_db()
    assert order.status == Order.Status.FAILED
    schedule = settings.CELERY_BEAT_SCHEDULE["execution-reconcile"]
    assert schedule["task"] == "execution.reconcile" and schedule["schedule"] > 0
