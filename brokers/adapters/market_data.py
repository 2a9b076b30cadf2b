"""Market data for paper accounts that name a source (BrokerAccount.market_data_source):
the latest quote from Alpaca's data API or from a ccxt exchange's public ticker, so a
market signal without a price fills at a real quote.

Quotes are kept in the cache for MARKET_DATA_CACHE_SECONDS: a signal fanned out to many
paper accounts with the same source asks the source once, not once per account."""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache

from brokers.adapters.base import BrokerError, Quote

logger = logging.getLogger(__name__)

ALPACA = "alpaca"
CCXT_PREFIX = "ccxt:"
# The credentials a paper account carries for the Alpaca source: (name, label, secret).
ALPACA_DATA_KEY_FIELDS = [
    ("apiKey", "Alpaca data API key ID", False),
    ("secretKey", "Alpaca data secret key", True),
]


def has_alpaca_data_key(credentials: dict) -> bool:
    # "secret" is what accounts set through the API before the form named it secretKey.
    return bool(credentials.get("apiKey")) and bool(
        credentials.get("secretKey") or credentials.get("secret")
    )


def market_data_sources() -> list[tuple[str, str]]:
    """Every source a paper account may name: (value, label). Only ones that work."""
    from brokers.adapters.ccxt import EXCHANGES

    sources = [("", "None (prices from signals only)"), (ALPACA, "Alpaca market data (stocks)")]
    for exchange in EXCHANGES.values():
        sources.append((CCXT_PREFIX + exchange.id, f"{exchange.name} public ticker"))
    return sources


def source_quote(*, source: str, symbol: str, credentials: dict) -> Quote | None:
    """The latest quote for ``symbol`` from ``source``; None when the source does not know
    the symbol or cannot be reached (the caller then falls back to known prices)."""
    if not source:
        return None
    key = "market-data:v1:" + hashlib.sha256(f"{source}\0{symbol}".encode()).hexdigest()[:32]
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        quote = _fetch(source, symbol, credentials)
    except BrokerError as exc:
        logger.warning("Market data source %s has no quote for %s: %s", source, symbol, exc)
        return None
    if quote is not None:
        cache.set(key, quote, settings.MARKET_DATA_CACHE_SECONDS)
    return quote


def _fetch(source: str, symbol: str, credentials: dict) -> Quote | None:
    if source == ALPACA:
        return _alpaca_quote(symbol, credentials)
    if source.startswith(CCXT_PREFIX):
        from brokers.adapters.ccxt import public_quote

        return public_quote(source[len(CCXT_PREFIX) :], symbol)
    return None


def _alpaca_quote(symbol: str, credentials: dict) -> Quote | None:
    from alpaca.common.exceptions import APIError
    from alpaca.data.enums import DataFeed
    from alpaca.data.historical import StockHistoricalDataClient
    from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest

    from brokers.adapters.alpaca import alpaca_client

    key_id = credentials.get("apiKey") or ""
    secret = credentials.get("secretKey") or credentials.get("secret") or ""
    if not key_id or not secret:
        raise BrokerError("Alpaca market data needs an API key ID and secret key.")
    # The adapter's client: the process's shared session, with its timeout and retries.
    client = alpaca_client(StockHistoricalDataClient, key_id, secret, paper=False)
    feed = DataFeed(settings.ALPACA_DATA_FEED)
    try:
        quote = client.get_stock_latest_quote(
            StockLatestQuoteRequest(symbol_or_symbols=symbol, feed=feed)
        )
        trade = client.get_stock_latest_trade(
            StockLatestTradeRequest(symbol_or_symbols=symbol, feed=feed)
        )
    except APIError as exc:
        raise BrokerError(f"Alpaca market data refused: {exc.status_code}") from exc
    except Exception as exc:  # requests' connection errors and timeouts
        raise BrokerError(f"Alpaca market data unreachable ({exc.__class__.__name__})") from exc
    bid, ask = _positive(quote[symbol].bid_price), _positive(quote[symbol].ask_price)
    last = _positive(trade[symbol].price)
    if bid is None and ask is None and last is None:
        return None
    return Quote(symbol=symbol, bid=bid, ask=ask, last=last)


def _positive(value) -> Decimal | None:
    if value is None:
        return None
    number = Decimal(str(value))
    return number if number > 0 else None


def fill_price(quote: Quote | None, side: str) -> Decimal | None:
    """Where a market order meets ``quote``: a buy at the ask, a sell at the bid, else
    the last trade."""
    if quote is None:
        return None
    touch = quote.ask if side == "buy" else quote.bid
    return touch or quote.last or quote.mid
