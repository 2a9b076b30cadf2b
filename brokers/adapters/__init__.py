"""The adapter registry: which BrokerAdapter speaks for an account's broker.

Adapters are imported lazily, so an adapter's SDK (alpaca-py, ccxt) is only loaded where
an account of that broker is actually used."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from brokers.adapters.base import BrokerAdapter, BrokerError

if TYPE_CHECKING:
    from brokers.models import BrokerAccount

ADAPTERS: dict[str, str] = {
    "paper": "brokers.adapters.paper.PaperAdapter",
    "binance": "brokers.adapters.ccxt.BinanceAdapter",
    "kraken": "brokers.adapters.ccxt.KrakenAdapter",
}


def get_adapter(account: BrokerAccount) -> BrokerAdapter:
    """The adapter for ``account``; a BrokerError (not transient) for a broker we lack."""
    path = ADAPTERS.get(account.broker)
    if path is None:
        raise BrokerError(
            f"The {account.broker!r} broker is not supported yet; "
            f"account {account.name!r} cannot place orders."
        )
    adapter_class: type[BrokerAdapter] = import_string(path)
    return adapter_class(account)
