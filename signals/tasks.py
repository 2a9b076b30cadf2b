"""Celery tasks: thin, named (the names are contracts with queued messages), taking ids.

process_signal acks late: a worker that dies mid-task leaves the message to be delivered
again, which is safe because the pipeline is idempotent (signals.pipeline). It retries on
what signals.faults calls transient (a broker's 429/5xx, a lost database session, a
serialization failure or deadlock, Redis out of reach), one rule for all of them: backoff
from 2 s doubling to at most 60 s, full jitter, at most SIGNAL_RETRY_LIMIT retries. A
temporary broker error also counts against the signal's SIGNAL_MAX_ATTEMPTS (the pipeline
ends it in a visible state at that cap, whichever task made the last attempt); an
infrastructure fault does not: the signal stays PENDING/PROCESSING, and if the retries run
out (the database stayed down) the sweep enqueues it again.
"""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from execution.approvals import order_expire_approvals
from signals.fanout import fanout_run_batch
from signals.faults import Interrupted, database_reset, is_transient
from signals.pipeline import signal_process, signal_sweep
from signals.services import rejected_attempts_purge

logger = logging.getLogger(__name__)

RETRY_BACKOFF_SECONDS = 2
RETRY_BACKOFF_MAX_SECONDS = 60


@shared_task(
    bind=True,
    name="signals.process_signal",
    acks_late=True,
    max_retries=getattr(settings, "SIGNAL_RETRY_LIMIT", 10),
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def process_signal(self, signal_id: str, refund: list | None = None) -> None:
    try:
        signal_process(signal_id=signal_id, refund=refund)
    except Exception as exc:
        if not is_transient(exc):
            raise
        _retry(self, exc, signal_id=signal_id, refund=refund)


def _retry(task, exc: Exception, *, signal_id: str, refund: list | None) -> None:
    # The session the fault hit is dead or suspect (and held the lane lock): the retry,
    # in this process or another, starts on a new one.
    database_reset()
    if isinstance(exc, Interrupted):
        refund = None if exc.refunded else [str(exc.signal_id), exc.attempt]
    countdown = get_exponential_backoff_interval(
        factor=RETRY_BACKOFF_SECONDS,
        retries=task.request.retries,
        maximum=RETRY_BACKOFF_MAX_SECONDS,
        full_jitter=True,
    )
    # Read per call, so a deployment (or a test) can change it without a new task class.
    limit = getattr(settings, "SIGNAL_RETRY_LIMIT", 10)
    logger.warning(
        "signal %s: %s, retry %s of %s in %s s",
        signal_id,
        exc.__class__.__name__,
        task.request.retries + 1,
        limit,
        countdown,
    )
    raise task.retry(
        exc=exc,
        countdown=countdown,
        max_retries=limit,
        args=[signal_id],
        kwargs={"refund": refund},
    )


@shared_task(
    name="signals.submit_batch",
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def submit_batch(signal_id: str, attempt: int, index: int, account_ids: list[str]) -> None:
    """One batch of a big fan-out, offered by the signal's task (signals.fanout)."""
    fanout_run_batch(signal_id=signal_id, attempt=attempt, index=index, account_ids=account_ids)


@shared_task(name="signals.sweep_pending", acks_late=True, ignore_result=True)
def sweep_pending() -> int:
    ids = signal_sweep()
    for signal_id in ids:
        try:
            process_signal.delay(str(signal_id))
        except Exception as exc:  # the broker is down again: the next sweep retries
            logger.error("sweep could not enqueue (%s)", exc.__class__.__name__)
            break
    return len(ids)


@shared_task(name="signals.purge_rejected_attempts", acks_late=True, ignore_result=True)
def purge_rejected_attempts() -> int:
    return rejected_attempts_purge()


@shared_task(name="signals.expire_approvals", acks_late=True, ignore_result=True)
def expire_approvals() -> int:
    return order_expire_approvals()
