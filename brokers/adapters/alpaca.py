"""Alpaca, through its official SDK alpaca-py: the trading API (account, positions,
orders, assets) and the market-data API (latest quote and trade), paper or live per
account (BrokerAccount.mode).

Base URLs come from settings (ALPACA_TRADING_URL, ALPACA_DATA_URL; empty means Alpaca's
own for the account's mode), which is also how the tests point it at the loopback
stand-in (tests/standins/alpaca.py).

Never a second order: alpaca-py's REST client retries every request, POST included, on
429 and 504, and a request that timed out may have created the order anyway. Every order
carries the deterministic client order id of its row, so after a timeout, a 5xx or 429,
or Alpaca's "client_order_id must be unique" (the retry of a POST the first attempt got
through), the order is looked up by that id and, if Alpaca has it, carried on with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from decimal import Decimal, InvalidOperation
from http.cookiejar import DefaultCookiePolicy
from urllib.request import getproxies

import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import DataFeed
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockLatestQuoteRequest, StockLatestTradeRequest
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import (
    AssetClass,
    AssetStatus,
    OrderClass,
    OrderSide,
    QueryOrderStatus,
    TimeInForce,
)
from alpaca.trading.requests import (
    GetAssetsRequest,
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    StopLimitOrderRequest,
    StopLossRequest,
    StopOrderRequest,
    TakeProfitRequest,
    TrailingStopOrderRequest,
)
from django.conf import settings
from pydantic import ValidationError
from requests.adapters import HTTPAdapter

from brokers.adapters.base import (
    AccountSnapshot,
    BrokerAdapter,
    BrokerError,
    BrokerPosition,
    InstrumentInfo,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Quote,
    TransientBrokerError,
)

logger = logging.getLogger(__name__)
D = Decimal

# Alpaca's order statuses -> ours (brokers.models.Order.Status). "new" at Alpaca means
# live at the exchange; our "new" means not sent yet, so it is "open" here.
STATUSES = {
    "pending_new": "submitted",
    "accepted": "submitted",
    "accepted_for_bidding": "submitted",
    "pending_review": "submitted",
    "new": "open",
    "done_for_day": "open",
    "pending_cancel": "open",
    "pending_replace": "open",
    "stopped": "open",
    "calculated": "open",
    "held": "held",
    "suspended": "held",
    "partially_filled": "partially_filled",
    "filled": "filled",
    "canceled": "canceled",
    "replaced": "canceled",
    "expired": "expired",
    "rejected": "rejected",
}
ASSET_CLASSES = {"us_equity": "stock", "crypto": "crypto", "us_option": "option"}
CRYPTO_STEP = D("0.000000001")
OPEN_ORDERS_LIMIT = 500  # Alpaca's maximum page


def _alpaca_error_message(exc: APIError) -> str:
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError):
        # A proxy's 502/504 answers HTML, not Alpaca's {"code", "message"}.
        return ""


class _TimeoutAdapter(HTTPAdapter):
    """requests has no default timeout and alpaca-py sets none: without this a stalled
    connection would hold a worker for ever. Read per request, so a changed setting
    applies to the process's one session at once."""

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = settings.ALPACA_TIMEOUT_SECONDS
        return super().send(request, **kwargs)


# One requests Session per process, shared by every account's clients: alpaca-py sends
# the key in each request's headers, so the session holds no account's state, and the
# accounts' calls reuse a pool of kept-alive connections instead of opening a TCP
# connection per call (a fan-out makes one or two calls per account). It keeps no
# cookies, so nothing one account's answer set can ride along with another's request, and
# it reads the environment's proxy and netrc settings only when a proxy is configured
# there (requests otherwise looks for ~/.netrc on every request).
_session_lock = threading.Lock()
_session: tuple[int, requests.Session] | None = None


def _shared_session() -> requests.Session:
    global _session
    pid = os.getpid()
    found = _session
    if found is not None and found[0] == pid:  # a forked worker builds its own
        return found[1]
    with _session_lock:
        if _session is None or _session[0] != pid:
            session = requests.Session()
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            session.trust_env = bool(getproxies())
            # Without trust_env requests would also drop a CA bundle named in the
            # environment (a TLS-inspecting proxy's): kept.
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if bundle:
                session.verify = bundle
            # As many kept connections as calls in flight (BROKER_CONCURRENCY["alpaca"]).
            in_flight = int(getattr(settings, "BROKER_CONCURRENCY", {}).get("alpaca", 8))
            adapter = _TimeoutAdapter(pool_connections=4, pool_maxsize=max(8, in_flight))
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            _session = (pid, session)
        return _session[1]


