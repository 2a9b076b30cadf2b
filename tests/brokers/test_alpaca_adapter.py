"""The Alpaca adapter over real HTTP, through alpaca-py, against the loopback stand-in of
Alpaca's API (tests/standins/alpaca.py): no mock of the SDK or of our code."""

import logging
import time
from decimal import Decimal

import pytest

from brokers.adapters import get_adapter
from brokers.adapters.alpaca import AlpacaAdapter
from brokers.adapters.base import (
    BracketSpec,
    BrokerError,
    OrderRejected,
    TransientBrokerError,
)
from brokers.models import BrokerAccount
from brokers.services import broker_account_create
from tests.brokers.factories import order_request

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def adapter(alpaca_account, alpaca_standin) -> AlpacaAdapter:
    alpaca_standin.set_price("AAPL", "200")
    return get_adapter(alpaca_account)


def _key(account: BrokerAccount) -> str:
    return account.credentials["api_key"]


def _orders_at_broker(standin, account, client_order_id: str) -> list:
    return [o for o in standin.orders(_key(account)) if o.client_order_id == client_order_id]


# -- reading ------------------------------------------------------------------------------


def test_account_position_and_quote(adapter, alpaca_standin, alpaca_account):
    alpaca_standin.set_position(_key(alpaca_account), "AAPL", "7", "150")
    snapshot = adapter.get_account()
    assert snapshot.cash == D("100000")
    assert snapshot.equity == D("100000") + 7 * D("200")
    position = adapter.get_position("AAPL")
    assert (position.symbol, position.quantity, position.average_price) == ("AAPL", 7, 150)
    assert adapter.list_positions() == [position]
    quote = adapter.get_quote("AAPL")
    assert quote.last == D("200")
    assert quote.bid < D("200") < quote.ask
    assert adapter.get_quote("NOPRICE") is None


def test_short_position_is_negative(adapter):
    adapter.submit_order(order_request(symbol="AAPL", side="sell", quantity="3"))
    assert adapter.get_position("AAPL").quantity == D("-3")


def test_test_connection_good_and_bad_credentials(adapter, alpaca_account, org):
    assert adapter.test_connection().startswith("Alpaca paper account PA")
    alpaca_account.credentials = {"api_key": _key(alpaca_account), "secret_key": "wrong"}
    with pytest.raises(BrokerError, match="refused the API key") as refused:
        get_adapter(alpaca_account).test_connection()
    assert not refused.value.transient
    alpaca_account.credentials = {}
    with pytest.raises(BrokerError, match="has no Alpaca API key"):
        get_adapter(alpaca_account).test_connection()


def test_live_and_paper_accounts_use_alpacas_own_urls_by_default(alpaca_account, settings):
    settings.ALPACA_TRADING_URL = settings.ALPACA_DATA_URL = ""
    assert get_adapter(alpaca_account)._trading._base_url == "https://paper-api.alpaca.markets"
    alpaca_account.mode = BrokerAccount.Mode.LIVE
    live = get_adapter(alpaca_account)
    assert live._trading._base_url == "https://api.alpaca.markets"
    assert live._data._base_url == "https://data.alpaca.markets"


def test_accounts_share_kept_alive_connections_and_no_cookies(alpaca_standin, alpaca_account, org):
    """A fan-out calls Alpaca once or twice per account: the calls reuse kept-alive
    connections across accounts (each with its own key in its headers), and a cookie
    one account's answer sets never rides along with another account's request."""
    alpaca_standin.set_cookie = "lb=alpaca-node-7; Path=/"
    accounts = [alpaca_account]
    for i in range(12):
        key_id, secret = f"PKSHARE{i:05d}", f"secret-share-{i:03d}"
        alpaca_standin.add_account(key_id, secret, cash=1000 + i)
        accounts.append(
            broker_account_create(
                organization=org, name=f"Alpaca {i}", broker=BrokerAccount.Broker.ALPACA,
                mode=BrokerAccount.Mode.PAPER,
                credentials={"api_key": key_id, "secret_key": secret},
            )
        )  # fmt: skip
    before = len(alpaca_standin.client_ports)
    cash = [get_adapter(account).get_account().cash for account in accounts]
    # Each answer is that account's own: the key went with its own request.
    assert cash == [D("100000")] + [D(1000 + i) for i in range(12)]
    # One call after another: one kept-alive connection, not one per account.
    assert len(alpaca_standin.client_ports) - before <= 1
    assert alpaca_standin.cookies_received == []


