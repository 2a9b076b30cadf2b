"""Submitting planned orders: "about to submit" is committed first (status SUBMITTING,
with the order's deterministic client order id), a network broker is called with no
transaction open (the in-database paper broker: see "Fan-out" below), and the answers are
recorded afterwards, many per transaction.

A crash between the call and the record leaves a SUBMITTING order: a rerun of the signal
sends it again with the same client order id (every adapter is idempotent on it), and
reconciliation settles the ones no rerun will pick up (execution.reconcile).

Fan-out: the paper broker lives in our database, so its calls run on the caller's thread
in batches of SUBMIT_BATCH accounts (a big fan-out's batches shared with the worker's other
processes by signals.fanout), and a batch's bookings commit together with our record of
their answers: one transaction and one commit per batch, with nothing but our own
database inside it (a booking and its record can then never part). A network broker's
calls run on a thread pool of BROKER_CONCURRENCY[broker] threads that only talk to the
broker, with no transaction open around them; every database read and write stays on the
caller's thread and connection, batched."""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from brokers.adapters.base import (
    BrokerAdapter,
    BrokerError,
    OrderRejected,
    OrderUpdate,
    TransientBrokerError,
)
from brokers.models import Order
from execution.brokers import adapter_for, broker_concurrency, in_database
from execution.records import (
    AT_BROKER,
    order_apply_submission,
    order_apply_update,
    order_end,
    order_note,
    order_request,
)

logger = logging.getLogger(__name__)

LEG_ORDER = {Order.Leg.EXIT: 0, Order.Leg.ENTRY: 1}
# Orders this phase sends: NEW (approved, or planned before SUBMITTING existed) and
# SUBMITTING (planned for submission, or sent by an attempt that did not record the answer).
TO_SUBMIT = (Order.Status.NEW, Order.Status.SUBMITTING)
# Accounts whose answers are recorded per transaction: one commit per batch instead of one
# per order is what lets a 1,000-account fan-out finish in seconds.
SUBMIT_BATCH = 50
UNSETTLED = "reconciliation will settle it from the broker's book."


@dataclass
class Sent:
    """What the broker said to one account's orders (no database touched to learn it)."""

    account_id: object
    answers: list = field(default_factory=list)  # (order, OrderUpdate | BrokerError | None)
    synced: list = field(default_factory=list)  # OrderUpdate of orders a cancel changed


# -- entry points --------------------------------------------------------------------------


def submit_all(run) -> None:
    """Phase 2 of ``run`` (signals.pipeline.Run): every order still to send, exits first."""
    todo = sorted(
        (account_id, sorted(pending, key=_leg_rank))
        for account_id, orders in run.orders.items()
        if (pending := [o for o in orders if o.status in TO_SUBMIT])
    )
    local, remote = [], []
    for item in todo:
        (local if in_database(item[1][0].account) else remote).append(item)
    pools = _start_remote(run, remote) if remote else []
    try:
        _submit_local(run, local)
    finally:
        for pool, futures in pools:
            _drain(run, futures)
            pool.shutdown()


def orders_submit(*, orders: list[Order], plan: dict) -> list[Order]:
    """Submit one account's orders (an approval) and return them as they now are."""
    orders = sorted(orders, key=_leg_rank)
    _mark_submitting(orders)
    sent = broker_send(adapter_for(orders[0].account), orders, plan, _open_ids(orders))
    with transaction.atomic():
        done, transient = _record(sent)
    if transient is not None:
        raise transient
    return done


def submit_batch(run, batch: list) -> None:
    """A batch of (account id, orders) of an in-database broker, on this thread: "about to
    submit" committed first, then the bookings and their record in one transaction (the
    broker is our database; a booking that needs a market-data quote from the network is
    made outside it, below). A database fault inside rolls back the batch's bookings with
    their record; the orders stay SUBMITTING and the signal's retry books them again under
    the same client order ids. Any other failure of one account's booking is that
    account's alone: the batch is booked again one account at a time."""
    from signals.faults import is_transient

    _mark_submitting([o for _, orders in batch for o in orders])
    open_ids = _open_ids([o for _, orders in batch for o in orders])
    if any(_quotes_from_network(run, account_id, orders) for account_id, orders in batch):
        _submit_one_by_one(run, batch, open_ids)
        return
    try:
        with transaction.atomic():
            sent = [_send_local(run, account_id, orders, open_ids) for account_id, orders in batch]
            _record_run(run, sent)
    except Exception as exc:
        if is_transient(exc):
            raise
        logger.exception("a paper batch failed; booking its %d accounts one by one", len(batch))
        _submit_one_by_one(run, batch, open_ids)


