"""Two workers on one paper account at once. Needs real row locks: PostgreSQL only."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections

from brokers.adapters.base import BracketSpec
from brokers.adapters.paper import PaperAdapter
from brokers.models import BrokerAccount, Order, PaperOrder, Position
from execution.records import order_apply_update
from tests.brokers.factories import OrderFactory, order_request
from tests.factories import BrokerAccountFactory, OrganizationFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks need PostgreSQL (DATABASE_URL)"
    ),
]
D = Decimal
WORKERS = 6


def _race(work, count=WORKERS):
    """Run ``work(i)`` in ``count`` threads released together; return results, re-raise."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except Exception as error:  # surfaced below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.fixture
def account():
    return BrokerAccountFactory(organization=OrganizationFactory(), cash=D("100000"))


def test_the_same_order_submitted_by_racing_workers_fills_once(account):
    request = order_request(quantity="10", reference_price="100")
    updates = _race(lambda i: PaperAdapter(account).submit_order(request))
    assert len({u.broker_order_id for u in updates}) == 1
    assert PaperOrder.objects.filter(client_order_id=request.client_order_id).count() == 1
    assert BrokerAccount.objects.get(pk=account.pk).cash == D("99000")
    assert Position.objects.get(account=account, symbol="AAPL").quantity == D("10")


def test_racing_fills_of_different_orders_are_all_applied(account):
    per_worker = 5

    def work(i):
        adapter = PaperAdapter(account)
        for n in range(per_worker):
            adapter.submit_order(order_request(quantity="1", reference_price=str(100 + i)))
            adapter.submit_order(
                order_request(symbol=f"S{n}", side="sell", quantity="2", reference_price="10")
            )

    _race(work)
    spent = sum(per_worker * (100 + i) for i in range(WORKERS))
    received = WORKERS * per_worker * 20
    assert BrokerAccount.objects.get(pk=account.pk).cash == D("100000") - spent + received
    assert Position.objects.get(account=account, symbol="AAPL").quantity == WORKERS * per_worker
    for n in range(per_worker):
        assert Position.objects.get(account=account, symbol=f"S{n}").quantity == -2 * WORKERS


def test_racing_prices_fill_a_resting_order_once(account):
    adapter = PaperAdapter(account)
    adapter.record_price("AAPL", D("100"))
    resting = adapter.submit_order(order_request(order_type="limit", limit_price="90"))
    results = _race(lambda i: PaperAdapter(account).record_price("AAPL", D("89") - i))
    fills = [u for updates in results for u in updates if u.status == "filled"]
    assert [u.client_order_id for u in fills] == [resting.client_order_id]
    assert BrokerAccount.objects.get(pk=account.pk).cash == D("100000") - D("900")
    assert Position.objects.get(account=account, symbol="AAPL").quantity == D("10")


def test_racing_oco_prices_fill_exactly_one_leg(account):
    adapter = PaperAdapter(account)
    bracket = BracketSpec(take_profit_limit_price=D("110"), stop_loss_stop_price=D("95"))
    adapter.submit_order(order_request(reference_price="100", bracket=bracket))
    prices = [D("111"), D("94")] * (WORKERS // 2)
    _race(lambda i: PaperAdapter(account).record_price("AAPL", prices[i]))
    legs = dict(PaperOrder.objects.exclude(leg="").values_list("leg", "status"))
    assert sorted(legs.values()) == ["canceled", "filled"]
    assert Position.objects.get(account=account, symbol="AAPL").quantity == 0


def test_racing_applies_of_one_update_write_one_leg_row(account):
    entry = OrderFactory(account=account, organization=account.organization)
    bracket = BracketSpec(take_profit_limit_price=D("110"), stop_loss_stop_price=D("95"))
    update = PaperAdapter(account).submit_order(
        order_request(client_order_id=entry.client_order_id, reference_price="100", bracket=bracket)
    )
    _race(lambda i: order_apply_update(update=update))
    assert Order.objects.filter(parent=entry).count() == 2
    entry.refresh_from_db()
    assert entry.status == "filled"
