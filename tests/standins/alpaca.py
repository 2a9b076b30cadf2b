"""A stand-in for Alpaca's trading API, its market-data API and its trade-update stream,
on a free loopback port, shaped as Alpaca publishes them (field names, status codes,
``{"code", "message"}`` error bodies, the websocket's authenticate / listen messages and
``trade_updates`` events), so brokers/adapters/alpaca.py is driven through alpaca-py
over real HTTP and a real websocket.

One aiohttp server (async handlers, delays by asyncio.sleep) in its own thread and event
loop: 1,000 orders each answered after 150 ms overlap instead of queueing.

Each API key is its own brokerage account (cash, positions, orders). Knobs for tests are
plain attributes (see ``AlpacaStandin.__init__``); ``orders_received`` and ``order_posts``
are the inspection API. Market orders fill at the symbol's price (``set_price``), at once
by default (the POST answers with the filled order) or after ``fill_delay`` seconds, in the
pieces ``partial_fills`` names; each fill is pushed to the account's stream listeners.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from aiohttp import WSMsgType, web

D = Decimal
OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled", "held", "done_for_day"}
LEG_STATUSES_WAITING = {"held"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _s(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def _error(status: int, code: int, message: str, **extra) -> web.Response:
    return web.json_response({"code": code, "message": message, **extra}, status=status)


@dataclass
class StandinOrder:
    key_id: str
    symbol: str
    side: str
    qty: Decimal
    type: str
    time_in_force: str
    client_order_id: str
    order_class: str = "simple"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_price: Decimal | None = None
    trail_percent: Decimal | None = None
    extended_hours: bool = False
    status: str = "accepted"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    filled_qty: Decimal = D("0")
    filled_avg_price: Decimal | None = None
    legs: list[StandinOrder] = field(default_factory=list)
    parent: StandinOrder | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    filled_at: str | None = None
    canceled_at: str | None = None
    position_intent: str = ""  # Alpaca's buy_to_open, sell_to_close, ...
    payload: dict = field(default_factory=dict)

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def to_json(self, nested: bool = True) -> dict:
        return {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.created_at,
            "filled_at": self.filled_at,
            "expired_at": None,
            "canceled_at": self.canceled_at,
            "failed_at": None,
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.symbol)),
            "symbol": self.symbol,
            "asset_class": "crypto" if "/" in self.symbol else "us_equity",
            "notional": None,
            "qty": _s(self.qty),
            "filled_qty": _s(self.filled_qty),
            "filled_avg_price": _s(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "position_intent": self.position_intent or None,
            "time_in_force": self.time_in_force,
            "limit_price": _s(self.limit_price),
            "stop_price": _s(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": [leg.to_json() for leg in self.legs] if (nested and self.legs) else None,
            "trail_percent": _s(self.trail_percent),
            "trail_price": _s(self.trail_price),
            "hwm": None,
            "subtag": None,
            "source": None,
        }


def _intent(side: str, held) -> str:
    """Alpaca's position_intent of an order: opening or closing, by the position it meets."""
    if side == "buy":
        return "buy_to_close" if held < 0 else "buy_to_open"
    return "sell_to_close" if held > 0 else "sell_to_open"


@dataclass
class StandinAccount:
    key_id: str
    secret: str
    cash: Decimal
    number: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # symbol -> [signed quantity, average entry price]
    positions: dict[str, list[Decimal]] = field(default_factory=dict)
    orders: dict[str, StandinOrder] = field(default_factory=dict)
    by_client_id: dict[str, StandinOrder] = field(default_factory=dict)
    listeners: set = field(default_factory=set)


ACCOUNT = web.RequestKey("account", StandinAccount)

DEFAULT_ASSETS = {
    "AAPL": ("Apple Inc. Common Stock", "NASDAQ", "us_equity"),
    "MSFT": ("Microsoft Corporation Common Stock", "NASDAQ", "us_equity"),
    "TSLA": ("Tesla, Inc. Common Stock", "NASDAQ", "us_equity"),
    "SPY": ("SPDR S&P 500 ETF Trust", "ARCA", "us_equity"),
    "GME": ("GameStop Corp. Class A", "NYSE", "us_equity"),
    "BTC/USD": ("Bitcoin  / US Dollar", "CRYPTO", "crypto"),
}


