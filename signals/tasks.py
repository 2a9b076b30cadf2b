"""Celery tasks: thin, named (the names are contracts with queued messages), taking ids.

process_signal acks late: a worker that dies mid-task leaves the message to be delivered
again, which is safe because the pipeline is idempotent (signals.pipeline). It retries only
on a temporary broker error, with exponential backoff, at most SIGNAL_MAX_ATTEMPTS times
(the pipeline counts attempts on the signal itself and ends it in a visible state at the
cap, whichever task made the last attempt).
"""

import logging

from celery import shared_task
from django.conf import settings

from brokers.adapters.base import TransientBrokerError
from signals.approvals import order_expire_approvals
from signals.fanout import fanout_run_batch
from signals.pipeline import signal_process, signal_sweep

logger = logging.getLogger(__name__)


@shared_task(
    name="signals.process_signal",
    acks_late=True,
    autoretry_for=(TransientBrokerError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=getattr(settings, "SIGNAL_MAX_ATTEMPTS", 5),
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
)
def process_signal(signal_id: str) -> None:
    signal_process(signal_id=signal_id)


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


@shared_task(name="signals.expire_approvals", acks_late=True, ignore_result=True)
def expire_approvals() -> int:
    return order_expire_approvals()
