"""A stand-in for Kraken's spot REST API (/0/public, /0/private), the endpoints ccxt's
kraken class calls: Assets, AssetPairs, Ticker, Time, BalanceEx, AddOrder (with
cl_ord_id), QueryOrders, OpenOrders and ClosedOrders (filtered by cl_ord_id),
CancelOrder (by txid or cl_ord_id). Private calls check API-Key and API-Sign
(HMAC-SHA512 of the path and SHA256(nonce + body), keyed by the base64 secret) and that
the nonce grows, as Kraken does.

Kraken answers errors with HTTP 200 and an ``error`` list ("EOrder:Insufficient funds"),
its rate limit too ("EAPI:Rate limit exceeded"). A cl_ord_id must be unique among open
orders. Kraken has no spot sandbox."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from decimal import Decimal

from aiohttp import web

from tests.standins.exchange import ExchangeError, ExchangeStandIn, StandInMarket, StandInOrder

DUPLICATE_CLIENT_ID = "EOrder:Duplicate cl_ord_id"
ASSETS = {"XXBT": "XBT", "XETH": "ETH", "ZUSD": "USD"}
DEFAULT_MARKETS = {
    "XXBTZUSD": StandInMarket(
        base="XXBT", quote="ZUSD", last=Decimal("60000"), step=Decimal("0.00000001"),
        tick=Decimal("0.1"), min_qty=Decimal("0.0001"), min_notional=Decimal("0.5"),
    ),
    "XETHZUSD": StandInMarket(
        base="XETH", quote="ZUSD", last=Decimal("3000"), step=Decimal("0.00000001"),
        tick=Decimal("0.01"), min_qty=Decimal("0.002"), min_notional=Decimal("0.5"),
    ),
}  # fmt: skip
ALTNAMES = {"XXBTZUSD": "XBTUSD", "XETHZUSD": "ETHUSD"}


def _secret() -> str:
    return base64.b64encode(b"kraken-test-secret-bytes-0123456789").decode()


class KrakenStandIn(ExchangeStandIn):
    name = "kraken"
    lookup_calls = 2  # a look by client id asks OpenOrders, then ClosedOrders

    def __init__(self, *, api_key="kraken-test-key", secret=None, **kw):
        markets = kw.pop("markets", None) or {
            k: StandInMarket(**vars(v)) for k, v in DEFAULT_MARKETS.items()
        }
        balances = kw.pop("balances", None) or {"ZUSD": "100000", "XXBT": "0", "XETH": "0"}
        super().__init__(
            api_key=api_key, secret=secret or _secret(), markets=markets, balances=balances
        )
        self.last_nonce = 0
        self.next_order = 1

    def routes(self) -> list:
        public, private = "/0/public/", "/0/private/"
        return [
            web.get(public + "Time", self.time),
            web.get(public + "Assets", self.assets),
            web.get(public + "AssetPairs", self.asset_pairs),
            web.get(public + "Ticker", self.ticker),
            web.post(private + "BalanceEx", self.balance),
            web.post(private + "AddOrder", self.add_order),
            web.post(private + "QueryOrders", self.query_orders),
            web.post(private + "OpenOrders", self.open_orders_post),
            web.post(private + "ClosedOrders", self.closed_orders),
            web.post(private + "CancelOrder", self.cancel_order),
        ]

    def error_response(self, error: ExchangeError) -> web.Response:
        message = "EOrder:Insufficient funds" if error.code == "funds" else error.message
        return web.json_response({"error": [message]}, status=error.status)

    def rate_limited_response(self) -> web.Response:
        return web.json_response({"error": ["EAPI:Rate limit exceeded"]})

    def _ok(self, result) -> web.Response:
        return web.json_response({"error": [], "result": result})

    async def _private(self, request: web.Request) -> dict:
        body = await request.text()
        params = dict(await request.post())
        if request.headers.get("API-Key") != self.api_key:
            raise ExchangeError(200, None, "EAPI:Invalid key")
        nonce = params.get("nonce", "")
        digest = hashlib.sha256((nonce + body).encode()).digest()
        mac = hmac.new(
            base64.b64decode(self.secret), request.path.encode() + digest, hashlib.sha512
        )
        if not hmac.compare_digest(
            base64.b64encode(mac.digest()).decode(), request.headers.get("API-Sign", "")
        ):
            raise ExchangeError(200, None, "EAPI:Invalid signature")
        with self.lock:
            if not nonce.isdigit() or int(nonce) <= self.last_nonce:
                raise ExchangeError(200, None, "EAPI:Invalid nonce")
            self.last_nonce = int(nonce)
        return params

    def _market_id(self, pair: str | None) -> str:
        for market_id, altname in ALTNAMES.items():
            if pair in (market_id, altname):
                return market_id
        raise ExchangeError(200, None, "EQuery:Unknown asset pair")

    # -- public ------------------------------------------------------------------------

    async def time(self, request):
        now = int(time.time())
        return self._ok(
            {
                "unixtime": now,
                "rfc1123": time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(now)),
            }
        )

    async def assets(self, request):
        return self._ok(
            {asset: {"aclass": "currency", "altname": alt, "decimals": 10, "display_decimals": 5,
                     "collateral_value": 1.0, "status": "enabled"}
             for asset, alt in ASSETS.items()}
        )  # fmt: skip

    async def asset_pairs(self, request):
        result = {}
        for market_id, m in self.markets.items():
            result[market_id] = {
                "altname": ALTNAMES[market_id], "wsname": f"{ASSETS[m.base]}/{ASSETS[m.quote]}",
                "aclass_base": "currency", "base": m.base, "aclass_quote": "currency",
                "quote": m.quote, "lot": "unit", "cost_decimals": 5,
                "pair_decimals": -m.tick.as_tuple().exponent,
                "lot_decimals": -m.step.as_tuple().exponent, "lot_multiplier": 1,
                "leverage_buy": [], "leverage_sell": [], "fees": [[0, 0.26]],
                "fees_maker": [[0, 0.16]], "fee_volume_currency": "ZUSD", "margin_call": 80,
                "margin_stop": 40, "ordermin": str(m.min_qty), "costmin": str(m.min_notional),
                "tick_size": str(m.tick), "status": "online",
            }  # fmt: skip
        return self._ok(result)

    async def ticker(self, request):
        market_id = self._market_id(request.query.get("pair"))
        m = self.markets[market_id]
        return self._ok(
            {market_id: {"a": [str(m.ask), "1", "1.000"], "b": [str(m.bid), "1", "1.000"],
                         "c": [str(m.last), "0.01"], "v": ["100", "100"],
                         "p": [str(m.last), str(m.last)], "t": [10, 10],
                         "l": [str(m.last), str(m.last)], "h": [str(m.last), str(m.last)],
                         "o": str(m.last)}}
        )  # fmt: skip

    # -- private -----------------------------------------------------------------------

    async def balance(self, request):
        await self._private(request)
        with self.lock:
            result = {
                asset: {
                    "balance": f"{total:.10f}",
                    "hold_trade": f"{self.locked.get(asset, Decimal('0')):.10f}",
                }
                for asset, total in self.balances.items()
            }
        return self._ok(result)

    def _order_json(self, order: StandInOrder) -> dict:
        altname = ALTNAMES[order.market_id]
        status = {"open": "open", "filled": "closed", "canceled": "canceled", "expired": "expired"}[
            order.status
        ]
        price = f"{order.price}" if order.price is not None else "0"
        text = f"{order.side} {order.amount} {altname} @ {order.type}" + (
            f" {price}" if order.price else ""
        )
        return {
            "refid": None, "userref": 0, "cl_ord_id": order.client_order_id, "status": status,
            "opentm": order.created_ms / 1000, "starttm": 0, "expiretm": 0,
            "closetm": (order.updated_ms / 1000) if order.status != "open" else None,
            "descr": {"pair": altname, "type": order.side, "ordertype": order.type,
                      "price": price, "price2": "0", "leverage": "none", "order": text,
                      "close": ""},
            "vol": f"{order.amount:.8f}", "vol_exec": f"{order.filled:.8f}",
            "cost": f"{order.cost:.5f}", "fee": "0.00000",
            "price": f"{order.average or 0:.5f}", "stopprice": "0", "limitprice": "0",
            "misc": "", "oflags": "fciq",
        }  # fmt: skip

    async def add_order(self, request):
        params = await self._private(request)
        market_id = self._market_id(params.get("pair"))
        market = self.markets[market_id]
        kind = params.get("ordertype")
        if kind not in ("market", "limit"):
            raise ExchangeError(200, None, "EGeneral:Invalid arguments:ordertype")
        amount = Decimal(params.get("volume", "0"))
        price = Decimal(params["price"]) if kind == "limit" else None
        if amount < market.min_qty:
            raise ExchangeError(200, None, "EOrder:Order minimum not met")
        if amount * (price or market.last) < market.min_notional:
            raise ExchangeError(200, None, "EOrder:Cost minimum not met")
        client_id = params.get("cl_ord_id", "")
        with self.lock:
            if client_id and any(o.client_order_id == client_id for o in self.open_orders()):
                raise ExchangeError(200, None, DUPLICATE_CLIENT_ID)
            order = StandInOrder(
                id=f"O{self.next_order:05d}-STAND-IN{self.next_order:04d}",
                client_order_id=client_id, market_id=market_id, side=params.get("type"),
                type=kind, amount=amount, price=price,
                time_in_force=params.get("timeinforce", "GTC"),
            )  # fmt: skip
            self.next_order += 1
            self.book(order)
        failure = await self.after_create()
        if failure:
            return web.Response(status=failure, text="<html>Gateway Time-out</html>")
        return self._ok(
            {"descr": {"order": self._order_json(order)["descr"]["order"]}, "txid": [order.id]}
        )

    async def query_orders(self, request):
        params = await self._private(request)
        found = {}
        for txid in params.get("txid", "").split(","):
            order = self.find(order_id=txid)
            if order is not None:
                found[order.id] = self._order_json(order)
        if not found:
            raise ExchangeError(200, None, "EOrder:Invalid order")
        return self._ok(found)

    def _by_client_id(self, params: dict, orders: list[StandInOrder]) -> dict:
        wanted = params.get("cl_ord_id")
        if wanted is not None:
            with self.lock:
                if self.lookups_miss > 0:
                    self.lookups_miss -= 1
                    return {}
            orders = [o for o in orders if o.client_order_id == wanted]
        return {o.id: self._order_json(o) for o in orders}

    async def open_orders_post(self, request):
        params = await self._private(request)
        return self._ok({"open": self._by_client_id(params, self.open_orders())})

    async def closed_orders(self, request):
        params = await self._private(request)
        closed = [o for o in self.created() if o.status != "open"]
        found = self._by_client_id(params, closed)
        return self._ok({"closed": found, "count": len(found)})

    async def cancel_order(self, request):
        params = await self._private(request)
        if "cl_ord_id" in params:
            order = next(
                (o for o in self.open_orders() if o.client_order_id == params["cl_ord_id"]), None
            )
        else:
            order = self.find(order_id=params.get("txid"), lookup=False)
        if order is None or order.status != "open":
            raise ExchangeError(200, None, "EOrder:Unknown order")
        self.cancel(order)
        return self._ok({"count": 1})