class AlpacaStandin:
    def __init__(self, *, accept_any_key: bool = False):
        # --- knobs -------------------------------------------------------------------
        self.accept_any_key = accept_any_key  # unknown keys get a fresh account
        self.latency = 0.0  # seconds before every HTTP answer
        self.order_latency = 0.0  # more seconds before answering POST /v2/orders
        self.sleep_after_create = 0.0  # POST /v2/orders: create, then wait this long
        self.fail_after_create = 0  # next N order POSTs create the order, then answer 504
        self.fail_after_create_status = 504  # (or this status: 500, 502, ...)
        self.rate_limit_orders = 0  # next N order POSTs are answered 429
        self.retry_after = 1  # the Retry-After header of those 429s
        self.server_errors = 0  # next N requests of any kind are answered 500
        self.auto_fill = True  # marketable orders fill by themselves
        self.fill_delay = 0.0  # seconds before the first fill (0: before the POST answers)
        self.fill_interval = 0.05  # seconds between the pieces of a partial fill
        self.partial_fills: list[Decimal] = []  # fractions of qty filled one by one first
        self.not_shortable: set[str] = {"GME"}
        self.not_tradable: set[str] = set()
        self.market_closed = False
        self.stream_refuses = False  # the websocket refuses to authorize anyone
        self.set_cookie = ""  # a Set-Cookie header on every HTTP answer (a load balancer's)
        # --- inspection ------------------------------------------------------------------
        self.orders_received: list[dict] = []  # every POST /v2/orders body, with its key
        self.order_posts = 0  # POST /v2/orders requests, retries included
        # Set once an order POST has created its order (before any sleep_after_create): a
        # test waits on it to act while the answer is still held.
        self.order_created = threading.Event()
        self.orders_in_flight = 0  # POST /v2/orders requests being answered now
        self.orders_max_in_flight = 0  # the most of them at once
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.requests_in_flight = 0  # HTTP requests of any kind being answered now
        self.requests_max_in_flight = 0  # the most of them at once
        self.client_ports: set[int] = set()  # one per TCP connection a client opened
        self.cookies_received: list[str] = []  # the Cookie header of every request, if any
        # --- state ---------------------------------------------------------------------
        self.accounts: dict[str, StandinAccount] = {}
        self.prices: dict[str, Decimal] = {}
        self.assets = {
            symbol: self._asset(symbol, *info) for symbol, info in DEFAULT_ASSETS.items()
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> AlpacaStandin:
        started = threading.Event()
        failure: list[BaseException] = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="alpaca-standin", daemon=True)
        self._thread.start()
        started.wait(10)
        if failure:
            raise failure[0]
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/stream", self._stream)
        app.router.add_get("/v2/account", self._account)
        app.router.add_get("/v2/positions", self._positions)
        app.router.add_get("/v2/positions/{symbol}", self._position)
        app.router.add_post("/v2/orders", self._order_create)
        app.router.add_get("/v2/orders", self._orders_list)
        app.router.add_delete("/v2/orders", self._orders_cancel_all)
        app.router.add_get("/v2/orders:by_client_order_id", self._order_by_client_id)
        app.router.add_get("/v2/orders/{order_id}", self._order_get)
        app.router.add_delete("/v2/orders/{order_id}", self._order_cancel)
        app.router.add_get("/v2/assets", self._assets_list)
        app.router.add_get("/v2/assets/{symbol}", self._asset_get)
        app.router.add_get("/v2/clock", self._clock)
        app.router.add_get("/v2/stocks/quotes/latest", self._quotes_latest)
        app.router.add_get("/v2/stocks/trades/latest", self._trades_latest)
        app.router.add_get("/v2/stocks/{symbol}/quotes/latest", self._quote_latest)
        app.router.add_get("/v2/stocks/{symbol}/trades/latest", self._trade_latest)
        app.middlewares.append(self._middleware)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=2048)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def url(self) -> str:
        """The trading and data APIs' base URL (both are served here)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def stream_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stream"

    # --- set-up and inspection from the test's thread ------------------------------------

    def add_account(self, key_id: str, secret: str, cash="100000"):
        account = StandinAccount(
            key_id=key_id,
            secret=secret,
            cash=D(str(cash)),
            number=f"PA{len(self.accounts) + 1:09d}",
        )
        self.accounts[key_id] = account
        return account

    def set_price(self, symbol: str, price) -> None:
        self.prices[symbol] = D(str(price))

    def add_asset(self, symbol: str, name: str = "", tradable: bool = True, **fields) -> None:
        asset = self._asset(symbol, name or symbol, fields.pop("exchange", "NASDAQ"))
        asset.update(tradable=tradable, **fields)
        self.assets[symbol] = asset

    def orders(self, key_id: str) -> list[StandinOrder]:
        return list(self.accounts[key_id].orders.values())

    def listeners(self, key_id: str) -> int:
        account = self.accounts.get(key_id)
        return len(account.listeners) if account else 0

    def call(self, coroutine_function, *args):
        """Run a coroutine function of the server's state in its loop; its result."""
        future = asyncio.run_coroutine_threadsafe(coroutine_function(*args), self._loop)
        return future.result(10)

    def fill(self, key_id: str, client_order_id: str, qty, price=None) -> None:
        """Fill ``qty`` of an order now (at ``price`` or the symbol's price)."""

        async def do():
            account = self.accounts[key_id]
            order = account.by_client_id[client_order_id]
            await self._fill(account, order, D(str(qty)), D(str(price)) if price else None)

        self.call(do)

    def set_position(self, key_id: str, symbol: str, qty, price) -> None:
        """Drift injected at the broker (a trade made outside TradeRelay)."""
        self.accounts[key_id].positions[symbol] = [D(str(qty)), D(str(price))]

    def drop_streams(self) -> None:
        async def do():
            for account in self.accounts.values():
                for ws in list(account.listeners):
                    await ws.close()
                account.listeners.clear()

        self.call(do)

    # --- plumbing -------------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if peer:
            self.client_ports.add(peer[1])
        if request.headers.get("Cookie"):
            self.cookies_received.append(request.headers["Cookie"])
        if request.path == "/stream":
            return await handler(request)
        self.requests_in_flight += 1
        self.requests_max_in_flight = max(self.requests_max_in_flight, self.requests_in_flight)
        try:
            response = await self._answer(request, handler)
        finally:
            self.requests_in_flight -= 1
        if self.set_cookie:
            response.headers["Set-Cookie"] = self.set_cookie
        return response

    async def _answer(self, request: web.Request, handler):
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.server_errors > 0:
            self.server_errors -= 1
            return _error(500, 50010000, "internal server error occurred")
        account = self._authenticate(
            request.headers.get("APCA-API-KEY-ID", ""),
            request.headers.get("APCA-API-SECRET-KEY", ""),
        )
        if account is None:
            return _error(401, 40110000, "request is not authorized")
        request[ACCOUNT] = account
        return await handler(request)

    def _authenticate(self, key_id: str, secret: str) -> StandinAccount | None:
        account = self.accounts.get(key_id)
        if account is None and self.accept_any_key and key_id and secret:
            account = self.add_account(key_id, secret)
        if account is None or account.secret != secret:
            return None
        return account

    @staticmethod
    def _asset(symbol: str, name: str, exchange: str, asset_class: str = "us_equity") -> dict:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            "class": asset_class,
            "exchange": exchange,
            "symbol": symbol,
            "name": name,
            "status": "active",
            "tradable": True,
            "marginable": asset_class == "us_equity",
            "shortable": asset_class == "us_equity",
            "easy_to_borrow": asset_class == "us_equity",
            "fractionable": True,
            "maintenance_margin_requirement": 30 if asset_class == "us_equity" else 100,
            "attributes": [],
            # Fields of crypto assets only (Alpaca leaves them out of a stock's).
            **(
                {"min_order_size": "0.000045", "min_trade_increment": "0.000000001",
                 "price_increment": "1"}
                if asset_class == "crypto"
                else {}
            ),
        }  # fmt: skip

    def _price(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, D("100"))

    # --- account, positions ---------------------------------------------------------------

    def _equity(self, account: StandinAccount) -> Decimal:
        held = sum(q * self._price(s) for s, (q, _) in account.positions.items())
        return account.cash + held

    async def _account(self, request):
        account = request[ACCOUNT]
        equity = self._equity(account)
        return web.json_response(
            {
                "id": account.id,
                "admin_configurations": {},
                "user_configurations": None,
                "account_number": account.number,
                "status": "ACTIVE",
                "crypto_status": "ACTIVE",
                "options_approved_level": 0,
                "options_trading_level": 0,
                "currency": "USD",
                "buying_power": _s(account.cash),
                "regt_buying_power": _s(account.cash),
                "daytrading_buying_power": "0",
                "effective_buying_power": _s(account.cash),
                "non_marginable_buying_power": _s(account.cash),
                "options_buying_power": _s(account.cash),
                "bod_dtbp": "0",
                "cash": _s(account.cash),
                "accrued_fees": "0",
                "portfolio_value": _s(equity),
                "pattern_day_trader": False,
                "trading_blocked": False,
                "transfers_blocked": False,
                "account_blocked": False,
                "created_at": "2024-01-02T15:04:05.000000Z",
                "trade_suspended_by_user": False,
                "multiplier": "1",
                "shorting_enabled": True,
                "equity": _s(equity),
                "last_equity": _s(equity),
                "long_market_value": "0",
                "short_market_value": "0",
                "position_market_value": "0",
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": 0,
                "balance_asof": datetime.now(UTC).date().isoformat(),
                "crypto_tier": 1,
                "intraday_adjustments": "0",
                "pending_reg_taf_fees": "0",
            }
        )

    def _position_json(self, symbol: str, qty: Decimal, avg: Decimal) -> dict:
        price = self._price(symbol)
        crypto = "/" in symbol
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)),
            "symbol": symbol.replace("/", ""),
            "exchange": "CRYPTO" if crypto else "NASDAQ",
            "asset_class": "crypto" if crypto else "us_equity",
            "asset_marginable": not crypto,
            "qty": _s(qty),
            "qty_available": _s(qty),
            "avg_entry_price": _s(avg),
            "side": "long" if qty > 0 else "short",
            "market_value": _s(qty * price),
            "cost_basis": _s(qty * avg),
            "unrealized_pl": _s(qty * (price - avg)),
            "unrealized_plpc": "0",
            "unrealized_intraday_pl": "0",
            "unrealized_intraday_plpc": "0",
            "current_price": _s(price),
            "lastday_price": _s(price),
            "change_today": "0",
        }

    async def _positions(self, request):
        account = request[ACCOUNT]
        rows = [self._position_json(s, q, a) for s, (q, a) in account.positions.items() if q]
        return web.json_response(rows)

    async def _position(self, request):
        account = request[ACCOUNT]
        symbol = request.match_info["symbol"]
        held = account.positions.get(symbol) or account.positions.get(self._slashed(symbol))
        if not held or not held[0]:
            return _error(404, 40410000, "position does not exist")
        return web.json_response(self._position_json(symbol, *held))

    @staticmethod
    def _slashed(symbol: str) -> str:
        return f"{symbol[:-3]}/{symbol[-3:]}" if symbol.endswith("USD") else symbol

    # --- orders -----------------------------------------------------------------------------

    async def _order_create(self, request):
        # One event loop: the counters need no lock.
        self.orders_in_flight += 1
        self.orders_max_in_flight = max(self.orders_max_in_flight, self.orders_in_flight)
        try:
            return await self._order_create_one(request)
        finally:
            self.orders_in_flight -= 1

    async def _order_create_one(self, request):
        account = request[ACCOUNT]
        self.order_posts += 1
        if self.order_latency:
            await asyncio.sleep(self.order_latency)
        if self.rate_limit_orders > 0:
            self.rate_limit_orders -= 1
            response = _error(429, 42910000, "rate limit exceeded")
            response.headers["Retry-After"] = str(self.retry_after)
            return response
        try:
            body = await request.json()
        except ValueError:
            return _error(400, 40010000, "request body format is invalid")
        if not isinstance(body, dict):
            return _error(400, 40010000, "request body format is invalid")
        self.orders_received.append({"key_id": account.key_id, **body})
        refused = self._refusal(account, body)
        if refused is not None:
            return refused
        order = self._order_from(account, body)
        account.orders[order.id] = order
        account.by_client_id[order.client_order_id] = order
        for leg in order.legs:
            account.orders[leg.id] = leg
            account.by_client_id[leg.client_order_id] = leg
        await self._push(account, "new", order)
        await self._after_create(account, order)
        self.order_created.set()
        if self.sleep_after_create:
            await asyncio.sleep(self.sleep_after_create)
        if self.fail_after_create > 0:
            self.fail_after_create -= 1
            return web.Response(
                status=self.fail_after_create_status,
                text="<html><body><h1>Gateway error</h1></body></html>",
            )
        return web.json_response(order.to_json())

    def _refusal(self, account: StandinAccount, body: dict) -> web.Response | None:
        client_order_id = body.get("client_order_id") or ""
        if len(client_order_id) > 128:
            return _error(422, 40010001, "client_order_id must be no more than 128 characters")
        if client_order_id and client_order_id in account.by_client_id:
            return _error(422, 40010001, "client_order_id must be unique")
        symbol = body.get("symbol") or ""
        asset = self.assets.get(symbol)
        if asset is None:
            return _error(422, 40010001, f'asset "{symbol}" not found')
        if symbol in self.not_tradable or not asset["tradable"]:
            return _error(422, 42210000, f"asset {symbol} is not tradable")
        try:
            qty = D(str(body.get("qty")))
        except ArithmeticError:
            return _error(422, 40010001, "qty must be a number")
        if not qty.is_finite() or qty <= 0:
            return _error(422, 40010001, "qty must be > 0")
        order_type, tif = body.get("type"), body.get("time_in_force")
        if order_type not in ("market", "limit", "stop", "stop_limit", "trailing_stop"):
            return _error(422, 40010001, f"invalid order type: {order_type}")
        if tif not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            return _error(422, 40010001, f"invalid time_in_force: {tif}")
        if order_type in ("limit", "stop_limit") and body.get("limit_price") is None:
            return _error(422, 40010001, "limit_price is required")
        if order_type in ("stop", "stop_limit") and body.get("stop_price") is None:
            return _error(422, 40010001, "stop_price is required")
        if order_type == "trailing_stop" and not (
            body.get("trail_price") or body.get("trail_percent")
        ):
            return _error(422, 40010001, "trail_price or trail_percent is required")
        if body.get("extended_hours") and (order_type != "limit" or tif != "day"):
            return _error(422, 42210000, "extended hours order must be DAY limit orders")
        if body.get("order_class") == "bracket" and tif not in ("day", "gtc"):
            return _error(422, 42210000, "bracket orders must be DAY or GTC")
        if self.market_closed:
            return _error(403, 40310000, "market is closed")
        held = account.positions.get(symbol, [D("0"), D("0")])[0]
        shortable = symbol not in self.not_shortable and asset["shortable"]
        if body.get("side") == "sell" and qty > held and not shortable:
            return _error(403, 40310000, f"asset {symbol} cannot be sold short")
        price = D(str(body.get("limit_price") or self._price(symbol)))
        cost = qty * price
        if body.get("side") == "buy" and cost > account.cash:
            return _error(
                403,
                40310000,
                "insufficient buying power",
                buying_power=_s(account.cash),
                cost_basis=_s(cost),
            )
        return None

    @staticmethod
    def _held(account: StandinAccount, symbol: str) -> Decimal:
        return account.positions.get(symbol, [D("0"), D("0")])[0]

    def _order_from(self, account: StandinAccount, body: dict) -> StandinOrder:
        def dec(name, source=body):
            value = source.get(name)
            return D(str(value)) if value is not None else None

        order = StandinOrder(
            key_id=account.key_id,
            symbol=body["symbol"],
            side=body["side"],
            qty=D(str(body["qty"])),
            type=body["type"],
            time_in_force=body["time_in_force"],
            client_order_id=body.get("client_order_id") or str(uuid.uuid4()),
            order_class=body.get("order_class") or "simple",
            limit_price=dec("limit_price"),
            stop_price=dec("stop_price"),
            trail_price=dec("trail_price"),
            trail_percent=dec("trail_percent"),
            extended_hours=bool(body.get("extended_hours")),
            position_intent=_intent(body["side"], self._held(account, body["symbol"])),
            payload=body,
        )
        if order.order_class == "bracket":
            exit_side = "sell" if order.side == "buy" else "buy"
            take_profit, stop_loss = body.get("take_profit") or {}, body.get("stop_loss") or {}
            # Alpaca names the legs itself: the request has no client order ids for them.
            legs = [
                StandinOrder(
                    key_id=account.key_id, symbol=order.symbol, side=exit_side, qty=order.qty,
                    type="limit", time_in_force=order.time_in_force,
                    client_order_id=str(uuid.uuid4()), order_class="bracket",
                    limit_price=dec("limit_price", take_profit), status="held", parent=order,
                    position_intent=_intent(exit_side, -1 if order.side == "sell" else 1),
                ),
                StandinOrder(
                    key_id=account.key_id, symbol=order.symbol, side=exit_side, qty=order.qty,
                    type="stop_limit" if stop_loss.get("limit_price") else "stop",
                    time_in_force=order.time_in_force, client_order_id=str(uuid.uuid4()),
                    order_class="bracket", stop_price=dec("stop_price", stop_loss),
                    limit_price=dec("limit_price", stop_loss), status="held", parent=order,
                    position_intent=_intent(exit_side, -1 if order.side == "sell" else 1),
                ),
            ]  # fmt: skip
            order.legs = legs
        return order

    def _marketable(self, order: StandinOrder) -> bool:
        price = self._price(order.symbol)
        if order.type == "market":
            return True
        if order.type == "limit":
            return price <= order.limit_price if order.side == "buy" else price >= order.limit_price
        return False  # stops rest until the test fills them

    async def _after_create(self, account: StandinAccount, order: StandinOrder) -> None:
        order.status = "new"
        if not (self.auto_fill and self._marketable(order)):
            return
        pieces = [(order.qty * D(str(f))).quantize(D("1")) for f in self.partial_fills]
        pieces = [p for p in pieces if 0 < p < order.qty]
        if self.fill_delay == 0 and not pieces:
            await self._fill(account, order, order.qty, None)
            return
        asyncio.get_running_loop().create_task(self._fill_later(account, order, pieces))

    async def _fill_later(self, account, order: StandinOrder, pieces: list[Decimal]) -> None:
        await asyncio.sleep(self.fill_delay)
        for piece in pieces:
            if not order.open:
                return
            await self._fill(account, order, piece, None)
            await asyncio.sleep(self.fill_interval)
        if order.open:
            await self._fill(account, order, order.qty - order.filled_qty, None)

    async def _fill(self, account, order: StandinOrder, qty: Decimal, price) -> None:
        qty = min(qty, order.qty - order.filled_qty)
        if qty <= 0 or not order.open:
            return
        price = (
            price
            or (order.limit_price if order.type in ("limit", "stop_limit") else None)
            or self._price(order.symbol)
        )
        if order.type == "limit" and order.limit_price is not None:
            market = self._price(order.symbol)
            price = (
                min(market, order.limit_price)
                if order.side == "buy"
                else max(market, order.limit_price)
            )
        before = order.filled_qty
        order.filled_qty += qty
        order.filled_avg_price = (
            (order.filled_avg_price or D("0")) * before + price * qty
        ) / order.filled_qty
        order.updated_at = _now()
        signed = qty if order.side == "buy" else -qty
        account.cash -= signed * price
        held, avg = account.positions.get(order.symbol, [D("0"), D("0")])
        new = held + signed
        if new == 0:
            account.positions.pop(order.symbol, None)
        else:
            if held == 0 or (held > 0) != (new > 0):
                avg = price
            elif (held > 0) == (signed > 0):
                avg = (avg * abs(held) + price * qty) / abs(new)
            account.positions[order.symbol] = [new, avg]
        done = order.filled_qty >= order.qty
        order.status = "filled" if done else "partially_filled"
        if done:
            order.filled_at = order.updated_at
        await self._push(account, "fill" if done else "partial_fill", order, price=price, qty=qty)
        if done and order.legs:
            for leg in order.legs:
                leg.status, leg.updated_at = "new", _now()
                await self._push(account, "new", leg)
        if done and order.parent is not None:  # one leg filled: the other is canceled
            for sibling in order.parent.legs:
                if sibling is not order and sibling.open:
                    await self._cancel(account, sibling)

    async def _cancel(self, account, order: StandinOrder) -> None:
        order.status, order.canceled_at = "canceled", _now()
        order.updated_at = order.canceled_at
        await self._push(account, "canceled", order)
        for leg in order.legs:
            if leg.open:
                await self._cancel(account, leg)

    async def _push(self, account, event: str, order: StandinOrder, price=None, qty=None) -> None:
        if not account.listeners:
            return
        data = {"event": event, "timestamp": _now(), "order": order.to_json()}
        if event in ("fill", "partial_fill"):
            held = account.positions.get(order.symbol, [D("0")])[0]
            data.update(
                execution_id=str(uuid.uuid4()), price=_s(price), qty=_s(qty), position_qty=_s(held)
            )
        frame = json.dumps({"stream": "trade_updates", "data": data}).encode()
        for ws in list(account.listeners):
            try:
                await ws.send_bytes(frame)
            except (ConnectionError, RuntimeError):
                account.listeners.discard(ws)

    async def _orders_list(self, request):
        account = request[ACCOUNT]
        status = request.query.get("status", "open")
        nested = request.query.get("nested", "false").lower() == "true"
        symbols = set(filter(None, request.query.get("symbols", "").split(",")))
        try:
            limit = min(int(request.query.get("limit", "50")), 500)
        except ValueError:
            return _error(422, 40010001, "invalid limit")
        rows = []
        for order in reversed(list(account.orders.values())):
            if nested and order.parent is not None:
                continue
            if symbols and order.symbol not in symbols:
                continue
            is_open = order.open or (nested and any(leg.open for leg in order.legs))
            if (status == "open" and not is_open) or (status == "closed" and is_open):
                continue
            rows.append(order.to_json(nested=nested))
        return web.json_response(rows[:limit])

    async def _orders_cancel_all(self, request):
        account = request[ACCOUNT]
        answer = []
        for order in list(account.orders.values()):
            if order.open and order.parent is None:
                await self._cancel(account, order)
                answer.append({"id": order.id, "status": 200, "body": order.to_json()})
        return web.json_response(answer, status=207)

    async def _order_by_client_id(self, request):
        account = request[ACCOUNT]
        order = account.by_client_id.get(request.query.get("client_order_id", ""))
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(order.to_json())

    async def _order_get(self, request):
        order = request[ACCOUNT].orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(order.to_json())

    async def _order_cancel(self, request):
        account = request[ACCOUNT]
        order = account.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        if not order.open:
            return _error(422, 42210000, f'order is already in "{order.status}" state')
        await self._cancel(account, order)
        return web.Response(status=204)

    # --- assets, clock, market data ---------------------------------------------------------

    async def _assets_list(self, request):
        status = request.query.get("status")
        # As Alpaca's: one asset class per listing, us_equity unless asked for another.
        asset_class = request.query.get("asset_class") or "us_equity"
        rows = [
            a
            for a in self.assets.values()
            if (not status or a["status"] == status) and a["class"] == asset_class
        ]
        return web.json_response(rows)

    async def _asset_get(self, request):
        asset = self.assets.get(request.match_info["symbol"])
        if asset is None:
            return _error(404, 40410000, "asset not found")
        return web.json_response(asset)

    async def _clock(self, request):
        now = _now()
        return web.json_response(
            {
                "timestamp": now,
                "is_open": not self.market_closed,
                "next_open": now,
                "next_close": now,
            }
        )

    def _quote(self, symbol: str) -> dict:
        price = self._price(symbol)
        spread = (price * D("0.0005")).quantize(D("0.01")) or D("0.01")
        return {
            "ap": float(price + spread), "as": 3, "ax": "V",
            "bp": float(price - spread), "bs": 2, "bx": "V",
            "c": ["R"], "t": _now(), "z": "C",
        }  # fmt: skip

    def _trade(self, symbol: str) -> dict:
        price = self._price(symbol)
        return {
            "c": ["@"],
            "i": 52983525029461,
            "p": float(price),
            "s": 100,
            "t": _now(),
            "x": "V",
            "z": "C",
        }

    def _known(self, request) -> list[str]:
        symbols = request.query.get("symbols", "").split(",")
        return [s for s in symbols if s in self.prices]

    async def _quotes_latest(self, request):
        return web.json_response({"quotes": {s: self._quote(s) for s in self._known(request)}})

    async def _trades_latest(self, request):
        return web.json_response({"trades": {s: self._trade(s) for s in self._known(request)}})

    async def _quote_latest(self, request):
        symbol = request.match_info["symbol"]
        if symbol not in self.prices:
            return _error(404, 40410000, f"no quote found for {symbol}")
        return web.json_response({"symbol": symbol, "quote": self._quote(symbol)})

    async def _trade_latest(self, request):
        symbol = request.match_info["symbol"]
        if symbol not in self.prices:
            return _error(404, 40410000, f"no trade found for {symbol}")
        return web.json_response({"symbol": symbol, "trade": self._trade(symbol)})

    # --- the trade-update stream ------------------------------------------------------------

    async def _stream(self, request):
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        account = None
        try:
            async for message in ws:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    msg = json.loads(message.data)
                except ValueError:
                    await self._ws_send(ws, "error", {"error": "invalid syntax"})
                    continue
                action, data = msg.get("action"), msg.get("data") or {}
                if action == "authenticate":
                    account = (
                        None
                        if self.stream_refuses
                        else self._authenticate(
                            str(data.get("key_id", "")), str(data.get("secret_key", ""))
                        )
                    )
                    status = "authorized" if account else "unauthorized"
                    await self._ws_send(
                        ws, "authorization", {"action": "authenticate", "status": status}
                    )
                    if account is None:
                        await ws.close()
                        break
                elif action == "listen" and account is not None:
                    streams = [s for s in data.get("streams", []) if s == "trade_updates"]
                    if streams:
                        account.listeners.add(ws)
                    else:
                        account.listeners.discard(ws)
                    await self._ws_send(ws, "listening", {"streams": streams})
                else:
                    await self._ws_send(ws, "listening", {"error": "invalid action"})
        finally:
            if account is not None:
                account.listeners.discard(ws)
        return ws

    @staticmethod
    async def _ws_send(ws, stream: str, data: dict) -> None:
        # Alpaca's trading stream sends its JSON in binary frames.
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(json.dumps({"stream": stream, "data": data}).encode())
