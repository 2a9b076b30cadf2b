"""CSV downloads of orders and signals: streamed, scoped to the tenant, the page's filters
honoured, and no cell a spreadsheet would run as a formula."""

import csv
import io
from decimal import Decimal

import pytest

from accounts.models import Role
from dashboard.csv_export import safe_cell
from signals.models import Signal
from tests.dashboard.conftest import EVERYONE
from tests.dashboard.test_orders import make_orders
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def rows_of(response) -> list[dict]:
    assert response.streaming  # written as the database hands rows over
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    "value, cell",
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("AAPL", "AAPL"),
        ("a=b", "a=b"),  # only the first character matters
        (Decimal("-30.5"), Decimal("-30.5")),  # our own numbers stay numbers
        (None, ""),
    ],
)
def test_safe_cell(value, cell):
    assert safe_cell(value) == cell


@pytest.fixture
def orders(org, other_org):
    account = BrokerAccountFactory(organization=org, name="=cmd|' /C calc'!A0")
    strategy = StrategyFactory(organization=org, name="@evil")
    subscription = SubscriptionFactory(strategy=strategy, account=account)
    make_orders(account, 2, symbol="AAPL", subscription=subscription)
    make_orders(account, 1, symbol="MSFT", side="sell", status="canceled")
    make_orders(BrokerAccountFactory(organization=other_org), 3, symbol="TSLA")
    return account


@pytest.mark.parametrize("role", EVERYONE)
def test_order_export(client_as, role, orders):
    rows = rows_of(client_as(role).get("/orders/export.csv"))
    if role == "outsider":
        assert [r["symbol"] for r in rows] == ["TSLA"] * 3  # their own, never ours
        return
    assert sorted(r["symbol"] for r in rows) == ["AAPL", "AAPL", "MSFT"]
    aapl = next(r for r in rows if r["symbol"] == "AAPL")
    assert aapl["account"] == "'=cmd|' /C calc'!A0"
    assert aapl["strategy"] == "'@evil"
    assert aapl["mode"] == "paper"


@pytest.mark.parametrize(
    "query, symbols",
    [
        ("ticker=msft", ["MSFT"]),
        ("side=buy", ["AAPL", "AAPL"]),
        ("status=canceled", ["MSFT"]),
        ("status=BOGUS", ["AAPL", "AAPL", "MSFT"]),
    ],
)
def test_order_export_honours_the_filters(client_as, orders, query, symbols):
    rows = rows_of(client_as(Role.VIEWER).get(f"/orders/export.csv?{query}"))
    assert sorted(r["symbol"] for r in rows) == symbols


@pytest.fixture
def log(org, other_org):
    def signal(organization, **fields):
        return Signal.objects.create(organization=organization, dialect="traderspost", **fields)

    signal(org, ticker="AAPL", action="buy", status="COMPLETED", intent={"price": "190.5"})
    signal(
        org,
        ticker="-1+2",
        action="jump",
        status="REJECTED",
        message_code="invalid-action",
        message="=HYPERLINK(evil)",
    )
    signal(other_org, ticker="TSLA", status="COMPLETED")


@pytest.mark.parametrize("role", EVERYONE)
def test_signal_export(client_as, role, log):
    rows = rows_of(client_as(role).get("/signals/export.csv"))
    if role == "outsider":
        assert [r["ticker"] for r in rows] == ["TSLA"]
        return
    assert [r["ticker"] for r in rows] == ["'-1+2", "AAPL"]  # newest first
    rejected, accepted = rows
    assert rejected["message"] == "'=HYPERLINK(evil)"
    assert rejected["message_code"] == "invalid-action"
    assert accepted["price"] == "190.5"
    assert accepted["log_id"]


def test_signal_export_honours_the_log_filters(client_as, log):
    rows = rows_of(client_as(Role.VIEWER).get("/signals/export.csv?status=REJECTED"))
    assert [r["message_code"] for r in rows] == ["invalid-action"]


def test_the_pages_link_their_download_with_their_filters(client_as, orders, log):
    person = client_as(Role.VIEWER)
    assert 'href="/orders/export.csv?side=buy"' in person.get("/orders/?side=buy").content.decode()
    signals = person.get("/signals/?status=REJECTED").content.decode()
    assert 'href="/signals/export.csv?status=REJECTED"' in signals
