"""The ccxt adapter over real HTTP, through the real ccxt, against the Binance and Kraken
stand-ins (tests/standins): placing and finding orders by client id, rounding to the lot
and tick sizes, minimums, the look-up-before-retry rule, errors, partial fills."""

import decimal
from decimal import Decimal as D

import pytest

from brokers.adapters import get_adapter
from brokers.adapters.base import OrderRejected, OrderRequest, TransientBrokerError
from brokers.adapters.ccxt import _kraken_client_id, our_client_order_id, public_quote
from brokers.models import BrokerAccount, Order
from brokers.services import broker_account_create
from config.rules import RuleViolation
from execution.orders import order_sync_open
from tests.factories import BrokerAccountFactory
from tests.standins.binance import BinanceStandIn
from tests.standins.kraken import KrakenStandIn

pytestmark = pytest.mark.django_db

SYMBOL = {"binance": "BTCUSDT", "kraken": "BTCUSD"}


@pytest.fixture
def binance(settings):
    stand = BinanceStandIn().start()
    settings.CCXT_URLS = {**settings.CCXT_URLS, "binance": stand.url + "/live-unused",
                          "binance:sandbox": stand.url + "/testnet"}  # fmt: skip
    settings.CCXT_TIMEOUT_SECONDS = 1.5
    yield stand
    stand.stop()


@pytest.fixture
def kraken(settings):
    stand = KrakenStandIn().start()
    settings.CCXT_URLS = {**settings.CCXT_URLS, "kraken": stand.url}
    settings.CCXT_TIMEOUT_SECONDS = 1.5
    yield stand
    stand.stop()


@pytest.fixture(params=["binance", "kraken"])
def exchange(request):
    """(exchange id, its stand-in), for tests that hold for both."""
    return request.param, request.getfixturevalue(request.param)


def _account(org, exchange_id, stand, **fields):
    mode = "paper" if exchange_id == "binance" else "live"
    credentials = {"apiKey": stand.api_key, "secret": stand.secret}
    return BrokerAccountFactory(
        organization=org, broker=exchange_id, mode=mode, credentials=credentials, **fields
    )


def _request(exchange_id, n=1, **fields) -> OrderRequest:
    fields.setdefault("symbol", SYMBOL[exchange_id])
    fields.setdefault("side", "buy")
    fields.setdefault("quantity", D("0.01"))
    return OrderRequest(client_order_id=f"tr-{n:032x}", **fields)


def _orders_posted(stand) -> list:
    return [r for r in stand.requests if r[0] == "POST" and r[1].endswith(("/order", "/AddOrder"))]


def test_both_exchanges_place_a_market_order_and_find_it_by_client_id(org, exchange):
    exchange_id, stand = exchange
    account = _account(org, exchange_id, stand)
    adapter = get_adapter(account)

    update = adapter.submit_order(_request(exchange_id))

    assert (update.status, update.filled_quantity, update.filled_avg_price) == (
        "filled", D("0.01"), D("60000"),
    )  # fmt: skip
    assert update.client_order_id == "tr-" + "0" * 31 + "1"
    [booked] = stand.created()
    assert update.broker_order_id == booked.id
    assert our_client_order_id(booked.client_order_id) == update.client_order_id
    Order.objects.create(
        organization=org, account=account, symbol=SYMBOL[exchange_id], side="buy",
        quantity=D("0.01"), client_order_id=update.client_order_id, status="submitted",
    )  # fmt: skip
    found = adapter.get_order(update.client_order_id)
    assert (found.status, found.broker_order_id) == ("filled", booked.id)
    assert adapter.get_order("tr-" + "f" * 32) is None


def test_paper_mode_trades_on_binance_testnet_url(org, binance):
    account = _account(org, "binance", binance)
    get_adapter(account).submit_order(_request("binance"))

    paths = {path for _, path, _ in binance.requests}
    assert paths and all(path.startswith("/testnet/api/v3/") for path in paths)


def test_kraken_gets_our_client_id_as_a_uuid_and_paper_mode_is_refused(org, kraken):
    assert _kraken_client_id("tr-" + "ab" * 16) == "abababab-abab-abab-abab-abababababab"
    with pytest.raises(RuleViolation) as refused:
        broker_account_create(organization=org, name="K", broker="kraken", mode="paper")
    assert "Kraken has no sandbox" in str(refused.value.message_dict["mode"])
    assert not BrokerAccount.objects.filter(broker="kraken").exists()


def test_quantity_and_price_are_rounded_to_lot_and_tick(org, exchange):
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    request = _request(exchange_id, quantity=D("0.0123456789"), order_type="limit",
                       limit_price=D("50000.1299"))  # fmt: skip

    update = adapter.submit_order(request)

    [booked] = stand.created()
    expected_price = D("50000.13") if exchange_id == "binance" else D("50000.1")
    expected_amount = D("0.01234") if exchange_id == "binance" else D("0.01234567")
    assert (booked.amount, booked.price) == (expected_amount, expected_price)
    assert update.status == "open" and update.quantity == expected_amount


