"""Reconciliation against Alpaca, through alpaca-py over real HTTP at the loopback
stand-in (tests/standins/alpaca.py): orders settled by asking for their client order id,
an order placed and never recorded adopted, an order that never arrived failed, and a
position changed at the broker recorded as drift and shown by the API."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import Role
from brokers.models import Order, PositionDrift
from execution.brokers import adapter_for
from execution.reconcile import NEVER_ARRIVED, reconcile
from execution.records import order_apply_update, order_request
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def _key(account) -> str:
    return account.credentials["api_key"]


def _order(account, *, status, age_seconds=600, **fields) -> Order:
    return Order.objects.create(
        organization=account.organization,
        account=account,
        symbol="AAPL",
        side="buy",
        quantity=D("3"),
        client_order_id=f"tr-{status}-{age_seconds}-{fields.get('order_type', 'market')}",
        status=status,
        created_at=timezone.now() - timedelta(seconds=age_seconds),
        **fields,
    )


@pytest.fixture
def priced(alpaca_standin):
    alpaca_standin.set_price("AAPL", "187.5")
    return alpaca_standin


def test_an_open_order_filled_at_alpaca_is_settled_by_its_client_order_id(priced, alpaca_account):
    order = _order(
        alpaca_account, status=Order.Status.SUBMITTING, order_type="limit", limit_price=D("150")
    )
    answer = adapter_for(alpaca_account).submit_order(order_request(order, {}))
    order_apply_update(update=answer, account=alpaca_account)
    order.refresh_from_db()
    assert order.status == Order.Status.OPEN  # resting: 150 is below the market
    priced.fill(_key(alpaca_account), order.client_order_id, 3, price="150")

    report = reconcile(accounts=[alpaca_account])

    order.refresh_from_db()
    assert report.orders_checked == 1 and report.orders_settled == 1
    assert order.status == Order.Status.FILLED
    assert (order.filled_quantity, order.filled_avg_price) == (D("3"), D("150"))
    assert ("GET", "/v2/orders:by_client_order_id") in priced.requests
    assert priced.order_posts == 1
    assert report.drifts_open == 0  # the settled fill is ours: 3 here, 3 there


def test_an_order_placed_and_never_recorded_is_adopted_not_placed_again(priced, alpaca_account):
    # The worker died between Alpaca's acceptance and our record of it.
    order = _order(alpaca_account, status=Order.Status.SUBMITTING)
    adapter_for(alpaca_account).submit_order(order_request(order, {"reference_price": "187.5"}))
    [at_broker] = priced.orders(_key(alpaca_account))

    report = reconcile(accounts=[alpaca_account])

    order.refresh_from_db()
    assert report.orders_settled == 1 and report.orders_failed == 0
    assert order.status == Order.Status.FILLED and order.broker_order_id == at_broker.id
    assert priced.order_posts == 1 and len(priced.orders(_key(alpaca_account))) == 1
    assert not PositionDrift.objects.exists()


def test_an_order_alpaca_never_got_fails_after_the_grace_and_is_not_sent(priced, alpaca_account):
    recent = _order(alpaca_account, status=Order.Status.SUBMITTING, age_seconds=1)
    lost = _order(
        alpaca_account,
        status=Order.Status.SUBMITTING,
        age_seconds=settings.RECONCILE_SUBMITTING_GRACE_SECONDS + 5,
    )

    report = reconcile(accounts=[alpaca_account])

    lost.refresh_from_db()
    recent.refresh_from_db()
    assert report.orders_failed == 1
    assert lost.status == Order.Status.FAILED and lost.error == NEVER_ARRIVED
    assert recent.status == Order.Status.SUBMITTING  # its answer may still be on its way
    assert priced.order_posts == 0


def test_alpaca_unreachable_changes_nothing(priced, alpaca_account):
    order = _order(alpaca_account, status=Order.Status.SUBMITTING)
    priced.server_errors = 100

    report = reconcile(accounts=[alpaca_account])

    order.refresh_from_db()
    assert order.status == Order.Status.SUBMITTING  # never guessed
    assert report.orders_settled == report.orders_failed == 0
    assert report.errors and "positions not compared" in report.errors[0]
    assert not PositionDrift.objects.exists()


def test_a_position_changed_at_alpaca_is_drift_shown_by_the_api(priced, alpaca_account, org):
    order = _order(alpaca_account, status=Order.Status.SUBMITTING)
    answer = adapter_for(alpaca_account).submit_order(order_request(order, {}))
    order_apply_update(update=answer, account=alpaca_account)
    assert reconcile(accounts=[alpaca_account]).drifts_open == 0

    # Someone traded the account outside TradeRelay: Alpaca now holds 5 and some TSLA.
    priced.set_position(_key(alpaca_account), "AAPL", 5, "187.5")
    priced.set_position(_key(alpaca_account), "TSLA", -2, "250")
    report = reconcile(accounts=[alpaca_account])

    assert report.drifts_open == 2
    drifts = {d.symbol: d for d in PositionDrift.objects.filter(account=alpaca_account)}
    assert (drifts["AAPL"].ours, drifts["AAPL"].brokers) == (D("3"), D("5"))
    assert (drifts["TSLA"].ours, drifts["TSLA"].brokers) == (D("0"), D("-2"))
    assert priced.order_posts == 1  # recorded, nothing traded to close it

    api = APIClient()
    api.force_login(MembershipFactory(organization=org, role=Role.VIEWER).user)
    rows = api.get("/api/v1/position-drifts/?open=true").json()["results"]
    shown = {r["symbol"]: (r["ours"], r["brokers"], r["action"]) for r in rows}
    assert shown == {"AAPL": (3, 5, "recorded"), "TSLA": (0, -2, "recorded")}
    assert {r["accountId"] for r in rows} == {str(alpaca_account.pk)}

    # The broker agrees again: resolved, and the API says so.
    priced.set_position(_key(alpaca_account), "AAPL", 3, "187.5")
    priced.call(_drop_position, priced.accounts[_key(alpaca_account)], "TSLA")
    assert reconcile(accounts=[alpaca_account]).drifts_resolved == 2
    assert api.get("/api/v1/position-drifts/?open=true").json()["results"] == []
    actions = {r["action"] for r in api.get("/api/v1/position-drifts/").json()["results"]}
    assert actions == {PositionDrift.Action.RESOLVED}


async def _drop_position(account, symbol):
    account.positions.pop(symbol, None)
