"""The execution endpoints: cancelling one order at its broker, and the position drifts
reconciliation found, per role and tenant."""

from decimal import Decimal as D

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from brokers.models import Order, PaperOrder, PositionDrift
from signals.tasks import process_signal
from tests.factories import MembershipFactory, SubscriptionFactory
from tests.signals.factories import signal_for

pytestmark = pytest.mark.django_db


def as_role(org, role):
    api = APIClient()
    api.force_login(MembershipFactory(organization=org, role=role).user)
    return api


@pytest.fixture
def resting(org) -> Order:
    sub = SubscriptionFactory(strategy__organization=org, sizing_value=D("5"))
    signal = signal_for(
        strategy=sub.strategy, action="buy", price=100, order_type="limit", limit_price=90
    )
    process_signal.delay(str(signal.pk))
    order = Order.objects.get(signal=signal)
    assert order.status == Order.Status.OPEN
    return order


@pytest.mark.parametrize("role", [Role.OWNER, Role.TRADER])
def test_a_trader_cancels_an_open_order_at_its_broker(org, resting, role):
    api = as_role(org, role)
    response = api.post(f"/api/v1/orders/{resting.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "canceled"
    assert PaperOrder.objects.get(client_order_id=resting.client_order_id).status == "canceled"
    assert resting.signal.results.get().status == "ignored"
    again = api.post(f"/api/v1/orders/{resting.pk}/cancel/")
    assert again.status_code == 409 and "only an order open at the broker" in again.json()["detail"]


def test_a_viewer_cannot_cancel_and_another_tenant_gets_404(org, other_org, resting):
    assert as_role(org, Role.VIEWER).post(f"/api/v1/orders/{resting.pk}/cancel/").status_code == 403
    outsider = as_role(other_org, Role.OWNER)
    assert outsider.post(f"/api/v1/orders/{resting.pk}/cancel/").status_code == 404
    resting.refresh_from_db()
    assert resting.status == Order.Status.OPEN


def _drift(account, symbol="AAPL", resolved=False):
    from django.utils import timezone

    return PositionDrift.objects.create(
        organization=account.organization,
        account=account,
        symbol=symbol,
        ours=D("10"),
        brokers=D("7"),
        resolved_at=timezone.now() if resolved else None,
    )


@pytest.mark.parametrize("role", [Role.OWNER, Role.TRADER, Role.VIEWER])
def test_every_member_reads_the_drifts_filtered(org, other_org, role):
    mine = SubscriptionFactory(strategy__organization=org).account
    theirs = SubscriptionFactory(strategy__organization=other_org).account
    open_ = _drift(mine)
    resolved = _drift(mine, symbol="TSLA", resolved=True)
    _drift(theirs)
    api = as_role(org, role)

    rows = api.get("/api/v1/position-drifts/").json()["results"]
    assert {r["id"] for r in rows} == {open_.pk, resolved.pk}
    only_open = api.get("/api/v1/position-drifts/?open=true").json()["results"]
    assert [(r["symbol"], r["ours"], r["brokers"]) for r in only_open] == [("AAPL", 10, 7)]
    assert api.get(f"/api/v1/position-drifts/?accountId={theirs.pk}").status_code == 404
    assert api.get("/api/v1/position-drifts/?open=maybe").status_code == 400
    refused = 405 if role == Role.OWNER else 403  # read-only; writers are checked first
    assert api.post("/api/v1/position-drifts/", {}, format="json").status_code == refused
