from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokers.ledger import position_after_fill
from brokers.models import BrokerAccount, Position
from tests.brokers.factories import order_request

D = Decimal


@pytest.mark.parametrize(
    ("quantity", "average", "delta", "price", "expected"),
    [
        # opening
        ("0", "0", "10", "100", ("10", "100", "0")),
        ("0", "0", "-10", "100", ("-10", "100", "0")),
        # adding averages in
        ("10", "100", "10", "110", ("20", "105", "0")),
        ("-10", "100", "-30", "80", ("-40", "85", "0")),
        # partial close keeps the average, realizes the closed part
        ("10", "100", "-4", "110", ("6", "100", "40")),
        ("-10", "100", "4", "90", ("-6", "100", "40")),
        ("-10", "100", "4", "120", ("-6", "100", "-80")),
        # full close
        ("10", "100", "-10", "95", ("0", "0", "-50")),
        ("-10", "100", "10", "95", ("0", "0", "50")),
        # flip: the old side is realized, the rest opens at the fill price
        ("10", "100", "-25", "120", ("-15", "120", "200")),
        ("-10", "100", "25", "90", ("15", "90", "100")),
    ],
)
def test_position_after_fill(quantity, average, delta, price, expected):
    result = position_after_fill(
        quantity=D(quantity), average_price=D(average), delta=D(delta), price=D(price)
    )
    assert result == tuple(D(value) for value in expected)


def _cash(account):
    return BrokerAccount.objects.get(pk=account.pk).cash


def _position(account, symbol="AAPL"):
    return Position.objects.get(account=account, symbol=symbol)


@pytest.mark.django_db
def test_long_round_trip_moves_cash_and_realizes(paper, account):
    paper.submit_order(order_request(side="buy", quantity="10", reference_price="100"))
    assert _cash(account) == D("99000")
    paper.submit_order(order_request(side="buy", quantity="10", reference_price="110"))
    assert (_position(account).quantity, _position(account).average_price) == (20, 105)
    paper.submit_order(order_request(side="sell", quantity="5", reference_price="120"))
    position = _position(account)
    assert (position.quantity, position.average_price, position.realized_pnl) == (15, 105, 75)
    paper.submit_order(order_request(side="sell", quantity="15", reference_price="100"))
    position = _position(account)
    assert (position.quantity, position.realized_pnl) == (0, D("0"))
    assert _cash(account) == D("100000")  # 75 won then 75 lost
    assert paper.get_position("AAPL") is None


@pytest.mark.django_db
def test_short_then_flip_to_long(paper, account):
    paper.submit_order(order_request(side="sell", quantity="10", reference_price="50"))
    assert _cash(account) == D("100500")  # a short sale brings cash in
    assert paper.get_position("AAPL").quantity == D("-10")
    paper.submit_order(order_request(side="buy", quantity="30", reference_price="40"))
    position = _position(account)
    assert (position.quantity, position.average_price, position.realized_pnl) == (20, 40, 100)
    assert _cash(account) == D("100500") - D("1200")
    # equity = cash + 20 * last price (40) = 100000 + the 100 realized
    assert paper.get_account().equity == D("100100")


@pytest.mark.django_db
def test_equity_marks_positions_to_the_last_price(paper, account):
    paper.submit_order(order_request(side="buy", quantity="10", reference_price="100"))
    paper.record_price("AAPL", D("130"))
    snapshot = paper.get_account()
    assert snapshot.cash == D("99000")
    assert snapshot.equity == D("100300")


fills = st.lists(
    st.tuples(
        st.integers(min_value=-50, max_value=50).filter(bool),
        st.integers(min_value=1, max_value=500),
    ),
    min_size=1,
    max_size=30,
)


@given(fills=fills, last=st.integers(min_value=1, max_value=500))
def test_books_balance_for_any_fills(fills, last):
    """Whatever the fills, cash + position at the last price = start + realized +
    unrealized: the ledger neither creates nor loses money."""
    quantity, average, realized, cash = D(0), D(0), D(0), D(100000)
    tolerance = D(0)
    for delta, price in fills:
        quantity, average, gained = position_after_fill(
            quantity=quantity, average_price=average, delta=D(delta), price=D(price)
        )
        realized += gained
        cash -= D(delta) * D(price)
        assert (quantity == 0) == (average == 0)
        assert average >= 0
        # averages are kept to 8 decimals: rounding one shifts the held quantity's value
        tolerance += D("0.00000001") * abs(quantity)
    unrealized = quantity * (D(last) - average)
    error = cash + quantity * D(last) - (D(100000) + realized + unrealized)
    assert abs(error) <= tolerance
