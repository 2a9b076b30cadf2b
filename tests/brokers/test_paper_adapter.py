from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from brokers.adapters.base import NoPriceAvailable, OrderRejected
from brokers.adapters.paper import PaperAdapter
from brokers.models import BrokerAccount, PaperOrder, PaperPrice, Position
from tests.brokers.factories import order_request
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db
D = Decimal


def _cash(account):
    return BrokerAccount.objects.get(pk=account.pk).cash


def test_market_order_fills_at_the_signal_price(paper, account):
    update = paper.submit_order(order_request(quantity="10", reference_price="187.5"))
    assert (update.status, update.filled_quantity, update.filled_avg_price) == (
        "filled",
        D("10"),
        D("187.5"),
    )
    assert update.filled_at is not None
    assert _cash(account) == D("100000") - D("1875")
    assert paper.get_position("AAPL").quantity == D("10")
    # the signal's price becomes the organization's market price
    assert paper.get_quote("AAPL").last == D("187.5")


def test_market_order_without_signal_price_fills_at_the_last_price(paper, account):
    paper.record_price("AAPL", D("150"))
    update = paper.submit_order(order_request(side="sell", quantity="2"))
    assert (update.status, update.filled_avg_price) == ("filled", D("150"))
    assert _cash(account) == D("100300")


def test_market_order_with_no_price_fails_and_books_nothing(paper, account):
    with pytest.raises(NoPriceAvailable, match="(?i)no price available"):
        paper.submit_order(order_request(symbol="MSFT"))
    assert not PaperOrder.objects.exists()
    assert not Position.objects.exists()
    assert _cash(account) == D("100000")


def test_the_market_is_per_organization(paper, other_org):
    stranger = PaperAdapter(BrokerAccountFactory(organization=other_org))
    stranger.record_price("AAPL", D("999"))
    assert paper.get_quote("AAPL") is None
    with pytest.raises(NoPriceAvailable):
        paper.submit_order(order_request())


def test_a_fill_price_becomes_the_market_when_none_was_known(paper):
    paper.submit_order(order_request(order_type="limit", limit_price="42"))
    assert paper.get_quote("AAPL").last == D("42")


@pytest.mark.parametrize(
    ("side", "limit", "last", "status", "fill_price"),
    [
        ("buy", "105", "100", "filled", "100"),  # marketable: the better price
        ("buy", "100", "100", "filled", "100"),
        ("buy", "95", "100", "open", None),
        ("sell", "95", "100", "filled", "100"),
        ("sell", "100", "100", "filled", "100"),
        ("sell", "105", "100", "open", None),
        ("buy", "95", None, "filled", "95"),  # no price known: fills at its limit
        ("sell", "105", None, "filled", "105"),
    ],
)
def test_limit_order_at_submission(paper, account, side, limit, last, status, fill_price):
    if last is not None:
        paper.record_price("AAPL", D(last))
    update = paper.submit_order(
        order_request(side=side, quantity="1", order_type="limit", limit_price=limit)
    )
    assert update.status == status
    if fill_price is None:
        assert update.filled_quantity == 0
        assert not Position.objects.filter(account=account).exclude(quantity=0).exists()
        assert _cash(account) == D("100000")
    else:
        assert update.filled_avg_price == D(fill_price)
        assert paper.get_position("AAPL").quantity == (1 if side == "buy" else -1)


