"""Reconciliation: the broker is the truth about our orders and positions.

- Orders left non-terminal (SUBMITTING, SUBMITTED, HELD, OPEN, PARTIALLY_FILLED) are asked
  for by client order id and take the broker's state. A SUBMITTING order is left alone
  while its signal is still being processed (the pipeline owns it: a rerun sends it again
  with the same id) and for RECONCILE_SUBMITTING_GRACE_SECONDS after it was planned; after
  that, one the broker has is adopted (it was placed and the answer never recorded), and
  one the broker does not have is marked failed, "never reached the broker". It is not
  sent again: an order minutes late is a different trade from the one the signal asked
  for, and a trader can send the signal again.
- Positions: what our filled orders add up to (since the paper ledger last started over)
  against adapter.list_positions(). A difference is recorded as an open PositionDrift (one
  per account and symbol, kept up to date) and resolved when they agree again. Nothing is
  traded to close it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, DecimalField, F, Sum, When
from django.utils import timezone

from brokers.adapters.base import BrokerError
from brokers.models import BrokerAccount, Order, PositionDrift
from execution.brokers import SUPPORTED, adapter_for
from execution.outcomes import result_refresh
from execution.records import AT_BROKER, order_apply_update, order_end
from signals.models import Signal

logger = logging.getLogger(__name__)

NEVER_ARRIVED = "Never reached the broker (reconciliation found no order with its id)."
ACTIVE_SIGNAL = (Signal.Status.PENDING, Signal.Status.PROCESSING)


def grace_seconds() -> int:
    return getattr(settings, "RECONCILE_SUBMITTING_GRACE_SECONDS", 120)


@dataclass
class ReconcileReport:
    accounts: int = 0
    orders_checked: int = 0
    orders_settled: int = 0
    orders_failed: int = 0
    drifts_open: int = 0
    drifts_resolved: int = 0
    errors: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def order_settle(order: Order, *, missing: str = "") -> bool:
    """Ask the broker for ``order`` by client order id and apply its answer (``order`` is
    refreshed). Not found: a SUBMITTING order ends FAILED with ``missing`` if one is given.
    A broker that cannot be asked changes nothing."""
    try:
        update = adapter_for(order.account).get_order(order.client_order_id)
    except BrokerError as exc:
        logger.warning("reconcile: cannot ask for %s: %s", order.client_order_id, exc)
        return False
    if update is not None:
        order_apply_update(update=update, account=order.account)
        order.refresh_from_db()
        return True
    if missing and order.status == Order.Status.SUBMITTING:
        return order_end(order, Order.Status.FAILED, missing, (Order.Status.SUBMITTING,))
    return False


def reconcile(*, now=None, accounts=None) -> ReconcileReport:
    """One pass over ``accounts`` (default: every active account whose broker we have)."""
    now = now or timezone.now()
    if accounts is None:
        accounts = BrokerAccount.objects.filter(
            status=BrokerAccount.Status.ACTIVE, broker__in=list(SUPPORTED)
        ).order_by("pk")
    report = ReconcileReport()
    for account in accounts:
        report.accounts += 1
        reconcile_orders(account=account, now=now, report=report)
        reconcile_positions(account=account, now=now, report=report)
    return report


def reconcile_orders(*, account: BrokerAccount, now, report: ReconcileReport) -> None:
    cutoff = now - timedelta(seconds=grace_seconds())
    orders = (
        Order.objects.filter(account=account, status__in=AT_BROKER)
        .select_related("signal")
        .order_by("created_at")
    )
    for order in orders:
        submitting = order.status == Order.Status.SUBMITTING
        if submitting and (
            order.created_at > cutoff
            or (order.signal is not None and order.signal.status in ACTIVE_SIGNAL)
        ):
            continue
        report.orders_checked += 1
        order.account = account
        before = order.status
        if not order_settle(order, missing=NEVER_ARRIVED if submitting else ""):
            continue
        if order.status == Order.Status.FAILED and before == Order.Status.SUBMITTING:
            report.orders_failed += 1
        else:
            report.orders_settled += 1
        if order.signal_id and order.parent_id is None:
            result_refresh(signal_id=order.signal_id, account_id=order.account_id)


def our_positions(account: BrokerAccount) -> dict[str, Decimal]:
    """What our filled orders of ``account`` add up to, by symbol (bracket legs included),
    counted from the paper ledger's last start."""
    orders = Order.objects.filter(account=account, filled_quantity__gt=0)
    if account.reset_at is not None:
        # An order from before the reset was filled before it or canceled by it.
        orders = orders.filter(created_at__gte=account.reset_at)
    signed = Case(
        When(side=Order.Side.BUY, then=F("filled_quantity")),
        default=-F("filled_quantity"),
        output_field=DecimalField(max_digits=20, decimal_places=8),
    )
    rows = orders.values("symbol").annotate(total=Sum(signed)).values_list("symbol", "total")
    return {symbol: total for symbol, total in rows if total}


def reconcile_positions(*, account: BrokerAccount, now, report: ReconcileReport) -> None:
    try:
        theirs = {p.symbol: p.quantity for p in adapter_for(account).list_positions()}
    except (BrokerError, NotImplementedError) as exc:
        report.errors.append(f"{account.pk}: positions not compared: {exc or 'not supported'}")
        return
    ours = our_positions(account)
    open_drifts = {
        d.symbol: d for d in PositionDrift.objects.filter(account=account, resolved_at=None)
    }
    for symbol in sorted(set(ours) | set(theirs) | set(open_drifts)):
        mine, broker = ours.get(symbol, Decimal("0")), theirs.get(symbol, Decimal("0"))
        drift = open_drifts.get(symbol)
        if mine == broker:
            if drift is not None:
                drift.resolved_at, drift.action = now, PositionDrift.Action.RESOLVED
                drift.save(update_fields=["resolved_at", "action"])
                report.drifts_resolved += 1
            continue
        report.drifts_open += 1
        if drift is None:
            logger.warning(
                "position drift: account %s %s ours %s broker %s", account.pk, symbol, mine, broker
            )
            PositionDrift.objects.create(
                organization_id=account.organization_id,
                account=account,
                symbol=symbol,
                ours=mine,
                brokers=broker,
                detected_at=now,
            )
        elif (drift.ours, drift.brokers) != (mine, broker):
            drift.ours, drift.brokers = mine, broker
            drift.save(update_fields=["ours", "brokers"])
