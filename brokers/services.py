"""Writes on broker data: broker accounts (the rules every writer goes through), bringing
our Order rows in line with what a broker reports, and the paper account's reset."""

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Organization
from brokers.adapters import adapter_class_for, get_adapter
from brokers.adapters.base import BrokerError, OrderUpdate
from brokers.adapters.ccxt import mode_errors
from brokers.adapters.market_data import market_data_sources
from brokers.adapters.paper import paper_orders_cancel_all
from brokers.models import (
    TERMINAL_ORDER_STATUSES,
    BrokerAccount,
    LedgerEntry,
    Order,
    Position,
)
from config import compiled
from config.rules import Range, assign, range_errors, refuse

logger = logging.getLogger(__name__)

ACCOUNT_RANGES = {"initial_cash": Range(above=0)}
CREDENTIALS_MAX_KEYS = 20
CREDENTIAL_MAX_LENGTH = 4096
CREDENTIALS_MISSING = "Credentials missing"


def broker_account_validate(*, account: BrokerAccount, credentials: dict | None = None) -> None:
    """``credentials``: the new ones about to be stored (encrypted), if any."""
    errors = range_errors(account, ACCOUNT_RANGES)
    errors |= mode_errors(broker=account.broker, mode=account.mode)
    errors |= _market_data_source_errors(account)
    if credentials is not None:
        errors |= _credentials_errors(credentials)
    refuse(errors)


def _market_data_source_errors(account: BrokerAccount) -> dict[str, str]:
    source = account.market_data_source
    if not source:
        return {}
    if source not in dict(market_data_sources()):
        known = ", ".join(value for value, _ in market_data_sources() if value)
        return {"market_data_source": f"Unknown market data source {source!r}; one of {known}."}
    if account.broker != BrokerAccount.Broker.PAPER:
        return {"market_data_source": "Only paper accounts take a market data source."}
    return {}


def _credentials_errors(credentials: dict) -> dict[str, str]:
    if len(credentials) > CREDENTIALS_MAX_KEYS:
        return {"credentials": f"At most {CREDENTIALS_MAX_KEYS} credential fields."}
    values = credentials.values()
    if not all(isinstance(v, str) and len(v) <= CREDENTIAL_MAX_LENGTH for v in values):
        return {"credentials": f"Values are strings of at most {CREDENTIAL_MAX_LENGTH}."}
    return {}


def broker_account_create(
    *, organization, name: str, credentials: dict | None = None, **fields
) -> BrokerAccount:
    """A new account; the paper ledger starts with its initial cash."""
    account = BrokerAccount(organization=organization, name=name, **fields)
    if "cash" not in fields:
        account.cash = account.initial_cash
    return _broker_account_save(account, credentials)


def broker_account_update(
    *, account: BrokerAccount, credentials: dict | None = None, **fields
) -> BrokerAccount:
    assign(account, fields.items())
    return _broker_account_save(account, credentials)


def _broker_account_save(account: BrokerAccount, credentials: dict | None) -> BrokerAccount:
    broker_account_validate(account=account, credentials=credentials)
    if credentials is not None:
        account.credentials = credentials
    _credentials_status(account)
    account.save()
    return account


def _credentials_status(account: BrokerAccount) -> None:
    """An account whose broker needs credentials it lacks (its adapter's
    credential_fields) is kept in status "error" saying which, so no order is ever sent
    to it; complete credentials make it active again. Test connection checks them."""
    try:
        fields = adapter_class_for(account.broker).credential_fields()
    except BrokerError:
        return
    stored = account.credentials if account.credentials_encrypted else {}
    missing = [label for name, label, _ in fields if not stored.get(name)]
    was_missing = account.status_message.startswith(CREDENTIALS_MISSING)
    if missing:
        account.status = BrokerAccount.Status.ERROR
        account.status_message = f"{CREDENTIALS_MISSING}: {', '.join(missing)}."
    elif was_missing and account.status == BrokerAccount.Status.ERROR:
        account.status, account.status_message = BrokerAccount.Status.ACTIVE, ""


# How far along an order is; an update never moves an order backwards (a late or
# redelivered "open" after a "filled" changes nothing).
_PROGRESS = {
    Order.Status.PENDING_APPROVAL: 0,
    Order.Status.NEW: 1,
    Order.Status.SUBMITTED: 2,
    Order.Status.HELD: 3,
    Order.Status.OPEN: 4,
    Order.Status.PARTIALLY_FILLED: 5,
}
_TERMINAL = 9
# Orders a broker has (or may have) seen and not finished.
AT_BROKER = (
    Order.Status.SUBMITTED,
    Order.Status.HELD,
    Order.Status.OPEN,
    Order.Status.PARTIALLY_FILLED,
)


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
            _order_set_fields(order, update)
        for leg in update.legs:
            order_apply_update(update=leg, account=account or order.account)
    return order


