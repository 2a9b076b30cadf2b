"""P&L pictures: an account's equity (marked to market), realized equity and P&L by day, a strategy's trades with
win rate and profit factor; computed from the ledger's fills, scoped to the tenant, with
the numbers in a table beside each chart and a bounded number of queries."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from brokers.models import LedgerEntry
from tests.dashboard.conftest import EVERYONE, expected_get
from tests.dashboard.test_orders import make_orders
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def account(org):
    return BrokerAccountFactory(organization=org, name="Paper one", initial_cash=D("1000"))


@pytest.fixture
def strategy(org):
    return StrategyFactory(organization=org, name="Trend")


def record(account, *, days_ago: int, realized: str, closed: str = "1", client_order_id=""):
    """A fill the ledger applied ``days_ago`` days ago (at noon)."""
    noon = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    return LedgerEntry.objects.create(
        organization_id=account.organization_id,
        account=account,
        client_order_id=client_order_id,
        symbol="AAPL",
        side="sell",
        quantity=D("1"),
        price=D("100"),
        closed_quantity=D(closed),
        realized_pnl=D(realized),
        cash_after=D("0"),
        filled_at=noon - timedelta(days=days_ago),
    )


def strategy_fill(account, subscription, *, realized: str, days_ago: int = 0, closed="1"):
    """A fill of one of the strategy's orders (linked, as a broker's, by client id)."""
    (order,) = make_orders(account, 1, subscription=subscription)
    return record(
        account,
        days_ago=days_ago,
        realized=realized,
        closed=closed,
        client_order_id=order.client_order_id,
    )


@pytest.mark.parametrize("role", EVERYONE)
def test_account_performance_page(client_as, role, account):
    record(account, days_ago=200, realized="5")  # before the window: in the starting equity
    record(account, days_ago=2, realized="50")
    record(account, days_ago=2, realized="-10")
    record(account, days_ago=1, realized="-20")
    record(account, days_ago=0, realized="30")
    response = client_as(role).get(f"/broker-accounts/{account.id}/performance/")
    assert response.status_code == expected_get(role)
    if role == "outsider":
        return
    days = response.context["days"]
    assert [(d.realized_pnl, d.realized_equity) for d in days] == [
        (40, 1045),
        (-20, 1025),
        (30, 1055),
    ]
    chart = response.context["chart"]
    assert chart["realized_equity"] == [1045.0, 1025.0, 1055.0]
    assert chart["pnl"] == [40.0, -20.0, 30.0]
    assert chart["equity"] == [float(d.equity) for d in days]
    page = response.content.decode()
    assert 'id="performance-data"' in page and "<table>" in page  # the chart's numbers too
    assert "1055.00" in page and "-20.00" in page
    assert "PAPER" in page


def test_another_organizations_fills_never_count(client_as, org, other_org, account):
    foreign = BrokerAccountFactory(organization=other_org)
    record(foreign, days_ago=0, realized="999")
    record(account, days_ago=0, realized="1")
    response = client_as(Role.VIEWER).get(f"/broker-accounts/{account.id}/performance/")
    assert [d.realized_pnl for d in response.context["days"]] == [1]
    outsider = client_as("outsider")
    assert outsider.get(f"/broker-accounts/{account.id}/performance/").status_code == 404


def test_an_account_without_fills(client_as, account):
    page = client_as(Role.VIEWER).get(f"/broker-accounts/{account.id}/performance/")
    assert "No fills in the last 90 days" in page.content.decode()


@pytest.mark.parametrize("role", EVERYONE)
def test_strategy_performance_page(client_as, role, org, strategy, account):
    subscription = SubscriptionFactory(strategy=strategy, account=account)
    other = SubscriptionFactory(strategy=StrategyFactory(organization=org), account=account)
    strategy_fill(account, subscription, realized="50", days_ago=3)
    strategy_fill(account, subscription, realized="30", days_ago=1)
    strategy_fill(account, subscription, realized="-20", days_ago=1)
    strategy_fill(account, subscription, realized="0", closed="0")  # an opening fill
    strategy_fill(account, other, realized="-500")  # another strategy's trade
    response = client_as(role).get(f"/strategies/{strategy.id}/performance/")
    assert response.status_code == expected_get(role)
    if role == "outsider":
        return
    performance = response.context["performance"]
    assert (performance.trades, performance.wins, performance.losses) == (3, 2, 1)
    assert performance.realized_pnl == 60
    assert round(performance.win_rate, 1) == D("66.7")
    assert performance.profit_factor == 4  # 80 won / 20 lost
    assert [pnl for _, pnl in response.context["days"]] == [50, 10]
    assert len(response.context["trades"]) == 3
    page = response.content.decode()
    assert "66.7%" in page and "4.00" in page and "60.00" in page


@pytest.mark.parametrize(
    "results, win_rate, profit_factor",
    [
        ([], None, None),  # no trade yet: nothing to divide
        (["10", "5"], 100, None),  # never lost: the factor would be infinite
        (["-10"], 0, 0),
        (["10", "-10", "0"], D(100) / 3, 1),  # a flat close is a trade, neither win nor loss
    ],
)
def test_win_rate_and_profit_factor(org, strategy, account, results, win_rate, profit_factor):
    from brokers.analytics import strategy_performance

    subscription = SubscriptionFactory(strategy=strategy, account=account)
    for realized in results:
        strategy_fill(account, subscription, realized=realized)
    performance = strategy_performance(organization=org, strategy=strategy)
    assert performance.win_rate == win_rate
    assert performance.profit_factor == profit_factor


def test_a_real_round_trip_through_the_webhook(
    client, client_as, org, strategy, account, django_capture_on_commit_callbacks
):
    """Buy 3 AAPL at 190 and sell them at 200 through the real endpoint and pipeline:
    one trade, 30 won."""
    InstrumentFactory(symbol="AAPL")
    account.cash = D("100000")
    account.save()
    SubscriptionFactory(strategy=strategy, account=account, use_signal_quantity=True)
    webhook = webhook_create(
        organization=org, strategy=strategy, name="h", duplicate_window_seconds=0
    )
    path = webhook_url(webhook=webhook, base_url="/")
    for body in (
        '{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 3}',
        '{"ticker": "AAPL", "action": "sell", "price": 200, "quantity": 3}',
    ):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(path, body, content_type="text/plain").status_code == 200
    response = client_as(Role.VIEWER).get(f"/strategies/{strategy.id}/performance/")
    performance = response.context["performance"]
    assert (performance.trades, performance.realized_pnl) == (1, 30)
    curve = client_as(Role.VIEWER).get(f"/broker-accounts/{account.id}/performance/")
    days = curve.context["days"]
    assert [d.realized_equity for d in days] == [1030]  # initial 1000 + 30
    assert [d.equity for d in days] == [100030]  # flat again: the cash (100,000 + 30)


def _query_count(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_queries_do_not_grow_with_the_fills(client_as, strategy, account):
    subscription = SubscriptionFactory(strategy=strategy, account=account)
    person = client_as(Role.VIEWER)
    paths = [
        f"/broker-accounts/{account.id}/performance/",
        f"/strategies/{strategy.id}/performance/",
    ]
    strategy_fill(account, subscription, realized="1")
    few = [_query_count(person, path) for path in paths]
    for i in range(120):
        strategy_fill(account, subscription, realized=str(i - 60), days_ago=i % 40)
    assert [_query_count(person, path) for path in paths] == few


def test_equity_is_marked_to_market_and_ends_at_the_account_pages_equity(
    client, client_as, org, strategy, django_capture_on_commit_callbacks
):
    """Long 3 AAPL bought at 190 two days ago; today a signal moved the paper market to
    200 (a resting limit order that did not fill). The curve values the position at its
    fill on that day and at the market now today, which is the account page's equity."""
    InstrumentFactory(symbol="AAPL")
    account = BrokerAccountFactory(organization=org, name="Marked")  # 100,000 initial cash
    SubscriptionFactory(
        strategy=strategy, account=account, use_signal_quantity=True, allow_add=True
    )
    webhook = webhook_create(
        organization=org, strategy=strategy, name="h", duplicate_window_seconds=0
    )
    path = webhook_url(webhook=webhook, base_url="/")

    def send(body):
        with django_capture_on_commit_callbacks(execute=True):
            assert client.post(path, body, content_type="text/plain").status_code == 200

    send('{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 3}')
    LedgerEntry.objects.filter(account=account).update(filled_at=timezone.now() - timedelta(days=2))
    send(
        '{"ticker": "AAPL", "action": "add", "price": 200, "quantity": 1,'
        ' "orderType": "limit", "limitPrice": 150}'
    )
    viewer = client_as(Role.VIEWER)
    days = viewer.get(f"/broker-accounts/{account.id}/performance/").context["days"]
    assert [(d.day, d.equity, d.realized_equity) for d in days] == [
        (timezone.localdate() - timedelta(days=2), 100000, 100000),  # 99,430 + 3 x 190
        (timezone.localdate(), 100030, 100000),  # 99,430 + 3 x 200, the market now
    ]
    overview = viewer.get(f"/broker-accounts/{account.id}/").context["overview"]
    assert overview.equity == days[-1].equity
