"""The signal log and a signal's page: newest first, keyset pages, filters, the live
first page (htmx), rejected requests with their messageCode, per-account outcome, a
bounded number of queries however long the log."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from signals.models import Signal
from signals.selectors import SIGNAL_PAGE_SIZE
from tests.dashboard.conftest import EVERYONE, MEMBER_ROLES, expected_get
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.services import webhook_create, webhook_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def hook(org):
    InstrumentFactory(symbol="AAPL")
    strategy = StrategyFactory(organization=org, name="Trend")
    SubscriptionFactory(
        strategy=strategy, account=BrokerAccountFactory(organization=org, name="P1")
    )
    return webhook_create(
        organization=org, strategy=strategy, name="TV", duplicate_window_seconds=0
    )


@pytest.fixture
def send(client, hook, django_capture_on_commit_callbacks):
    def post(body: str):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                webhook_url(webhook=hook, base_url="/"), body, content_type="text/plain"
            )

    return post


def _log(org, n: int, **fields) -> list[Signal]:
    start = timezone.now() - timedelta(hours=1)
    rows = [
        Signal(
            organization=org,
            dialect="traderspost",
            status="COMPLETED",
            ticker=f"T{i}",
            action="buy",
            received_at=start + timedelta(seconds=i),
            **fields,
        )
        for i in range(n)
    ]
    return Signal.objects.bulk_create(rows)


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_members_see_accepted_and_rejected_signals(client_as, role, send):
    assert (
        send('{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 2}').status_code == 200
    )
    assert send('{"ticker": "AAPL", "action": "jump"}').json()["messageCode"] == "invalid-action"
    page = client_as(role).get("/signals/").content.decode()
    assert "invalid-action" in page
    assert "buy 2 AAPL" in page and "Filled" in page
    assert page.index("invalid-action") < page.index("Filled")  # newest first


def test_outsider_sees_none_of_them(client_as, send):
    send('{"ticker": "AAPL", "action": "buy", "price": 190}')
    page = client_as("outsider").get("/signals/").content.decode()
    assert "AAPL" not in page and "No signals yet." in page


def test_keyset_pages_cover_the_log_once(client_as, org):
    signals = _log(org, SIGNAL_PAGE_SIZE + 7)
    person = client_as(Role.VIEWER)
    first = person.get("/signals/")
    assert first.context["page"].signals[0].ticker == signals[-1].ticker
    cursor = first.context["page"].next_cursor
    second = person.get(f"/signals/?after={cursor}")
    seen = [s.id for s in first.context["page"].signals + second.context["page"].signals]
    assert sorted(seen) == sorted(s.id for s in signals)
    assert second.context["page"].next_cursor is None
    assert second.context["live"] is False  # older pages do not refresh themselves


def test_a_bad_cursor_is_the_first_page(client_as, org):
    _log(org, 3)
    response = client_as(Role.VIEWER).get("/signals/?after=not-a-cursor!!")
    assert response.status_code == 200
    assert len(response.context["page"].signals) == 3


@pytest.mark.parametrize(
    "query, tickers",
    [
        ("ticker=t1", {"T1"}),
        ("status=REJECTED", {"T9"}),
        ("dialect=utm", set()),
        ("status=BOGUS", {f"T{i}" for i in range(10)}),  # an invalid filter filters nothing
    ],
)
def test_filters(client_as, org, query, tickers):
    _log(org, 9)
    Signal.objects.create(
        organization=org,
        dialect="traderspost",
        status="REJECTED",
        ticker="T9",
        message_code="invalid-action",
    )
    page = client_as(Role.VIEWER).get(f"/signals/?{query}").context["page"]
    assert {s.ticker for s in page.signals} == tickers


def test_webhook_and_date_filters(client_as, org, hook, send):
    send('{"ticker": "AAPL", "action": "buy", "price": 190}')
    _log(org, 2)
    person = client_as(Role.VIEWER)
    by_hook = person.get(f"/signals/?webhook={hook.id}").context["page"].signals
    assert [s.ticker for s in by_hook] == ["AAPL"]
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert person.get(f"/signals/?since={tomorrow}").context["page"].signals == []


def test_the_first_page_polls_for_new_signals(client_as, org):
    page = client_as(Role.VIEWER).get("/signals/?ticker=AAPL").content.decode()
    assert 'hx-get="/signals/?ticker=AAPL" hx-trigger="every 3s" hx-swap="outerHTML"' in page
    partial = client_as(Role.VIEWER).get("/signals/?ticker=AAPL", HTTP_HX_REQUEST="true")
    assert partial.content.decode().startswith('<div id="signal-rows"')


def test_the_log_runs_the_same_queries_for_10_or_many_signals(client_as, org, hook, send):
    person = client_as(Role.VIEWER)
    send('{"ticker": "AAPL", "action": "buy", "price": 190}')
    _log(org, 10)
    with CaptureQueriesContext(connection) as few:
        person.get("/signals/")
    _log(org, 3 * SIGNAL_PAGE_SIZE)
    send('{"ticker": "AAPL", "action": "buy", "price": 191}')
    with CaptureQueriesContext(connection) as many:
        person.get("/signals/")
    assert len(many) == len(few)
    assert not any("COUNT(" in q["sql"].upper() for q in many.captured_queries)


@pytest.mark.parametrize("role", EVERYONE)
def test_signal_page(client_as, role, send):
    answer = send('{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 2}').json()
    response = client_as(role).get(f"/signals/{answer['id']}/")
    assert response.status_code == expected_get(role)
    if role == "outsider":
        return
    page = response.content.decode()
    assert answer["logId"] in page
    assert "&quot;success&quot;: true" in page  # the answer given
    assert "P1" in page and "Filled" in page
    assert "received 0 ms" in page and "filled" in page
    assert "&quot;ticker&quot;: &quot;AAPL&quot;" in page  # raw body


def test_rejected_signal_page_shows_the_code_and_the_answer(client_as, send):
    answer = send('{"ticker": "AAPL", "action": "jump"}').json()
    signal = Signal.objects.get(log_id=answer["logId"])
    page = client_as(Role.VIEWER).get(f"/signals/{signal.id}/").content.decode()
    assert "invalid-action" in page
    assert "Refused at the door" in page
    assert "&quot;success&quot;: false" in page


def test_slippage_against_the_signal_price(client_as, org, send):
    answer = send('{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 1}').json()
    from brokers.models import Order

    Order.objects.filter(signal_id=answer["id"]).update(filled_avg_price="190.25")
    response = client_as(Role.VIEWER).get(f"/signals/{answer['id']}/")
    ((order, slippage),) = response.context["outcomes"][0]["orders"]
    assert str(slippage) == "0.25000000"
