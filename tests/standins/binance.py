"""A stand-in for Binance's spot REST API (/api/v3), the endpoints ccxt's binance class
calls for spot trading: exchangeInfo, ticker/24hr, ticker/bookTicker, ticker/price, time,
ping, account, order (POST / GET / DELETE by orderId or origClientOrderId), openOrders,
myTrades. Signed endpoints check X-MBX-APIKEY and the HMAC-SHA256 signature of the query
(or form body) with the test secret, as Binance does.

Binance refuses a newClientOrderId that an *open* order already carries ("Duplicate order
sent."), and accepts it again once that order is closed: so a client that retries a filled
market order with the same id gets a second order. The adapter must look before it asks.
A path prefix (``/testnet``) is accepted and recorded, so a test can tell which base URL
(live or sandbox) a client used."""

from __future__ import annotations

import hashlib
import hmac
import time
from decimal import Decimal

from aiohttp import web

from tests.standins.exchange import ExchangeError, ExchangeStandIn, StandInMarket, StandInOrder

STATUS = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED"}
DEFAULT_MARKETS = {
    "BTCUSDT": StandInMarket(
        base="BTC", quote="USDT", last=Decimal("60000"), step=Decimal("0.00001"),
        tick=Decimal("0.01"), min_qty=Decimal("0.00001"), min_notional=Decimal("5"),
    ),
    "ETHUSDT": StandInMarket(
        base="ETH", quote="USDT", last=Decimal("3000"), step=Decimal("0.0001"),
        tick=Decimal("0.01"), min_qty=Decimal("0.0001"), min_notional=Decimal("5"),
    ),
}  # fmt: skip


def _s(value: Decimal | None) -> str:
    return "0.00000000" if value is None else f"{value:.8f}"


