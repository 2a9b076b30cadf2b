"""Infrastructure faults: which errors mean "come back later" rather than "this signal is
wrong", and what a retry needs first.

A lost database session (PostgreSQL restarted, the backend terminated, the network cut),
a serialization failure, a deadlock, too many connections, a locked SQLite file, a broker
that answered 429/5xx (TransientBrokerError), an unreachable Redis: none of them says
anything about the signal, so none may end it FAILED. The worker retries the task with
backoff (signals.tasks.process_signal) and the web side retries a request's whole
admission once on a new connection (webhooks.services, webhooks.utm_ingest); both ask
``is_transient`` and nothing else, so the two can never disagree on what is transient.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TypeVar

import kombu.exceptions
import psycopg
import redis.exceptions
from django.db import connection

from brokers.adapters.base import TransientBrokerError

logger = logging.getLogger(__name__)

T = TypeVar("T")

# psycopg's OperationalError covers what the server or the network did to us, never what
# our SQL said: the connection lost or closed (class 08, 57P01 admin shutdown), 40001
# serialization failure, 40P01 deadlock, 53300 too many connections, 57014 a canceled
# statement. Data errors, integrity and programming errors are other classes.
_TRANSIENT = (
    TransientBrokerError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)


class Interrupted(Exception):
    """An infrastructure fault stopped the attempt ``attempt`` at signal ``signal_id``.

    ``refunded`` says whether the attempt was already given back to the signal's count (a
    retry is not a death of processing, which is what SIGNAL_MAX_ATTEMPTS bounds); when the
    database was not reachable for that, the retried task gives it back first."""

    def __init__(self, *, signal_id, attempt: int, refunded: bool):
        super().__init__(f"signal {signal_id} attempt {attempt} interrupted")
        self.signal_id, self.attempt, self.refunded = signal_id, attempt, refunded


class Unavailable(Exception):
    """The database (or what a request needs) stayed unreachable through the retry."""


def is_transient(exc: BaseException) -> bool:
    """True when ``exc``, or any error it was raised from, is an infrastructure fault."""
    for error in _chain(exc):
        if isinstance(error, (Interrupted, *_TRANSIENT)):
            return True
        if isinstance(error, sqlite3.OperationalError) and _sqlite_busy(error):
            return True
    return False


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 16:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _sqlite_busy(error: sqlite3.OperationalError) -> bool:
    # "database is locked" / "database table is locked": another writer; everything else
    # SQLite calls operational (no such table, syntax) is ours.
    return "locked" in str(error) or "busy" in str(error)


def database_reset() -> None:
    """Drop this thread's database session after a fault, so the next statement opens a
    new one instead of failing on the dead one again. A session-level lane lock goes with
    it, which is what a retry must re-acquire anyway. Inside a transaction (a test, an
    atomic caller) the session is not ours to drop."""
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception as exc:  # closing a broken session can itself complain
        logger.warning("closing the database session failed (%s)", exc.__class__.__name__)
        connection.connection = None


def retried_once(work: Callable[[bool], T], *, what: str) -> T:
    """``work(False)``; after a transient fault, ``work(True)`` once on a new session.
    Raises Unavailable when that fails too (or when the fault hit inside a transaction,
    which cannot be retried from here); any other error is raised as it is."""
    try:
        return work(False)
    except Exception as exc:
        if not is_transient(exc):
            raise
        if connection.in_atomic_block:
            logger.error("%s: %s inside a transaction", what, exc.__class__.__name__)
            raise Unavailable(what) from exc
        logger.warning("%s: %s; retrying on a new connection", what, exc.__class__.__name__)
    database_reset()
    try:
        return work(True)
    except Exception as exc:
        if not is_transient(exc):
            raise
        logger.error("%s: %s again; answering unavailable", what, exc.__class__.__name__)
        database_reset()
        raise Unavailable(what) from exc
