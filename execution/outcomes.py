"""What an account's result says once its orders have moved (submitted, approved,
rejected, expired, settled by reconciliation)."""

from __future__ import annotations

from brokers.models import Order
from execution.records import ERROR_MAX_CHARS
from signals.models import SignalResult

BROKER_FAILED = (Order.Status.FAILED, Order.Status.REJECTED)
UNCONFIRMED = "not confirmed by the broker yet: reconciliation will ask it"


def result_outcome(orders: list[Order], result: SignalResult) -> tuple[str, str]:
    """What an account's result says, given its orders."""
    if not orders:
        return result.status, result.reason
    statuses = {o.status for o in orders}
    errors = "; ".join(f"{o.leg}: {o.error}" for o in orders if o.error)
    if statuses & set(BROKER_FAILED):
        return SignalResult.Status.FAILED, errors
    if Order.Status.PENDING_APPROVAL in statuses:
        return SignalResult.Status.PENDING_APPROVAL, result.reason
    if statuses <= {Order.Status.CANCELED, Order.Status.EXPIRED}:
        return SignalResult.Status.IGNORED, errors
    if Order.Status.SUBMITTING in statuses:
        # Sent, or maybe sent: reconciliation asks the broker and this result follows.
        return SignalResult.Status.ORDERED, f"{result.reason} ({UNCONFIRMED})"
    return SignalResult.Status.ORDERED, result.reason


def result_refresh(*, signal_id, account_id) -> SignalResult | None:
    result = SignalResult.objects.filter(signal_id=signal_id, account_id=account_id).first()
    orders = list(
        Order.objects.filter(signal_id=signal_id, account_id=account_id, parent__isnull=True)
    )
    if result is not None and result_set(result, *result_outcome(orders, result)):
        result.save(update_fields=["status", "reason", "updated_at"])
    return result


def result_set(result: SignalResult, status: str, reason: str) -> bool:
    reason = reason[:ERROR_MAX_CHARS]
    if (status, reason) == (result.status, result.reason):
        return False
    result.status, result.reason = status, reason
    return True