# The clients themselves are cheap and stateless beyond their key; they are kept per
# process (bounded), so an account's next call skips building them.
_clients_lock = threading.Lock()
_clients_cache: OrderedDict = OrderedDict()
_CLIENTS_KEPT = 4096


def alpaca_client(kind, key_id: str, secret: str, paper: bool):
    """A TradingClient or StockHistoricalDataClient for one key, on the shared session."""
    url = settings.ALPACA_TRADING_URL if kind is TradingClient else settings.ALPACA_DATA_URL
    retry = (settings.ALPACA_RETRY_ATTEMPTS, settings.ALPACA_RETRY_WAIT_SECONDS)
    fingerprint = hashlib.sha256(f"{key_id}\0{secret}".encode()).hexdigest()
    cache_key = (os.getpid(), kind, fingerprint, paper, url or None, retry)
    with _clients_lock:
        found = _clients_cache.get(cache_key)
        if found is not None:
            _clients_cache.move_to_end(cache_key)
            return found
    if kind is TradingClient:
        client = TradingClient(key_id, secret, paper=paper, url_override=url or None)
    else:
        client = StockHistoricalDataClient(key_id, secret, url_override=url or None)
    # alpaca-py's own retry on 429/504 (it sleeps between attempts, ignoring
    # Retry-After): bounded by settings, so a rate-limited call gives the worker back
    # soon and our task retry with backoff takes over.
    client._retry, client._retry_wait = retry
    client._session.close()
    client._session = _shared_session()
    with _clients_lock:
        _clients_cache[cache_key] = client
        while len(_clients_cache) > _CLIENTS_KEPT:
            _clients_cache.popitem(last=False)
    return client