@pytest.mark.parametrize(
    ("request_fields", "prices", "fill_at"),
    [
        # resting limits fill at their limit once a price reaches them
        ({"side": "buy", "order_type": "limit", "limit_price": "95"}, ["99", "96"], None),
        ({"side": "buy", "order_type": "limit", "limit_price": "95"}, ["97", "94"], "95"),
        ({"side": "sell", "order_type": "limit", "limit_price": "105"}, ["104.99"], None),
        ({"side": "sell", "order_type": "limit", "limit_price": "105"}, ["106"], "105"),
        # stops become market orders at the crossing price
        ({"side": "buy", "order_type": "stop", "stop_price": "105"}, ["104", "103"], None),
        ({"side": "buy", "order_type": "stop", "stop_price": "105"}, ["104", "106"], "106"),
        ({"side": "sell", "order_type": "stop", "stop_price": "95"}, ["96"], None),
        ({"side": "sell", "order_type": "stop", "stop_price": "95"}, ["95"], "95"),
        # stop-limit: crossed and within the limit fills at the price ...
        (
            {"side": "buy", "order_type": "stop_limit", "stop_price": "105", "limit_price": "106"},
            ["105.5"],
            "105.5",
        ),
        # ... crossed beyond the limit rests as a limit, filled when the price comes back
        (
            {"side": "buy", "order_type": "stop_limit", "stop_price": "105", "limit_price": "106"},
            ["108"],
            None,
        ),
        (
            {"side": "buy", "order_type": "stop_limit", "stop_price": "105", "limit_price": "106"},
            ["108", "105.8"],
            "106",
        ),
        # trailing stops trail the best price seen
        ({"side": "sell", "order_type": "trailing_stop", "trail_amount": "5"}, ["104"], None),
        (
            {"side": "sell", "order_type": "trailing_stop", "trail_amount": "5"},
            ["110", "106", "105"],
            "105",
        ),
        (
            {"side": "buy", "order_type": "trailing_stop", "trail_percent": "10"},
            ["90", "98"],
            None,
        ),
        (
            {"side": "buy", "order_type": "trailing_stop", "trail_percent": "10"},
            ["90", "99"],
            "99",
        ),
    ],
)
def test_resting_orders_fill_only_when_a_price_crosses(
    paper, account, request_fields, prices, fill_at
):
    paper.record_price("AAPL", D("100"))
    submitted = paper.submit_order(order_request(quantity="3", **request_fields))
    assert submitted.status == "open"
    updates = []
    for price in prices:
        updates.extend(paper.record_price("AAPL", D(price)))
    order = paper.get_order(submitted.client_order_id)
    if fill_at is None:
        assert updates == []
        assert order.status == "open"
        assert paper.get_position("AAPL") is None
        assert _cash(account) == D("100000")
    else:
        assert [(u.client_order_id, u.status) for u in updates] == [
            (submitted.client_order_id, "filled")
        ]
        assert (order.status, order.filled_avg_price) == ("filled", D(fill_at))
        expected = 3 if request_fields["side"] == "buy" else -3
        assert paper.get_position("AAPL").quantity == expected


def test_a_stop_already_crossed_at_submission_fills_at_once(paper):
    paper.record_price("AAPL", D("100"))
    update = paper.submit_order(order_request(side="sell", order_type="stop", stop_price="101"))
    assert (update.status, update.filled_avg_price) == ("filled", D("100"))


def test_resting_orders_of_every_account_in_the_organization_fill(paper, org, other_org):
    sibling = PaperAdapter(BrokerAccountFactory(organization=org))
    stranger = PaperAdapter(BrokerAccountFactory(organization=other_org))
    for adapter in (paper, sibling, stranger):
        adapter.record_price("AAPL", D("100"))
        adapter.submit_order(order_request(order_type="limit", limit_price="90", quantity="1"))
    stranger.record_price("AAPL", D("100"))  # the other tenant's market stays at 100
    updates = paper.record_price("AAPL", D("89"))
    assert len(updates) == 2
    assert paper.get_position("AAPL").quantity == 1
    assert sibling.get_position("AAPL").quantity == 1
    assert stranger.get_position("AAPL") is None
    assert PaperOrder.objects.filter(account=stranger.account, status="open").count() == 1


@pytest.mark.parametrize("tif", ["ioc", "fok"])
def test_immediate_orders_that_cannot_fill_are_canceled(paper, tif):
    paper.record_price("AAPL", D("100"))
    update = paper.submit_order(
        order_request(order_type="limit", limit_price="90", time_in_force=tif)
    )
    assert update.status == "canceled"
    assert tif in update.error
    assert paper.record_price("AAPL", D("80")) == []
    assert paper.get_position("AAPL") is None


