"""A big fan-out's phase 2 shared with the worker's other processes.

Threads in one process are bound by the GIL, so the batches of a fan-out (50 accounts
each) are also offered as ``signals.submit_batch`` tasks: whichever process claims a batch
first (an atomic cache ``add``) submits it, the signal's own task included, which keeps
working through the batches itself and so never waits on a worker that is busy elsewhere.
The signal's task keeps the lane locked until every batch is done, then re-reads the
orders the others submitted and finishes the signal itself: the terminal state is set
once, by the lane's holder.

Exactly once holds as for a rerun: the orders and client order ids were fixed in phase 1,
the paper broker dedups on client order id under the account lock, and the broker's answer
is applied by a conditional update on an order still ``submitting``. A batch whose process died
or failed is submitted by the signal's task after CHUNK_WAIT_SECONDS; one left with
orders still to send (a temporary broker error) is resubmitted by it, so its retry logic
applies.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache
from django.db import connection

from brokers.models import Order
from execution.submission import TO_SUBMIT
from signals.models import Signal, SignalResult

logger = logging.getLogger(__name__)

CHUNK_WAIT_SECONDS = 30
CLAIM_SECONDS = 600


def fanout_can_share() -> bool:
    from config.celery import app

    eager = app.conf.task_always_eager
    return connection.vendor == "postgresql" and not connection.in_atomic_block and not eager


def _key(signal_id, attempt: int, index: int, what: str) -> str:
    return f"fanout:{signal_id}:{attempt}:{index}:{what}"


def _claim(signal_id, attempt: int, index: int) -> bool:
    try:
        return bool(cache.add(_key(signal_id, attempt, index, "claim"), 1, CLAIM_SECONDS))
    except Exception:  # a cache outage: do it ourselves (idempotent)
        logger.warning("fan-out claim unavailable")
        return True


def _mark_done(signal_id, attempt: int, index: int) -> None:
    try:
        cache.set(_key(signal_id, attempt, index, "done"), 1, CLAIM_SECONDS)
    except Exception:
        logger.warning("fan-out done mark unavailable")


def _is_done(signal_id, attempt: int, index: int) -> bool:
    try:
        return bool(cache.get(_key(signal_id, attempt, index, "done")))
    except Exception:
        return False


def fanout_submit(run, batches: list, submit_batch) -> None:
    """Phase 2 of ``run`` over ``batches`` (lists of (account id, orders)), shared."""
    from signals.tasks import submit_batch as submit_batch_task

    signal = run.signal
    for index, batch in enumerate(batches[1:], start=1):
        account_ids = [str(account_id) for account_id, _ in batch]
        try:
            submit_batch_task.delay(str(signal.pk), signal.attempts, index, account_ids)
        except Exception as exc:  # Redis out of reach: an offer, not a need; we do it
            logger.warning("fan-out batches not offered (%s)", exc.__class__.__name__)
            break
    others = []
    for index, batch in enumerate(batches):
        if not _claim(signal.pk, signal.attempts, index):
            others.append((index, batch))
            continue
        try:
            submit_batch(run, batch)
        finally:
            # Done even when a fault stopped it: a retry of this attempt (an interrupted
            # attempt keeps its number) must not wait for it, and resubmits what is new.
            _mark_done(signal.pk, signal.attempts, index)
    _wait(signal, others)
    _reload(run, [account_id for _, batch in others for account_id, _ in batch])
    leftover = _still_new(run, others)
    if leftover:
        submit_batch(run, leftover)


def _wait(signal, others: list) -> None:
    deadline = time.monotonic() + CHUNK_WAIT_SECONDS
    pending = {index for index, _ in others}
    while pending and time.monotonic() < deadline:
        pending = {i for i in pending if not _is_done(signal.pk, signal.attempts, i)}
        if pending:
            time.sleep(0.01)


def _reload(run, account_ids: list) -> None:
    if not account_ids:
        return
    fresh: dict = {}
    orders = Order.objects.filter(
        signal=run.signal, account_id__in=account_ids, parent__isnull=True
    ).select_related("account")
    for order in orders.order_by("created_at"):
        fresh.setdefault(order.account_id, []).append(order)
    run.orders.update(fresh)


def _still_new(run, others: list) -> list:
    leftover = []
    for _, batch in others:
        for account_id, _ in batch:
            todo = [o for o in run.orders.get(account_id, []) if o.status in TO_SUBMIT]
            if todo:
                leftover.append((account_id, todo))
    return leftover


def fanout_run_batch(*, signal_id, attempt: int, index: int, account_ids: list) -> None:
    """One offered batch, in another process: submit it unless someone claimed it first or
    the attempt it belongs to is over."""
    if not _claim(signal_id, attempt, index):
        return
    try:
        _run_batch(signal_id, attempt, account_ids)
    except Exception:  # the signal's task resubmits what is left
        logger.exception("fan-out batch %s of signal %s failed", index, signal_id)
    finally:
        _mark_done(signal_id, attempt, index)


def _run_batch(signal_id, attempt: int, account_ids: list) -> None:
    from execution.submission import submit_batch
    from signals.pipeline import Run

    signal = Signal.objects.filter(
        pk=signal_id, status=Signal.Status.PROCESSING, attempts=attempt
    ).first()
    if signal is None:
        return
    run = Run(signal=signal, intent=None, targets=[])
    orders = Order.objects.filter(
        signal=signal, account_id__in=account_ids, parent__isnull=True
    ).select_related("account")
    for order in orders.order_by("created_at"):
        run.orders.setdefault(order.account_id, []).append(order)
    results = SignalResult.objects.filter(signal=signal, account_id__in=account_ids)
    run.results = {r.account_id: r for r in results}
    batch = sorted(
        (account_id, [o for o in orders if o.status in TO_SUBMIT])
        for account_id, orders in run.orders.items()
    )
    submit_batch(run, [(account_id, todo) for account_id, todo in batch if todo])
