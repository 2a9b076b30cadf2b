"""Crypto exchanges (spot) through ccxt's synchronous API: one adapter, one small profile
per supported exchange (EXCHANGES). Only exchanges with tests against a stand-in are
listed; each is its own broker kind (BrokerAccount.broker = the ccxt exchange id).

Rules a reader may look for:
- paper mode uses the exchange's sandbox (ccxt's set_sandbox_mode); an exchange without
  one cannot have paper accounts (brokers.services refuses them with ``mode_errors``).
- quantities are truncated to the lot size and prices rounded to the tick size
  (amount_to_precision / price_to_precision); an order below the market's minimum amount
  or minimum order value is refused here, with the numbers, before the exchange is asked.
- our client order id reaches the exchange through ccxt's unified ``clientOrderId``,
  shaped to what the exchange accepts (``exchange_client_order_id``).
- look before placing: Binance and Kraken refuse a client id only while an order with it
  is *open*; a filled market order's id is accepted again and would make a second order.
  So every submission first asks for the order by client id, and after a timeout, a 5xx
  or a duplicate-id refusal asks again and carries on with what it finds.
- ccxt has no fill stream here: fills come back by polling (the trade_stream process's
  poller, execution.streaming; order_sync_open for one account).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING

from django.conf import settings

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

if TYPE_CHECKING:
    from brokers.models import BrokerAccount

TIME_IN_FORCE = {"day": "GTC", "gtc": "GTC", "ioc": "IOC", "fok": "FOK"}
ORDER_TYPES = ("market", "limit")
_BINANCE_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_OUR_CLIENT_ID = re.compile(r"^tr-([0-9a-f]{32})$")


def _binance_client_id(client_order_id: str) -> str:
    # Binance: at most 36 of [.A-Z:/a-z0-9_-]; ours ("tr-" + 32 hex) fit as they are.
    if _BINANCE_CLIENT_ID.match(client_order_id):
        return client_order_id
    return "tr-" + hashlib.sha256(client_order_id.encode()).hexdigest()[:32]


def _kraken_client_id(client_order_id: str) -> str:
    # Kraken's cl_ord_id is a UUID (or free text of at most 18 characters): ours become
    # the UUID spelled by their 32 hex digits, which reads back (``our_client_order_id``).
    match = _OUR_CLIENT_ID.match(client_order_id)
    digits = match.group(1) if match else hashlib.sha256(client_order_id.encode()).hexdigest()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:32]}"


@dataclass(frozen=True)
class Exchange:
    id: str  # ccxt's exchange id, and the BrokerAccount.broker value
    name: str
    has_sandbox: bool
    quote: str  # the currency cash and equity are counted in
    client_order_id: object  # our client order id -> the exchange's
    # Binance finds an order by client id only within a symbol; Kraken searches its open
    # and its closed orders by cl_ord_id.
    lookup_needs_symbol: bool
    options: dict = field(default_factory=dict)
    # Options fetch_markets fills in that set_markets (our markets cache) does not.
    market_options: tuple[str, ...] = ()
    needs_password: bool = False


EXCHANGES: dict[str, Exchange] = {
    "binance": Exchange(
        id="binance",
        name="Binance",
        has_sandbox=True,
        quote="USDT",
        client_order_id=_binance_client_id,
        lookup_needs_symbol=True,
        options={
            # Spot only: the futures and margin listings are other APIs (and keys).
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchMargins": False,
            # Currencies come from a /sapi wallet endpoint that needs more key permissions
            # and adds nothing the spot markets do not say.
            "fetchCurrencies": False,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        },
    ),
    "kraken": Exchange(
        id="kraken",
        name="Kraken",
        has_sandbox=False,
        quote="USD",
        client_order_id=_kraken_client_id,
        lookup_needs_symbol=False,
        market_options=("marketsByAltname",),
    ),
}


def our_client_order_id(exchange_client_id: str | None) -> str:
    """Our client order id for the one an exchange reports (inverse of the shaping above
    for the ids we make; other ids come back as they are)."""
    if not exchange_client_id:
        return ""
    digits = exchange_client_id.replace("-", "")
    if len(exchange_client_id) == 36 and re.fullmatch(r"[0-9a-f]{32}", digits):
        return f"tr-{digits}"
    return exchange_client_id


def mode_errors(*, broker: str, mode: str) -> dict[str, str]:
    """The account rule brokers.services applies: paper mode needs a sandbox."""
    exchange = EXCHANGES.get(broker)
    if exchange is None or mode != "paper" or exchange.has_sandbox:
        return {}
    return {
        "mode": f"{exchange.name} has no sandbox for paper trading: use mode live (with "
        f"keys of a {exchange.name} account) or a paper account of the built-in broker."
    }


# (exchange id, sandbox, base URLs) -> (expires, markets, currencies, options)
_markets_cache: dict[tuple, tuple] = {}


def _override_urls(urls: dict, base: str) -> dict:
    """``urls`` (an exchange's API map) with every scheme and host replaced by ``base``."""
    base = base.rstrip("/")
    replaced = {}
    for key, url in urls.items():
        if isinstance(url, str) and url.startswith("http"):
            path = re.sub(r"^https?://[^/]+", "", url)
            replaced[key] = base + path
        else:
            replaced[key] = url
    return replaced


def ccxt_exchange(exchange_id: str, *, sandbox: bool, credentials: dict | None = None):
    """A ccxt client for ``exchange_id`` with our settings applied (URLs, timeout,
    options), its markets loaded (from the per-process cache when fresh)."""
    import ccxt as ccxt_sdk  # lazily: only processes that trade crypto load ccxt

    profile = EXCHANGES[exchange_id]
    credentials = credentials or {}
    config = {
        "timeout": int(settings.CCXT_TIMEOUT_SECONDS * 1000),
        # ccxt's throttle paces one client object, and we make one per account and call:
        # it would only add seconds (Kraken's is 3 s a call) to the few calls an order
        # takes. A rate-limit answer is a TransientBrokerError, retried with backoff.
        "enableRateLimit": False,
        "options": json.loads(json.dumps(profile.options)),
    }
    for name in ("apiKey", "secret", "password"):
        if credentials.get(name):
            config[name] = credentials[name]
    client = getattr(ccxt_sdk, exchange_id)(config)
    overrides = getattr(settings, "CCXT_URLS", {}) or {}
    if sandbox:
        if "test" in client.urls and overrides.get(f"{exchange_id}:sandbox"):
            client.urls["test"] = _override_urls(
                client.urls["test"], overrides[f"{exchange_id}:sandbox"]
            )
        client.set_sandbox_mode(True)
    elif overrides.get(exchange_id):
        client.urls["api"] = _override_urls(client.urls["api"], overrides[exchange_id])
    _load_markets(client, profile, sandbox)
    return client


def _load_markets(client, profile: Exchange, sandbox: bool) -> None:
    key = (profile.id, sandbox, json.dumps(client.urls["api"], sort_keys=True))
    cached = _markets_cache.get(key)
    if cached and cached[0] > time.monotonic():
        _, markets, currencies, options = cached
        client.set_markets(markets, currencies)
        client.options.update(options)
        return
    try:
        client.load_markets()
    except Exception as exc:
        raise translate_error(exc, profile) from exc
    options = {name: client.options.get(name) for name in profile.market_options}
    expires = time.monotonic() + settings.CCXT_MARKETS_CACHE_SECONDS
    _markets_cache[key] = (expires, client.markets, client.currencies, options)


def _compact(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def find_market(client, symbol: str) -> dict | None:
    """The spot market a signal's ticker names: the unified symbol (BTC/USDT), the
    exchange's id (BTCUSDT, XXBTZUSD), its altname (XBTUSD) or base+quote (BTCUSD)."""
    wanted = symbol.strip().upper()
    market = client.markets.get(wanted)
    if market is not None and market.get("spot"):
        return market
    compact = _compact(wanted)
    for market in client.markets.values():
        if not market.get("spot"):
            continue
        names = (market["id"], market["base"] + market["quote"], market["info"].get("altname"))
        if compact in {_compact(n) for n in names if n}:
            return market
    return None


def _exchange_text(exc: Exception, profile: Exchange) -> str:
    """The exchange's own words from a ccxt error ("binance {json}" or "binance text")."""
    text = str(exc)
    if text.lower().startswith(profile.id):
        text = text[len(profile.id) :].strip()
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
        except ValueError:
            body = None
        if isinstance(body, dict):
            errors = body.get("error")
            text = body.get("msg") or (", ".join(errors) if isinstance(errors, list) else text)
    return text[:200]


def translate_error(exc: Exception, profile: Exchange, client=None) -> BrokerError:
    """A ccxt error as a BrokerError a trader understands; transient ones say so."""
    import ccxt as ccxt_sdk

    name = profile.name
    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, ccxt_sdk.DDoSProtection):
        error = TransientBrokerError(f"{name} asked us to slow down (rate limit); retrying.")
        headers = getattr(client, "last_response_headers", None) or {}
        error.retry_after = _seconds(headers.get("Retry-After"))
        return error
    if isinstance(exc, ccxt_sdk.RequestTimeout):
        return TransientBrokerError(f"{name} did not answer in time; retrying.")
    if isinstance(exc, ccxt_sdk.NetworkError):
        return TransientBrokerError(f"{name} is unreachable or unavailable; retrying.")
    text = _exchange_text(exc, profile)
    if isinstance(exc, ccxt_sdk.InsufficientFunds):
        return OrderRejected(f"Insufficient funds on {name} for this order ({text}).")
    if isinstance(exc, ccxt_sdk.BadSymbol):
        return OrderRejected(f"{name} does not trade this symbol ({text}).")
    if isinstance(exc, ccxt_sdk.InvalidOrder):
        return OrderRejected(f"{name} refused the order: {text}")
    credentials_refused = re.search(r"invalid (api[- ]?)?(key|signature)", text, re.I)
    if credentials_refused or isinstance(
        exc, ccxt_sdk.AuthenticationError | ccxt_sdk.PermissionDenied
    ):
        return BrokerError(
            f"{name} refused the API key or secret ({text}): check them, and that the key "
            "may read balances and trade spot."
        )
    if isinstance(exc, ccxt_sdk.AccountSuspended):
        return BrokerError(f"{name} says the account is suspended ({text}).")
    if isinstance(exc, ccxt_sdk.BaseError):
        return BrokerError(f"{name} refused: {text}")
    return BrokerError(f"{name}: unexpected error ({exc.__class__.__name__}).")


def _seconds(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _decimal(value) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")


_STATUS = {"closed": "filled", "canceled": "canceled", "expired": "expired"}
_STATUS |= {"rejected": "rejected"}


def order_update(order: dict, *, client_order_id: str = "", symbol: str = "") -> OrderUpdate:
    """A ccxt order structure as our OrderUpdate."""
    filled = _decimal(order.get("filled")) or Decimal("0")
    status = _STATUS.get(order.get("status"))
    if order.get("status") == "open":
        status = "partially_filled" if filled > 0 else "open"
    stamp = order.get("lastTradeTimestamp") or order.get("lastUpdateTimestamp")
    filled_at = None
    if status == "filled" and (stamp or order.get("timestamp")):
        filled_at = datetime.fromtimestamp((stamp or order["timestamp"]) / 1000, tz=UTC)
    return OrderUpdate(
        client_order_id=client_order_id or our_client_order_id(order.get("clientOrderId")),
        broker_order_id=str(order.get("id") or ""),
        status=status or "submitted",
        filled_quantity=filled,
        filled_avg_price=_decimal(order.get("average")) if filled else None,
        filled_at=filled_at,
        symbol=symbol or order.get("symbol") or "",
        side=order.get("side") or "",
        quantity=_decimal(order.get("amount")),
        order_type=order.get("type") or "",
        limit_price=_decimal(order.get("price")) if order.get("type") == "limit" else None,
    )


def _keeps_decimal_context(function):
    """ccxt's rounding (decimal_to_precision, behind amount_to_precision and inside its
    create_order) sets the calling thread's decimal context to round half up with
    underflow trapped, and never restores it. The thread then goes on to other work, other
    tenants' paper bookings included, whose money must round as before: every entry point
    runs in a copy of the context, discarded on return."""

    @functools.wraps(function)
    def kept(*args, **kwargs):
        with localcontext():
            return function(*args, **kwargs)

    return kept


def _entry_points_keep_decimal_context(cls):
    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(value):
            setattr(cls, name, _keeps_decimal_context(value))
    return cls


@_entry_points_keep_decimal_context
class CcxtAdapter(BrokerAdapter):
    """Spot trading on one ccxt exchange (the subclass names it)."""

    exchange_id = ""

    def __init__(self, account: BrokerAccount):
        super().__init__(account)
        self.profile = EXCHANGES[self.exchange_id]
        self._client = None
        # Symbols of orders this adapter placed: Binance finds an order only within its
        # symbol, and the caller may ask before our Order row records it.
        self._symbols: dict[str, str] = {}

    @classmethod
    def credential_fields(cls) -> list[tuple[str, str, bool]]:
        fields = [("apiKey", "API key", False), ("secret", "API secret", True)]
        if EXCHANGES[cls.exchange_id].needs_password:
            fields.append(("password", "API passphrase", True))
        return fields

    @property
    def sandbox(self) -> bool:
        return self.account.mode == "paper"

    @property
    def client(self):
        if self._client is None:
            errors = mode_errors(broker=self.exchange_id, mode=self.account.mode)
            if errors:
                raise BrokerError(errors["mode"])
            self._client = ccxt_exchange(
                self.exchange_id, sandbox=self.sandbox, credentials=self.account.credentials
            )
        return self._client

    def _call(self, method: str, *args, **kwargs):
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except Exception as exc:
            raise translate_error(exc, self.profile, self._client) from exc

    def _market(self, symbol: str) -> dict:
        market = find_market(self.client, symbol)
        if market is None:
            raise OrderRejected(f"{self.profile.name} has no spot market for {symbol}.")
        return market

    # -- account -----------------------------------------------------------------------

    def _balance(self) -> dict:
        return self._call("fetch_balance")

    def get_account(self) -> AccountSnapshot:
        balance = self._balance()
        quote = self.profile.quote
        cash = _decimal(balance.get(quote, {}).get("free")) or Decimal("0")
        equity = _decimal(balance.get(quote, {}).get("total")) or Decimal("0")
        for currency, total in self._holdings(balance).items():
            market = find_market(self.client, f"{currency}/{quote}")
            if market is not None:
                ticker = self._call("fetch_ticker", market["symbol"])
                equity += total * (_decimal(ticker.get("last")) or Decimal("0"))
        return AccountSnapshot(equity=equity, cash=cash, buying_power=cash)

    def _holdings(self, balance: dict) -> dict[str, Decimal]:
        totals = balance.get("total") or {}
        return {
            currency: _decimal(amount)
            for currency, amount in totals.items()
            if currency != self.profile.quote and _decimal(amount)
        }

    def get_position(self, symbol: str) -> BrokerPosition | None:
        market = find_market(self.client, symbol)
        if market is None:  # a market the exchange does not list holds nothing
            return None
        held = self._holdings(self._balance()).get(market["base"])
        if not held:
            return None
        # A spot balance has no cost basis at the exchange. Named as list_positions names
        # it (base and quote joined), whatever alias the caller used.
        return BrokerPosition(
            symbol=market["base"] + market["quote"], quantity=held, average_price=Decimal("0")
        )

    def list_positions(self) -> list[BrokerPosition]:
        positions = []
        for currency, held in self._holdings(self._balance()).items():
            market = find_market(self.client, f"{currency}/{self.profile.quote}")
            symbol = market["base"] + market["quote"] if market else currency
            positions.append(
                BrokerPosition(symbol=symbol, quantity=held, average_price=Decimal("0"))
            )
        return positions

    def get_quote(self, symbol: str) -> Quote | None:
        ticker = self._call("fetch_ticker", self._market(symbol)["symbol"])
        return _quote(symbol, ticker)

    def test_connection(self) -> str:
        balance = self._balance()
        where = "testnet" if self.sandbox else "live"
        held = len(self._holdings(balance))
        cash = _decimal(balance.get(self.profile.quote, {}).get("total")) or Decimal("0")
        return (
            f"{self.profile.name} {where} account: {_plain(cash)} {self.profile.quote}, "
            f"{held} other asset(s) held"
        )

    def list_instruments(self) -> list[InstrumentInfo]:
        return [
            InstrumentInfo(
                symbol=market["base"] + market["quote"],
                name=f"{market['base']}/{market['quote']}",
                asset_class="crypto",
                exchange=self.profile.name.upper(),
                quantity_step=_decimal(market["precision"].get("amount")) or Decimal("1"),
                tradable=bool(market.get("active")),
            )
            for market in self.client.markets.values()
            if market.get("spot")
        ]

    # -- orders ------------------------------------------------------------------------

    def submit_order(self, request: OrderRequest) -> OrderUpdate:
        _check_supported(request, self.profile)
        market = self._market(request.symbol)
        amount, price = self._sized(market, request)
        client_id = self.profile.client_order_id(request.client_order_id)
        self._symbols[request.client_order_id] = request.symbol
        found = self._find(market, client_id)
        if found is not None:
            return self._update(found, request)
        params = {"clientOrderId": client_id}
        if request.order_type == "limit":
            params["timeInForce"] = TIME_IN_FORCE[request.time_in_force]
        try:
            order = self.client.create_order(
                market["symbol"], request.order_type, request.side, amount, price, params
            )
        except Exception as exc:
            return self._after_failed_create(exc, market, client_id, request)
        if order.get("status") is None:  # Kraken's AddOrder answers only the order id
            order = self._call("fetch_order", order["id"], market["symbol"])
        return self._update(order, request)

    def _after_failed_create(self, exc, market, client_id, request) -> OrderUpdate:
        """The order may exist after a timeout, a 5xx or a duplicate-id refusal: look it up
        and carry on with it. Not found (yet): transient, and the retry looks first."""
        import ccxt as ccxt_sdk

        error = translate_error(exc, self.profile, self._client)
        duplicate = isinstance(exc, ccxt_sdk.ExchangeError) and "duplicate" in str(exc).lower()
        ambiguous = isinstance(exc, ccxt_sdk.NetworkError) and not isinstance(
            exc, ccxt_sdk.DDoSProtection
        )
        if not (duplicate or ambiguous):
            raise error from exc
        found = self._find(market, client_id)
        if found is not None:
            return self._update(found, request)
        raise TransientBrokerError(
            f"{self.profile.name} did not confirm order {request.client_order_id} "
            f"({error}); looking it up again before any new attempt."
        ) from exc

    def _sized(self, market: dict, request: OrderRequest) -> tuple[float, float | None]:
        """The quantity on the lot size and the limit price on the tick size, refused with
        the numbers when below the market's minimum amount or order value."""
        import ccxt as ccxt_sdk

        symbol, limits = market["symbol"], market.get("limits") or {}
        base, quote = market["base"], market["quote"]
        where = f"{self.profile.name} {symbol}"
        try:
            amount = Decimal(self.client.amount_to_precision(symbol, str(request.quantity)))
        except ccxt_sdk.InvalidOrder:
            amount = Decimal("0")
        step = _decimal(market["precision"].get("amount"))
        if amount <= 0:
            raise OrderRejected(
                f"Order too small for {where}: {_plain(request.quantity)} {base} rounds to 0 "
                f"at the lot size of {_plain(step)} {base}."
            )
        minimum = _decimal((limits.get("amount") or {}).get("min"))
        if minimum and amount < minimum:
            raise OrderRejected(
                f"Order too small for {where}: {_plain(amount)} {base} is below the minimum "
                f"amount of {_plain(minimum)} {base}."
            )
        price = None
        if request.order_type == "limit":
            price = Decimal(self.client.price_to_precision(symbol, str(request.limit_price)))
        min_cost = _decimal((limits.get("cost") or {}).get("min"))
        if min_cost:
            at = price or request.reference_price or self._last_price(symbol)
            if at and amount * at < min_cost:
                raise OrderRejected(
                    f"Order too small for {where}: {_plain(amount)} {base} at {_plain(at)} "
                    f"{quote} is {_plain(amount * at)} {quote}, below the minimum order "
                    f"value of {_plain(min_cost)} {quote}."
                )
        return float(amount), float(price) if price is not None else None

    def _last_price(self, symbol: str) -> Decimal | None:
        return _decimal(self._call("fetch_ticker", symbol).get("last"))

    def _find(self, market: dict | None, client_id: str) -> dict | None:
        """The exchange's order with ``client_id`` (its own shape of our id), or None."""
        import ccxt as ccxt_sdk

        if self.profile.lookup_needs_symbol:
            if market is None:
                return None
            try:
                return self._call_raw(
                    "fetch_order", None, market["symbol"], {"clientOrderId": client_id}
                )
            except ccxt_sdk.OrderNotFound:
                return None
        params = {"clientOrderId": client_id}
        for method in ("fetch_open_orders", "fetch_closed_orders"):
            orders = self._call(method, None, None, None, params)
            if orders:
                return orders[0]
        return None

    def _call_raw(self, method: str, *args):
        """Like _call, but OrderNotFound comes through for the caller to read."""
        import ccxt as ccxt_sdk

        try:
            return getattr(self.client, method)(*args)
        except ccxt_sdk.OrderNotFound:
            raise
        except Exception as exc:
            raise translate_error(exc, self.profile, self._client) from exc

    def _update(self, order: dict, request: OrderRequest) -> OrderUpdate:
        return order_update(order, client_order_id=request.client_order_id, symbol=request.symbol)

    def _recorded_symbol(self, client_order_id: str) -> str | None:
        from brokers.models import Order

        orders = Order.objects.filter(account_id=self.account.pk, client_order_id=client_order_id)
        return orders.values_list("symbol", flat=True).first()

    def _find_ours(self, client_order_id: str) -> tuple[dict | None, str]:
        symbol = self._symbols.get(client_order_id) or self._recorded_symbol(client_order_id) or ""
        market = find_market(self.client, symbol) if symbol else None
        found = self._find(market, self.profile.client_order_id(client_order_id))
        return found, symbol

    def get_order(self, client_order_id: str) -> OrderUpdate | None:
        found, symbol = self._find_ours(client_order_id)
        if found is None:
            return None
        return order_update(found, client_order_id=client_order_id, symbol=symbol)

    def cancel_order(self, client_order_id: str) -> OrderUpdate | None:
        import ccxt as ccxt_sdk

        found, symbol = self._find_ours(client_order_id)
        if found is None:
            return None
        if found.get("status") == "open":
            # Not found: it filled or was canceled meanwhile; the fresh state says which.
            with contextlib.suppress(ccxt_sdk.OrderNotFound):
                self._call_raw("cancel_order", found["id"], found.get("symbol"))
            found, symbol = self._find_ours(client_order_id)
        return order_update(found, client_order_id=client_order_id, symbol=symbol)

    def cancel_open_orders(self, symbol: str) -> int:
        import ccxt as ccxt_sdk

        market = self._market(symbol)
        canceled = 0
        for order in self._call("fetch_open_orders", market["symbol"]):
            try:
                self._call_raw("cancel_order", order["id"], market["symbol"])
            except ccxt_sdk.OrderNotFound:
                continue
            canceled += 1
        return canceled

    def list_open_orders(self) -> list[OrderUpdate]:
        return [order_update(order) for order in self._call("fetch_open_orders")]


def _check_supported(request: OrderRequest, profile: Exchange) -> None:
    problems = []
    if request.order_type not in ORDER_TYPES:
        problems.append(f"{profile.name} spot orders are market or limit, not {request.order_type}")
    if request.bracket is not None:
        problems.append(
            f"bracket orders (take profit / stop loss) are not placed on {profile.name}"
        )
    if request.order_type == "limit" and request.time_in_force not in TIME_IN_FORCE:
        problems.append(
            f"time in force {request.time_in_force} does not exist on {profile.name} "
            "(crypto trades around the clock): use day, gtc, ioc or fok"
        )
    if request.order_type == "limit" and not request.limit_price:
        problems.append("a limit order needs a limit price")
    if problems:
        raise OrderRejected("Order rejected: " + "; ".join(problems) + ".")


def _quote(symbol: str, ticker: dict) -> Quote | None:
    bid, ask, last = (_decimal(ticker.get(key)) for key in ("bid", "ask", "last"))
    if bid is None and ask is None and last is None:
        return None
    return Quote(symbol=symbol, bid=bid, ask=ask, last=last)


@_keeps_decimal_context
def public_quote(exchange_id: str, symbol: str) -> Quote | None:
    """The exchange's public ticker for ``symbol`` (no keys): a paper account's market
    data. None when the exchange lists no such market."""
    profile = EXCHANGES[exchange_id]
    client = ccxt_exchange(exchange_id, sandbox=False)
    market = find_market(client, symbol)
    if market is None:
        return None
    try:
        ticker = client.fetch_ticker(market["symbol"])
    except Exception as exc:
        raise translate_error(exc, profile, client) from exc
    return _quote(symbol, ticker)


class BinanceAdapter(CcxtAdapter):
    exchange_id = "binance"


class KrakenAdapter(CcxtAdapter):
    exchange_id = "kraken"
