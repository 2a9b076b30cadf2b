"""Which adapter speaks for an account, and how many of its calls may be in flight."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string

from brokers.adapters import ADAPTERS, get_adapter
from brokers.adapters.base import BrokerAdapter, BrokerError
from brokers.adapters.paper import PaperAdapter
from brokers.models import BrokerAccount

DEFAULT_CONCURRENCY = 8
SUPPORTED = ADAPTERS.keys()  # the broker kinds that have an adapter


def adapter_for(account: BrokerAccount) -> BrokerAdapter:
    """The account's adapter; a BrokerError (not transient) for a broker we lack."""
    return get_adapter(account)


def adapter_class_for(account: BrokerAccount) -> type[BrokerAdapter] | None:
    path = ADAPTERS.get(account.broker)
    return import_string(path) if path else None


def in_database(account: BrokerAccount) -> bool:
    """Whether the account's broker is our own database (the paper broker): its calls run
    on the caller's thread and connection (more threads would only queue on the same
    rows, and could not see a transaction the caller holds); a big fan-out's batches are
    shared among worker processes instead (signals.fanout). An account without an adapter
    goes this way too, to fail on its own."""
    adapter_class = adapter_class_for(account)
    return adapter_class is None or issubclass(adapter_class, PaperAdapter)


def network_brokers() -> list[str]:
    """The broker kinds we have an adapter for that are not our own database."""
    return sorted(
        kind for kind, path in ADAPTERS.items() if not issubclass(import_string(path), PaperAdapter)
    )


def broker_concurrency(broker: str) -> int:
    """How many calls to ``broker`` one process keeps in flight (BROKER_CONCURRENCY)."""
    configured = getattr(settings, "BROKER_CONCURRENCY", {})
    return max(1, int(configured.get(broker, DEFAULT_CONCURRENCY)))


def concurrently(broker: str, accounts: list[BrokerAccount], call) -> list:
    """``call(account)`` for each of ``accounts`` (all at ``broker``), in order, on a pool
    of broker_concurrency(broker) threads: each account has its own key at its broker, so
    there is no one call for many, and one after another a thousand accounts would take a
    thousand round trips. ``call`` should only talk to the broker; a thread that touched
    the database anyway closes its own connection."""

    def one(account):
        try:
            return call(account)
        finally:
            connection.close()

    if len(accounts) < 2:
        return [call(account) for account in accounts]
    with ThreadPoolExecutor(max_workers=min(broker_concurrency(broker), len(accounts))) as pool:
        return list(pool.map(one, accounts))


_UNREAD = object()


def positions_read(accounts: list[BrokerAccount], symbol: str) -> dict:
    """Positions in ``symbol`` of many accounts at one broker, by account id: in one call
    where the broker has one (the paper broker's one query), else concurrently. An account
    whose read fails is left out: the planner then asks it alone, and it fails alone."""
    adapter_class = adapter_class_for(accounts[0])
    if in_database(accounts[0]):
        return adapter_class.get_positions(accounts, symbol)

    def read(account):
        try:
            return adapter_class(account).get_position(symbol)
        except BrokerError:
            return _UNREAD

    found = concurrently(accounts[0].broker, accounts, read)
    return {
        account.pk: position
        for account, position in zip(accounts, found, strict=True)
        if position is not _UNREAD
    }
