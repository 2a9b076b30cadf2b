"""The home page once the checklist is done: today's activity and signals per day."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from signals.models import Signal
from signals.selectors import signal_counts_by_day
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def set_up(org):
    strategy = StrategyFactory(organization=org)
    SubscriptionFactory(strategy=strategy, account=BrokerAccountFactory(organization=org))
    webhook_create(organization=org, strategy=strategy, name="h")


def _signal(org, status, days_ago=0):
    received = timezone.now() - timedelta(days=days_ago)
    return Signal.objects.create(
        organization=org, dialect="traderspost", status=status, received_at=received
    )


def test_checklist_until_the_first_signal(client_as, org, set_up):
    person = client_as(Role.VIEWER)
    assert b"Getting started" in person.get("/").content
    _signal(org, "COMPLETED")
    page = person.get("/").content.decode()
    assert "Getting started" not in page
    assert "signals received" in page and 'id="signals-chart"' in page
    assert "chart.umd.min.js" in page


def test_signals_per_day_groups_and_days(org, other_org):
    for status, days_ago in [
        ("COMPLETED", 0),
        ("FAILED", 0),
        ("REJECTED", 0),
        ("DUPLICATE", 1),
        ("COMPLETED", 13),
        ("COMPLETED", 14),  # outside the 14 days
    ]:
        _signal(org, status, days_ago)
    _signal(other_org, "COMPLETED")
    per_day = signal_counts_by_day(organization=org, days=14)
    assert len(per_day["days"]) == 14 and per_day["days"][-1] == timezone.localdate()
    assert per_day["accepted"][-1] == 2 and per_day["rejected"][-1] == 1
    assert per_day["duplicate"][-2] == 1
    assert per_day["accepted"][0] == 1
    assert sum(per_day["accepted"]) == 3
