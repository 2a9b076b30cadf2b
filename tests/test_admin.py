"""Operator admin: only staff get in, suspend/reactivate work through the changelist, usage
counts are right and cost no query per row, and secrets never reach a page."""

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, Organization, User
from accounts.services import api_key_create
from brokers.models import BrokerAccount
from signals.models import Signal
from tests.factories import (
    BrokerAccountFactory,
    InstrumentFactory,
    OrganizationFactory,
    StrategyFactory,
    SubscriptionFactory,
)
from webhooks.models import Webhook
from webhooks.services import webhook_create, webhook_password

pytestmark = pytest.mark.django_db

ORG_CHANGELIST = reverse("admin:accounts_organization_changelist")


@pytest.fixture
def staff_client(client):
    operator = User.objects.create_superuser(email="ops@example.com", password="pw-ops-1234")
    client.force_login(operator)
    return client


def _webhook(org, name="hook"):
    return webhook_create(organization=org, strategy=StrategyFactory(organization=org), name=name)


def _signal(org, **fields):
    return Signal.objects.create(organization=org, dialect=Signal.Dialect.TRADERSPOST, **fields)


def _run_action(client, action, objects, url=ORG_CHANGELIST):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in objects]}
    return client.post(url, data, follow=True)


def test_anonymous_is_sent_to_login(client):
    response = client.get(ORG_CHANGELIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_member_who_is_not_staff_is_sent_to_login(client, owner):
    client.force_login(owner)
    response = client.get(ORG_CHANGELIST)
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_non_staff_cannot_run_actions(client, owner, org):
    client.force_login(owner)
    _run_action(client, "suspend", [org])
    org.refresh_from_db()
    assert org.status == Organization.Status.ACTIVE


def test_staff_sees_the_changelist_and_can_search(staff_client, org, other_org):
    response = staff_client.get(ORG_CHANGELIST)
    assert response.status_code == 200
    assert org.name in response.text and other_org.name in response.text
    response = staff_client.get(ORG_CHANGELIST, {"q": org.slug})
    assert list(response.context["cl"].result_list) == [org]


def test_suspend_and_reactivate_through_the_changelist(staff_client, org, other_org):
    _run_action(staff_client, "suspend", [org])
    org.refresh_from_db()
    other_org.refresh_from_db()
    assert org.status == Organization.Status.SUSPENDED
    assert org.suspended_at is not None
    assert other_org.status == Organization.Status.ACTIVE

    _run_action(staff_client, "reactivate", [org])
    org.refresh_from_db()
    assert org.status == Organization.Status.ACTIVE
    assert org.suspended_at is None


def test_usage_counts(staff_client, org, other_org):
    _webhook(org, "a")
    _webhook(org, "b")
    _webhook(other_org, "c")
    _signal(org)
    _signal(org, status=Signal.Status.REJECTED)
    _signal(org, received_at=timezone.now() - timedelta(days=2))
    _signal(other_org)
    response = staff_client.get(ORG_CHANGELIST)
    rows = {o.pk: o for o in response.context["cl"].result_list}
    assert (rows[org.pk].webhooks_total, rows[org.pk].signals_today_total) == (2, 2)
    assert (rows[other_org.pk].webhooks_total, rows[other_org.pk].signals_today_total) == (1, 1)


def test_usage_counts_cost_no_query_per_row(staff_client):
    def changelist_queries():
        with CaptureQueriesContext(connection) as queries:
            assert staff_client.get(ORG_CHANGELIST).status_code == 200
        return len(queries)

    for _ in range(2):
        org = OrganizationFactory()
        _webhook(org)
        _signal(org)
    few = changelist_queries()
    for _ in range(5):
        org = OrganizationFactory()
        _webhook(org)
        _signal(org)
    assert changelist_queries() == few


def test_api_key_page_never_shows_the_digest(staff_client, org):
    key, raw = api_key_create(organization=org, name="ci key")
    change = staff_client.get(reverse("admin:accounts_apikey_change", args=[key.pk]))
    listing = staff_client.get(reverse("admin:accounts_apikey_changelist"))
    for response in (change, listing):
        assert response.status_code == 200
        assert key.prefix in response.text
        assert key.digest not in response.text
        assert raw not in response.text
    assert 'name="digest"' not in change.text


def test_api_key_digest_cannot_be_set_through_admin(staff_client, org):
    key, _ = api_key_create(organization=org, name="k")
    url = reverse("admin:accounts_apikey_change", args=[key.pk])
    response = staff_client.post(
        url, {"name": "renamed", "scopes": ["read"], "mode": "paper", "digest": "0" * 64}
    )
    assert response.status_code == 302
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.name == "renamed"
    assert stored.scopes == ["read"]
    assert stored.digest == key.digest


def test_api_keys_cannot_be_added_in_admin(staff_client):
    assert staff_client.get(reverse("admin:accounts_apikey_add")).status_code == 403
    assert not ApiKey.objects.exists()


def test_revoke_action(staff_client, org):
    key, _ = api_key_create(organization=org, name="k")
    keep, _ = api_key_create(organization=org, name="keep")
    _run_action(staff_client, "revoke", [key], reverse("admin:accounts_apikey_changelist"))
    key.refresh_from_db()
    keep.refresh_from_db()
    assert key.revoked_at is not None
    assert keep.revoked_at is None


def test_webhook_page_never_shows_the_password(staff_client, org):
    hook = _webhook(org)
    password = webhook_password(webhook=hook)
    for url in (
        reverse("admin:webhooks_webhook_change", args=[hook.pk]),
        reverse("admin:webhooks_webhook_changelist"),
    ):
        text = staff_client.get(url).text
        assert hook.name in text
        for secret in (password, hook.password_digest, hook.password_encrypted):
            assert secret not in text


def test_broker_account_page_never_shows_credentials(staff_client, org):
    account = BrokerAccountFactory(organization=org)
    account.credentials = {"api_key": "AKXYZSECRET", "secret_key": "SUPERSECRETVALUE"}
    account.save()
    text = staff_client.get(reverse("admin:brokers_brokeraccount_change", args=[account.pk])).text
    assert account.name in text
    for secret in ("AKXYZSECRET", "SUPERSECRETVALUE", account.credentials_encrypted):
        assert secret not in text
    assert 'name="credentials_encrypted"' not in text


def test_signal_log_is_read_only(staff_client, org):
    signal = _signal(org, ticker="AAPL", action="buy")
    change_url = reverse("admin:signals_signal_change", args=[signal.pk])
    assert staff_client.get(change_url).status_code == 200
    staff_client.post(change_url, {"ticker": "MSFT", "action": "sell"})
    signal.refresh_from_db()
    assert (signal.ticker, signal.action) == ("AAPL", "buy")
    assert staff_client.get(reverse("admin:signals_signal_add")).status_code == 403


@pytest.mark.parametrize(
    "query, expected",
    [({"status__exact": "REJECTED"}, ["MSFT"]), ({"dialect__exact": "utm"}, ["TSLA"])],
)
def test_signal_filters(staff_client, org, query, expected):
    _signal(org, ticker="AAPL")
    _signal(org, ticker="MSFT", status=Signal.Status.REJECTED)
    Signal.objects.create(organization=org, dialect=Signal.Dialect.UTM, ticker="TSLA")
    response = staff_client.get(reverse("admin:signals_signal_changelist"), query)
    assert [s.ticker for s in response.context["cl"].result_list] == expected


def test_signal_search_with_a_non_uuid_term_does_not_fail(staff_client, org):
    _signal(org, ticker="AAPL")
    response = staff_client.get(reverse("admin:signals_signal_changelist"), {"q": "AAPL"})
    assert response.status_code == 200
    assert [s.ticker for s in response.context["cl"].result_list] == ["AAPL"]


def test_instrument_search_by_symbol(staff_client):
    InstrumentFactory(symbol="AAPL")
    InstrumentFactory(symbol="MSFT")
    response = staff_client.get(reverse("admin:brokers_instrument_changelist"), {"q": "aapl"})
    assert [i.symbol for i in response.context["cl"].result_list] == ["AAPL"]


@pytest.mark.parametrize(
    "name",
    [
        "accounts_organization",
        "accounts_user",
        "accounts_apikey",
        "brokers_brokeraccount",
        "brokers_order",
        "brokers_position",
        "brokers_instrument",
        "brokers_paperprice",
        "brokers_paperorder",
        "strategies_strategy",
        "strategies_subscription",
        "webhooks_webhook",
        "signals_signal",
        "signals_signalresult",
    ],
)
def test_every_changelist_renders(staff_client, name):
    SubscriptionFactory()
    assert staff_client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_user_admin_creates_a_user_with_a_hashed_password(staff_client):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.com",
            "usable_password": "true",
            "password1": "a-long-unusual-pass-42",
            "password2": "a-long-unusual-pass-42",
        },
    )
    assert response.status_code == 302
    user = User.objects.get(email="new.person@example.com")
    assert user.password != "a-long-unusual-pass-42"
    assert user.check_password("a-long-unusual-pass-42")
    assert not user.is_staff


