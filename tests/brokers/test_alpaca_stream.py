"""Fills flowing back: the stand-in's websocket (shaped as Alpaca's trade stream) delivers
partial_fill then fill, alpaca-py's TradingStream receives them, and our Order and
Position rows follow; with the stream down, polling brings the same."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection

from brokers.adapters import get_adapter
from brokers.models import Order, Position
from execution.records import order_apply_submission
from execution.streaming import TradeStreamRunner
from tests.brokers.factories import OrderFactory, order_request

pytestmark = pytest.mark.django_db(transaction=True)
D = Decimal


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout} s")


@pytest.fixture
def runner():
    """The trade_stream process's runner, in a thread of this test (on its own database
    connection: PostgreSQL only, as SQLite's in-memory test database locks up)."""
    if connection.vendor != "postgresql":
        pytest.skip("the trade stream's tests need PostgreSQL (DATABASE_URL)")
    runner = TradeStreamRunner(refresh_seconds=0.2, poll_min=0.2, poll_max=0.4)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    yield runner
    stop.set()
    thread.join(20)
    assert not thread.is_alive()


def _submitted_order(account, standin, quantity="10") -> Order:
    standin.auto_fill = False
    request = order_request(symbol="AAPL", quantity=quantity)
    order = OrderFactory(
        account=account, client_order_id=request.client_order_id, quantity=D(quantity)
    )
    return order_apply_submission(order=order, update=get_adapter(account).submit_order(request))


def _row(order: Order) -> tuple:
    order.refresh_from_db()
    return order.status, order.filled_quantity


def _position(account) -> Decimal | None:
    row = Position.objects.filter(account=account, symbol="AAPL").first()
    return row.quantity if row else None


def test_partial_fill_then_fill_over_the_stream(alpaca_account, alpaca_standin, runner):
    key = alpaca_account.credentials["api_key"]
    alpaca_standin.set_price("AAPL", "150")
    # The poller would find the fills too: slow it down so only the stream can be quick.
    runner.poll_min = runner.poll_max = 60
    wait_for(lambda: alpaca_standin.listeners(key) == 1)
    order = _submitted_order(alpaca_account, alpaca_standin)
    assert _row(order) == ("open", 0)

    alpaca_standin.fill(key, order.client_order_id, 4, "150")
    wait_for(lambda: _row(order) == ("partially_filled", 4))
    wait_for(lambda: _position(alpaca_account) == D("4"))  # the broker's, after the fill

    alpaca_standin.fill(key, order.client_order_id, 6, "151")
    wait_for(lambda: _row(order) == ("filled", 10))
    wait_for(lambda: _position(alpaca_account) == D("10"))
    order.refresh_from_db()
    assert order.filled_avg_price == D("150.6")
    position = Position.objects.get(account=alpaca_account, symbol="AAPL")
    assert (position.quantity, position.average_price) == (10, D("150.6"))
    assert position.organization_id == alpaca_account.organization_id


def test_cancel_event_over_the_stream(alpaca_account, alpaca_standin, runner):
    key = alpaca_account.credentials["api_key"]
    runner.poll_min = runner.poll_max = 60
    wait_for(lambda: alpaca_standin.listeners(key) == 1)
    order = _submitted_order(alpaca_account, alpaca_standin)
    alpaca_standin.drop_streams()  # the stream reconnects by itself (alpaca-py's backoff)
    wait_for(lambda: alpaca_standin.listeners(key) == 1, timeout=15)
    alpaca_standin.call(_cancel_all, alpaca_standin, key)
    wait_for(lambda: _row(order)[0] == "canceled")


async def _cancel_all(standin, key):
    account = standin.accounts[key]
    for order in list(account.orders.values()):
        if order.open:
            await standin._cancel(account, order)


def test_polling_is_the_fallback_when_the_stream_is_down(alpaca_account, alpaca_standin, runner):
    alpaca_standin.stream_refuses = True
    key = alpaca_account.credentials["api_key"]
    order = _submitted_order(alpaca_account, alpaca_standin)
    alpaca_standin.fill(key, order.client_order_id, 3, "100")
    wait_for(lambda: _row(order) == ("partially_filled", 3))
    wait_for(lambda: _position(alpaca_account) == D("3"))
    alpaca_standin.fill(key, order.client_order_id, 7, "100")
    wait_for(lambda: _row(order) == ("filled", 10))
    wait_for(lambda: _position(alpaca_account) == D("10"))
    assert alpaca_standin.listeners(key) == 0


def test_a_crypto_exchanges_fills_come_back_by_polling(org, settings, runner):
    """ccxt has no fill stream here: the same process polls the exchange's open orders,
    and the order and the position follow as the pieces fill."""
    from tests.factories import BrokerAccountFactory
    from tests.standins.binance import BinanceStandIn

    stand = BinanceStandIn().start()
    try:
        settings.CCXT_URLS = {**settings.CCXT_URLS, "binance:sandbox": stand.url + "/testnet"}
        account = BrokerAccountFactory(
            organization=org, broker="binance", mode="paper",
            credentials={"apiKey": stand.api_key, "secret": stand.secret},
        )  # fmt: skip
        stand.partial_fill_ratio = D("0.25")
        request = order_request(
            symbol="BTCUSDT", quantity="0.02", order_type="limit", limit_price=D("61000")
        )
        order = OrderFactory(
            account=account, client_order_id=request.client_order_id, symbol="BTCUSDT",
            quantity=D("0.02"), order_type="limit", limit_price=D("61000"),
        )  # fmt: skip
        order_apply_submission(order=order, update=get_adapter(account).submit_order(request))
        assert _row(order) == ("partially_filled", D("0.005"))

        held = lambda: Position.objects.filter(account=account, symbol="BTCUSDT").first()  # noqa: E731
        stand.fill(stand.created()[0], D("0.005"), D("60000"))
        wait_for(lambda: _row(order) == ("partially_filled", D("0.01")))
        wait_for(lambda: held() is not None and held().quantity == D("0.01"))
        stand.fill(stand.created()[0], price=D("60000"))
        wait_for(lambda: _row(order) == ("filled", D("0.02")))
        wait_for(lambda: held().quantity == D("0.02"))
    finally:
        stand.stop()