@pytest.mark.parametrize(
    "quantity,price,reason",
    [
        (D("0.000001"), None, "rounds to 0 at the lot size of 0.00001 BTC"),
        (D("0.00005"), None, "below the minimum order value of 5 USDT"),
        (D("0.0001"), D("10"), "0.0001 BTC at 10 USDT is 0.001 USDT, below the minimum"),
    ],
)
def test_binance_order_too_small_is_refused_with_the_numbers(org, binance, quantity, price, reason):
    adapter = get_adapter(_account(org, "binance", binance))
    kind = {"order_type": "limit", "limit_price": price} if price else {}
    with pytest.raises(OrderRejected) as refused:
        adapter.submit_order(_request("binance", quantity=quantity, **kind))
    assert "Order too small for Binance BTC/USDT" in str(refused.value)
    assert reason in str(refused.value)
    assert not _orders_posted(binance)


def test_kraken_order_below_minimum_amount_is_refused(org, kraken):
    adapter = get_adapter(_account(org, "kraken", kraken))
    with pytest.raises(OrderRejected, match="below the minimum amount of 0.0001 BTC"):
        adapter.submit_order(_request("kraken", quantity=D("0.00005")))
    assert not kraken.created()


@pytest.mark.parametrize("failure", ["504", "timeout"])
def test_an_order_that_exists_after_a_lost_answer_is_found_not_placed_again(org, exchange, failure):
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    if failure == "504":
        stand.fail_after_create = 504
    else:
        stand.delay_after_create = 2.5  # past CCXT_TIMEOUT_SECONDS

    update = adapter.submit_order(_request(exchange_id))

    assert len(stand.created()) == 1
    assert update.status == "filled" and update.broker_order_id == stand.created()[0].id


def test_a_retry_after_an_unconfirmed_fill_looks_first_and_places_nothing(org, exchange):
    # The exchange accepts the id of a filled order again: only looking first prevents a
    # second order when the retry comes.
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    stand.fail_after_create = 504
    stand.lookups_miss = 2 * stand.lookup_calls  # the look before and the look after miss

    with pytest.raises(TransientBrokerError, match="did not confirm order"):
        adapter.submit_order(_request(exchange_id))
    retried = get_adapter(adapter.account).submit_order(_request(exchange_id))

    assert len(stand.created()) == 1
    assert retried.status == "filled"


def test_a_duplicate_client_id_refusal_carries_on_with_the_open_order(org, exchange):
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    request = _request(exchange_id, order_type="limit", limit_price=D("50000"))
    first = adapter.submit_order(request)
    stand.lookups_miss = 1  # the look before placing misses; the exchange refuses the id

    again = adapter.submit_order(request)

    assert len(stand.created()) == 1 and len(_orders_posted(stand)) == 2
    assert (again.status, again.broker_order_id) == ("open", first.broker_order_id)


def test_rate_limit_is_transient_with_retry_after_and_places_nothing(org, binance):
    adapter = get_adapter(_account(org, "binance", binance))
    assert adapter.client.markets  # loaded before the limit starts
    binance.rate_limit_next, binance.retry_after = 2, 7

    with pytest.raises(TransientBrokerError, match="rate limit") as raised:
        adapter.submit_order(_request("binance"))
    assert raised.value.retry_after == 7
    assert not binance.created()


def test_kraken_rate_limit_is_transient(org, kraken):
    adapter = get_adapter(_account(org, "kraken", kraken))
    assert adapter.client.markets
    kraken.rate_limit_next = 1
    with pytest.raises(TransientBrokerError, match="rate limit"):
        adapter.submit_order(_request("kraken"))
    assert not kraken.created()


def test_insufficient_funds_is_a_rejection_a_trader_understands(org, exchange):
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    with pytest.raises(OrderRejected, match=r"Insufficient funds on (Binance|Kraken)"):
        adapter.submit_order(_request(exchange_id, quantity=D("5")))
    assert not stand.created()


def test_unknown_symbol_and_unsupported_orders_are_refused_before_the_exchange(org, binance):
    adapter = get_adapter(_account(org, "binance", binance))
    with pytest.raises(OrderRejected, match="Binance has no spot market for DOGEEUR"):
        adapter.submit_order(_request("binance", symbol="DOGEEUR"))
    with pytest.raises(OrderRejected, match="market or limit, not stop"):
        adapter.submit_order(_request("binance", order_type="stop", stop_price=D("1")))
    with pytest.raises(OrderRejected, match="time in force opg"):
        adapter.submit_order(
            _request("binance", order_type="limit", limit_price=D("1"), time_in_force="opg")
        )
    assert not _orders_posted(binance)