def order_apply_submission(*, order: Order, update: OrderUpdate) -> Order:
    """The broker's answer to our submission of ``order`` (still NEW, in hand): one
    conditional UPDATE instead of a locked re-read. If the row moved on meanwhile (an
    update applied by someone else), the general path decides."""
    if update.client_order_id != order.client_order_id or not _is_progress(order, update):
        return order_apply_update(update=update, account=order.account) or order
    fields = _submission_fields(order, update)
    if not compiled.update(Order, where={"pk": order.pk, "status": order.status}, **fields):
        return order_apply_update(update=update, account=order.account) or order
    for name, value in fields.items():
        setattr(order, name, value)
    for leg in update.legs:
        order_apply_update(update=leg, account=order.account)
    return order


def _submission_fields(order: Order, update: OrderUpdate) -> dict:
    now = timezone.now()
    fields = {
        "status": update.status,
        "filled_quantity": max(order.filled_quantity, update.filled_quantity),
        "updated_at": now,
    }
    if order.submitted_at is None and update.status != Order.Status.NEW:
        fields["submitted_at"] = now
    if update.broker_order_id:
        fields["broker_order_id"] = update.broker_order_id
    if update.filled_avg_price is not None:
        fields["filled_avg_price"] = update.filled_avg_price
    if update.error:
        fields["error"] = update.error
    if update.status == Order.Status.FILLED and order.filled_at is None:
        fields["filled_at"] = update.filled_at or now
    return fields


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


def _order_set_fields(order: Order, update: OrderUpdate) -> None:
    now = timezone.now()
    order.status = update.status
    if update.broker_order_id:
        order.broker_order_id = update.broker_order_id
    order.filled_quantity = max(order.filled_quantity, update.filled_quantity)
    if update.filled_avg_price is not None:
        order.filled_avg_price = update.filled_avg_price
    if update.error:
        order.error = update.error
    if update.status == Order.Status.FILLED and order.filled_at is None:
        order.filled_at = update.filled_at or now
    if order.submitted_at is None and update.status != Order.Status.NEW:
        order.submitted_at = now
    order.save()


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
    return {
        "organization_id": parent.organization_id,
        "account_id": parent.account_id,
        "signal_id": parent.signal_id,
        "subscription_id": parent.subscription_id,
        "parent": parent,
        "leg": update.leg,
        "symbol": update.symbol or parent.symbol,
        "side": update.side or ("sell" if parent.side == "buy" else "buy"),
        "quantity": update.quantity if update.quantity is not None else parent.quantity,
        "order_type": update.order_type or Order.Type.LIMIT,
        "limit_price": update.limit_price,
        "stop_price": update.stop_price,
        "time_in_force": parent.time_in_force,
        "client_order_id": update.client_order_id,
        "status": Order.Status.NEW,
    }


def account_cancel_open_orders(*, account: BrokerAccount, symbol: str) -> int:
    """Cancel the account's open orders in ``symbol`` at its broker, then bring our rows
    in line with what the broker now reports for each."""
    canceled = get_adapter(account).cancel_open_orders(symbol)
    order_sync_open(account=account, symbol=symbol)
    return canceled


def order_sync_open(*, account: BrokerAccount, symbol: str | None = None) -> int:
    """Ask the broker for the state of each of our orders it has not finished; apply it."""
    adapter = get_adapter(account)
    orders = Order.objects.filter(account=account, status__in=AT_BROKER)
    if symbol is not None:
        orders = orders.filter(symbol=symbol)
    synced = 0
    for client_order_id in orders.values_list("client_order_id", flat=True):
        update = adapter.get_order(client_order_id)
        if update is not None and order_apply_update(update=update, account=account):
            synced += 1
    return synced


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
        locked.save(update_fields=["cash"])
        Order.objects.filter(account=locked, status__in=AT_BROKER).update(
            status=Order.Status.CANCELED,
            error="Canceled: paper account reset.",
            updated_at=timezone.now(),
        )
    account.cash = locked.cash
    return locked


def paper_account_create(
    *, organization: Organization, name: str, initial_cash: Decimal = Decimal("100000")
) -> BrokerAccount:
    """A paper account on the built-in paper broker, starting with ``initial_cash``: the
    dashboard's one click, held to the same rules as every other writer."""
    return broker_account_create(
        organization=organization,
        name=name,
        broker=BrokerAccount.Broker.PAPER,
        mode=BrokerAccount.Mode.PAPER,
        initial_cash=initial_cash,
    )


class OrderNotCancelable(BrokerError):
    """The order is not open at the broker (pending approval, not sent yet, or finished)."""


def order_cancel(*, organization: Organization, order_id, user=None) -> Order:
    """Cancel one open order of ``organization`` at its broker and bring our row (and its
    bracket legs) in line with what the broker then reports. Order.DoesNotExist for an
    order that is not the organization's; OrderNotCancelable when it is not open at the
    broker. ``user``: who asked, for the log."""
    order = Order.objects.for_org(organization).select_related("account").get(pk=order_id)
    if order.status not in AT_BROKER:
        raise OrderNotCancelable(
            f"This order is {order.get_status_display().lower()}: only an order open at "
            "the broker can be canceled."
        )
    update = get_adapter(order.account).cancel_order(order.client_order_id)
    if update is None:
        raise BrokerError("The broker does not know this order.")
    logger.info("order %s canceled by user %s", order.pk, getattr(user, "pk", None) or "unknown")
    return order_apply_update(update=update, account=order.account) or order
