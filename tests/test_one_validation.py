"""One validation per rule, called by every writer: the REST API and the operator admin
refuse the same settings, with the error on the same field, because both go through the
services (strategies.services, brokers.services, webhooks.services, accounts.services)."""

import json

import pytest
from django.forms.models import model_to_dict
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import ApiKey, User
from accounts.serializers import camel
from accounts.services import api_key_create
from brokers.models import BrokerAccount
from strategies.models import Strategy, Subscription
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory
from webhooks.models import Webhook
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_login(owner)
    return client


@pytest.fixture
def staff_client(client):
    operator = User.objects.create_superuser(email="ops@example.com", password="pw-ops-1234")
    client.force_login(operator)
    return client


def _form_data(instance, **changes) -> dict:
    data = {}
    for key, value in model_to_dict(instance).items():
        if value is None or key == "id":
            continue
        data[key] = json.dumps(value) if isinstance(value, list | dict) else value
    data.update(changes)
    return data


def _admin_change(staff_client, instance, **changes):
    meta = instance._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[instance.pk])
    return staff_client.post(url, _form_data(instance, **changes))


def _form_errors(response) -> dict:
    assert response.status_code == 200, "the admin saved what the service refuses"
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


# --- subscriptions: every rule of strategies.services.subscription_validate ------------

SUBSCRIPTION_RULES = [
    ({"sizing_method": "risk_dollar_amount", "sizing_value": 100}, "sizing_method"),
    ({"take_profit_kind": "percent", "take_profit_value": -1}, "take_profit_value"),
    ({"stop_loss_kind": "amount", "stop_loss_value": 0}, "stop_loss_value"),
    ({"approval_timeout_seconds": 1}, "approval_timeout_seconds"),
    ({"approval_timeout_seconds": 86401}, "approval_timeout_seconds"),
    ({"limit_price_offset": -1}, "limit_price_offset"),
    ({"sizing_value": 0}, "sizing_value"),
    ({"exit_percent_of_position": 0}, "exit_percent_of_position"),
    ({"exit_percent_of_position": 100.5}, "exit_percent_of_position"),
    ({"max_position_size": 0}, "max_position_size"),
    ({"take_profit_kind": "percent"}, "take_profit_value"),
]


@pytest.mark.parametrize(("fields", "field"), SUBSCRIPTION_RULES)
def test_subscription_rules_hold_for_an_api_create(api, org, fields, field):
    strategy, account = StrategyFactory(organization=org), BrokerAccountFactory(organization=org)
    body = {"strategyId": str(strategy.id), "accountId": str(account.id)}
    body |= {camel(name): value for name, value in fields.items()}
    response = api.post("/api/v1/subscriptions/", body, format="json")
    assert response.status_code == 400, response.content
    assert camel(field) in response.json()
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(("fields", "field"), SUBSCRIPTION_RULES)
def test_subscription_rules_hold_for_an_api_update(api, org, fields, field):
    subscription = SubscriptionFactory(strategy=StrategyFactory(organization=org))
    body = {camel(name): value for name, value in fields.items()}
    response = api.patch(f"/api/v1/subscriptions/{subscription.id}/", body, format="json")
    assert response.status_code == 400, response.content
    assert camel(field) in response.json()
    before = model_to_dict(subscription)
    subscription.refresh_from_db()
    assert model_to_dict(subscription) == before


@pytest.mark.parametrize(("fields", "field"), SUBSCRIPTION_RULES)
def test_subscription_rules_hold_in_the_admin(staff_client, org, fields, field):
    subscription = SubscriptionFactory(strategy=StrategyFactory(organization=org))
    response = _admin_change(staff_client, subscription, **fields)
    assert field in _form_errors(response)
    before = model_to_dict(subscription)
    subscription.refresh_from_db()
    assert model_to_dict(subscription) == before


