from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from strategies.models import Subscription
from strategies.services import strategy_create, subscription_create, subscription_update
from tests.factories import BrokerAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(org):
    return strategy_create(organization=org, name="Breakout")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"sizing_method": "risk_dollar_amount", "sizing_value": D("100")}, "sizing_method"),
        ({"sizing_value": D("0")}, "sizing_value"),
        ({"signal_quantity_multiplier": D("-1")}, "signal_quantity_multiplier"),
        ({"exit_percent_of_position": D("150")}, "exit_percent_of_position"),
        ({"max_position_size": D("0")}, "max_position_size"),
        ({"take_profit_kind": "percent"}, "take_profit_value"),
    ],
)
def test_settings_that_cannot_work_are_refused(org, strategy, fields, field):
    account = BrokerAccountFactory(organization=org)
    with pytest.raises(ValidationError) as error:
        subscription_create(organization=org, strategy=strategy, account=account, **fields)
    assert field in error.value.message_dict
    assert not Subscription.objects.exists()


def test_another_tenants_account_cannot_be_subscribed(org, other_org, strategy):
    foreign = BrokerAccountFactory(organization=other_org)
    with pytest.raises(ValidationError) as error:
        subscription_create(organization=org, strategy=strategy, account=foreign)
    assert error.value.message_dict == {"account": ["Account not found."]}
    assert not Subscription.objects.exists()


def test_risk_sizing_with_a_default_stop_loss_is_accepted_and_updatable(org, strategy):
    account = BrokerAccountFactory(organization=org)
    sub = subscription_create(
        organization=org,
        strategy=strategy,
        account=account,
        sizing_method="risk_dollar_amount",
        sizing_value=D("200"),
        stop_loss_kind="percent",
        stop_loss_value=D("2"),
    )
    subscription_update(subscription=sub, allow_add=True, max_position_size=D("50"))
    sub.refresh_from_db()
    assert (sub.allow_add, sub.max_position_size) == (True, 50)
    with pytest.raises(ValidationError):
        subscription_update(subscription=sub, stop_loss_kind="none")
    sub.refresh_from_db()
    assert sub.stop_loss_kind == "percent"


def test_strategy_names_are_unique_per_organization_as_a_field_error(org, other_org):
    from django.core.exceptions import ValidationError

    from strategies.services import strategy_create, strategy_update

    strategy_create(organization=org, name="Trend")
    strategy_create(organization=other_org, name="Trend")  # another tenant may
    with pytest.raises(ValidationError) as error:
        strategy_create(organization=org, name="Trend")
    assert "name" in error.value.message_dict
    other = strategy_create(organization=org, name="Other")
    with pytest.raises(ValidationError):
        strategy_update(strategy=other, name="Trend")