def test_instruments_from_the_asset_list(adapter, alpaca_standin):
    alpaca_standin.add_asset("HALT", "Halted Corp", tradable=False)
    found = {i.symbol: i for i in adapter.list_instruments()}
    assert found["AAPL"].asset_class == "stock" and found["AAPL"].quantity_step == 1
    assert found["AAPL"].tradable and found["AAPL"].exchange == "NASDAQ"
    assert found["BTCUSD"].asset_class == "crypto" and found["BTCUSD"].quantity_step < 1
    assert found["HALT"].tradable is False


# -- placing orders -----------------------------------------------------------------------


def test_market_order_payload_and_fill(adapter, alpaca_standin):
    request = order_request(symbol="AAPL", quantity="2")
    update = adapter.submit_order(request)
    [sent] = alpaca_standin.orders_received
    assert sent["client_order_id"] == request.client_order_id
    assert (sent["symbol"], sent["side"], D(str(sent["qty"])), sent["type"]) == (
        "AAPL",
        "buy",
        2,
        "market",
    )
    assert sent["time_in_force"] == "day"
    assert (update.status, update.filled_quantity, update.filled_avg_price) == ("filled", 2, 200)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"order_type": "limit", "limit_price": "190.5", "time_in_force": "gtc"},
            {"type": "limit", "limit_price": 190.5, "time_in_force": "gtc"},
        ),
        (
            {"order_type": "limit", "limit_price": "190", "extended_hours": True},
            {"type": "limit", "limit_price": 190, "extended_hours": True},
        ),
        (
            {"order_type": "stop", "stop_price": "210", "time_in_force": "gtc"},
            {"type": "stop", "stop_price": 210},
        ),
        (
            {"order_type": "stop_limit", "stop_price": "210", "limit_price": "211"},
            {"type": "stop_limit", "stop_price": 210, "limit_price": 211},
        ),
        (
            {"order_type": "trailing_stop", "trail_percent": "2.5", "side": "sell"},
            {"type": "trailing_stop", "trail_percent": 2.5},
        ),
        (
            {"order_type": "trailing_stop", "trail_amount": "3", "side": "sell"},
            {"type": "trailing_stop", "trail_price": 3},
        ),
    ],
)
def test_order_types_reach_alpaca_as_its_api_names_them(adapter, alpaca_standin, fields, expected):
    request = order_request(symbol="AAPL", quantity="1", **fields)
    update = adapter.submit_order(request)
    [sent] = alpaca_standin.orders_received
    for name, value in expected.items():
        assert sent[name] == value, name
    assert update.broker_order_id and update.status in ("open", "filled")


def test_bracket_order_with_its_legs(adapter, alpaca_standin):
    bracket = BracketSpec(take_profit_limit_price=D("220"), stop_loss_stop_price=D("190"))
    request = order_request(symbol="AAPL", quantity="4", bracket=bracket)
    update = adapter.submit_order(request)
    [sent] = alpaca_standin.orders_received
    assert sent["order_class"] == "bracket"
    assert sent["take_profit"] == {"limit_price": 220.0}
    assert sent["stop_loss"] == {"stop_price": 190.0}
    legs = {leg.leg: leg for leg in update.legs}
    assert set(legs) == {"take_profit", "stop_loss"}
    assert legs["take_profit"].limit_price == D("220")
    assert legs["stop_loss"].stop_price == D("190")
    for leg in legs.values():
        assert leg.parent_client_order_id == request.client_order_id
        assert leg.side == "sell" and leg.quantity == 4
        assert leg.status == "open"  # the parent filled: the exits are live
    assert adapter.cancel_open_orders("AAPL") == 2
    assert adapter.list_open_orders() == []
    for leg in legs.values():
        assert adapter.get_order(leg.client_order_id).status == "canceled"


def test_a_trailing_stop_loss_in_a_bracket_is_refused_before_sending(adapter, alpaca_standin):
    bracket = BracketSpec(take_profit_limit_price=D("220"), stop_loss_trail_percent=D("2"))
    with pytest.raises(OrderRejected, match="trailing stop loss"):
        adapter.submit_order(order_request(symbol="AAPL", quantity="1", bracket=bracket))
    assert alpaca_standin.order_posts == 0


