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
    "alpaca": "brokers.adapters.alpaca.AlpacaAdapter",
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
    return adapter_class_for(account.broker)(account)


def adapter_class_for(broker: str) -> type[BrokerAdapter]:
    """The adapter class of a broker kind (for what needs no account: its credential
    fields); a BrokerError for a broker we lack."""
    path = ADAPTERS.get(broker)
    if path is None:
        raise BrokerError(f"The {broker!r} broker is not supported.")
    return import_string(path)