def test_risk_sizing_without_a_stop_loss_is_refused_by_the_api(api, org):
    # The drift the issue found: 201 from the API while subscription_create refused it.
    strategy, account = StrategyFactory(organization=org), BrokerAccountFactory(organization=org)
    response = api.post(
        "/api/v1/subscriptions/",
        {
            "strategyId": str(strategy.id),
            "accountId": str(account.id),
            "sizingMethod": "risk_dollar_amount",
            "sizingValue": 100,
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "sizingMethod": ["Risk dollar amount sizing needs a default stop loss."]
    }
    assert not Subscription.objects.exists()


def test_a_subscription_inline_follows_the_same_rules(staff_client, org):
    strategy = StrategyFactory(organization=org)
    subscription = SubscriptionFactory(
        strategy=strategy,
        sizing_method="risk_dollar_amount",
        stop_loss_kind="percent",
        stop_loss_value=2,
    )
    subscription.stop_loss_kind = "none"  # what the inline cannot see, the rule still does
    Subscription.objects.filter(pk=subscription.pk).update(stop_loss_kind="none")
    url = reverse("admin:strategies_strategy_change", args=[strategy.pk])
    prefix = "subscriptions"
    data = _form_data(strategy) | {
        f"{prefix}-TOTAL_FORMS": 1,
        f"{prefix}-INITIAL_FORMS": 1,
        f"{prefix}-0-id": subscription.pk,
        f"{prefix}-0-strategy": strategy.pk,
        f"{prefix}-0-account": subscription.account_id,
        f"{prefix}-0-organization": org.pk,
        f"{prefix}-0-enabled": "on",
        f"{prefix}-0-allowed_sides": "long",
    }
    response = staff_client.post(url, data)
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.allowed_sides == "both"


# --- the other writers ----------------------------------------------------------------


def test_broker_account_cash_must_be_positive_in_the_admin(staff_client, org):
    account = BrokerAccountFactory(organization=org)
    response = _admin_change(staff_client, account, initial_cash=0)
    assert "initial_cash" in _form_errors(response)
    account.refresh_from_db()
    assert account.initial_cash > 0


def test_broker_account_added_in_the_admin_goes_through_the_service(staff_client, org):
    response = staff_client.post(
        reverse("admin:brokers_brokeraccount_add"),
        {
            "organization": org.pk,
            "name": "P",
            "broker": "paper",
            "mode": "paper",
            "status": "active",
            "initial_cash": "-5",
            "cash": "100",
        },
    )
    assert "initial_cash" in _form_errors(response)
    assert not BrokerAccount.objects.exists()


@pytest.mark.parametrize("value", [0, -1, "1e400"])
def test_broker_account_cash_must_be_positive_in_the_api(api, value):
    response = api.post("/api/v1/accounts/", {"name": "P", "initialCash": value}, format="json")
    assert response.status_code == 400 and "initialCash" in response.json()
    assert not BrokerAccount.objects.exists()


def test_api_key_scopes_may_not_be_emptied_in_the_admin(staff_client, org):
    key, _ = api_key_create(organization=org, name="bot")
    response = staff_client.post(
        reverse("admin:accounts_apikey_change", args=[key.pk]), {"name": "bot", "mode": "paper"}
    )
    assert "scopes" in _form_errors(response)
    key.refresh_from_db()
    assert key.scopes == ApiKey.ALL_SCOPES


def test_api_key_scopes_may_not_be_empty_in_the_api(api):
    response = api.post("/api/v1/api-keys/", {"name": "bot", "scopes": []}, format="json")
    assert response.status_code == 400 and "scopes" in response.json()
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"allowed_ips": '["not-an-ip"]'}, "allowed_ips"),
        ({"allowed_ips": '{"a": 1}'}, "allowed_ips"),
        ({"allowed_tickers": '["  "]'}, "allowed_tickers"),
        ({"duplicate_window_seconds": 3601}, "duplicate_window_seconds"),
    ],
)
def test_webhook_rules_hold_in_the_admin(staff_client, org, changes, field):
    webhook = webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="h")
    response = _admin_change(staff_client, webhook, **changes)
    assert field in _form_errors(response)
    webhook.refresh_from_db()
    assert webhook.allowed_ips == [] and webhook.duplicate_window_seconds == 20


def test_webhook_admin_stores_what_the_api_would_store(staff_client, org):
    webhook = webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="h")
    response = _admin_change(
        staff_client,
        webhook,
        allowed_ips='["10.0.0.1/8", "10.0.0.1/8"]',
        allowed_tickers='[" aapl "]',
    )
    assert response.status_code == 302
    webhook.refresh_from_db()
    assert webhook.allowed_ips == ["10.0.0.0/8"] and webhook.allowed_tickers == ["AAPL"]


def test_webhook_plan_limit_holds_for_the_api(api, org):
    org.max_webhooks = 1
    org.save()
    strategy = StrategyFactory(organization=org)
    webhook_create(organization=org, strategy=strategy, name="first")
    response = api.post(
        "/api/v1/webhooks/", {"name": "second", "strategyId": str(strategy.id)}, format="json"
    )
    assert response.status_code == 409
    assert Webhook.objects.count() == 1


def test_strategy_names_are_unique_through_the_service(api, org):
    StrategyFactory(organization=org, name="Trend")
    response = api.post("/api/v1/strategies/", {"name": "Trend"}, format="json")
    assert response.status_code == 409 and "name" in response.json()
    assert Strategy.objects.for_org(org).count() == 1


def test_a_subscription_that_exists_is_a_conflict(api, org):
    subscription = SubscriptionFactory(strategy=StrategyFactory(organization=org))
    body = {"strategyId": str(subscription.strategy_id), "accountId": str(subscription.account_id)}
    response = api.post("/api/v1/subscriptions/", body, format="json")
    assert response.status_code == 409
    assert response.json() == {"accountId": ["This account already follows this strategy."]}
    assert Subscription.objects.count() == 1


def test_a_name_lost_to_a_concurrent_writer_is_a_conflict_not_a_500(org, monkeypatch):
    from config.rules import RuleConflict
    from strategies import services

    StrategyFactory(organization=org, name="Trend")
    # The check before the INSERT passed for both writers; the constraint decides.
    monkeypatch.setattr(services, "strategy_validate", lambda *, strategy: None)
    with pytest.raises(RuleConflict) as conflict:
        services.strategy_create(organization=org, name="Trend")
    assert conflict.value.message_dict == {"name": [services.NAME_TAKEN]}
    assert Strategy.objects.for_org(org).count() == 1
