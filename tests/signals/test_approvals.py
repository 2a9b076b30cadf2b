"""Manual approval: auto-submit off parks orders until a trader approves, rejects, or the
window passes."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from brokers.models import Order, PaperOrder, Position
from execution.approvals import OrderNotPending, order_approve, order_reject
from signals.models import Signal, SignalResult
from signals.tasks import expire_approvals, process_signal
from tests.factories import SubscriptionFactory
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def sub(org):
    return SubscriptionFactory(
        strategy__organization=org, auto_submit=False, approval_timeout_seconds=300
    )


def _pending(sub, **intent) -> Order:
    signal = signal_for(
        strategy=sub.strategy, **{"action": "buy", "price": 100, "quantity": 4, **intent}
    )
    process_signal.delay(str(signal.pk))
    return Order.objects.filter(signal=signal, leg="entry").get()


def _result(order) -> SignalResult:
    return SignalResult.objects.get(signal=order.signal_id, account=order.account_id)


def _position(sub) -> D:
    row = Position.objects.filter(account=sub.account, symbol="AAPL").first()
    return row.quantity if row else D("0")


def test_auto_submit_off_parks_the_order(sub):
    order = _pending(sub)
    assert order.status == Order.Status.PENDING_APPROVAL
    expected = timezone.now() + timedelta(seconds=300)
    assert abs((order.approval_expires_at - expected).total_seconds()) < 5
    assert _result(order).status == SignalResult.Status.PENDING_APPROVAL
    assert Signal.objects.get(pk=order.signal_id).status == Signal.Status.COMPLETED
    assert not PaperOrder.objects.exists() and _position(sub) == 0


def test_approve_submits_it(sub, org, owner):
    order = _pending(sub)
    approved = order_approve(organization=org, order_id=order.pk, user=owner)

    order.refresh_from_db()
    assert [(o.pk, o.status) for o in approved] == [(order.pk, Order.Status.FILLED)]
    assert order.status == Order.Status.FILLED and _position(sub) == 4
    assert _result(order).status == SignalResult.Status.ORDERED
    signal = Signal.objects.get(pk=order.signal_id)
    assert signal.submitted_at is not None and signal.filled_at == order.filled_at
    with pytest.raises(OrderNotPending, match="not waiting for approval"):
        order_approve(organization=org, order_id=order.pk)
    assert PaperOrder.objects.count() == 1


def test_another_tenant_cannot_approve_or_reject(sub, other_org):
    order = _pending(sub)
    with pytest.raises(Order.DoesNotExist):
        order_approve(organization=other_org, order_id=order.pk)
    with pytest.raises(Order.DoesNotExist):
        order_reject(organization=other_org, order_id=order.pk)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING_APPROVAL and not PaperOrder.objects.exists()


def test_reject_cancels_it_without_reaching_the_broker(sub, org, owner):
    order = _pending(sub)
    order_reject(organization=org, order_id=order.pk, user=owner)

    order.refresh_from_db()
    assert order.status == Order.Status.CANCELED and order.error == f"Rejected by {owner.email}."
    result = _result(order)
    assert result.status == SignalResult.Status.IGNORED and "Rejected" in result.reason
    with pytest.raises(OrderNotPending):
        order_approve(organization=org, order_id=order.pk)
    assert not PaperOrder.objects.exists() and _position(sub) == 0


def test_unapproved_orders_expire(sub, org):
    order = _pending(sub)
    assert expire_approvals.delay().get() == 0  # not yet
    Order.objects.filter(pk=order.pk).update(
        approval_expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(OrderNotPending, match="approval window"):
        order_approve(organization=org, order_id=order.pk)

    assert expire_approvals.delay().get() == 1

    order.refresh_from_db()
    assert order.status == Order.Status.EXPIRED and order.error == "Not approved in time."
    assert _result(order).status == SignalResult.Status.IGNORED
    assert not PaperOrder.objects.exists()


def test_approving_a_reversal_sends_its_exit_before_its_entry(sub, org):
    sub.auto_submit = True
    sub.save()
    _pending(sub, action="sell", quantity=6)
    assert _position(sub) == -6
    sub.auto_submit = False
    sub.save()
    entry = _pending(sub, action="buy", quantity=2)

    approved = order_approve(organization=org, order_id=entry.pk)

    assert [o.leg for o in approved] == ["exit", "entry"]
    assert {o.status for o in Order.objects.filter(signal=entry.signal_id)} == {"filled"}
    assert _position(sub) == 2
