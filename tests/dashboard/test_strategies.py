"""Strategies and subscriptions pages: every role's view and every change, for the
owner / admin / trader / viewer / outsider matrix."""

import html
from decimal import Decimal

import pytest

from accounts.models import Role
from dashboard.forms import SUBSCRIPTION_HELP
from strategies.models import Strategy, Subscription
from tests.dashboard.conftest import (
    EVERYONE,
    MEMBER_ROLES,
    WRITERS,
    expected_get,
    expected_post,
    post_forms_in_main,
)
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy(org):
    return StrategyFactory(organization=org, name="Trend")


@pytest.fixture
def account(org):
    return BrokerAccountFactory(organization=org, name="Paper one")


@pytest.mark.parametrize("role", MEMBER_ROLES)
def test_members_see_the_list(client_as, role, strategy):
    response = client_as(role).get("/strategies/")
    assert response.status_code == 200
    assert b"Trend" in response.content
    shows_form = b"Create strategy" in response.content
    assert shows_form == (role != Role.VIEWER)


def test_outsider_does_not_see_the_strategies(client_as, strategy):
    assert b"Trend" not in client_as("outsider").get("/strategies/").content


@pytest.mark.parametrize("role", EVERYONE)
def test_strategy_page(client_as, role, strategy):
    response = client_as(role).get(f"/strategies/{strategy.id}/")
    assert response.status_code == expected_get(role)
    if role == Role.VIEWER:
        assert post_forms_in_main(response) == 0
    elif role in WRITERS:
        assert post_forms_in_main(response) == 2  # enable/disable and the settings


@pytest.mark.parametrize("role", EVERYONE)
def test_create_strategy(client_as, role, org):
    response = client_as(role).post(
        "/strategies/", {"name": "Breakout", "asset_class": "stock", "enabled": "on"}
    )
    created = Strategy.objects.for_org(org).filter(name="Breakout").exists()
    if role in WRITERS:
        assert response.status_code == 302
        assert created
    else:
        # The outsider creates in their own organization, never in this one.
        assert not created


def test_duplicate_strategy_name_is_a_field_error(client_as, strategy):
    response = client_as(Role.TRADER).post(
        "/strategies/", {"name": "Trend", "asset_class": "stock"}
    )
    assert response.status_code == 200
    assert b"A strategy with this name already exists." in response.content
    assert Strategy.objects.filter(name="Trend").count() == 1


@pytest.mark.parametrize("role", EVERYONE)
def test_edit_strategy(client_as, role, strategy):
    response = client_as(role).post(
        f"/strategies/{strategy.id}/", {"name": "Trend v2", "asset_class": "stock"}
    )
    assert response.status_code == expected_post(role)
    strategy.refresh_from_db()
    assert (strategy.name == "Trend v2") == (role in WRITERS)


@pytest.mark.parametrize("role", EVERYONE)
def test_toggle_strategy(client_as, role, strategy):
    response = client_as(role).post(f"/strategies/{strategy.id}/toggle/")
    assert response.status_code == expected_post(role)
    strategy.refresh_from_db()
    assert strategy.enabled == (role not in WRITERS)


def test_toggle_needs_the_csrf_token(client_as, strategy):
    response = client_as(Role.OWNER, csrf=True).post(f"/strategies/{strategy.id}/toggle/")
    assert response.status_code == 403
    strategy.refresh_from_db()
    assert strategy.enabled


SUBSCRIPTION_FORM = {
    "enabled": "on",
    "auto_submit": "on",
    "approval_timeout_seconds": "300",
    "allowed_sides": "both",
    "use_signal_quantity": "on",
    "signal_quantity_multiplier": "1",
    "sizing_method": "fixed_quantity",
    "sizing_value": "5",
    "exit_percent_of_position": "50",
    "entry_order_type": "market",
    "exit_order_type": "market",
    "entry_time_in_force": "day",
    "exit_time_in_force": "day",
    "limit_price_offset": "0",
    "take_profit_kind": "none",
    "stop_loss_kind": "none",
    "stop_loss_type": "stop",
}


def test_subscription_form_explains_every_setting(client_as, strategy, account):
    response = client_as(Role.TRADER).get(f"/strategies/{strategy.id}/subscribe/")
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    for name, help_text in SUBSCRIPTION_HELP.items():
        assert f'name="{name}"' in page, name
        assert help_text in page, name


@pytest.mark.parametrize("role", EVERYONE)
def test_subscribe_an_account(client_as, role, strategy, account):
    data = SUBSCRIPTION_FORM | {"account": str(account.id)}
    response = client_as(role).post(f"/strategies/{strategy.id}/subscribe/", data)
    assert response.status_code == expected_post(role)
    subscribed = Subscription.objects.filter(strategy=strategy, account=account)
    assert subscribed.exists() == (role in WRITERS)
    if role in WRITERS:
        assert subscribed.get().sizing_value == Decimal("5")


def test_another_organizations_account_cannot_be_subscribed(
    client_as, strategy, account, other_org
):
    foreign = BrokerAccountFactory(organization=other_org)
    data = SUBSCRIPTION_FORM | {"account": str(foreign.id)}
    response = client_as(Role.OWNER).post(f"/strategies/{strategy.id}/subscribe/", data)
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert not Subscription.objects.exists()


def test_service_rules_come_back_next_to_the_field(client_as, strategy, account):
    data = SUBSCRIPTION_FORM | {"account": str(account.id), "sizing_method": "risk_dollar_amount"}
    response = client_as(Role.TRADER).post(f"/strategies/{strategy.id}/subscribe/", data)
    assert response.status_code == 200
    assert b"Risk dollar amount sizing needs a default stop loss." in response.content
    assert not Subscription.objects.exists()


@pytest.mark.parametrize("role", EVERYONE)
def test_edit_subscription(client_as, role, strategy, account):
    subscription = SubscriptionFactory(strategy=strategy, account=account)
    data = SUBSCRIPTION_FORM | {"auto_submit": "", "sizing_value": "7"}
    response = client_as(role).post(f"/subscriptions/{subscription.id}/", data)
    assert response.status_code == expected_post(role)
    subscription.refresh_from_db()
    assert (subscription.auto_submit is False) == (role in WRITERS)
    assert (subscription.sizing_value == Decimal("7")) == (role in WRITERS)
    assert subscription.account_id == account.id