def test_partial_fills_come_back_through_order_sync(org, exchange):
    exchange_id, stand = exchange
    account = _account(org, exchange_id, stand)
    stand.partial_fill_ratio = D("0.25")
    request = _request(exchange_id, quantity=D("0.02"), order_type="limit", limit_price=D("61000"))
    update = get_adapter(account).submit_order(request)
    assert (update.status, update.filled_quantity) == ("partially_filled", D("0.005"))
    order = Order.objects.create(
        organization=org, account=account, symbol=request.symbol, side="buy",
        quantity=D("0.02"), order_type="limit", limit_price=D("61000"),
        client_order_id=request.client_order_id, status=update.status,
        filled_quantity=update.filled_quantity,
    )  # fmt: skip

    stand.fill(stand.created()[0], D("0.005"), D("60000"))
    order_sync_open(account=account)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("partially_filled", D("0.01"))

    stand.fill(stand.created()[0], price=D("60000"))
    order_sync_open(account=account)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.filled_avg_price) == (
        "filled", D("0.02"), D("60000"),
    )  # fmt: skip


def test_cancel_one_order_and_all_open_orders_of_a_symbol(org, exchange):
    exchange_id, stand = exchange
    account = _account(org, exchange_id, stand)
    adapter = get_adapter(account)
    resting = {"order_type": "limit", "limit_price": D("50000")}
    first = adapter.submit_order(_request(exchange_id, 1, **resting))
    adapter.submit_order(_request(exchange_id, 2, **resting))
    adapter.submit_order(_request(exchange_id, 3, **resting))
    Order.objects.create(
        organization=org, account=account, symbol=SYMBOL[exchange_id], side="buy",
        quantity=D("0.01"), client_order_id=first.client_order_id, status="open",
    )  # fmt: skip

    assert {u.client_order_id for u in adapter.list_open_orders()} == {
        f"tr-{n:032x}" for n in (1, 2, 3)
    }
    assert adapter.cancel_order(first.client_order_id).status == "canceled"
    assert adapter.cancel_open_orders(SYMBOL[exchange_id]) == 2
    assert [o.status for o in stand.created()] == ["canceled"] * 3
    assert adapter.list_open_orders() == []


def test_account_positions_quote_and_instruments(org, exchange):
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    adapter.submit_order(_request(exchange_id, quantity=D("0.5")))

    snapshot = adapter.get_account()
    assert snapshot.cash == D("70000") and snapshot.equity == D("100000")
    assert adapter.get_position(SYMBOL[exchange_id]).quantity == D("0.5")
    assert adapter.get_position("ETH/" + ("USDT" if exchange_id == "binance" else "USD")) is None
    [position] = adapter.list_positions()
    assert (position.symbol, position.quantity) == (SYMBOL[exchange_id], D("0.5"))
    assert adapter.get_quote(SYMBOL[exchange_id]).last == D("60000")
    instruments = {i.symbol: i for i in adapter.list_instruments()}
    assert instruments[SYMBOL[exchange_id]].asset_class == "crypto"
    assert instruments[SYMBOL[exchange_id]].tradable


def test_test_connection_with_good_and_bad_credentials(org, exchange):
    exchange_id, stand = exchange
    good = get_adapter(_account(org, exchange_id, stand))
    assert good.test_connection().startswith(("Binance testnet account: 100000 USDT",
                                              "Kraken live account: 100000 USD"))  # fmt: skip
    bad = _account(org, exchange_id, stand)
    bad.credentials = {"apiKey": stand.api_key, "secret": "d3Jvbmc="}
    with pytest.raises(Exception) as refused:
        get_adapter(bad).test_connection()
    assert "refused the API key or secret" in str(refused.value)
    assert "d3Jvbmc=" not in str(refused.value)
    assert not isinstance(refused.value, TransientBrokerError)


def test_an_unreachable_exchange_is_transient(org, binance, settings):
    account = _account(org, "binance", binance)
    binance.stop()
    with pytest.raises(TransientBrokerError, match="Binance"):
        get_adapter(account).get_quote("BTCUSDT")


def test_ccxt_leaves_the_threads_decimal_context_as_it_found_it(org, exchange, settings):
    """ccxt's rounding sets the calling thread's decimal context (half up, underflow
    trapped) and never restores it; a worker thread then goes on to another tenant's
    paper booking, whose money must still round half-even."""
    exchange_id, stand = exchange
    adapter = get_adapter(_account(org, exchange_id, stand))
    before = decimal.getcontext().copy()
    adapter.submit_order(_request(exchange_id, quantity=D("0.0123456789"), order_type="limit",
                                  limit_price=D("50000.1299")))  # fmt: skip
    adapter.get_quote(SYMBOL[exchange_id])
    if exchange_id == "binance":  # its public ticker is on the live URL
        settings.CCXT_URLS = {**settings.CCXT_URLS, "binance": stand.url + "/testnet"}
    assert public_quote(exchange_id, SYMBOL[exchange_id]).last
    after = decimal.getcontext()
    assert (after.rounding, after.prec) == (before.rounding, before.prec)
    assert after.traps == before.traps
    assert D("2.5").quantize(D("1")) == D("2")


def test_a_position_is_named_as_the_exchange_lists_it_whatever_alias_asked(org, binance):
    adapter = get_adapter(_account(org, "binance", binance))
    adapter.submit_order(_request("binance", quantity=D("0.01")))
    listed = {p.symbol for p in adapter.list_positions()}
    assert "BTCUSDT" in listed
    for alias in ("BTCUSDT", "BTC/USDT"):
        assert adapter.get_position(alias).symbol == "BTCUSDT"
