"""The approval queue: orders of manual-approval subscriptions, shown in full with their
expiry; approve (submits) or reject; the role matrix."""

import pytest

from brokers.models import Order
from tests.dashboard.conftest import (
    EVERYONE,
    MEMBER_ROLES,
    WRITERS,
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
def pending(org, client, django_capture_on_commit_callbacks):
    """A real signal through the endpoint into a manual-approval subscription."""
    InstrumentFactory(symbol="AAPL")
    strategy = StrategyFactory(organization=org, name="Careful")
    account = BrokerAccountFactory(organization=org, name="Paper one")
    SubscriptionFactory(strategy=strategy, account=account, auto_submit=False)
    webhook = webhook_create(organization=org, strategy=strategy, name="h")
    body = '{"ticker": "AAPL", "action": "buy", "price": 190, "quantity": 4}'
    with django_capture_on_commit_callbacks(execute=True):
        client.post(webhook_url(webhook=webhook, base_url="/"), body, content_type="text/plain")
    return Order.objects.get(status=Order.Status.PENDING_APPROVAL)


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_queue_shows_the_planned_order(client_as, role, pending):
    response = client_as(role).get("/approvals/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Buy 4 AAPL" in page and "Paper one" in page and "Careful" in page
    assert "market" in page and "DAY" in page
    assert 'data-countdown="' in page
    assert (post_forms_in_main(response) == 2) == (role in WRITERS)


def test_outsider_sees_an_empty_queue(client_as, pending):
    assert "AAPL" not in client_as("outsider").get("/approvals/").content.decode()


@pytest.mark.parametrize("role", EVERYONE)
def test_approve(client_as, role, pending):
    response = client_as(role).post(f"/approvals/{pending.id}/approve/")
    assert response.status_code == expected_post(role)
    pending.refresh_from_db()
    if role in WRITERS:
        assert pending.status == Order.Status.FILLED
    else:
        assert pending.status == Order.Status.PENDING_APPROVAL


@pytest.mark.parametrize("role", EVERYONE)
def test_reject(client_as, role, pending):
    response = client_as(role).post(f"/approvals/{pending.id}/reject/")
    assert response.status_code == expected_post(role)
    pending.refresh_from_db()
    rejected = pending.status != Order.Status.PENDING_APPROVAL
    assert rejected == (role in WRITERS)


def test_a_decided_order_cannot_be_approved_again(client_as, pending):
    person = client_as("trader")
    person.post(f"/approvals/{pending.id}/reject/")
    response = person.post(f"/approvals/{pending.id}/approve/", follow=True)
    assert b"errorlist" not in response.content
    assert b"msg error" in response.content
    pending.refresh_from_db()
    assert pending.status != Order.Status.FILLED
