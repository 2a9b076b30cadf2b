"""Phase 2 of the pipeline: submit the orders still NEW, exits first, in batches of
accounts (one transaction each, accounts in id order so two lanes never deadlock); a big
fan-out's batches are shared with the worker's other processes (signals.fanout)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from brokers.adapters import get_adapter
from brokers.adapters.base import (
    BracketSpec,
    BrokerAdapter,
    BrokerError,
    OrderRejected,
    OrderRequest,
    TransientBrokerError,
)
from brokers.models import Order
from brokers.services import account_cancel_open_orders, order_apply_submission
from signals.fanout import fanout_can_share, fanout_submit

LEG_ORDER = {Order.Leg.EXIT: 0, Order.Leg.ENTRY: 1}
ERROR_MAX_CHARS = 2000
# Accounts submitted per transaction in phase 2: one commit per batch instead of three per
# order is what lets a 1,000-account fan-out finish in seconds.
SUBMIT_BATCH = 50


# -- phase 2: submit ---------------------------------------------------------------------


def submit_all(run) -> None:
    todo = sorted(
        (account_id, [o for o in orders if o.status == Order.Status.NEW])
        for account_id, orders in run.orders.items()
    )
    todo = [(account_id, orders) for account_id, orders in todo if orders]
    batches = [todo[i : i + SUBMIT_BATCH] for i in range(0, len(todo), SUBMIT_BATCH)]
    threads = getattr(django_settings, "SIGNAL_FANOUT_THREADS", 4)
    if len(batches) > 1 and fanout_can_share():
        fanout_submit(run, batches, submit_batch)
    elif len(batches) > 1 and threads > 1 and _can_use_threads():
        # A big fan-out: batches of distinct accounts on their own connections, so the
        # broker round trips and the database overlap. The lane stays locked throughout.
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(lambda batch: _submit_batch_threaded(run, batch), batches))
    else:
        for batch in batches:
            submit_batch(run, batch)


def _can_use_threads() -> bool:
    # Another connection cannot see rows of a transaction still open (tests, approvals).
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _submit_batch_threaded(run, batch: list) -> None:
    try:
        submit_batch(run, batch)
    finally:
        connection.close()


def submit_batch(run, batch: list) -> None:
    # Accounts in a fixed (id) order in every batch, so two lanes never deadlock.
    with transaction.atomic():
        for account_id, orders in batch:
            result = run.results.get(account_id)
            try:
                fresh = orders_submit(orders=orders, plan=result.plan if result else {})
            except TransientBrokerError as exc:
                run.transient, fresh = exc, orders
            _replace(run, account_id, fresh)
    run.submitted_at = run.submitted_at or timezone.now()


def _replace(run, account_id, fresh: list[Order]) -> None:
    by_pk = {o.pk: o for o in fresh}
    run.orders[account_id] = [by_pk.get(o.pk, o) for o in run.orders[account_id]]


def orders_submit(*, orders: list[Order], plan: dict) -> list[Order]:
    """Submit one account's orders of one signal, exits first, and return them as they now
    are. A failed exit stops the entry behind it: a reversal must never open the new side
    on top of the old one."""
    orders = sorted(orders, key=lambda o: LEG_ORDER.get(o.leg, 9))
    account = orders[0].account
    adapter = get_adapter(account)
    done: list[Order] = []
    for index, order in enumerate(orders):
        try:
            done.append(_submit_one(adapter, order, plan))
        except TransientBrokerError as exc:
            _order_note(order, f"Temporary broker error, will retry: {exc}")
            raise
        except BrokerError as exc:
            ended = Order.Status.REJECTED if isinstance(exc, OrderRejected) else Order.Status.FAILED
            order_end(order, ended, str(exc))
            for later in orders[index + 1 :]:
                order_end(
                    later, Order.Status.FAILED, f"Not sent: the {order.leg} order before it failed."
                )
            done += orders[index:]
            break
    return done


def _submit_one(adapter: BrokerAdapter, order: Order, plan: dict) -> Order:
    if order.leg == Order.Leg.EXIT:
        # Resting bracket legs of the position being closed must not fill later.
        account_cancel_open_orders(account=order.account, symbol=order.symbol)
    # order_apply_submission stamps submitted_at when the broker acknowledges the order.
    update = adapter.submit_order(_request(order, plan))
    return order_apply_submission(order=order, update=update)


def _request(order: Order, plan: dict) -> OrderRequest:
    bracket = plan.get("brackets", {}).get(order.leg)
    reference = plan.get("reference_price")
    return OrderRequest(
        client_order_id=order.client_order_id,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        order_type=order.order_type,
        time_in_force=order.time_in_force,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        trail_amount=order.trail_amount,
        trail_percent=order.trail_percent,
        extended_hours=order.extended_hours,
        reference_price=Decimal(reference) if reference else None,
        bracket=BracketSpec(**{k: Decimal(v) for k, v in bracket.items()}) if bracket else None,
    )


def _order_note(order: Order, error: str) -> None:
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
