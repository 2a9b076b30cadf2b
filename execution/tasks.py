import logging
import uuid

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from execution.reconcile import reconcile

logger = logging.getLogger(__name__)

LOCK = "execution:reconcile:running"


@shared_task(name="execution.reconcile", acks_late=True, ignore_result=True)
def reconcile_task() -> dict | None:
    """Beat runs it every RECONCILE_INTERVAL_SECONDS. One pass at a time: a pass slower than
    the interval (many accounts, a slow broker) would otherwise have the next ones pile up
    behind it, each asking every broker again. The lock expires by itself (a worker killed
    mid-pass holds it at most RECONCILE_LOCK_SECONDS); without the cache the pass runs
    anyway, since a pass is idempotent and an overlap only asks the brokers twice."""
    token = uuid.uuid4().hex
    try:
        acquired = cache.add(LOCK, token, settings.RECONCILE_LOCK_SECONDS)
    except Exception as exc:
        logger.warning("reconcile lock unavailable (%s): running anyway", exc.__class__.__name__)
        acquired = None
    if acquired is False:
        logger.info("reconcile: a pass is already running")
        return None
    try:
        return reconcile().as_dict()
    finally:
        if acquired:
            try:
                # Only our own lock: past RECONCILE_LOCK_SECONDS it may be the next pass's.
                if cache.get(LOCK) == token:
                    cache.delete(LOCK)
            except Exception:
                logger.warning("reconcile lock not released; it expires by itself")
