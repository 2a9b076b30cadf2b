"""The two mappings between our Order rows and what an adapter sees: the request built
from an order, and a broker's report (OrderUpdate) applied to an order, idempotently."""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from brokers.adapters.base import BracketSpec, OrderRequest, OrderUpdate
from brokers.models import TERMINAL_ORDER_STATUSES, BrokerAccount, Order
from brokers.vocabulary import ORDER_FIELDS, order_fields
from config import compiled

logger = logging.getLogger(__name__)

ERROR_MAX_CHARS = 2000

# How far along an order is; an update never moves an order backwards (a late or
# redelivered "open" after a "filled" changes nothing).
_PROGRESS = {
    Order.Status.PENDING_APPROVAL: 0,
    Order.Status.NEW: 1,
    Order.Status.SUBMITTING: 2,
    Order.Status.SUBMITTED: 3,
    Order.Status.HELD: 4,
    Order.Status.OPEN: 5,
    Order.Status.PARTIALLY_FILLED: 6,
}
_TERMINAL = 9
# Orders a broker has (or may have) seen and not finished.
AT_BROKER = (
    Order.Status.SUBMITTING,
    Order.Status.SUBMITTED,
    Order.Status.HELD,
    Order.Status.OPEN,
    Order.Status.PARTIALLY_FILLED,
)
# Of those, the ones the broker has acknowledged: what a cancel or a poll can ask about
# (a SUBMITTING order's answer is still on its way; reconciliation settles it).
OPEN_AT_BROKER = tuple(status for status in AT_BROKER if status != Order.Status.SUBMITTING)


def order_request(order: Order, plan: dict) -> OrderRequest:
    """What the adapter receives for ``order``; ``plan`` is its SignalResult.plan (the
    signal's reference price and the leg's bracket, which the Order row does not hold)."""
    bracket = plan.get("brackets", {}).get(order.leg)
    reference = plan.get("reference_price")
    return OrderRequest(
        client_order_id=order.client_order_id,
        **order_fields(order, ORDER_FIELDS),
        reference_price=Decimal(reference) if reference else None,
        bracket=BracketSpec(**{k: Decimal(v) for k, v in bracket.items()}) if bracket else None,
    )


def _update_fields(order: Order, update: OrderUpdate) -> dict:
    """The columns a broker's report changes on ``order``."""
    now = timezone.now()
    fields = {
        "status": update.status,
        "filled_quantity": max(order.filled_quantity, update.filled_quantity),
        "updated_at": now,
    }
    if order.submitted_at is None and update.status not in (Order.Status.NEW,):
        fields["submitted_at"] = now
    if update.broker_order_id:
        fields["broker_order_id"] = update.broker_order_id
    if update.filled_avg_price is not None:
        fields["filled_avg_price"] = update.filled_avg_price
    if update.error:
        fields["error"] = update.error[:ERROR_MAX_CHARS]
    if update.status == Order.Status.FILLED and order.filled_at is None:
        fields["filled_at"] = update.filled_at or now
    return fields


def order_apply_update(*, update: OrderUpdate, account: BrokerAccount | None = None):
    """Apply a broker's report to our Order with that client_order_id (and its bracket
    legs), idempotently. Returns the Order, or None when we have no such order."""
    with transaction.atomic():
        orders = Order.objects.select_for_update().filter(client_order_id=update.client_order_id)
        if account is not None:
            orders = orders.filter(account=account)
        order = orders.first() or _order_adopt_leg(update=update, account=account)
        if order is None:
            logger.warning("Broker update for unknown order %s", update.client_order_id)
            return None
        if _is_progress(order, update):
            for name, value in _update_fields(order, update).items():
                setattr(order, name, value)
            order.save()
        for leg in update.legs:
            order_apply_update(update=leg, account=account or order.account)
    return order


def order_apply_submission(*, order: Order, update: OrderUpdate) -> Order:
    """The broker's answer to our submission of ``order`` (in hand, as we left it): one
    conditional UPDATE instead of a locked re-read. If the row moved on meanwhile (an
    update applied by someone else), the general path decides."""
    if update.client_order_id != order.client_order_id or not _is_progress(order, update):
        return order_apply_update(update=update, account=order.account) or order
    fields = _update_fields(order, update)
    if not compiled.update(Order, where={"pk": order.pk, "status": order.status}, **fields):
        return order_apply_update(update=update, account=order.account) or order
    for name, value in fields.items():
        setattr(order, name, value)
    for leg in update.legs:
        order_apply_update(update=leg, account=order.account)
    return order


def _is_progress(order: Order, update: OrderUpdate) -> bool:
    if update.status not in Order.Status.values:
        logger.warning("Unknown order status %r from the broker", update.status)
        return False
    current = _rank(order.status)
    if current == _TERMINAL:
        return False
    incoming = _rank(update.status)
    if incoming > current:
        return True
    return incoming == current and update.filled_quantity > order.filled_quantity


def _rank(status: str) -> int:
    return _TERMINAL if status in TERMINAL_ORDER_STATUSES else _PROGRESS[status]


def _order_adopt_leg(*, update: OrderUpdate, account: BrokerAccount | None) -> Order | None:
    """A bracket leg the broker created with its parent: record it as our child Order.
    If the pipeline already made a row for that leg, it takes the broker's client id."""
    if not update.leg or not update.parent_client_order_id:
        return None
    parents = Order.objects.filter(client_order_id=update.parent_client_order_id)
    if account is not None:
        parents = parents.filter(account=account)
    parent = parents.first()
    if parent is None:
        return None
    planned = parent.children.select_for_update().filter(leg=update.leg).first()
    if planned is not None:
        planned.client_order_id = update.client_order_id
        planned.save(update_fields=["client_order_id", "updated_at"])
        return planned
    try:
        with transaction.atomic():
            return Order.objects.create(**_leg_fields(parent, update))
    except IntegrityError:  # a concurrent update adopted it first
        return Order.objects.select_for_update().get(client_order_id=update.client_order_id)


def _leg_fields(parent: Order, update: OrderUpdate) -> dict:
    # What the report leaves out comes from the parent: a leg closes what it opened.
    reported = {
        "symbol": update.symbol or parent.symbol,
        "side": update.side or ("sell" if parent.side == Order.Side.BUY else "buy"),
        "quantity": update.quantity if update.quantity is not None else parent.quantity,
        "order_type": update.order_type or Order.Type.LIMIT,
        "limit_price": update.limit_price,
        "stop_price": update.stop_price,
    }
    return {
        "organization_id": parent.organization_id,
        "account_id": parent.account_id,
        "signal_id": parent.signal_id,
        "subscription_id": parent.subscription_id,
        "parent": parent,
        "leg": update.leg,
        **reported,
        "time_in_force": parent.time_in_force,
        "client_order_id": update.client_order_id,
        "status": Order.Status.NEW,
    }


def order_note(order: Order, error: str) -> None:
    order.error = error[:ERROR_MAX_CHARS]
    Order.objects.filter(pk=order.pk).update(error=order.error, updated_at=timezone.now())


def order_end(order: Order, status: str, error: str, only_from=(Order.Status.NEW,)) -> bool:
    """Move ``order`` to ``status`` if it is still in ``only_from`` (a conditional update:
    a concurrent approval, rejection or expiry of the same order cannot both win)."""
    updated = Order.objects.filter(pk=order.pk, status__in=only_from).update(
        status=status, error=error[:ERROR_MAX_CHARS], updated_at=timezone.now()
    )
    if updated:
        order.status, order.error = status, error[:ERROR_MAX_CHARS]
    return bool(updated)