def test_cancel_open_orders_cancels_only_that_symbol(paper, account):
    paper.record_price("AAPL", D("100"))
    paper.record_price("MSFT", D("100"))
    first = paper.submit_order(order_request(order_type="limit", limit_price="90"))
    second = paper.submit_order(order_request(order_type="stop", stop_price="110"))
    other = paper.submit_order(order_request(symbol="MSFT", order_type="limit", limit_price="90"))
    assert paper.cancel_open_orders("AAPL") == 2
    assert paper.cancel_open_orders("AAPL") == 0
    assert paper.get_order(first.client_order_id).status == "canceled"
    assert paper.get_order(second.client_order_id).status == "canceled"
    assert paper.get_order(other.client_order_id).status == "open"
    assert paper.record_price("AAPL", D("80")) == []
    assert paper.get_position("AAPL") is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"quantity": "0"}, "quantity must be positive"),
        ({"side": "hold"}, "side must be buy or sell"),
        ({"order_type": "iceberg"}, "unknown order type"),
        ({"order_type": "limit"}, "needs a positive limit price"),
        ({"order_type": "stop"}, "needs a positive stop price"),
        ({"order_type": "trailing_stop"}, "needs a trail amount or a trail percent"),
    ],
)
def test_invalid_orders_are_rejected_and_not_booked(paper, account, fields, message):
    with pytest.raises(OrderRejected, match=message):
        paper.submit_order(order_request(reference_price="100", **fields))
    assert not PaperOrder.objects.exists()
    assert _cash(account) == D("100000")


def test_idempotent_submit_fills_once(paper, account):
    request = order_request(quantity="10", reference_price="100")
    first = paper.submit_order(request)
    again = paper.submit_order(order_request(**{**request.__dict__, "reference_price": D("50")}))
    assert again == first
    assert PaperOrder.objects.filter(client_order_id=request.client_order_id).count() == 1
    assert _cash(account) == D("99000")
    assert paper.get_position("AAPL").quantity == D("10")


def test_the_same_client_order_id_in_another_account_is_another_order(paper, org):
    other = PaperAdapter(BrokerAccountFactory(organization=org))
    request = order_request(reference_price="100")
    paper.submit_order(request)
    other.submit_order(request)
    assert PaperOrder.objects.filter(client_order_id=request.client_order_id).count() == 2


def test_get_order_unknown_is_none(paper):
    assert paper.get_order("nope") is None


def test_prices_that_are_not_prices_change_nothing(paper):
    assert paper.record_price("AAPL", D("0")) == []
    assert paper.record_price("AAPL", D("-5")) == []
    assert paper.record_price("AAPL", D("NaN")) == []
    assert not PaperPrice.objects.exists()


def test_the_database_refuses_a_second_paper_order_with_the_same_client_id(paper, account):
    update = paper.submit_order(order_request(reference_price="100"))
    first = PaperOrder.objects.get(client_order_id=update.client_order_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaperOrder.objects.create(
            organization=account.organization,
            account=account,
            client_order_id=first.client_order_id,
            symbol="AAPL",
            side="buy",
            quantity=D("1"),
            order_type="market",
            status="open",
        )


def test_a_price_that_crosses_nothing_locks_no_account(paper):
    paper.record_price("AAPL", D("100"))
    paper.submit_order(order_request(order_type="limit", limit_price="90"))
    paper.submit_order(order_request(side="sell", order_type="stop", stop_price="80"))
    with CaptureQueriesContext(connection) as queries:
        assert paper.record_price("AAPL", D("95")) == []
    assert not [q for q in queries.captured_queries if "brokers_brokeraccount" in q["sql"]]
    assert PaperOrder.objects.filter(status="open").count() == 2
