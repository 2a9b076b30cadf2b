"""webhook_validate through webhook_create, as the dashboard's forms use it: what the
dashboard relies on (field-keyed errors, normalized lists, the plan limit)."""

import pytest
from django.core.exceptions import ValidationError

from tests.factories import StrategyFactory
from webhooks.models import Webhook
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(org):
    return StrategyFactory(organization=org)


@pytest.mark.parametrize(
    "fields, error_field",
    [
        ({"allowed_ips": ["300.1.1.1"]}, "allowed_ips"),
        ({"allowed_ips": ["10.0.0.0/8", "nope"]}, "allowed_ips"),
        ({"allowed_tickers": ["AAPL", " "]}, "allowed_tickers"),
        ({"allowed_tickers": [f"T{i}" for i in range(201)]}, "allowed_tickers"),
        ({"duplicate_window_seconds": 3601}, "duplicate_window_seconds"),
    ],
)
def test_create_refuses_settings_ingestion_cannot_apply(org, strategy, fields, error_field):
    with pytest.raises(ValidationError) as error:
        webhook_create(organization=org, strategy=strategy, name="h", **fields)
    assert error_field in error.value.message_dict
    assert not Webhook.objects.exists()


def test_lists_are_normalized(org, strategy):
    webhook = webhook_create(
        organization=org,
        strategy=strategy,
        name="h",
        allowed_ips=[" 203.0.113.7", "10.1.2.3/8", "203.0.113.7"],
        allowed_tickers=["aapl", "AAPL ", "msft"],
    )
    webhook.refresh_from_db()
    assert webhook.allowed_ips == ["203.0.113.7/32", "10.0.0.0/8"]
    assert webhook.allowed_tickers == ["AAPL", "MSFT"]


def test_another_organizations_strategy_is_refused(org, other_org):
    with pytest.raises(ValidationError) as error:
        webhook_create(organization=org, strategy=StrategyFactory(organization=other_org), name="h")
    assert "strategy" in error.value.message_dict


def test_the_plan_limit(org, strategy):
    org.max_webhooks = 1
    org.save()
    webhook_create(organization=org, strategy=strategy, name="one")
    with pytest.raises(ValidationError):
        webhook_create(organization=org, strategy=strategy, name="two")
    assert Webhook.objects.count() == 1
