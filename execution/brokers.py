"""Which adapter speaks for an account, and how many of its calls may be in flight."""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from brokers.adapters import ADAPTERS, get_adapter
from brokers.adapters.base import BrokerAdapter
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