# -- never a second order ------------------------------------------------------------------


def test_duplicate_client_order_id_is_the_same_order(adapter, alpaca_standin, alpaca_account):
    request = order_request(symbol="AAPL", quantity="1")
    first = adapter.submit_order(request)
    again = adapter.submit_order(request)
    assert again.broker_order_id == first.broker_order_id
    assert alpaca_standin.order_posts == 2
    assert len(_orders_at_broker(alpaca_standin, alpaca_account, request.client_order_id)) == 1


def test_504_after_the_order_was_created(adapter, alpaca_standin, alpaca_account):
    # alpaca-py retries the POST on 504; Alpaca refuses the retry as a duplicate; the
    # adapter looks the order up and carries on with it.
    alpaca_standin.fail_after_create = 1
    request = order_request(symbol="AAPL", quantity="1")
    update = adapter.submit_order(request)
    [order] = _orders_at_broker(alpaca_standin, alpaca_account, request.client_order_id)
    assert update.broker_order_id == order.id
    assert alpaca_standin.order_posts == 2


def test_500_after_the_order_was_created(adapter, alpaca_standin, alpaca_account):
    # alpaca-py does not retry a 500: the adapter asks by client order id itself.
    alpaca_standin.fail_after_create, alpaca_standin.fail_after_create_status = 1, 500
    request = order_request(symbol="AAPL", quantity="1")
    update = adapter.submit_order(request)
    [order] = _orders_at_broker(alpaca_standin, alpaca_account, request.client_order_id)
    assert update.broker_order_id == order.id and alpaca_standin.order_posts == 1


def test_timeout_after_the_order_was_created(adapter, alpaca_standin, alpaca_account, settings):
    settings.ALPACA_TIMEOUT_SECONDS = 0.3
    alpaca_standin.sleep_after_create = 1.0
    request = order_request(symbol="AAPL", quantity="1")
    update = adapter.submit_order(request)
    [order] = _orders_at_broker(alpaca_standin, alpaca_account, request.client_order_id)
    assert update.broker_order_id == order.id and alpaca_standin.order_posts == 1


def test_timeout_before_the_order_exists_is_transient(adapter, alpaca_standin, settings):
    settings.ALPACA_TIMEOUT_SECONDS = 0.3
    alpaca_standin.order_latency = 1.0  # answers (and creates) only after the timeout
    request = order_request(symbol="AAPL", quantity="1")
    with pytest.raises(TransientBrokerError, match="looked up by its client order id"):
        adapter.submit_order(request)
    alpaca_standin.order_latency = 0
    time.sleep(1.0)  # the slow request lands meanwhile: the retry finds it
    update = adapter.submit_order(request)
    assert alpaca_standin.order_posts == 2
    assert len(alpaca_standin.orders(adapter.account.credentials["api_key"])) == 1
    assert update.client_order_id == request.client_order_id


def test_429_with_retry_after_is_retried_by_alpaca_py(adapter, alpaca_standin, alpaca_account):
    alpaca_standin.rate_limit_orders, alpaca_standin.retry_after = 1, 1
    request = order_request(symbol="AAPL", quantity="1")
    update = adapter.submit_order(request)
    assert alpaca_standin.order_posts == 2
    [order] = _orders_at_broker(alpaca_standin, alpaca_account, request.client_order_id)
    assert update.broker_order_id == order.id


def test_429_past_the_retries_is_transient_and_places_nothing(adapter, alpaca_standin):
    alpaca_standin.rate_limit_orders = 10
    with pytest.raises(TransientBrokerError, match="rate limit"):
        adapter.submit_order(order_request(symbol="AAPL", quantity="1"))
    assert alpaca_standin.orders(adapter.account.credentials["api_key"]) == []


def test_server_error_and_unreachable_are_transient(adapter, alpaca_standin):
    alpaca_standin.server_errors = 1
    with pytest.raises(TransientBrokerError, match="500"):
        adapter.get_account()
    alpaca_standin.stop()
    with pytest.raises(TransientBrokerError, match="unreachable"):
        adapter.get_account()
    with pytest.raises(TransientBrokerError):
        adapter.submit_order(order_request(symbol="AAPL", quantity="1"))