def _send_local(run, account_id, orders: list[Order], open_ids: dict) -> Sent:
    result = run.results.get(account_id)
    try:
        adapter = adapter_for(orders[0].account)
    except BrokerError as exc:
        return Sent(account_id, [(orders[0], exc)] + [(o, None) for o in orders[1:]])
    return broker_send(adapter, orders, result.plan if result else {}, open_ids)


def _quotes_from_network(run, account_id, orders: list[Order]) -> bool:
    """Whether booking may ask a market-data source over the network (a priceless market
    order of a paper account that names one): never while a batch holds account locks."""
    result = run.results.get(account_id)
    priced = bool(result and result.plan.get("reference_price"))
    return bool(orders[0].account.market_data_source) and not priced


def _submit_one_by_one(run, batch: list, open_ids: dict) -> None:
    """Each account's bookings in their own transactions, recorded account by account, so
    an unexpected failure is one account's: its orders stay SUBMITTING with a note (an
    exit may have been booked before its entry failed), and reconciliation settles them
    from the paper book, as for an answer never recorded; the other accounts go on."""
    from signals.faults import is_transient

    for account_id, orders in batch:
        fresh = {o.pk: o for o in Order.objects.filter(pk__in=[o.pk for o in orders])}
        orders = [fresh.get(o.pk, o) for o in orders]
        todo = [o for o in orders if o.status in TO_SUBMIT]
        if not todo:
            continue
        try:
            sent = _send_local(run, account_id, todo, open_ids)
        except Exception as exc:
            if is_transient(exc):
                raise
            logger.exception("booking the paper orders of account %s failed", account_id)
            for order in todo:
                order_note(order, f"Booking failed ({exc.__class__.__name__}): {UNSETTLED}")
            run.orders[account_id] = orders
            continue
        _record_run(run, [sent])


# -- the broker calls (no database) ----------------------------------------------------------


def broker_send(adapter: BrokerAdapter, orders: list[Order], plan: dict, open_ids: dict) -> Sent:
    """One account's orders, in leg order; a failed exit stops the entry behind it (a
    reversal must never open the new side on top of the old one). Touches the broker only:
    it runs on a pool thread for a network broker."""
    sent = Sent(orders[0].account_id)
    for index, order in enumerate(orders):
        try:
            if order.leg == Order.Leg.EXIT:
                # Resting bracket legs of the position being closed must not fill later.
                adapter.cancel_open_orders(order.symbol)
                for client_order_id in open_ids.get((order.account_id, order.symbol), ()):
                    update = adapter.get_order(client_order_id)
                    if update is not None:
                        sent.synced.append(update)
            sent.answers.append((order, adapter.submit_order(order_request(order, plan))))
        except BrokerError as exc:
            sent.answers.append((order, exc))
            if not exc.transient:
                sent.answers += [(later, None) for later in orders[index + 1 :]]
            break
    return sent


def _send_in_thread(adapter: BrokerAdapter, orders, plan, open_ids) -> Sent:
    try:
        return broker_send(adapter, orders, plan, open_ids)
    except Exception as exc:
        # An adapter must turn every failure into a BrokerError; one that did not leaves
        # the outcome unknown (the order may exist), so it is treated as temporary: the
        # retry sends the same client order id, and giving up asks the broker first.
        logger.exception("submitting to %s failed", adapter.account.broker)
        error = TransientBrokerError(f"Unexpected error: {exc.__class__.__name__}: {exc}")
        return Sent(orders[0].account_id, [(orders[0], error)])
    finally:
        # An adapter that read the database did so on this thread's own connection.
        connection.close()


# -- the database, before and after ----------------------------------------------------------


def _mark_submitting(orders: list[Order]) -> None:
    """Commit "about to submit" before any call: one statement for the batch."""
    new = [o for o in orders if o.status == Order.Status.NEW]
    if not new:
        return
    Order.objects.filter(pk__in=[o.pk for o in new], status=Order.Status.NEW).update(
        status=Order.Status.SUBMITTING, updated_at=timezone.now()
    )
    for order in new:
        order.status = Order.Status.SUBMITTING


def _open_ids(orders: list[Order]) -> dict:
    """Our other live orders in the symbols the exits among ``orders`` close, by (account,
    symbol): after the cancel, the broker is asked for each, so our rows follow."""
    exits = [o for o in orders if o.leg == Order.Leg.EXIT]
    if not exits:
        return {}
    rows = (
        Order.objects.filter(
            account_id__in={o.account_id for o in exits},
            symbol__in={o.symbol for o in exits},
            status__in=AT_BROKER,
        )
        .exclude(pk__in=[o.pk for o in orders])
        .values_list("account_id", "symbol", "client_order_id")
    )
    found: dict = {}
    for account_id, symbol, client_order_id in rows:
        found.setdefault((account_id, symbol), []).append(client_order_id)
    return found


