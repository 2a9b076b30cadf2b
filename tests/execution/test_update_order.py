"""The stream and reconciliation report the same Alpaca order independently: whichever
is applied last, an order's status only moves forward and its filled quantity never
shrinks (execution.records.order_apply_update, which both go through)."""

from decimal import Decimal as D

import pytest

from brokers.models import Order
from execution.brokers import adapter_for
from execution.reconcile import order_settle
from execution.records import order_apply_update, order_request
from execution.streaming import broker_update_apply

pytestmark = pytest.mark.django_db


def _resting(account, client_order_id="tr-race-1") -> Order:
    order = Order.objects.create(
        organization=account.organization,
        account=account,
        symbol="AAPL",
        side="buy",
        quantity=D("3"),
        order_type="limit",
        limit_price=D("150"),
        client_order_id=client_order_id,
        status=Order.Status.SUBMITTING,
    )
    answer = adapter_for(account).submit_order(order_request(order, {}))
    order_apply_update(update=answer, account=account)
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN
    return order


@pytest.fixture
def key(alpaca_standin, alpaca_account):
    alpaca_standin.set_price("AAPL", "187.5")
    return alpaca_account.credentials["api_key"]


def test_a_reconciliation_read_older_than_the_streams_fill_changes_nothing(
    alpaca_standin, alpaca_account, key
):
    order = _resting(alpaca_account)
    adapter = adapter_for(alpaca_account)
    stale = adapter.get_order(order.client_order_id)  # reconciliation reads "new"...
    alpaca_standin.fill(key, order.client_order_id, 3, price="150")
    broker_update_apply(update=adapter.get_order(order.client_order_id), account=alpaca_account)

    # ... and applies it after the stream applied the fill.
    assert stale.status == Order.Status.OPEN
    order_apply_update(update=stale, account=alpaca_account)

    order.refresh_from_db()
    assert order.status == Order.Status.FILLED
    assert (order.filled_quantity, order.filled_avg_price) == (D("3"), D("150"))
    assert order.filled_at is not None


def test_an_older_partial_fill_never_shrinks_a_newer_one(alpaca_standin, alpaca_account, key):
    order = _resting(alpaca_account)
    adapter = adapter_for(alpaca_account)
    alpaca_standin.fill(key, order.client_order_id, 1, price="150")
    first = adapter.get_order(order.client_order_id)
    alpaca_standin.fill(key, order.client_order_id, 1, price="150")
    broker_update_apply(update=adapter.get_order(order.client_order_id), account=alpaca_account)

    order_apply_update(update=first, account=alpaca_account)  # redelivered, late

    order.refresh_from_db()
    assert first.filled_quantity == D("1")
    assert order.status == Order.Status.PARTIALLY_FILLED and order.filled_quantity == D("2")


def test_reconciliation_after_the_stream_agrees_and_the_rest_of_the_fill_still_lands(
    alpaca_standin, alpaca_account, key
):
    order = _resting(alpaca_account)
    adapter = adapter_for(alpaca_account)
    alpaca_standin.fill(key, order.client_order_id, 2, price="150")
    broker_update_apply(update=adapter.get_order(order.client_order_id), account=alpaca_account)
    assert order_settle(order)  # reconciliation: the same state, applied again
    assert (order.status, order.filled_quantity) == (Order.Status.PARTIALLY_FILLED, D("2"))

    alpaca_standin.fill(key, order.client_order_id, 1, price="150")
    assert order_settle(order)
    assert (order.status, order.filled_quantity) == (Order.Status.FILLED, D("3"))
