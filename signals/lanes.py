"""Lanes: signals of one organization for one ticker are processed one at a time, in
arrival order, whichever worker runs them.

On PostgreSQL a lane is a session-level advisory lock, held across the many short
transactions of one signal's processing (so each step commits and is visible while the
lane stays closed to other workers). A worker that dies loses its connection and with it
the lock, so a crash never leaves a lane locked. SQLite (the embedded demo, tasks run
in-process) has one writer anyway: a process-local lock is enough there.
"""

import hashlib
import logging
import threading
from collections import defaultdict
from contextlib import contextmanager

from django.db import connection

logger = logging.getLogger(__name__)

_local_guard = threading.Lock()
_local_locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)


def lane_key(*, organization_id, ticker: str) -> str:
    return f"{organization_id}:{ticker.upper()}"


def _advisory_id(key: str) -> int:
    # pg advisory locks take a signed 64-bit key; 64 bits of SHA-256 make collisions
    # between two live lanes (which would only serialize them) negligible.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextmanager
def lane_lock(*, organization_id, ticker: str):
    key = lane_key(organization_id=organization_id, ticker=ticker)
    if connection.vendor != "postgresql":
        with _local_guard:
            lock = _local_locks[key]
        with lock:
            yield
        return
    lock_id = _advisory_id(key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [lock_id])
    try:
        yield
    finally:
        _unlock(lock_id)


def _unlock(lock_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
    except Exception:
        # A broken connection or aborted transaction: closing the session is what
        # releases a session lock for certain.
        logger.warning("could not release lane lock %s; closing the connection", lock_id)
        connection.close()
