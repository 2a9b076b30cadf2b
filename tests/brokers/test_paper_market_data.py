"""Paper accounts with a market data source: a market signal without a price fills at a
real quote (a ccxt exchange's public ticker, or Alpaca's data API) through the pipeline."""

import asyncio
import threading
from decimal import Decimal as D

import pytest
from aiohttp import web

from brokers.models import Order
from brokers.services import broker_account_create, broker_account_update
from config.rules import RuleViolation
from signals.models import SignalResult
from signals.tasks import process_signal
from tests.factories import BrokerAccountFactory, InstrumentFactory, SubscriptionFactory
from tests.servers import free_port
from tests.signals.factories import signal_for
from tests.standins.binance import BinanceStandIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def binance(settings):
    stand = BinanceStandIn().start()
    stand.markets["BTCUSDT"].spread = D("10")  # bid 59995, ask 60005
    settings.CCXT_URLS = {"binance": stand.url}
    yield stand
    stand.stop()


def _subscribed(org, asset_class="crypto", **account_fields):
    account = BrokerAccountFactory(organization=org, **account_fields)
    return SubscriptionFactory(
        strategy__organization=org, strategy__asset_class=asset_class, account=account,
        use_signal_quantity=True,
    )  # fmt: skip


def _run(sub, **intent):
    signal = signal_for(strategy=sub.strategy, action="buy", **intent)
    process_signal.delay(str(signal.pk))
    return SignalResult.objects.get(signal=signal, account=sub.account)


def test_a_priceless_market_signal_fills_at_the_ccxt_ticker(org, binance):
    InstrumentFactory(symbol="BTCUSDT", asset_class="crypto", quantity_step=D("0.00001"))
    sub = _subscribed(org, market_data_source="ccxt:binance")
    result = _run(sub, ticker="BTCUSDT", quantity=D("0.1"))

    order = Order.objects.get(account=sub.account)
    assert result.status == SignalResult.Status.ORDERED
    # The pipeline prices the signal with the quote's last trade (signals.pipeline._market)
    # and hands that on as the order's reference price.
    assert (order.status, order.filled_avg_price) == ("filled", D("60000"))
    assert any(path.endswith("/ticker/24hr") for _, path, _ in binance.requests)
    assert not any(path.endswith("/order") for _, path, _ in binance.requests)


def test_without_a_source_the_same_signal_still_has_no_price(org, binance):
    InstrumentFactory(symbol="BTCUSDT", asset_class="crypto", quantity_step=D("0.00001"))
    sub = _subscribed(org)
    result = _run(sub, ticker="BTCUSDT", quantity=D("0.1"))

    assert result.status == SignalResult.Status.FAILED, result.reason
    assert "No price available" in result.reason
    assert not binance.requests


def test_an_unreachable_source_falls_back_to_no_price(org, binance):
    InstrumentFactory(symbol="BTCUSDT", asset_class="crypto", quantity_step=D("0.00001"))
    sub = _subscribed(org, market_data_source="ccxt:binance")
    binance.stop()
    result = _run(sub, ticker="BTCUSDT", quantity=D("0.1"))
    assert result.status == SignalResult.Status.FAILED
    assert "No price available" in result.reason


class AlpacaDataStandIn:
    """The two latest-data endpoints alpaca-py's StockHistoricalDataClient calls."""

    def __init__(self, quote=("189.9", "190.1"), trade="190.0"):
        self.quote, self.trade, self.seen = quote, trade, []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    async def _latest(self, request):
        self.seen.append((request.path, request.headers.get("APCA-API-KEY-ID")))
        symbol = request.query["symbols"]
        if request.path.endswith("quotes/latest"):
            bid, ask = self.quote
            body = {"quotes": {symbol: {"t": "2026-12-01T15:59:59Z", "bp": float(bid),
                                        "bs": 1, "ap": float(ask), "as": 1, "bx": "V",
                                        "ax": "V", "c": ["R"], "z": "C"}}}  # fmt: skip
        else:
            body = {"trades": {symbol: {"t": "2026-12-01T15:59:59Z", "p": float(self.trade),
                                        "s": 10, "x": "V", "i": 1, "c": ["@"], "z": "C"}}}  # fmt: skip
        return web.json_response(body)

    def start(self):
        ready = threading.Event()

        def serve():
            self.loop = asyncio.new_event_loop()
            app = web.Application()
            app.add_routes([web.get("/v2/stocks/quotes/latest", self._latest),
                            web.get("/v2/stocks/trades/latest", self._latest)])  # fmt: skip
            self.runner = web.AppRunner(app)
            self.loop.run_until_complete(self.runner.setup())
            self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_a_priceless_stock_signal_fills_at_the_alpaca_quote(org, settings):
    stand = AlpacaDataStandIn().start()
    settings.ALPACA_DATA_URL = stand.url
    try:
        InstrumentFactory(symbol="AAPL", asset_class="stock")
        sub = _subscribed(
            org, asset_class="stock", market_data_source="alpaca",
            credentials={"apiKey": "PKDATA", "secretKey": "data-secret"},
        )  # fmt: skip
        result = _run(sub, ticker="AAPL", quantity=D("3"))
    finally:
        stand.stop()
    order = Order.objects.get(account=sub.account)
    assert result.status == SignalResult.Status.ORDERED
    assert (order.status, order.filled_avg_price) == ("filled", D("190.0"))
    assert ("/v2/stocks/quotes/latest", "PKDATA") in stand.seen


@pytest.mark.parametrize(
    "broker,source,field",
    [("paper", "ccxt:nowhere", "market_data_source"), ("binance", "ccxt:binance",
     "market_data_source")],
)  # fmt: skip
def test_the_source_must_exist_and_only_paper_accounts_take_one(org, broker, source, field):
    with pytest.raises(RuleViolation) as refused:
        broker_account_create(
            organization=org, name="A", broker=broker, mode="paper", market_data_source=source
        )
    assert field in refused.value.message_dict


def test_the_api_sets_and_shows_the_source_and_refuses_a_bad_one(org, owner, client):
    account = broker_account_create(organization=org, name="Paper")
    client.force_login(owner)
    url = f"/api/v1/accounts/{account.pk}/"
    answer = client.patch(url, {"marketDataSource": "ccxt:kraken"}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["marketDataSource"] == "ccxt:kraken"
    bad = client.patch(url, {"marketDataSource": "ccxt:mtgox"}, content_type="application/json")
    assert bad.status_code == 400 and "marketDataSource" in bad.json()
    account.refresh_from_db()
    assert account.market_data_source == "ccxt:kraken"
    broker_account_update(account=account, market_data_source="")


def test_paper_market_orders_meet_the_source_at_the_ask_or_the_bid(org, binance):
    from brokers.adapters import get_adapter
    from brokers.adapters.base import OrderRequest

    adapter = get_adapter(BrokerAccountFactory(organization=org, market_data_source="ccxt:binance"))
    buy = adapter.submit_order(OrderRequest("tr-1", "BTCUSDT", "buy", D("0.2")))
    sell = adapter.submit_order(OrderRequest("tr-2", "BTCUSDT", "sell", D("0.1")))
    assert (buy.filled_avg_price, sell.filled_avg_price) == (D("60005"), D("59995"))
    assert adapter.get_quote("BTCUSDT").bid == D("59995")
