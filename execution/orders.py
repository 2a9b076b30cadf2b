"""Cancels, status sync and what an account page asks its broker: every call to a broker
outside submission and reconciliation. No transaction is held across a broker call."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Organization
from brokers.adapters.base import BrokerAdapter, BrokerError
from brokers.adapters.paper import paper_orders_cancel_all
from brokers.models import BrokerAccount, LedgerEntry, Order, Position
from brokers.selectors import PositionView, paper_prices_get, position_list, position_view
from execution.brokers import adapter_for
from execution.outcomes import result_refresh
from execution.records import AT_BROKER, OPEN_AT_BROKER, order_apply_update


class OrderNotOpen(Exception):
    """The order is not (or no longer) open at its broker."""


def account_cancel_open_orders(*, account: BrokerAccount, symbol: str) -> int:
    """Cancel the account's open orders in ``symbol`` at its broker, then bring our rows
    in line with what the broker now reports for each."""
    adapter = adapter_for(account)
    canceled = adapter.cancel_open_orders(symbol)
    order_sync_open(account=account, symbol=symbol, adapter=adapter)
    return canceled


def order_cancel(*, organization: Organization, order_id) -> Order:
    """Cancel one of our open orders at its broker and record what the broker says of it
    afterwards. Another tenant's order raises Order.DoesNotExist (a 404)."""
    order = Order.objects.for_org(organization).select_related("account").get(pk=order_id)
    if order.status not in OPEN_AT_BROKER:
        raise OrderNotOpen(
            f"This order is {order.get_status_display().lower()}: only an order open at "
            "the broker can be canceled."
        )
    update = adapter_for(order.account).cancel_order(order.client_order_id)
    if update is None:
        raise OrderNotOpen("The broker does not know this order.")
    order_apply_update(update=update, account=order.account)
    order.refresh_from_db()
    if order.signal_id and order.parent_id is None:
        result_refresh(signal_id=order.signal_id, account_id=order.account_id)
    return order


def order_sync_open(
    *, account: BrokerAccount, symbol: str | None = None, adapter: BrokerAdapter | None = None
) -> int:
    """Ask the broker for the state of each of our orders it has not finished; apply it."""
    adapter = adapter or adapter_for(account)
    orders = Order.objects.filter(account=account, status__in=AT_BROKER)
    if symbol is not None:
        orders = orders.filter(symbol=symbol)
    synced = 0
    for client_order_id in orders.values_list("client_order_id", flat=True):
        update = adapter.get_order(client_order_id)
        if update is not None and order_apply_update(update=update, account=account):
            synced += 1
    return synced


@dataclass(frozen=True)
class AccountOverview:
    account: BrokerAccount
    equity: Decimal | None
    cash: Decimal | None
    buying_power: Decimal | None
    positions: list[PositionView]
    error: str = ""  # the broker's answer when it could not be asked


def account_overview(*, organization: Organization, account: BrokerAccount) -> AccountOverview:
    """Equity, cash, buying power and open positions valued at the last price known (the
    paper market's for paper accounts), as the account page shows them."""
    rows = list(position_list(organization=organization, account=account))
    prices = paper_prices_get(organization_id=organization.id, symbols=[p.symbol for p in rows])
    positions = [position_view(p, prices.get(p.symbol)) for p in rows]
    try:
        snapshot = adapter_for(account).get_account()
    except BrokerError as exc:
        return AccountOverview(account, None, None, None, positions, str(exc))
    return AccountOverview(
        account, snapshot.equity, snapshot.cash, snapshot.buying_power, positions
    )


def paper_account_reset(*, account: BrokerAccount) -> BrokerAccount:
    """Start the paper account over: resting orders canceled, positions cleared, cash back
    to its initial amount. Our own open orders of the account end as canceled too."""
    if account.broker != BrokerAccount.Broker.PAPER:
        raise BrokerError("Only paper accounts can be reset.")
    with transaction.atomic():
        locked = BrokerAccount.objects.select_for_update().get(pk=account.pk)
        paper_orders_cancel_all(account=locked, reason="Canceled: paper account reset.")
        Position.objects.filter(account=locked).delete()
        # Its P&L history starts over with it: the analytics never mix two lives.
        LedgerEntry.objects.filter(account=locked).delete()
        locked.cash = locked.initial_cash
        # Reconciliation counts our fills from here on (execution.reconcile).
        locked.reset_at = timezone.now()
        locked.save(update_fields=["cash", "reset_at"])
        Order.objects.filter(account=locked, status__in=AT_BROKER).update(
            status=Order.Status.CANCELED,
            error="Canceled: paper account reset.",
            updated_at=timezone.now(),
        )
    account.cash, account.reset_at = locked.cash, locked.reset_at
    return locked
