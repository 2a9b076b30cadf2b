"""One classification of what is an infrastructure fault (retry later) and what is a real
error (the signal or its plan is wrong): signals.faults.is_transient."""

import sqlite3

import kombu.exceptions
import psycopg
import pytest
import redis
from django.db import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from brokers.adapters.base import BrokerError, TransientBrokerError
from signals.faults import is_transient
from strategies.planning import PlanError


def _wrapped(django_class, cause: BaseException) -> BaseException:
    """As Django raises a driver error: its own class, the driver's as the cause."""
    try:
        try:
            raise cause
        except BaseException as error:
            raise django_class(str(error)) from error
    except BaseException as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection")), True),
        (_wrapped(OperationalError, psycopg.OperationalError("the connection is closed")), True),
        (_wrapped(OperationalError, psycopg.errors.SerializationFailure("could not")), True),
        (_wrapped(OperationalError, psycopg.errors.DeadlockDetected("deadlock")), True),
        (_wrapped(OperationalError, psycopg.errors.TooManyConnections("too many")), True),
        (_wrapped(InterfaceError, psycopg.InterfaceError("connection already closed")), True),
        (_wrapped(OperationalError, sqlite3.OperationalError("database is locked")), True),
        (TransientBrokerError("broker timed out (503)"), True),
        (redis.ConnectionError("Connection refused"), True),
        (redis.TimeoutError("Timeout reading from socket"), True),
        (kombu.exceptions.OperationalError("Error 111 connecting"), True),
        (_wrapped(ValueError, psycopg.errors.AdminShutdown("terminating")), True),  # a cause
        (_wrapped(IntegrityError, psycopg.errors.UniqueViolation("duplicate key")), False),
        (_wrapped(ProgrammingError, psycopg.errors.UndefinedTable("no such")), False),
        (_wrapped(OperationalError, sqlite3.OperationalError("no such table: x")), False),
        (BrokerError("insufficient buying power"), False),
        (PlanError("risk dollar amount sizing needs a stop loss"), False),
        (ValueError("a bug"), False),
        (KeyError("ticker"), False),
    ],
)
def test_what_is_transient(error, transient):
    assert is_transient(error) is transient
