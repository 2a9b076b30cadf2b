"""Manual approval: with auto-submit off a subscription's orders wait as pending_approval
until a trader approves or rejects them, or their window passes (signals.expire_approvals).

Each decision is a conditional update on the order's status, so an approval, a rejection
and the expiry racing on one order cannot both win; an approval submits inside the
ticker's lane, like the pipeline itself."""

from django.utils import timezone

from brokers.models import Order
from execution.outcomes import result_refresh
from execution.records import order_end
from execution.submission import LEG_ORDER, orders_submit
from signals.lanes import lane_lock
from signals.models import Signal, SignalResult


class OrderNotPending(Exception):
    """The order is not (or no longer) waiting for approval."""


def order_approve(*, organization, order_id, user=None) -> list[Order]:
    """Approve a pending order and the other pending orders of the same signal for the same
    account (the exit and entry of one reversal are one decision), then submit them, inside
    the ticker's lane. Another tenant's order raises Order.DoesNotExist (a 404)."""
    order = Order.objects.for_org(organization).get(pk=order_id)
    with lane_lock(organization_id=organization.pk, ticker=order.symbol):
        siblings = _pending_siblings(order)
        now = timezone.now()
        live = [o for o in siblings if o.approval_expires_at is None or o.approval_expires_at > now]
        if not live:
            raise OrderNotPending(_not_pending_message(order))
        # Claimed straight into SUBMITTING: committed before the broker is called.
        claimed = [
            o
            for o in live
            if order_end(o, Order.Status.SUBMITTING, "", (Order.Status.PENDING_APPROVAL,))
        ]
        claimed.sort(key=lambda o: LEG_ORDER.get(o.leg, 9))
        result = SignalResult.objects.filter(
            signal_id=order.signal_id, account_id=order.account_id
        ).first()
        if claimed:
            orders_submit(orders=claimed, plan=result.plan if result else {})
        if order.signal_id:
            result_refresh(signal_id=order.signal_id, account_id=order.account_id)
            _signal_timings_after_approval(order.signal_id)
    for approved in claimed:
        approved.refresh_from_db()
    return claimed


def _signal_timings_after_approval(signal_id) -> None:
    # The signal completed when its orders were parked; its submitted / filled timings are
    # those of the first approval that sent them.
    now = timezone.now()
    Signal.objects.filter(pk=signal_id, submitted_at__isnull=True).update(submitted_at=now)
    filled = Order.objects.filter(
        signal_id=signal_id, parent__isnull=True, status=Order.Status.FILLED
    )
    last_fill = filled.order_by("-filled_at").values_list("filled_at", flat=True).first()
    if last_fill:
        Signal.objects.filter(pk=signal_id, filled_at__isnull=True).update(filled_at=last_fill)


def order_reject(*, organization, order_id, user=None) -> list[Order]:
    order = Order.objects.for_org(organization).get(pk=order_id)
    who = f" by {user.email}" if user is not None else ""
    rejected = [
        o
        for o in _pending_siblings(order)
        if order_end(o, Order.Status.CANCELED, f"Rejected{who}.", (Order.Status.PENDING_APPROVAL,))
    ]
    if not rejected:
        raise OrderNotPending(_not_pending_message(order))
    if order.signal_id:
        result_refresh(signal_id=order.signal_id, account_id=order.account_id)
    for canceled in rejected:
        canceled.refresh_from_db()
    return rejected


def order_expire_approvals(*, now=None) -> int:
    """End the pending orders whose approval window has passed."""
    now = now or timezone.now()
    expired = list(
        Order.objects.filter(
            status=Order.Status.PENDING_APPROVAL, approval_expires_at__lte=now
        ).select_related("signal")[:1000]
    )
    count = 0
    for order in expired:
        if order_end(
            order, Order.Status.EXPIRED, "Not approved in time.", (Order.Status.PENDING_APPROVAL,)
        ):
            count += 1
            if order.signal_id:
                result_refresh(signal_id=order.signal_id, account_id=order.account_id)
    return count


def _pending_siblings(order: Order) -> list[Order]:
    if order.signal_id is None:
        return [order] if order.status == Order.Status.PENDING_APPROVAL else []
    return list(
        Order.objects.filter(
            signal_id=order.signal_id,
            account_id=order.account_id,
            parent__isnull=True,
            status=Order.Status.PENDING_APPROVAL,
        ).select_related("account")
    )


def _not_pending_message(order: Order) -> str:
    order.refresh_from_db(fields=["status"])
    if order.status == Order.Status.PENDING_APPROVAL:
        return "The approval window of this order has passed."
    return f"This order is not waiting for approval (it is {order.get_status_display().lower()})."