def _record(sent: Sent) -> tuple[list[Order], TransientBrokerError | None]:
    """Apply one account's answers; the caller holds the transaction."""
    for update in sent.synced:
        order_apply_update(update=update)
    done, transient, failed_leg = [], None, "previous"
    for order, answer in sent.answers:
        if isinstance(answer, OrderUpdate):
            done.append(order_apply_submission(order=order, update=answer))
            continue
        if isinstance(answer, TransientBrokerError):
            # Left SUBMITTING: the order may exist; the retry sends it with the same id.
            order_note(order, f"Temporary broker error, will retry: {answer}")
            transient = answer
        elif isinstance(answer, BrokerError):
            ended = Order.Status.REJECTED if isinstance(answer, OrderRejected) else None
            order_end(order, ended or Order.Status.FAILED, str(answer), TO_SUBMIT)
        else:
            why = f"Not sent: the {failed_leg} order before it failed."
            order_end(order, Order.Status.FAILED, why, TO_SUBMIT)
        if isinstance(answer, BrokerError) and not answer.transient:
            failed_leg = order.leg
        done.append(order)
    return done, transient


def _record_run(run, sent: list[Sent]) -> None:
    # The transaction batches the commits of many answers (no savepoint inside a batch's
    # own: a failure there rolls the whole batch back anyway). One answer outside any
    # transaction is one conditional UPDATE, atomic by itself: no BEGIN and COMMIT.
    one = len(sent) == 1 and not sent[0].synced and len(sent[0].answers) == 1
    if one and isinstance(answer := sent[0].answers[0][1], OrderUpdate) and answer.legs:
        one = False
    with contextlib.nullcontext() if one else transaction.atomic(savepoint=False):
        for one in sent:
            fresh, transient = _record(one)
            if transient is not None:
                run.transient = transient
            by_pk = {o.pk: o for o in fresh}
            run.orders[one.account_id] = [by_pk.get(o.pk, o) for o in run.orders[one.account_id]]
    run.submitted_at = run.submitted_at or timezone.now()


# -- in-database brokers: batches on this thread, shared across processes ---------------------


def _submit_local(run, todo: list) -> None:
    from signals.fanout import fanout_can_share, fanout_submit

    batches = [todo[i : i + SUBMIT_BATCH] for i in range(0, len(todo), SUBMIT_BATCH)]
    threads = getattr(django_settings, "SIGNAL_FANOUT_THREADS", 4)
    if len(batches) > 1 and fanout_can_share():
        fanout_submit(run, batches, submit_batch)
    elif len(batches) > 1 and threads > 1 and _can_use_threads():
        # Batches of distinct accounts on their own connections, so the database round
        # trips overlap. The lane stays locked throughout.
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


# -- network brokers: a bounded pool per broker ------------------------------------------------


def _start_remote(run, todo: list) -> list:
    _mark_submitting([o for _, orders in todo for o in orders])
    open_ids = _open_ids([o for _, orders in todo for o in orders])
    by_broker: dict = {}
    for account_id, orders in todo:
        by_broker.setdefault(orders[0].account.broker, []).append((account_id, orders))
    pools, failed = [], []
    for broker, items in sorted(by_broker.items()):
        pool = ThreadPoolExecutor(max_workers=min(broker_concurrency(broker), len(items)))
        futures = []
        for account_id, orders in items:
            result = run.results.get(account_id)
            try:
                adapter = adapter_for(orders[0].account)
            except BrokerError as exc:
                failed.append(
                    Sent(account_id, [(orders[0], exc)] + [(o, None) for o in orders[1:]])
                )
                continue
            plan = result.plan if result else {}
            futures.append(pool.submit(_send_in_thread, adapter, orders, plan, open_ids))
        pools.append((pool, futures))
    if failed:
        _record_run(run, failed)
    return pools


def _drain(run, futures: list) -> None:
    """Record the answers as they come, SUBMIT_BATCH accounts per transaction."""
    buffer: list[Sent] = []
    for future in as_completed(futures):
        buffer.append(future.result())
        if len(buffer) >= SUBMIT_BATCH:
            _record_run(run, buffer)
            buffer = []
    if buffer:
        _record_run(run, buffer)


def _leg_rank(order: Order) -> int:
    return LEG_ORDER.get(order.leg, 9)
