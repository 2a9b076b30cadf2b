"""Per-order cancel on the account page and the orders page: execution.orders.order_cancel
through the adapter's cancel_order, for the owner / admin / trader / viewer / outsider
matrix; the paper broker's book and our Order row end canceled, the other orders stay."""

from decimal import Decimal

import pytest

from accounts.models import Role
from brokers.adapters.base import BrokerAdapter
from brokers.adapters.paper import PaperAdapter
from brokers.models import Order, PaperOrder
from execution.orders import OrderNotOpen, order_cancel
from tests.dashboard.conftest import EVERYONE, WRITERS, expected_post
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def resting(org, client, django_capture_on_commit_callbacks):
    """Two resting AAPL limit orders placed through the real webhook endpoint and the
    pipeline (the second with a bracket, its legs held for its fill)."""
    InstrumentFactory(symbol="AAPL")
    account = BrokerAccountFactory(organization=org, name="Paper one")
    strategy = StrategyFactory(organization=org)
    SubscriptionFactory(
        strategy=strategy, account=account, use_signal_quantity=True, allow_add=True
    )
    webhook = webhook_create(
        organization=org, strategy=strategy, name="h", duplicate_window_seconds=0
    )
    path = webhook_url(webhook=webhook, base_url="/")
    bodies = (
        '{"ticker": "AAPL", "action": "buy", "price": 200, "quantity": 2,'
        ' "orderType": "limit", "limitPrice": 150}',
        '{"ticker": "AAPL", "action": "buy", "price": 200, "quantity": 1,'
        ' "orderType": "limit", "limitPrice": 140,'
        ' "takeProfit": {"limitPrice": 160}, "stopLoss": {"type": "stop", "stopPrice": 130}}',
    )
    for body in bodies:
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(path, body, content_type="text/plain").status_code == 200
    first = Order.objects.get(account=account, limit_price=Decimal("150"), parent__isnull=True)
    second = Order.objects.get(account=account, limit_price=Decimal("140"), parent__isnull=True)
    assert first.status == second.status == Order.Status.OPEN
    return first, second


@pytest.mark.parametrize("role", EVERYONE)
@pytest.mark.parametrize("page", ["account", "orders"])
def test_cancel_one_order(client_as, role, page, resting):
    first, second = resting
    back = f"/broker-accounts/{first.account_id}/" if page == "account" else "/orders/"
    client = client_as(role)
    if role in WRITERS:
        shown = client.get(back).content.decode()
        assert f"/orders/{first.id}/cancel/" in shown
    response = client.post(f"/orders/{first.id}/cancel/", {"next": back})
    assert response.status_code == expected_post(role)
    first.refresh_from_db()
    second.refresh_from_db()
    canceled = role in WRITERS
    assert (first.status == Order.Status.CANCELED) == canceled
    booked = PaperOrder.objects.get(client_order_id=first.client_order_id)
    assert (booked.status == PaperOrder.Status.CANCELED) == canceled
    assert second.status == Order.Status.OPEN  # only the one asked for
    if canceled:
        assert response["Location"] == back


def test_viewer_sees_no_cancel_button(client_as, resting):
    first, _ = resting
    for path in (f"/broker-accounts/{first.account_id}/", "/orders/"):
        page = client_as(Role.VIEWER).get(path).content.decode()
        assert "/cancel/" not in page


def test_canceling_an_entry_cancels_its_held_bracket_legs(org, resting):
    _, second = resting
    order_cancel(organization=org, order_id=second.id)
    legs = PaperOrder.objects.filter(parent__client_order_id=second.client_order_id)
    assert legs.count() == 2
    assert set(legs.values_list("status", flat=True)) == {PaperOrder.Status.CANCELED}
    second.refresh_from_db()
    assert second.status == Order.Status.CANCELED
    assert {c.status for c in second.children.all()} <= {Order.Status.CANCELED}


def test_a_finished_order_is_not_cancelable(client_as, org, resting):
    first, _ = resting
    order_cancel(organization=org, order_id=first.id)
    with pytest.raises(OrderNotOpen):
        order_cancel(organization=org, order_id=first.id)
    response = client_as(Role.TRADER).post(f"/orders/{first.id}/cancel/", follow=True)
    assert response.status_code == 200
    assert b"only an order open at the broker can be canceled" in response.content


def test_another_organizations_order_is_404(client_as, resting, other_org):
    first, _ = resting
    with pytest.raises(Order.DoesNotExist):
        order_cancel(organization=other_org, order_id=first.id)
    first.refresh_from_db()
    assert first.status == Order.Status.OPEN


def test_next_never_leaves_the_site(client_as, resting):
    first, _ = resting
    response = client_as(Role.TRADER).post(
        f"/orders/{first.id}/cancel/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == "/orders/"


def test_adapter_base_declares_cancel_order(org):
    account = BrokerAccountFactory(organization=org)

    class Bare(BrokerAdapter):
        get_account = get_position = get_quote = submit_order = None
        cancel_open_orders = get_order = None

    with pytest.raises(NotImplementedError):
        Bare(account).cancel_order("x")
    assert PaperAdapter(account).cancel_order("unknown") is None
