"""Lanes: signals of one organization for one ticker are processed one at a time, in
arrival order, whichever worker runs them.

On PostgreSQL a lane is a session-level advisory lock, held across the many short
transactions of one signal's processing (so each step commits and is visible while the
lane stays closed to other workers). A worker that dies loses its connection and with it
the lock, so a crash never leaves a lane locked. SQLite (the embedded demo, tasks run
in-process) has one writer anyway: a process-local lock is enough there.

The lock key is computed by PostgreSQL from "<organization id>:<TICKER>" in both entry
points (a signal, by id; an order approval, by organization and symbol), so they always
agree.
"""

import logging
import threading
from collections import defaultdict
from contextlib import contextmanager

from django.db import connection

from signals.models import Signal

logger = logging.getLogger(__name__)

ACTIVE = (Signal.Status.PENDING, Signal.Status.PROCESSING)
# The key "<organization id>:<TICKER>" hashed to the 64 bits an advisory lock takes.
LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"
LOCK_SIGNAL_SQL = (
    "SELECT organization_id, ticker, received_at, "
    "pg_advisory_lock(hashtextextended(organization_id::text || ':' || upper(ticker), 0)) "
    "FROM signals_signal WHERE id = %s AND status = ANY(%s)"
)

_local_guard = threading.Lock()
_local_locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)


def lane_key(*, organization_id, ticker: str) -> str:
    return f"{organization_id}:{ticker.upper()}"


@contextmanager
def lane_lock(*, organization_id, ticker: str):
    key = lane_key(organization_id=organization_id, ticker=ticker)
    if connection.vendor != "postgresql":
        with _local_lock(key):
            yield
        return
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SQL, [key])
    try:
        yield
    finally:
        _unlock(key)


@contextmanager
def signal_lane(*, signal_id):
    """Lock the lane of an active (PENDING / PROCESSING) signal and yield its
    (organization id, ticker, received_at); yield None, locking nothing, when the signal
    is finished or unknown. On PostgreSQL the lookup and the lock are one statement."""
    if connection.vendor != "postgresql":
        row = (
            Signal.objects.filter(pk=signal_id, status__in=ACTIVE)
            .values_list("organization_id", "ticker", "received_at")
            .first()
        )
        if row is None:
            yield None
            return
        with _local_lock(lane_key(organization_id=row[0], ticker=row[1])):
            yield row
        return
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SIGNAL_SQL, [signal_id, list(ACTIVE)])
        row = cursor.fetchone()
    if row is None:
        yield None
        return
    try:
        yield row[:3]
    finally:
        _unlock(lane_key(organization_id=row[0], ticker=row[1]))


def _local_lock(key: str) -> threading.RLock:
    with _local_guard:
        return _local_locks[key]


def _unlock(key: str) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute(UNLOCK_SQL, [key])
    except Exception:
        # A broken connection or aborted transaction: closing the session is what
        # releases a session lock for certain.
        logger.warning("could not release lane lock %s; closing the connection", key)
        connection.close()
