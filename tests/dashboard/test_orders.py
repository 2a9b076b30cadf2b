"""Orders and positions across the organization's accounts: filters, keyset pages, paper
and live marked, the role matrix, a bounded number of queries however many orders."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from brokers.models import Order, Position
from brokers.selectors import ORDER_PAGE_SIZE
from tests.dashboard.conftest import EVERYONE, MEMBER_ROLES, post_forms_in_main
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def make_orders(account, n: int, *, start=None, subscription=None, **fields) -> list[Order]:
    """``n`` orders in ``account``, one second apart, oldest first."""
    start = start or timezone.now() - timedelta(hours=1)
    defaults = {"symbol": "AAPL", "side": "buy", "status": "filled", "quantity": Decimal("1")}
    rows = [
        Order(
            organization_id=account.organization_id,
            account=account,
            subscription=subscription,
            client_order_id=f"{account.id}-{start.timestamp()}-{i}",
            created_at=start + timedelta(seconds=i),
            **{**defaults, **fields},
        )
        for i in range(n)
    ]
    return Order.objects.bulk_create(rows)


@pytest.fixture
def paper(org):
    return BrokerAccountFactory(organization=org, name="Paper one")


@pytest.fixture
def live(org):
    return BrokerAccountFactory(organization=org, name="Live one", broker="alpaca", mode="live")


@pytest.mark.parametrize("role", EVERYONE)
def test_members_see_the_orders_of_every_account_outsiders_none(client_as, role, paper, live):
    make_orders(paper, 2, symbol="AAPL")
    make_orders(live, 1, symbol="MSFT", side="sell")
    Position.objects.create(
        organization=paper.organization, account=paper, symbol="AAPL", quantity=Decimal("2")
    )
    response = client_as(role).get("/orders/")
    assert response.status_code == 200  # an outsider sees their own (empty) organization
    page = response.content.decode()
    if role == "outsider":
        assert "AAPL" not in page and "MSFT" not in page and "No orders" in page
        return
    assert len(response.context["page"].orders) == 3
    assert "sell 1 MSFT" in page and "buy 1 AAPL" in page
    assert "PAPER" in page and "LIVE" in page  # each order marked with its account's mode
    assert [p.symbol for p in response.context["positions"]] == ["AAPL"]
    assert post_forms_in_main(response) == 0  # filters are a GET form; nothing to change


@pytest.mark.parametrize(
    "query, expected",
    [
        ("ticker=msft", {"MSFT"}),
        ("status=canceled", {"TSLA"}),
        ("side=sell", {"MSFT"}),
        ("account=LIVE", {"MSFT"}),
        ("since=TOMORROW", set()),
        ("until=YESTERDAY", {"OLD"}),
        ("since=YESTERDAY&until=YESTERDAY", {"OLD"}),
        ("status=BOGUS", {"AAPL", "MSFT", "TSLA", "OLD"}),  # an invalid filter filters nothing
        ("account=not-a-uuid", {"AAPL", "MSFT", "TSLA", "OLD"}),
    ],
)
def test_filters(client_as, paper, live, query, expected):
    make_orders(paper, 1, symbol="AAPL")
    make_orders(live, 1, symbol="MSFT", side="sell")
    make_orders(paper, 1, symbol="TSLA", status="canceled")
    make_orders(paper, 1, symbol="OLD", start=timezone.now() - timedelta(days=1))
    today = timezone.localdate()
    query = (
        query.replace("LIVE", str(live.id))
        .replace("TOMORROW", (today + timedelta(days=1)).isoformat())
        .replace("YESTERDAY", (today - timedelta(days=1)).isoformat())
    )
    orders = client_as(Role.VIEWER).get(f"/orders/?{query}").context["page"].orders
    assert {o.symbol for o in orders} == expected


def test_another_organizations_account_filters_to_nothing(client_as, paper, other_org):
    foreign = BrokerAccountFactory(organization=other_org)
    make_orders(foreign, 2)
    make_orders(paper, 1)
    orders = client_as(Role.OWNER).get(f"/orders/?account={foreign.id}").context["page"].orders
    # The organization narrows first: another tenant's account id matches none of ours.
    assert orders == []


def test_keyset_pages_cover_every_order_once(client_as, paper):
    orders = make_orders(paper, 2 * ORDER_PAGE_SIZE + 5)
    # Two orders at the same instant: the id breaks the tie, neither is lost or repeated.
    Order.objects.filter(pk=orders[10].pk).update(created_at=orders[11].created_at)
    person = client_as(Role.VIEWER)
    seen, cursor, pages = [], None, 0
    while True:
        page = person.get("/orders/" + (f"?after={cursor}" if cursor else "")).context["page"]
        seen += [o.id for o in page.orders]
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == len(orders)


def test_a_bad_cursor_is_the_first_page(client_as, paper):
    make_orders(paper, 3)
    response = client_as(Role.VIEWER).get("/orders/?after=not-a-cursor!!")
    assert response.status_code == 200
    assert len(response.context["page"].orders) == 3


def _queries(client, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_queries_do_not_grow_with_the_orders(client_as, org, paper, live, role):
    strategy = StrategyFactory(organization=org)
    subscription = SubscriptionFactory(strategy=strategy, account=paper)
    person = client_as(role)
    make_orders(paper, 5, subscription=subscription)
    few = _queries(person, "/orders/?side=buy")
    make_orders(live, 3 * ORDER_PAGE_SIZE, subscription=subscription)
    for i in range(30):
        Position.objects.create(
            organization=org, account=live, symbol=f"S{i}", quantity=Decimal("1")
        )
    many = _queries(person, "/orders/?side=buy")
    assert len(many) == len(few)
    assert not any("COUNT(" in sql.upper() for sql in many)


@pytest.mark.parametrize("role", EVERYONE)
@pytest.mark.parametrize(
    "path", ["/orders/", "/orders/export.csv", "/signals/export.csv", "ACCOUNT", "STRATEGY"]
)
def test_the_read_only_pages_refuse_a_post(client_as, role, org, paper, path):
    strategy = StrategyFactory(organization=org)
    path = path.replace("ACCOUNT", f"/broker-accounts/{paper.id}/performance/")
    path = path.replace("STRATEGY", f"/strategies/{strategy.id}/performance/")
    status = client_as(role).post(path).status_code
    # A viewer is refused before the view runs, as every viewer's POST; anyone else gets
    # 405 before any lookup, for any id, so an outsider learns nothing from it either.
    assert status == (403 if role == Role.VIEWER else 405)


def test_a_post_for_an_unknown_id_is_the_same_405(client_as):
    assert client_as(Role.OWNER).post(f"/strategies/{uuid.uuid4()}/performance/").status_code == 405