def _dec(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return D(str(value))
    except InvalidOperation:
        return None


def _enum(value) -> str:
    return getattr(value, "value", value) or ""


class AlpacaAdapter(BrokerAdapter):
    @classmethod
    def credential_fields(cls) -> list[tuple[str, str, bool]]:
        return [("api_key", "API key ID", False), ("secret_key", "Secret key", True)]

    @property
    def paper(self) -> bool:
        return self.account.mode != "live"

    def _client(self, kind):
        keys = self.__dict__.get("_keys")
        if keys is None:  # decrypted once per adapter, not once per call
            credentials = self.account.credentials
            keys = self._keys = (credentials.get("api_key", ""), credentials.get("secret_key", ""))
        key_id, secret = keys
        if not key_id or not secret:
            raise BrokerError(
                f"Account {self.account.name!r} has no Alpaca API key: "
                "set its API key ID and secret key."
            )
        return alpaca_client(kind, key_id, secret, self.paper)

    @property
    def _trading(self) -> TradingClient:
        return self._client(TradingClient)

    @property
    def _data(self) -> StockHistoricalDataClient:
        return self._client(StockHistoricalDataClient)

    # -- errors ----------------------------------------------------------------------

    def _call(self, what: str, function, *args, symbol: str = ""):
        """``function(*args)`` with Alpaca's and the network's failures as BrokerErrors."""
        try:
            return function(*args)
        except APIError as exc:
            raise self._api_error(exc, what, symbol) from None
        except requests.Timeout:
            raise TransientBrokerError(
                f"Alpaca did not answer ({what}) within {settings.ALPACA_TIMEOUT_SECONDS:g} s."
            ) from None
        except requests.RequestException as exc:
            raise TransientBrokerError(
                f"Alpaca is unreachable ({what}): {exc.__class__.__name__}."
            ) from None

    def _api_error(self, exc: APIError, what: str, symbol: str = "") -> BrokerError:
        status = exc.status_code or 0
        message = _alpaca_error_message(exc)
        lowered = message.lower()
        name = symbol or "this symbol"
        if status == 401:
            mode = "paper" if self.paper else "live"
            return BrokerError(
                f"Alpaca refused the API key of account {self.account.name!r}: check the "
                f"key ID and secret key, and that they are {mode} keys."
            )
        if status == 429:
            return TransientBrokerError(f"Alpaca's rate limit was reached ({what}).")
        if status >= 500:
            return TransientBrokerError(f"Alpaca answered {status} ({what}).")
        if "insufficient buying power" in lowered:
            return OrderRejected(self._buying_power_reason(exc))
        if "sold short" in lowered or "not shortable" in lowered:
            return OrderRejected(f"{name} cannot be sold short at Alpaca (not shortable).")
        if "market is closed" in lowered or "market closed" in lowered:
            return OrderRejected("The market is closed: Alpaca does not take this order now.")
        if "not tradable" in lowered or "not active" in lowered:
            return OrderRejected(f"{name} is not tradable at Alpaca.")
        if "not found" in lowered and "asset" in lowered:
            return OrderRejected(f"Alpaca does not know the symbol {name}.")
        if "insufficient qty" in lowered:
            return OrderRejected(f"Not enough {name} held at Alpaca: {message}.")
        if status in (403, 422) and what == "placing the order":
            return OrderRejected(f"Alpaca refused the order: {message or status}.")
        return BrokerError(f"Alpaca refused {what}: {message or status}.")

    @staticmethod
    def _buying_power_reason(exc: APIError) -> str:
        try:
            body = json.loads(str(exc))
            power, cost = _dec(body.get("buying_power")), _dec(body.get("cost_basis"))
        except (ValueError, AttributeError):
            power = cost = None
        if power is not None and cost is not None:
            return (
                f"Insufficient buying power at Alpaca: the order costs {cost}, {power} available."
            )
        return "Insufficient buying power at Alpaca."

    # -- account, positions, quotes ------------------------------------------------------

    def get_account(self) -> AccountSnapshot:
        account = self._call("reading the account", self._trading.get_account)
        return AccountSnapshot(
            equity=_dec(account.equity) or D("0"),
            cash=_dec(account.cash) or D("0"),
            buying_power=_dec(account.buying_power) or D("0"),
        )

    def test_connection(self) -> str:
        account = self._call("reading the account", self._trading.get_account)
        mode = "paper" if self.paper else "live"
        state = _enum(account.status)
        if account.trading_blocked or account.account_blocked:
            state += ", trading blocked"
        return f"Alpaca {mode} account {account.account_number}, {state}"

    @staticmethod
    def _position(position) -> BrokerPosition:
        quantity = _dec(position.qty) or D("0")
        if _enum(position.side) == "short" and quantity > 0:
            quantity = -quantity
        return BrokerPosition(
            symbol=position.symbol,
            quantity=quantity,
            average_price=_dec(position.avg_entry_price) or D("0"),
        )

    def get_position(self, symbol: str) -> BrokerPosition | None:
        # Alpaca names crypto pairs BTC/USD but wants BTCUSD in a path.
        path_symbol = symbol.replace("/", "")
        try:
            position = self._trading.get_open_position(path_symbol)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise self._api_error(exc, "reading the position", symbol) from None
        except requests.RequestException:
            return self._call("reading the position", self._trading.get_open_position, path_symbol)
        found = self._position(position)
        return found if found.quantity else None

    def list_positions(self) -> list[BrokerPosition]:
        positions = self._call("listing positions", self._trading.get_all_positions)
        return [p for p in map(self._position, positions) if p.quantity]

    def get_quote(self, symbol: str) -> Quote | None:
        feed = DataFeed(settings.ALPACA_DATA_FEED)
        quotes = self._call(
            "reading the latest quote",
            self._data.get_stock_latest_quote,
            StockLatestQuoteRequest(symbol_or_symbols=symbol, feed=feed),
            symbol=symbol,
        )
        trades = self._call(
            "reading the latest trade",
            self._data.get_stock_latest_trade,
            StockLatestTradeRequest(symbol_or_symbols=symbol, feed=feed),
            symbol=symbol,
        )
        quote, trade = quotes.get(symbol), trades.get(symbol)
        if quote is None and trade is None:
            return None
        return Quote(
            symbol=symbol,
            bid=_dec(quote.bid_price) if quote and quote.bid_price else None,
            ask=_dec(quote.ask_price) if quote and quote.ask_price else None,
            last=_dec(trade.price) if trade else None,
        )

    # -- orders --------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> OrderUpdate:
        alpaca_request = self._order_request(request)
        try:
            order = self._trading.submit_order(alpaca_request)
        except APIError as exc:
            message = _alpaca_error_message(exc).lower()
            duplicate = exc.status_code == 422 and "client_order_id" in message
            if duplicate or (exc.status_code or 0) >= 500 or exc.status_code == 429:
                found = self.get_order(request.client_order_id)
                if found is not None:
                    logger.info(
                        "Alpaca already has order %s (after %s); carrying on with it",
                        request.client_order_id,
                        exc.status_code,
                    )
                    return found
            if duplicate:
                raise OrderRejected(
                    f"Alpaca says client order id {request.client_order_id} is taken, "
                    "but has no such order."
                ) from None
            raise self._api_error(exc, "placing the order", request.symbol) from None
        except requests.RequestException as exc:
            # The request may have reached Alpaca before the connection failed: ask.
            found = self.get_order(request.client_order_id)
            if found is not None:
                logger.info(
                    "Alpaca has order %s although the submit failed (%s); carrying on",
                    request.client_order_id,
                    exc.__class__.__name__,
                )
                return found
            raise TransientBrokerError(
                f"Alpaca did not confirm the order ({exc.__class__.__name__}); "
                "it will be looked up by its client order id before any retry."
            ) from None
        return self._update(order)

    def _order_request(self, request: OrderRequest):
        if request.quantity is None or request.quantity <= 0:
            raise OrderRejected("The order quantity must be above 0.")
        try:
            side = OrderSide(request.side)
            time_in_force = TimeInForce(request.time_in_force)
        except ValueError:
            raise OrderRejected(
                f"Alpaca does not take side {request.side!r} / time in force "
                f"{request.time_in_force!r}."
            ) from None
        fields = {
            "symbol": request.symbol,
            "qty": float(request.quantity),
            "side": side,
            "time_in_force": time_in_force,
            "client_order_id": request.client_order_id,
        }
        if request.extended_hours:
            fields["extended_hours"] = True
        fields.update(self._bracket_fields(request))
        kind = request.order_type
        prices = {
            "limit_price": request.limit_price,
            "stop_price": request.stop_price,
            "trail_price": request.trail_amount,
            "trail_percent": request.trail_percent,
        }
        needed = {
            "market": (MarketOrderRequest, ()),
            "limit": (LimitOrderRequest, ("limit_price",)),
            "stop": (StopOrderRequest, ("stop_price",)),
            "stop_limit": (StopLimitOrderRequest, ("stop_price", "limit_price")),
            "trailing_stop": (TrailingStopOrderRequest, ()),
        }
        if kind not in needed:
            raise OrderRejected(f"Alpaca does not take {kind!r} orders.")
        request_class, required = needed[kind]
        for name in required:
            if prices[name] is None:
                raise OrderRejected(f"A {kind} order needs a {name.replace('_', ' ')}.")
            fields[name] = float(prices[name])
        if kind == "trailing_stop":
            if request.trail_amount is None and request.trail_percent is None:
                raise OrderRejected("A trailing stop order needs a trail amount or percent.")
            if request.trail_amount is not None:
                fields["trail_price"] = float(request.trail_amount)
            else:
                fields["trail_percent"] = float(request.trail_percent)
        try:
            return request_class(**fields)
        except (ValidationError, ValueError) as exc:
            raise OrderRejected(f"Alpaca cannot take this order: {exc}") from None

    @staticmethod
    def _bracket_fields(request: OrderRequest) -> dict:
        bracket = request.bracket
        if bracket is None:
            return {}
        if bracket.stop_loss_trail_amount is not None or bracket.stop_loss_trail_percent:
            raise OrderRejected("Alpaca bracket orders cannot have a trailing stop loss.")
        fields = {}
        if bracket.take_profit_limit_price is not None:
            fields["take_profit"] = TakeProfitRequest(
                limit_price=float(bracket.take_profit_limit_price)
            )
        if bracket.stop_loss_stop_price is not None:
            limit = bracket.stop_loss_limit_price
            fields["stop_loss"] = StopLossRequest(
                stop_price=float(bracket.stop_loss_stop_price),
                limit_price=float(limit) if limit is not None else None,
            )
        if not fields:
            return {}
        # Both exits: a bracket (one cancels the other); one: one-triggers-other.
        fields["order_class"] = OrderClass.BRACKET if len(fields) == 2 else OrderClass.OTO
        return fields

    def _update(self, order, parent=None) -> OrderUpdate:
        status = STATUSES.get(_enum(order.status), "submitted")
        kind = _enum(order.type or order.order_type)
        leg = ""
        if parent is not None:
            leg = "take_profit" if kind == "limit" else "stop_loss"
        return OrderUpdate(
            client_order_id=order.client_order_id,
            broker_order_id=str(order.id),
            status=status,
            filled_quantity=_dec(order.filled_qty) or D("0"),
            filled_avg_price=_dec(order.filled_avg_price),
            error="Rejected by Alpaca." if status == "rejected" else "",
            filled_at=order.filled_at,
            leg=leg,
            parent_client_order_id=parent.client_order_id if parent is not None else "",
            symbol=order.symbol or "",
            side=_enum(order.side),
            quantity=_dec(order.qty),
            order_type=kind,
            limit_price=_dec(order.limit_price),
            stop_price=_dec(order.stop_price),
            legs=tuple(self._update(child, order) for child in order.legs or ()),
        )

    def trade_update(self, order) -> OrderUpdate:
        """The OrderUpdate of an order as Alpaca's trade-update stream reports it."""
        return self._update(order)

    def get_order(self, client_order_id: str) -> OrderUpdate | None:
        try:
            order = self._trading.get_order_by_client_id(client_order_id)
        except APIError as exc:
            if exc.status_code == 404:
                return None
            raise self._api_error(exc, "reading the order") from None
        except requests.RequestException:
            order = self._call(
                "reading the order", self._trading.get_order_by_client_id, client_order_id
            )
        return self._update(order)

    def _open_orders(self, symbol: str | None = None, nested: bool = True) -> list:
        query = GetOrdersRequest(
            status=QueryOrderStatus.OPEN,
            limit=OPEN_ORDERS_LIMIT,
            nested=nested,
            symbols=[symbol] if symbol else None,
        )
        return self._call("listing open orders", self._trading.get_orders, query)

    def list_open_orders(self) -> list[OrderUpdate]:
        return [self._update(order) for order in self._open_orders()]

    def cancel_open_orders(self, symbol: str) -> int:
        # Not nested: every open order on its own, legs of a filled parent included.
        canceled = 0
        for order in self._open_orders(symbol, nested=False):
            if self._cancel_by_id(str(order.id)):
                canceled += 1
        return canceled

    def _cancel_by_id(self, order_id: str) -> bool:
        """False when the order was no longer cancelable (filled, or canceled with its
        bracket sibling) or is gone."""
        try:
            self._trading.cancel_order_by_id(order_id)
        except APIError as exc:
            if exc.status_code in (404, 422):
                return False
            raise self._api_error(exc, "canceling the order") from None
        except requests.RequestException:
            self._call("canceling the order", self._trading.cancel_order_by_id, order_id)
        return True

    def cancel_order(self, client_order_id: str) -> OrderUpdate | None:
        found = self.get_order(client_order_id)
        if found is None or found.status in ("filled", "canceled", "rejected", "expired"):
            return found
        self._cancel_by_id(found.broker_order_id)
        return self.get_order(client_order_id)

    # -- instruments -----------------------------------------------------------------------

    def list_instruments(self) -> list[InstrumentInfo]:
        # Alpaca lists one asset class per call, us_equity when none is named: the crypto
        # pairs come only when asked for.
        assets = [
            asset
            for asset_class in (AssetClass.US_EQUITY, AssetClass.CRYPTO)
            for asset in self._call(
                "listing assets",
                self._trading.get_all_assets,
                GetAssetsRequest(status=AssetStatus.ACTIVE, asset_class=asset_class),
            )
        ]
        found = []
        for asset in assets:
            asset_class = ASSET_CLASSES.get(_enum(asset.asset_class))
            if asset_class is None:
                continue
            # The ticker database keeps crypto pairs without the slash (BTCUSD), as the
            # alert platforms send them; stocks trade in whole shares unless a
            # subscription asks for fractions.
            step = D("1")
            if asset_class == "crypto":
                step = _dec(asset.min_trade_increment) or CRYPTO_STEP
            found.append(
                InstrumentInfo(
                    symbol=asset.symbol.replace("/", "").upper(),
                    name=(asset.name or "")[:200],
                    asset_class=asset_class,
                    exchange=_enum(asset.exchange)[:40],
                    quantity_step=step,
                    tradable=bool(asset.tradable) and _enum(asset.status) == "active",
                )
            )
        return found
