"""What the crypto exchange stand-ins (binance.py, kraken.py) share: an aiohttp server on
a free loopback port in a thread of its own, a spot order book with balances, and the
knobs tests turn (an error after the order exists, 429s, lookups that miss, partial
fills). Each stand-in only shapes requests and answers as its exchange does."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

from aiohttp import web

from tests.servers import free_port


@dataclass
class StandInMarket:
    base: str
    quote: str
    last: Decimal
    step: Decimal = Decimal("0.00001")
    tick: Decimal = Decimal("0.01")
    min_qty: Decimal = Decimal("0.00001")
    min_notional: Decimal = Decimal("5")
    spread: Decimal = Decimal("0")

    @property
    def bid(self) -> Decimal:
        return self.last - self.spread / 2

    @property
    def ask(self) -> Decimal:
        return self.last + self.spread / 2


@dataclass
class StandInOrder:
    id: str
    client_order_id: str
    market_id: str
    side: str  # buy / sell
    type: str  # market / limit
    amount: Decimal
    price: Decimal | None
    time_in_force: str = "GTC"
    status: str = "open"  # open, filled, canceled, expired
    filled: Decimal = Decimal("0")
    cost: Decimal = Decimal("0")  # quote amount filled
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    updated_ms: int = 0
    trades: list = field(default_factory=list)  # (trade id, qty, price)

    @property
    def average(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None


class ExchangeError(Exception):
    """An error answer: the stand-in turns it into its exchange's error shape."""

    def __init__(self, status: int, code, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class ExchangeStandIn:
    """Subclasses add routes (``routes``) and shape answers. Knobs, all off by default:
    - ``fail_after_create``: an HTTP status (504) answered for the next order creations
      *after* the order was booked; ``fail_after_create_times`` of them.
    - ``delay_after_create``: seconds to sleep after booking before answering (timeouts).
    - ``rate_limit_next``: the next N requests answer 429 (with ``retry_after``).
    - ``lookups_miss``: the next N order lookups answer "no such order" though it exists.
    - ``partial_fill_ratio``: marketable limit orders fill only this share at once and
      rest with the remainder (``fill`` fills more later).
    Inspection: ``orders`` (booked, in order), ``requests`` (method, path, params)."""

    name = "exchange"
    lookup_calls = 1  # requests a client makes to look an order up by client id
    id_counter = itertools.count(1)

    def __init__(self, *, api_key: str, secret: str, markets: dict, balances: dict):
        self.api_key, self.secret = api_key, secret
        self.markets: dict[str, StandInMarket] = markets
        self.balances = {k: Decimal(str(v)) for k, v in balances.items()}
        self.locked: dict[str, Decimal] = {}
        self.orders: list[StandInOrder] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.fail_after_create: int | None = None
        self.fail_after_create_times = 1
        self.delay_after_create = 0.0
        self.rate_limit_next = 0
        self.retry_after = 1
        self.lookups_miss = 0
        self.partial_fill_ratio: Decimal | None = None
        self.lock = threading.RLock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> ExchangeStandIn:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError(f"{self.name} stand-in did not start")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._middleware])
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        self._loop.run_until_complete(site.start())
        ready.set()
        self._loop.run_forever()

    def routes(self) -> list:
        raise NotImplementedError

    def error_response(self, error: ExchangeError) -> web.Response:
        raise NotImplementedError

    def rate_limited_response(self) -> web.Response:
        raise NotImplementedError

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        params = dict(request.query)
        if request.method in ("POST", "PUT") and request.can_read_body:
            params.update(dict(await request.post()))
        with self.lock:
            self.requests.append((request.method, request.path, params))
            limited = self.rate_limit_next > 0
            if limited:
                self.rate_limit_next -= 1
        if limited:
            return self.rate_limited_response()
        try:
            return await handler(request)
        except ExchangeError as error:
            return self.error_response(error)

    # -- the book ----------------------------------------------------------------------

    def find(self, *, order_id=None, client_order_id=None, lookup=True) -> StandInOrder | None:
        with self.lock:
            if lookup and self.lookups_miss > 0:
                self.lookups_miss -= 1
                return None
            for order in reversed(self.orders):
                if order_id is not None and order.id == str(order_id):
                    return order
                if client_order_id is not None and order.client_order_id == client_order_id:
                    return order
        return None

    def open_orders(self, market_id: str | None = None) -> list[StandInOrder]:
        with self.lock:
            return [
                o
                for o in self.orders
                if o.status == "open" and (market_id is None or o.market_id == market_id)
            ]

    def free(self, asset: str) -> Decimal:
        return self.balances.get(asset, Decimal("0")) - self.locked.get(asset, Decimal("0"))

    def book(self, order: StandInOrder) -> StandInOrder:
        """Check funds, book ``order`` and fill what is marketable. The caller checked the
        market and the client order id."""
        market = self.markets[order.market_id]
        with self.lock:
            price = order.price if order.type == "limit" else None
            reference = price or (market.ask if order.side == "buy" else market.bid)
            needed_asset = market.quote if order.side == "buy" else market.base
            needed = order.amount * reference if order.side == "buy" else order.amount
            if self.free(needed_asset) < needed:
                raise ExchangeError(400, "funds", "insufficient balance")
            self.orders.append(order)
            self._lock_funds(market, order, needed_asset, needed)
            self._match(market, order)
        return order

    def _lock_funds(self, market, order, asset, amount) -> None:
        if order.type == "limit":
            self.locked[asset] = self.locked.get(asset, Decimal("0")) + amount

    def _match(self, market: StandInMarket, order: StandInOrder) -> None:
        if order.type == "market":
            price = market.ask if order.side == "buy" else market.bid
            self.fill(order, order.amount, price)
            return
        marketable = (order.side == "buy" and order.price >= market.ask) or (
            order.side == "sell" and order.price <= market.bid
        )
        if not marketable:
            if order.time_in_force in ("IOC", "FOK"):
                self.cancel(order, status="expired")
            return
        quantity = order.amount
        if self.partial_fill_ratio is not None:
            quantity = (order.amount * self.partial_fill_ratio).quantize(market.step)
        self.fill(order, quantity, market.ask if order.side == "buy" else market.bid)

    def fill(self, order: StandInOrder, quantity: Decimal | None = None, price=None) -> None:
        """Fill ``quantity`` (all that remains by default) of ``order`` at ``price`` (its
        limit by default), moving the balances as the exchange would."""
        market = self.markets[order.market_id]
        with self.lock:
            remaining = order.amount - order.filled
            quantity = min(remaining, quantity if quantity is not None else remaining)
            price = Decimal(str(price)) if price is not None else order.price
            if quantity <= 0:
                return
            cost = quantity * price
            sign = 1 if order.side == "buy" else -1
            self.balances[market.base] = (
                self.balances.get(market.base, Decimal("0")) + sign * quantity
            )
            self.balances[market.quote] = (
                self.balances.get(market.quote, Decimal("0")) - sign * cost
            )
            if order.type == "limit":
                asset = market.quote if order.side == "buy" else market.base
                self.locked[asset] -= quantity * order.price if order.side == "buy" else quantity
            order.filled += quantity
            order.cost += cost
            order.trades.append((next(self.id_counter), quantity, price))
            order.updated_ms = int(time.time() * 1000)
            if order.filled >= order.amount:
                order.status = "filled"

    def cancel(self, order: StandInOrder, status: str = "canceled") -> None:
        market = self.markets[order.market_id]
        with self.lock:
            if order.status != "open":
                return
            if order.type == "limit":
                remaining = order.amount - order.filled
                asset = market.quote if order.side == "buy" else market.base
                locked = remaining * order.price if order.side == "buy" else remaining
                self.locked[asset] -= locked
            order.status = status
            order.updated_ms = int(time.time() * 1000)

    async def after_create(self) -> int | None:
        """The knobs that act once an order is booked: an HTTP status to answer instead of
        the order, or None to answer normally."""
        if self.delay_after_create:
            await asyncio.sleep(self.delay_after_create)
        with self.lock:
            if self.fail_after_create and self.fail_after_create_times > 0:
                self.fail_after_create_times -= 1
                return self.fail_after_create
        return None

    def created(self) -> list[StandInOrder]:
        with self.lock:
            return list(self.orders)
