from decimal import Decimal

import pytest

from brokers.adapters.base import BracketSpec, OrderRejected, bracket_leg_client_order_id
from brokers.models import BrokerAccount, PaperOrder
from tests.brokers.factories import order_request

pytestmark = pytest.mark.django_db
D = Decimal


def _bracket(take="110", stop="95", **more):
    return BracketSpec(
        take_profit_limit_price=D(take) if take else None,
        stop_loss_stop_price=D(stop) if stop else None,
        **more,
    )


def _legs(update):
    return {leg.leg: leg for leg in update.legs}


def _status(paper, client_order_id):
    return paper.get_order(client_order_id).status


def test_bracket_entry_fill_leaves_both_legs_resting(paper):
    update = paper.submit_order(order_request(reference_price="100", bracket=_bracket()))
    legs = _legs(update)
    assert update.status == "filled"
    assert set(legs) == {"take_profit", "stop_loss"}
    take, stop = legs["take_profit"], legs["stop_loss"]
    assert (take.status, take.side, take.order_type, take.limit_price) == (
        "open",
        "sell",
        "limit",
        D("110"),
    )
    assert (stop.status, stop.side, stop.order_type, stop.stop_price) == (
        "open",
        "sell",
        "stop",
        D("95"),
    )
    assert take.client_order_id == bracket_leg_client_order_id(
        update.client_order_id, "take_profit"
    )
    assert take.parent_client_order_id == update.client_order_id
    assert take.quantity == D("10")


@pytest.mark.parametrize(
    ("price", "filled_leg", "canceled_leg", "cash_after"),
    [
        ("111", "take_profit", "stop_loss", D("100100")),  # TP fills at its limit, 110
        ("94", "stop_loss", "take_profit", D("99940")),  # SL fills at the crossing price
    ],
)
def test_one_leg_filling_cancels_the_other(
    paper, account, price, filled_leg, canceled_leg, cash_after
):
    entry = paper.submit_order(order_request(reference_price="100", bracket=_bracket()))
    legs = _legs(entry)
    assert paper.record_price("AAPL", D("100")) == []
    updates = {u.client_order_id: u for u in paper.record_price("AAPL", D(price))}
    filled = updates[legs[filled_leg].client_order_id]
    canceled = updates[legs[canceled_leg].client_order_id]
    assert filled.status == "filled"
    assert canceled.status == "canceled"
    assert "one-cancels-other" in canceled.error
    assert paper.get_position("AAPL") is None
    assert BrokerAccount.objects.get(pk=account.pk).cash == cash_after
    # the canceled leg stays canceled, whatever the market does next
    assert paper.record_price("AAPL", D("200")) == []
    assert paper.record_price("AAPL", D("1")) == []
    assert _status(paper, legs[canceled_leg].client_order_id) == "canceled"
    assert paper.get_position("AAPL") is None


def test_legs_are_held_until_a_resting_entry_fills(paper):
    paper.record_price("AAPL", D("100"))
    entry = paper.submit_order(
        order_request(order_type="limit", limit_price="98", bracket=_bracket(take="105", stop="90"))
    )
    assert entry.status == "open"
    assert {leg.status for leg in entry.legs} == {"held"}
    # a held stop loss does not fire, even at a price that crosses it
    assert paper.record_price("AAPL", D("99")) == []
    updates = paper.record_price("AAPL", D("97"))
    assert {(u.leg, u.status) for u in updates} == {
        ("", "filled"),
        ("take_profit", "open"),
        ("stop_loss", "open"),
    }
    assert paper.get_position("AAPL").quantity == D("10")
    # the released legs act on the next price
    updates = paper.record_price("AAPL", D("106"))
    assert {(u.leg, u.status) for u in updates} == {
        ("take_profit", "filled"),
        ("stop_loss", "canceled"),
    }
    assert paper.get_position("AAPL") is None