# -- refusals in a trader's words ----------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "fields", "reason"),
    [
        (None, {"quantity": "100000"}, "Insufficient buying power at Alpaca: the order costs"),
        (None, {"symbol": "GME", "side": "sell"}, "GME cannot be sold short"),
        ("market_closed", {}, "The market is closed"),
        ("not_tradable", {}, "AAPL is not tradable at Alpaca"),
        (None, {"symbol": "ZZZZ"}, "Alpaca does not know the symbol ZZZZ"),
        (None, {"order_type": "market", "extended_hours": True}, "extended hours"),
    ],
)
def test_refusals_are_rejections_with_a_reason(adapter, alpaca_standin, setup, fields, reason):
    if setup == "market_closed":
        alpaca_standin.market_closed = True
    if setup == "not_tradable":
        alpaca_standin.not_tradable.add("AAPL")
    fields = {"symbol": "AAPL", "quantity": "1", **fields}
    with pytest.raises(OrderRejected, match=reason) as refused:
        adapter.submit_order(order_request(**fields))
    assert not refused.value.transient


def test_missing_prices_are_refused_before_sending(adapter, alpaca_standin):
    with pytest.raises(OrderRejected, match="limit price"):
        adapter.submit_order(order_request(quantity="1", order_type="limit"))
    with pytest.raises(OrderRejected, match="trail amount or percent"):
        adapter.submit_order(order_request(quantity="1", order_type="trailing_stop"))
    assert alpaca_standin.order_posts == 0


# -- status, cancel, partial fills ----------------------------------------------------------


def test_partial_fills_then_fill_by_polling(adapter, alpaca_standin):
    alpaca_standin.partial_fills, alpaca_standin.fill_delay = [D("0.4")], 0.2
    alpaca_standin.fill_interval = 0.3
    request = order_request(symbol="AAPL", quantity="10")
    assert adapter.submit_order(request).status == "open"
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        update = adapter.get_order(request.client_order_id)
        if not seen or seen[-1] != (update.status, update.filled_quantity):
            seen.append((update.status, update.filled_quantity))
        if update.status == "filled":
            break
        time.sleep(0.05)
    assert seen == [("open", 0), ("partially_filled", 4), ("filled", 10)]


def test_cancel_order_list_open_orders_and_unknown(adapter):
    resting = order_request(symbol="AAPL", quantity="1", order_type="limit", limit_price="50")
    adapter.submit_order(resting)
    assert [o.client_order_id for o in adapter.list_open_orders()] == [resting.client_order_id]
    assert adapter.cancel_order(resting.client_order_id).status == "canceled"
    assert adapter.cancel_order(resting.client_order_id).status == "canceled"  # idempotent
    assert adapter.list_open_orders() == []
    assert adapter.cancel_order("never-sent") is None
    assert adapter.cancel_open_orders("AAPL") == 0


# -- secrets -------------------------------------------------------------------------------


def test_credentials_never_appear_in_logs(
    adapter, alpaca_account, alpaca_standin, caplog, settings
):
    caplog.set_level(logging.DEBUG)  # alpaca-py's, urllib3's and ours, everything
    key, secret = _key(alpaca_account), alpaca_account.credentials["secret_key"]
    adapter.test_connection()
    request = order_request(symbol="AAPL", quantity="1")
    alpaca_standin.fail_after_create = 1
    adapter.submit_order(request)
    adapter.submit_order(request)
    alpaca_standin.rate_limit_orders = 10
    with pytest.raises(TransientBrokerError):
        adapter.submit_order(order_request(symbol="AAPL", quantity="1"))
    alpaca_account.credentials = {"api_key": key, "secret_key": secret + "x"}
    with pytest.raises(BrokerError) as refused:
        get_adapter(alpaca_account).get_account()
    assert caplog.records, "nothing was logged: the check would prove nothing"
    for text in (caplog.text, str(refused.value)):
        assert key not in text and secret not in text


def test_the_shared_session_keeps_a_ca_bundle_named_in_the_environment(monkeypatch):
    from brokers.adapters import alpaca

    monkeypatch.setattr(alpaca, "_session", None)  # a new process's first call
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/inspecting-proxy.pem")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    session = alpaca._shared_session()
    assert session.trust_env is False  # no per-request netrc lookup
    assert session.verify == "/etc/ssl/certs/inspecting-proxy.pem"
