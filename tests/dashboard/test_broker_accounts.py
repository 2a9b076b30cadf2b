"""Broker account pages: add a paper account in one click, its page (equity, cash,
buying power, positions with average price and unrealized P&L, open orders cancellable,
recent fills, paper marked), reset; the role matrix."""

from decimal import Decimal

import pytest

from accounts.models import Role
from brokers.models import BrokerAccount, Order, PaperPrice, Position
from tests.dashboard.conftest import (
    EVERYONE,
    WRITERS,
    expected_get,
    expected_post,
    post_forms_in_main,
)
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(org):
    return BrokerAccountFactory(organization=org, name="Paper one")


@pytest.fixture
def traded(org, account, client, django_capture_on_commit_callbacks):
    """The account after a real signal went through the webhook endpoint and the
    pipeline: long 3 AAPL at 190, then the paper market moved to 200, plus a resting
    limit order."""
    InstrumentFactory(symbol="AAPL")
    strategy = StrategyFactory(organization=org)
    SubscriptionFactory(strategy=strategy, account=account, use_signal_quantity=True)
    webhook = webhook_create(
        organization=org, strategy=strategy, name="h", duplicate_window_seconds=0
    )
    path = webhook_url(webhook=webhook, base_url="/")
    for body in (
        '{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 3}',
        '{"ticker": "AAPL", "action": "add", "price": 200, "quantity": 1, "orderType": "limit", "limitPrice": 150}',
    ):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(path, body, content_type="text/plain").status_code == 200
    return account


@pytest.mark.parametrize("role", EVERYONE)
def test_add_a_paper_account(client_as, role, org):
    response = client_as(role).post("/broker-accounts/", {"name": "Play", "initial_cash": "25000"})
    created = BrokerAccount.objects.for_org(org).filter(name="Play")
    if role in WRITERS:
        assert response.status_code == 302
        account = created.get()
        assert (account.mode, account.broker) == ("paper", "paper")
        assert account.cash == account.initial_cash == Decimal("25000")
    else:
        assert not created.exists()


@pytest.mark.parametrize("cash", ["0", "-5", "abc"])
def test_bad_initial_cash_is_a_field_error(client_as, org, cash):
    response = client_as(Role.TRADER).post("/broker-accounts/", {"name": "P", "initial_cash": cash})
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert not BrokerAccount.objects.exists()


@pytest.mark.parametrize("role", EVERYONE)
def test_account_page(client_as, role, traded):
    response = client_as(role).get(f"/broker-accounts/{traded.id}/")
    assert response.status_code == expected_get(role)
    if role == "outsider":
        return
    page = response.content.decode()
    assert "PAPER" in page and "Paper account: play money" in page
    assert Position.objects.get(account=traded, symbol="AAPL").quantity == 3
    # 100,000 - 3 x 190 cash; AAPL now 200 in the paper market: equity 100,030.
    assert "99430.00" in page and "100030.00" in page
    assert "30.00" in page  # unrealized P&L: (200 - 190) x 3
    assert "limit @ 150" in page  # the resting order
    assert (post_forms_in_main(response) > 0) == (role in WRITERS)


def test_unrealized_pnl_uses_the_last_price(client_as, traded, org):
    PaperPrice.objects.filter(organization=org, symbol="AAPL").update(price=Decimal("180"))
    page = client_as(Role.VIEWER).get(f"/broker-accounts/{traded.id}/").content.decode()
    assert "-30.00" in page


@pytest.mark.parametrize("role", EVERYONE)
def test_cancel_open_orders(client_as, role, traded):
    response = client_as(role).post(f"/broker-accounts/{traded.id}/cancel/", {"symbol": "AAPL"})
    assert response.status_code == expected_post(role)
    resting = Order.objects.get(account=traded, limit_price=Decimal("150"))
    assert (resting.status == Order.Status.CANCELED) == (role in WRITERS)


@pytest.mark.parametrize("role", EVERYONE)
def test_reset(client_as, role, traded):
    response = client_as(role).post(f"/broker-accounts/{traded.id}/reset/")
    assert response.status_code == expected_post(role)
    traded.refresh_from_db()
    reset = role in WRITERS
    assert (traded.cash == traded.initial_cash) == reset
    assert Position.objects.filter(account=traded).exclude(quantity=0).exists() != reset


def test_live_accounts_cannot_be_reset(client_as, org):
    live = BrokerAccountFactory(organization=org, broker="alpaca", mode="live", cash=Decimal("5"))
    response = client_as(Role.OWNER).post(f"/broker-accounts/{live.id}/reset/")
    assert response.status_code == 302
    live.refresh_from_db()
    assert live.cash == Decimal("5")
    page = client_as(Role.OWNER).get(f"/broker-accounts/{live.id}/").content.decode()
    assert "LIVE" in page and "Reset paper account" not in page