def test_short_bracket_legs_are_buys_on_the_other_sides(paper):
    entry = paper.submit_order(
        order_request(side="sell", reference_price="100", bracket=_bracket(take="90", stop="105"))
    )
    legs = _legs(entry)
    assert legs["take_profit"].side == legs["stop_loss"].side == "buy"
    paper.record_price("AAPL", D("106"))
    assert _status(paper, legs["stop_loss"].client_order_id) == "filled"
    assert _status(paper, legs["take_profit"].client_order_id) == "canceled"
    assert paper.get_position("AAPL") is None


def test_a_leg_never_closes_more_than_is_still_open(paper):
    entry = paper.submit_order(order_request(reference_price="100", bracket=_bracket()))
    legs = _legs(entry)
    # the trader exits 6 of the 10 by another signal
    paper.submit_order(order_request(side="sell", quantity="6", reference_price="100"))
    paper.record_price("AAPL", D("111"))
    take = paper.get_order(legs["take_profit"].client_order_id)
    assert (take.status, take.filled_quantity) == ("filled", D("4"))
    assert paper.get_position("AAPL") is None  # flat, not short 6


def test_a_leg_whose_position_is_gone_is_canceled_not_flipped(paper):
    entry = paper.submit_order(order_request(reference_price="100", bracket=_bracket()))
    legs = _legs(entry)
    paper.submit_order(order_request(side="sell", quantity="10", reference_price="100"))
    updates = paper.record_price("AAPL", D("94"))
    assert {(u.leg, u.status) for u in updates} == {
        ("stop_loss", "canceled"),
        ("take_profit", "canceled"),
    }
    assert paper.get_position("AAPL") is None
    assert _status(paper, legs["take_profit"].client_order_id) == "canceled"


def test_trailing_stop_loss_leg(paper):
    entry = paper.submit_order(
        order_request(
            reference_price="100",
            bracket=BracketSpec(take_profit_limit_price=D("150"), stop_loss_trail_amount=D("5")),
        )
    )
    stop = _legs(entry)["stop_loss"]
    assert stop.order_type == "trailing_stop"
    assert paper.record_price("AAPL", D("96")) == []  # 100 - 5 = 95 not crossed
    paper.record_price("AAPL", D("120"))  # trail rises to 115
    updates = paper.record_price("AAPL", D("114"))
    assert {(u.leg, u.status, u.filled_avg_price) for u in updates} == {
        ("stop_loss", "filled", D("114")),
        ("take_profit", "canceled", None),
    }


def test_cancel_open_orders_cancels_held_legs_too(paper):
    paper.record_price("AAPL", D("100"))
    entry = paper.submit_order(
        order_request(order_type="limit", limit_price="98", bracket=_bracket(take="105", stop="90"))
    )
    assert paper.cancel_open_orders("AAPL") == 3
    assert paper.record_price("AAPL", D("80")) == []
    assert {leg.status for leg in paper.get_order(entry.client_order_id).legs} == {"canceled"}
    assert paper.get_position("AAPL") is None


@pytest.mark.parametrize(
    ("side", "take", "stop"),
    [("buy", "95", "110"), ("buy", "100", "100"), ("sell", "110", "95")],
)
def test_brackets_on_the_wrong_sides_are_rejected(paper, side, take, stop):
    with pytest.raises(OrderRejected, match="wrong sides"):
        paper.submit_order(
            order_request(side=side, reference_price="100", bracket=_bracket(take, stop))
        )
    assert not PaperOrder.objects.exists()


def test_an_empty_bracket_is_rejected(paper):
    with pytest.raises(OrderRejected, match="needs a take profit or a stop loss"):
        paper.submit_order(order_request(reference_price="100", bracket=BracketSpec()))
    assert not PaperOrder.objects.exists()


def test_leg_client_ids_stay_within_128_characters():
    long_id = "x" * 128
    take = bracket_leg_client_order_id(long_id, "take_profit")
    stop = bracket_leg_client_order_id(long_id, "stop_loss")
    assert len(take) <= 128 and len(stop) <= 128
    assert take != stop
    assert take == bracket_leg_client_order_id(long_id, "take_profit")
    assert bracket_leg_client_order_id("abc", "stop_loss") == "abc-sl"