def test_user_admin_rejects_a_duplicate_email(staff_client, owner):
    response = staff_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": owner.email.upper(),
            "usable_password": "true",
            "password1": "a-long-unusual-pass-42",
            "password2": "a-long-unusual-pass-42",
        },
    )
    assert response.status_code == 200
    assert User.objects.filter(email__iexact=owner.email).count() == 1


def test_user_change_page_renders_with_memberships(staff_client, owner, org):
    response = staff_client.get(reverse("admin:accounts_user_change", args=[owner.pk]))
    assert response.status_code == 200
    assert owner.password not in response.text
    assert str(org.pk) in response.text


def test_organization_change_page_lists_members(staff_client, org, owner):
    response = staff_client.get(reverse("admin:accounts_organization_change", args=[org.pk]))
    assert response.status_code == 200
    assert str(owner.pk) in response.text


def test_suspend_leaves_other_rows_alone(staff_client, org):
    account = BrokerAccountFactory(organization=org)
    _run_action(staff_client, "suspend", [org])
    assert BrokerAccount.objects.filter(pk=account.pk).exists()
    assert Webhook.objects.count() == 0


def test_admin_styles_are_served_without_collectstatic(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"body" in b"".join(response.streaming_content)


@pytest.mark.parametrize("state, expected", [("active", ["live one"]), ("revoked", ["old one"])])
def test_api_key_state_filter(staff_client, org, state, expected):
    api_key_create(organization=org, name="live one")
    old, _ = api_key_create(organization=org, name="old one")
    _run_action(staff_client, "revoke", [old], reverse("admin:accounts_apikey_changelist"))
    response = staff_client.get(reverse("admin:accounts_apikey_changelist"), {"state": state})
    assert [k.name for k in response.context["cl"].result_list] == expected


def test_staff_can_set_a_users_password(staff_client, owner):
    # Django's UserAdmin names this URL after auth.User whatever the user model is.
    url = reverse("admin:auth_user_password_change", args=[owner.pk])
    assert url == f"/admin/accounts/user/{owner.pk}/password/"
    response = staff_client.post(
        url,
        {"password1": "brand-new-secret-77", "password2": "brand-new-secret-77"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("brand-new-secret-77")
    assert not owner.check_password("correct horse battery")


def _subscription_form_data(subscription, **changes) -> dict:
    from django.forms.models import model_to_dict

    data = {
        key: value
        for key, value in model_to_dict(subscription).items()
        if value is not None and key != "id"
    }
    data.update(changes)
    return data


def test_admin_refuses_to_wire_another_tenants_account(staff_client, org, other_org):
    subscription = SubscriptionFactory(strategy=StrategyFactory(organization=org))
    foreign = BrokerAccountFactory(organization=other_org)
    url = reverse("admin:strategies_subscription_change", args=[subscription.pk])
    response = staff_client.post(url, _subscription_form_data(subscription, account=foreign.pk))
    assert response.status_code == 200
    assert "belongs to another organization" in response.text
    subscription.refresh_from_db()
    assert subscription.account.organization == org


def test_admin_saves_a_same_tenant_change(staff_client, org):
    subscription = SubscriptionFactory(strategy=StrategyFactory(organization=org))
    other_account = BrokerAccountFactory(organization=org)
    url = reverse("admin:strategies_subscription_change", args=[subscription.pk])
    response = staff_client.post(
        url, _subscription_form_data(subscription, account=other_account.pk)
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.account == other_account


def test_rejected_attempts_are_listed_read_only(staff_client, org):
    from signals.models import RejectedAttempts
    from signals.services import rejected_attempt_count

    webhook = _webhook(org)
    for ip in ("198.51.100.1", "198.51.100.2"):
        row = rejected_attempt_count(
            webhook=webhook,
            message_code="invalid-password",
            source_ip=ip,
            raw_body=b"{}",
            content_type="text/plain",
        )
    listing = staff_client.get(reverse("admin:signals_rejectedattempts_changelist"))
    assert listing.status_code == 200
    assert b"invalid-password" in listing.content and b"198.51.100.2" in listing.content
    change = staff_client.get(reverse("admin:signals_rejectedattempts_change", args=[row.pk]))
    assert change.status_code == 200
    assert staff_client.get(reverse("admin:signals_rejectedattempts_add")).status_code == 403
    assert RejectedAttempts.objects.get().count == 2
