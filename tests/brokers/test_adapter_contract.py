"""What every broker adapter must do, whatever the broker. A new adapter joins the
``broker`` fixture's params with a stand-in of its API on loopback (never a mock of ours)."""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from brokers.adapters import ADAPTERS, get_adapter
from brokers.adapters.base import (
    AccountSnapshot,
    BrokerAdapter,
    BrokerError,
    OrderUpdate,
    Quote,
)
from brokers.models import Order
from tests.brokers.factories import order_request
from tests.factories import BrokerAccountFactory
from tests.standins.binance import BinanceStandIn
from tests.standins.kraken import KrakenStandIn

pytestmark = pytest.mark.django_db
D = Decimal


@dataclass
class Broker:
    adapter: BrokerAdapter
    symbol: str
    price: Decimal


def _paper(request, org) -> Broker:
    adapter = get_adapter(BrokerAccountFactory(organization=org))
    adapter.record_price("AAPL", D("100"))
    return Broker(adapter=adapter, symbol="AAPL", price=D("100"))


def _exchange(stand_in_class, symbol: str):
    def make(request, org) -> Broker:
        stand = stand_in_class().start()
        request.addfinalizer(stand.stop)
        settings = request.getfixturevalue("settings")
        settings.CCXT_URLS = {stand.name: stand.url, f"{stand.name}:sandbox": stand.url}
        mode = "paper" if stand.name == "binance" else "live"
        credentials = {"apiKey": stand.api_key, "secret": stand.secret}
        account = BrokerAccountFactory(
            organization=org, broker=stand.name, mode=mode, credentials=credentials
        )
        return Broker(adapter=get_adapter(account), symbol=symbol, price=D("60000"))

    return make


def _alpaca(request, org) -> Broker:
    # Over real HTTP through alpaca-py to the loopback stand-in of Alpaca's API.
    account = request.getfixturevalue("alpaca_account")
    request.getfixturevalue("alpaca_standin").set_price("AAPL", "100")
    return Broker(adapter=get_adapter(account), symbol="AAPL", price=D("100"))


BROKERS = {
    "paper": _paper,
    "alpaca": _alpaca,
    "binance": _exchange(BinanceStandIn, "BTCUSDT"),
    "kraken": _exchange(KrakenStandIn, "BTCUSD"),
}


@pytest.fixture(params=sorted(BROKERS))
def broker(request, org) -> Broker:
    return BROKERS[request.param](request, org)


def test_every_registered_adapter_is_under_contract():
    assert set(ADAPTERS) == set(BROKERS)


def test_account_snapshot(broker):
    snapshot = broker.adapter.get_account()
    assert isinstance(snapshot, AccountSnapshot)
    assert all(
        isinstance(v, Decimal) for v in (snapshot.equity, snapshot.cash, snapshot.buying_power)
    )
    assert snapshot.equity > 0


def test_flat_symbol_has_no_position(broker):
    assert broker.adapter.get_position("NOPE") is None


def test_quote(broker):
    quote = broker.adapter.get_quote(broker.symbol)
    assert isinstance(quote, Quote)
    assert quote.last == broker.price or quote.mid is not None


def test_submit_is_idempotent_on_the_client_order_id(broker):
    request = order_request(symbol=broker.symbol, quantity="1", reference_price=str(broker.price))
    first = broker.adapter.submit_order(request)
    assert isinstance(first, OrderUpdate)
    assert first.client_order_id == request.client_order_id
    assert first.broker_order_id
    assert first.status in Order.Status.values
    second = broker.adapter.submit_order(request)
    assert second.broker_order_id == first.broker_order_id
    assert (
        broker.adapter.get_order(request.client_order_id).broker_order_id == first.broker_order_id
    )
    assert broker.adapter.get_position(broker.symbol).quantity == D("1")


def test_unknown_order_is_none(broker):
    assert broker.adapter.get_order("never-submitted") is None


def test_cancel_open_orders(broker):
    request = order_request(
        symbol=broker.symbol,
        quantity="1",
        order_type="limit",
        limit_price=str(broker.price / 2),
        time_in_force="gtc",
    )
    assert broker.adapter.submit_order(request).status in ("new", "open", "submitted")
    assert broker.adapter.cancel_open_orders(broker.symbol) >= 1
    assert broker.adapter.get_order(request.client_order_id).status == "canceled"
    assert broker.adapter.get_position(broker.symbol) is None


def test_refusals_are_broker_errors(broker):
    with pytest.raises(BrokerError):
        broker.adapter.submit_order(order_request(symbol=broker.symbol, quantity="0"))


def test_record_price_returns_updates(broker):
    updates = broker.adapter.record_price(broker.symbol, broker.price)
    assert isinstance(updates, list)
    assert all(isinstance(u, OrderUpdate) for u in updates)