class BinanceStandIn(ExchangeStandIn):
    name = "binance"

    def __init__(self, *, api_key="binance-test-key", secret="binance-test-secret", **kw):
        markets = kw.pop("markets", None) or {
            k: StandInMarket(**vars(v)) for k, v in DEFAULT_MARKETS.items()
        }
        balances = kw.pop("balances", None) or {"USDT": "100000", "BTC": "0", "ETH": "0"}
        super().__init__(api_key=api_key, secret=secret, markets=markets, balances=balances)
        self.next_order_id = 1000

    def routes(self) -> list:
        table = []
        for prefix in ("", "/testnet"):
            api = prefix + "/api/v3"
            table += [
                web.get(api + "/ping", self.ping),
                web.get(api + "/time", self.time),
                web.get(api + "/exchangeInfo", self.exchange_info),
                web.get(api + "/ticker/24hr", self.ticker_24hr),
                web.get(api + "/ticker/bookTicker", self.book_ticker),
                web.get(api + "/ticker/price", self.ticker_price),
                web.get(api + "/account", self.account),
                web.post(api + "/order", self.order_create),
                web.get(api + "/order", self.order_get),
                web.delete(api + "/order", self.order_cancel),
                web.get(api + "/openOrders", self.open_orders_get),
                web.get(api + "/myTrades", self.my_trades),
            ]
        return table

    # -- answers -----------------------------------------------------------------------

    def error_response(self, error: ExchangeError) -> web.Response:
        code = {"funds": -2010}.get(error.code, error.code)
        message = error.message
        if error.code == "funds":
            message = "Account has insufficient balance for requested action."
        return web.json_response({"code": code, "msg": message}, status=error.status)

    def rate_limited_response(self) -> web.Response:
        body = {
            "code": -1003,
            "msg": "Too much request weight used; current limit is 6000 request weight "
            "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
            "the API.",
        }
        return web.json_response(body, status=429, headers={"Retry-After": str(self.retry_after)})

    def _market(self, symbol: str | None) -> StandInMarket:
        if symbol not in self.markets:
            raise ExchangeError(400, -1121, "Invalid symbol.")
        return self.markets[symbol]

    def _signed(self, request: web.Request, params: dict, raw: str) -> None:
        if request.headers.get("X-MBX-APIKEY") != self.api_key:
            raise ExchangeError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload, _, signature = raw.rpartition("&signature=")
        expected = hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, expected):
            raise ExchangeError(400, -1022, "Signature for this request is not valid.")
        if "timestamp" not in params:
            raise ExchangeError(400, -1102, "Mandatory parameter 'timestamp' was not sent.")

    async def _params(self, request: web.Request, *, signed: bool) -> dict:
        params = dict(request.query)
        raw = request.rel_url.raw_query_string
        if request.method == "POST":
            raw = await request.text()
            params.update(dict(await request.post()))
        if signed:
            self._signed(request, params, raw)
        return params

    def _order_json(self, order: StandInOrder) -> dict:
        status = STATUS[order.status]
        if order.status == "open" and order.filled:
            status = "PARTIALLY_FILLED"
        return {
            "symbol": order.market_id,
            "orderId": int(order.id),
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": _s(order.price),
            "origQty": _s(order.amount),
            "executedQty": _s(order.filled),
            "cummulativeQuoteQty": _s(order.cost),
            "status": status,
            "timeInForce": order.time_in_force,
            "type": order.type.upper(),
            "side": order.side.upper(),
            "stopPrice": "0.00000000",
            "icebergQty": "0.00000000",
            "time": order.created_ms,
            "updateTime": order.updated_ms or order.created_ms,
            "isWorking": True,
            "workingTime": order.created_ms,
            "origQuoteOrderQty": "0.00000000",
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    # -- public ------------------------------------------------------------------------

    async def ping(self, request):
        return web.json_response({})

    async def time(self, request):
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def exchange_info(self, request):
        symbols = [self._symbol_info(market_id, m) for market_id, m in self.markets.items()]
        return web.json_response(
            {
                "timezone": "UTC",
                "serverTime": int(time.time() * 1000),
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        )

    def _symbol_info(self, market_id: str, m: StandInMarket) -> dict:
        return {
            "symbol": market_id, "status": "TRADING", "baseAsset": m.base,
            "baseAssetPrecision": 8, "quoteAsset": m.quote, "quotePrecision": 8,
            "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT",
                           "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"],
            "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
            "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True,
            "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": _s(m.tick),
                 "maxPrice": "1000000.00000000", "tickSize": _s(m.tick)},
                {"filterType": "LOT_SIZE", "minQty": _s(m.min_qty),
                 "maxQty": "9000.00000000", "stepSize": _s(m.step)},
                {"filterType": "NOTIONAL", "minNotional": _s(m.min_notional),
                 "applyMinToMarket": True, "maxNotional": "9000000.00000000",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
            "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }  # fmt: skip

    async def ticker_24hr(self, request):
        market_id = request.query.get("symbol")
        m = self._market(market_id)
        now = int(time.time() * 1000)
        return web.json_response(
            {
                "symbol": market_id, "priceChange": "0.00000000",
                "priceChangePercent": "0.000", "weightedAvgPrice": _s(m.last),
                "prevClosePrice": _s(m.last), "lastPrice": _s(m.last), "lastQty": "0.01000000",
                "bidPrice": _s(m.bid), "bidQty": "1.00000000", "askPrice": _s(m.ask),
                "askQty": "1.00000000", "openPrice": _s(m.last), "highPrice": _s(m.last),
                "lowPrice": _s(m.last), "volume": "100.00000000",
                "quoteVolume": _s(m.last * 100), "openTime": now - 86_400_000,
                "closeTime": now, "firstId": 1, "lastId": 100, "count": 100,
            }
        )  # fmt: skip

    async def book_ticker(self, request):
        market_id = request.query.get("symbol")
        m = self._market(market_id)
        return web.json_response(
            {"symbol": market_id, "bidPrice": _s(m.bid), "bidQty": "1.00000000",
             "askPrice": _s(m.ask), "askQty": "1.00000000"}
        )  # fmt: skip

    async def ticker_price(self, request):
        market_id = request.query.get("symbol")
        return web.json_response({"symbol": market_id, "price": _s(self._market(market_id).last)})

    # -- signed ------------------------------------------------------------------------

    async def account(self, request):
        await self._params(request, signed=True)
        with self.lock:
            balances = [
                {"asset": asset, "free": _s(self.free(asset)),
                 "locked": _s(self.locked.get(asset, Decimal("0")))}
                for asset, total in self.balances.items()
            ]  # fmt: skip
        return web.json_response(
            {
                "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
                "sellerCommission": 0, "canTrade": True, "canWithdraw": True,
                "canDeposit": True, "brokered": False, "requireSelfTradePrevention": False,
                "preventSor": False, "updateTime": int(time.time() * 1000),
                "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"],
                "uid": 1,
            }
        )  # fmt: skip

    async def order_create(self, request):
        params = await self._params(request, signed=True)
        market = self._market(params.get("symbol"))
        order = self._new_order(params, market)
        with self.lock:
            existing = self.find(client_order_id=order.client_order_id, lookup=False)
            if existing is not None and existing.status == "open":
                raise ExchangeError(400, -2010, "Duplicate order sent.")
            self.next_order_id += 1
            order.id = str(self.next_order_id)
            self.book(order)
        failure = await self.after_create()
        if failure:
            return web.Response(status=failure, text="<html>Gateway Time-out</html>")
        body = self._order_json(order)
        body["transactTime"] = order.created_ms
        body["fills"] = [
            {"price": _s(price), "qty": _s(qty), "commission": "0.00000000",
             "commissionAsset": market.quote, "tradeId": trade_id}
            for trade_id, qty, price in order.trades
        ]  # fmt: skip
        return web.json_response(body)

    def _new_order(self, params: dict, market: StandInMarket) -> StandInOrder:
        kind = params.get("type", "").lower()
        if kind not in ("market", "limit"):
            raise ExchangeError(400, -1116, "Invalid orderType.")
        try:
            amount = Decimal(params["quantity"])
            price = Decimal(params["price"]) if kind == "limit" else None
        except (KeyError, ArithmeticError):
            raise ExchangeError(400, -1102, "Mandatory parameter 'quantity' was not sent.")
        if amount % market.step or (price is not None and price % market.tick):
            raise ExchangeError(400, -1013, "Filter failure: LOT_SIZE")
        if amount < market.min_qty:
            raise ExchangeError(400, -1013, "Filter failure: LOT_SIZE")
        if amount * (price or market.last) < market.min_notional:
            raise ExchangeError(400, -1013, "Filter failure: NOTIONAL")
        return StandInOrder(
            id="", client_order_id=params.get("newClientOrderId") or f"x-{time.time_ns()}",
            market_id=params["symbol"], side=params.get("side", "").lower(), type=kind,
            amount=amount, price=price, time_in_force=params.get("timeInForce", "GTC"),
        )  # fmt: skip

    def _lookup(self, params: dict) -> StandInOrder:
        self._market(params.get("symbol"))
        order = self.find(
            order_id=params.get("orderId"), client_order_id=params.get("origClientOrderId")
        )
        if order is None or order.market_id != params.get("symbol"):
            raise ExchangeError(400, -2013, "Order does not exist.")
        return order

    async def order_get(self, request):
        params = await self._params(request, signed=True)
        return web.json_response(self._order_json(self._lookup(params)))

    async def order_cancel(self, request):
        params = await self._params(request, signed=True)
        try:
            order = self._lookup(params)
        except ExchangeError:
            raise ExchangeError(400, -2011, "Unknown order sent.")
        if order.status != "open":
            raise ExchangeError(400, -2011, "Unknown order sent.")
        self.cancel(order)
        body = self._order_json(order)
        body["origClientOrderId"] = order.client_order_id
        return web.json_response(body)

    async def open_orders_get(self, request):
        params = await self._params(request, signed=True)
        market_id = params.get("symbol")
        if market_id is not None:
            self._market(market_id)
        return web.json_response([self._order_json(o) for o in self.open_orders(market_id)])

    async def my_trades(self, request):
        params = await self._params(request, signed=True)
        market_id = params.get("symbol")
        self._market(market_id)
        trades = []
        for order in self.created():
            if order.market_id != market_id:
                continue
            for trade_id, qty, price in order.trades:
                trades.append(
                    {"symbol": market_id, "id": trade_id, "orderId": int(order.id),
                     "orderListId": -1, "price": _s(price), "qty": _s(qty),
                     "quoteQty": _s(qty * price), "commission": "0.00000000",
                     "commissionAsset": self.markets[market_id].quote,
                     "time": order.updated_ms, "isBuyer": order.side == "buy",
                     "isMaker": False, "isBestMatch": True}
                )  # fmt: skip
        return web.json_response(trades)
