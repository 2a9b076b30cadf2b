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
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, Exists, Func, OuterRef, TextField, Value
from django.db.models.functions import Cast, Concat, Upper

from config.compiled import CompiledQuery
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
# The fast path reads the signal, tries the lock and looks for an earlier unfinished signal
# of the lane in one statement. It only tries: a lock that had to be waited for would leave
# the statement's snapshot older than the lock, so a contended lane takes the slow path.
LANE_HASH = Func(
    Concat(Cast("organization_id", TextField()), Value(":"), Upper("ticker")),
    Value(0),
    function="hashtextextended",
)
TRY_LOCK = Func(LANE_HASH, function="pg_try_advisory_lock", output_field=BooleanField())


def _behind() -> Exists:
    return Exists(
        Signal.objects.filter(
            organization_id=OuterRef("organization_id"),
            ticker__iexact=OuterRef("ticker"),
            status__in=ACTIVE,
            received_at__lt=OuterRef("received_at"),
        )
    )


@dataclass
class Lane:
    organization_id: object
    ticker: str
    received_at: object
    # The signal itself, when it is known to be the lane's only unfinished one up to it.
    alone: Signal | None = None


_local_guard = threading.Lock()
_local_locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)
# PostgreSQL lanes this process holds: a worker reuses its connection across tasks, so a
# lock still held after a task (it never should be) is released by closing the session.
_held: set[str] = set()


def lanes_held() -> bool:
    return bool(_held)


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
    _held.add(key)
    try:
        yield
    finally:
        _unlock(key)


@contextmanager
def signal_lane(*, signal_id):
    """Lock the lane of an active (PENDING / PROCESSING) signal and yield its Lane; yield
    None, locking nothing, when the signal is finished or unknown."""
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
            yield Lane(*row)
        return
    lane = _try_lane(signal_id) or _wait_lane(signal_id)
    if lane is None:
        yield None
        return
    _held.add(lane_key(organization_id=lane.organization_id, ticker=lane.ticker))
    try:
        yield lane
    finally:
        _unlock(lane_key(organization_id=lane.organization_id, ticker=lane.ticker))


# Compiled once per process: this statement opens every signal's processing, and building
# it through the ORM each time cost ~1 ms of CPU, more than running it.
_TRY_LANE = CompiledQuery(
    lambda signal_id: (
        Signal.objects.filter(pk=signal_id, status__in=ACTIVE)
        .select_related("strategy")
        .annotate(lane_locked=TRY_LOCK, lane_behind=_behind())[:1]
    ),
    signal_id=uuid.UUID,
)


def _try_lane(signal_id) -> Lane | None:
    found = _TRY_LANE.first(signal_id=signal_id)
    if found is None or not found.lane_locked:
        return None
    lane = Lane(found.organization_id, found.ticker, found.received_at)
    if not found.lane_behind:
        lane.alone = found
    return lane


def _wait_lane(signal_id) -> Lane | None:
    with connection.cursor() as cursor:
        cursor.execute(LOCK_SIGNAL_SQL, [signal_id, list(ACTIVE)])
        row = cursor.fetchone()
    return None if row is None else Lane(*row[:3])


def _local_lock(key: str) -> threading.RLock:
    with _local_guard:
        return _local_locks[key]


def _unlock(key: str) -> None:
    _held.discard(key)
    try:
        with connection.cursor() as cursor:
            cursor.execute(UNLOCK_SQL, [key])
    except Exception:
        # A broken connection or aborted transaction: closing the session is what
        # releases a session lock for certain.
        logger.warning("could not release lane lock %s; closing the connection", key)
        connection.close()
