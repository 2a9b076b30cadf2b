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
from brokers.models import BrokerAccount, Order, Position, PositionDrift
from brokers.services import broker_account_create
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


def test_our_position_rows_follow_alpacas_even_when_the_stream_missed_the_fill(
    priced, alpaca_account
):
    # The stream was down: our row still says 2 AAPL and 4 MSFT; Alpaca holds 7 AAPL and no
    # MSFT (a fill and a close we never heard of).
    Position.objects.create(
        organization=alpaca_account.organization,
        account=alpaca_account,
        symbol="AAPL",
        quantity=2,
        average_price=100,
        realized_pnl=12,
    )
    Position.objects.create(organization=alpaca_account.organization, account=alpaca_account,
                            symbol="MSFT", quantity=4, average_price=300)  # fmt: skip
    priced.set_position(_key(alpaca_account), "AAPL", 7, "150")

    reconcile(accounts=[alpaca_account])

    rows = {p.symbol: p for p in Position.objects.filter(account=alpaca_account)}
    assert (rows["AAPL"].quantity, rows["AAPL"].average_price) == (D("7"), D("150"))
    assert rows["AAPL"].realized_pnl == D("12")  # the row is kept, not recreated
    assert rows["MSFT"].quantity == 0
    assert priced.order_posts == 0  # nothing traded


def test_many_accounts_positions_are_read_concurrently_within_the_bound(
    priced, alpaca_account, org, settings
):
    settings.BROKER_CONCURRENCY = {"alpaca": 4}
    accounts = [alpaca_account]
    for i in range(11):
        key_id, secret = f"PKRECON{i:05d}", f"secret-recon-{i:04d}"
        priced.add_account(key_id, secret)
        accounts.append(
            broker_account_create(
                organization=org, name=f"Alpaca {i}", broker=BrokerAccount.Broker.ALPACA,
                mode=BrokerAccount.Mode.PAPER,
                credentials={"api_key": key_id, "secret_key": secret if i != 3 else "wrong"},
            )
        )  # fmt: skip
        if i % 2 == 0:
            priced.set_position(key_id, "AAPL", i + 1, "150")  # none of ours: drift
    priced.latency = 0.05
    priced.requests_max_in_flight = 0

    report = reconcile(accounts=accounts)

    assert 1 < priced.requests_max_in_flight <= 4
    assert report.accounts == 12
    # The account with a wrong key fails alone; every other is compared.
    [error] = report.errors
    assert error.startswith(f"{accounts[4].pk}: positions not compared") and "API key" in error
    drifted = {d.account_id: d.brokers for d in PositionDrift.objects.all()}
    assert drifted == {accounts[i + 1].pk: D(i + 1) for i in range(0, 11, 2)}


def test_the_periodic_task_runs_one_pass_at_a_time(priced, alpaca_account):
    from django.core.cache import cache

    from execution.tasks import LOCK, reconcile_task

    priced.set_position(_key(alpaca_account), "AAPL", 5, "150")
    cache.add(LOCK, 1, 60)  # another pass is running
    try:
        assert reconcile_task.apply().get() is None
        assert (
            not PositionDrift.objects.exists() and ("GET", "/v2/positions") not in priced.requests
        )
    finally:
        cache.delete(LOCK)
    assert reconcile_task.apply().get()["drifts_open"] == 1
    assert cache.get(LOCK) is None  # released


def test_a_row_the_stream_wrote_after_the_listing_is_not_overwritten(priced, alpaca_account):
    """The pass reads the broker's list, then writes; a fill the stream applied in between
    is newer than the list and stays."""
    from datetime import timedelta

    Position.objects.create(organization=alpaca_account.organization, account=alpaca_account,
                            symbol="AAPL", quantity=9, average_price=150,
                            updated_at=timezone.now() + timedelta(seconds=30))  # fmt: skip
    priced.set_position(_key(alpaca_account), "AAPL", 7, "150")

    reconcile(accounts=[alpaca_account])

    assert Position.objects.get(account=alpaca_account, symbol="AAPL").quantity == 9


def test_a_pass_releases_only_its_own_lock(priced, alpaca_account, monkeypatch):
    """A pass that outlived RECONCILE_LOCK_SECONDS lost its lock to the next pass: when it
    ends, it must not delete the next one's."""
    from django.core.cache import cache

    from execution import tasks

    real = tasks.reconcile

    def slow_pass(**kwargs):
        cache.set(tasks.LOCK, "the-next-pass", 60)  # ours expired; another took it
        return real(**kwargs)

    monkeypatch.setattr(tasks, "reconcile", slow_pass)
    try:
        assert tasks.reconcile_task.apply().get() is not None
        assert cache.get(tasks.LOCK) == "the-next-pass"
    finally:
        cache.delete(tasks.LOCK)
