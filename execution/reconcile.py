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
  traded to close it. An account at a network broker also has its Position rows set to
  the broker's list (execution.positions), so what the dashboard shows is the broker's
  even when the stream missed a fill.

Every account has its own key at its broker, so there is no one call for many accounts'
positions: a pass reads them on a thread pool per broker, BROKER_CONCURRENCY[broker]
calls in flight, as a fan-out does; the threads only call the broker, and every database
read and write stays on the caller's thread. The periodic task runs one pass at a time
(a cache lock), so a pass slower than RECONCILE_INTERVAL_SECONDS never piles up behind
itself.
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
from brokers.models import BrokerAccount, Order, Position, PositionDrift
from execution.brokers import SUPPORTED, adapter_for, concurrently, in_database
from execution.outcomes import result_refresh
from execution.positions import positions_mirror
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
    accounts = list(accounts)
    report = ReconcileReport()
    # Each read below is one query for all the accounts, not one per account: a pass over
    # a thousand accounts runs every RECONCILE_INTERVAL_SECONDS.
    unsettled = _grouped(
        Order.objects.filter(account__in=accounts, status__in=AT_BROKER)
        .select_related("signal")
        .order_by("created_at")
    )
    for account in accounts:
        report.accounts += 1
        reconcile_orders(
            account=account, now=now, report=report, orders=unsettled.get(account.pk, [])
        )
    listed_at = timezone.now()
    held = broker_positions(accounts)
    ours = our_positions(accounts)
    drifts = _grouped(PositionDrift.objects.filter(account__in=accounts, resolved_at=None))
    mirrored = [a for a in accounts if not in_database(a)]
    rows = _grouped(Position.objects.filter(account__in=mirrored)) if mirrored else {}
    for account in accounts:
        pk = account.pk
        theirs = held[pk]
        if isinstance(theirs, Exception):
            report.errors.append(f"{pk}: positions not compared: {theirs or 'not supported'}")
            continue
        if not in_database(account):
            positions_mirror(
                account=account, held=theirs, rows=rows.get(pk, []), listed_at=listed_at
            )
        reconcile_positions(
            account=account, now=now, report=report, held=theirs,
            ours=ours.get(pk, {}), drifts=drifts.get(pk, []),
        )  # fmt: skip
    return report


def _grouped(queryset) -> dict:
    found: dict = {}
    for row in queryset:
        found.setdefault(row.account_id, []).append(row)
    return found


def broker_positions(accounts: list[BrokerAccount]) -> dict:
    """Each account's list_positions(), or the exception that stopped it: in-database
    accounts on this thread, network ones on a bounded pool per broker."""
    found: dict = {}
    by_broker: dict = {}
    for account in accounts:
        if in_database(account):
            found[account.pk] = _list_positions(account)
        else:
            by_broker.setdefault(account.broker, []).append(account)
    for broker, group in sorted(by_broker.items()):
        listed = concurrently(broker, group, _list_positions_caught)
        found.update(zip([a.pk for a in group], listed, strict=True))
    return found


def _list_positions(account: BrokerAccount):
    try:
        return adapter_for(account).list_positions()
    except (BrokerError, NotImplementedError) as exc:
        return exc


def _list_positions_caught(account: BrokerAccount):
    try:
        return _list_positions(account)
    except Exception as exc:  # reported on that account alone
        logger.exception("reconcile: listing positions of %s failed", account.pk)
        return BrokerError(f"{exc.__class__.__name__}: {exc}")


def reconcile_orders(*, account: BrokerAccount, now, report: ReconcileReport, orders) -> None:
    """Settle ``orders`` (the account's orders in AT_BROKER, oldest first)."""
    cutoff = now - timedelta(seconds=grace_seconds())
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


def our_positions(accounts: list[BrokerAccount]) -> dict[object, dict[str, Decimal]]:
    """What our filled orders of each account add up to, by symbol (bracket legs
    included), counted from the paper ledger's last start."""
    signed = Case(
        When(side=Order.Side.BUY, then=F("filled_quantity")),
        default=-F("filled_quantity"),
        output_field=DecimalField(max_digits=20, decimal_places=8),
    )
    found: dict = {}

    def add(orders) -> None:
        totals = orders.values("account_id", "symbol").annotate(total=Sum(signed))
        for row in totals.values_list("account_id", "symbol", "total"):
            if row[2]:
                found.setdefault(row[0], {})[row[1]] = row[2]

    never_reset = [a.pk for a in accounts if a.reset_at is None]
    if never_reset:
        add(Order.objects.filter(account_id__in=never_reset, filled_quantity__gt=0))
    for account in accounts:
        if account.reset_at is not None:
            # An order from before the reset was filled before it or canceled by it.
            add(
                Order.objects.filter(
                    account=account, filled_quantity__gt=0, created_at__gte=account.reset_at
                )
            )
    return found


def reconcile_positions(
    *, account: BrokerAccount, now, report: ReconcileReport, held, ours: dict, drifts: list
) -> None:
    """Compare ``held`` (the broker's list_positions()) with ``ours`` (what our orders add
    up to), given the account's open ``drifts``."""
    theirs = {p.symbol: p.quantity for p in held}
    open_drifts = {d.symbol: d for d in drifts}
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
