"""The tenant boundary: for_org scoping and resolve_tenant, the one place a request's
organization is decided. An outsider must never see the first organization's rows."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from accounts.auth import SESSION_ORG_KEY, resolve_tenant
from accounts.models import ApiKey, Role
from accounts.services import api_key_create, organization_suspend
from brokers.models import BrokerAccount
from strategies.models import Strategy, Subscription
from tests.factories import (
    BrokerAccountFactory,
    MembershipFactory,
    OrganizationFactory,
    StrategyFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def _session_request(user, organization_id=None):
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore()
    if organization_id is not None:
        request.session[SESSION_ORG_KEY] = str(organization_id)
    return request


def _key_request(key):
    request = RequestFactory().get("/")
    request.auth = key
    return request


@pytest.mark.parametrize(
    "model, factory",
    [
        (BrokerAccount, BrokerAccountFactory),
        (Strategy, StrategyFactory),
        (Subscription, SubscriptionFactory),
    ],
)
def test_for_org_returns_only_that_organizations_rows(org, other_org, model, factory):
    if factory is SubscriptionFactory:
        mine = factory(strategy=StrategyFactory(organization=org))
        factory(strategy=StrategyFactory(organization=other_org))
    else:
        mine = factory(organization=org)
        factory(organization=other_org)
    assert list(model.objects.for_org(org)) == [mine]
    assert mine not in model.objects.for_org(other_org)
    assert model.objects.count() == 2


def test_for_org_api_keys_are_scoped(org, other_org):
    mine, _ = api_key_create(organization=org, name="mine")
    theirs, _ = api_key_create(organization=other_org, name="theirs")
    assert list(ApiKey.objects.for_org(org)) == [mine]
    assert list(ApiKey.objects.for_org(other_org)) == [theirs]


def test_session_resolves_the_members_organization(org, owner):
    tenant = resolve_tenant(_session_request(owner))
    assert tenant.organization == org
    assert tenant.role == Role.OWNER
    assert tenant.api_key is None


def test_outsider_resolves_to_own_organization_never_the_other(org, other_org, owner, outsider):
    tenant = resolve_tenant(_session_request(outsider))
    assert tenant.organization == other_org
    assert tenant.organization != org


def test_session_cannot_select_an_organization_the_user_is_not_a_member_of(
    org, other_org, outsider
):
    # A tampered (or stale) session naming another tenant falls back to the user's own.
    tenant = resolve_tenant(_session_request(outsider, organization_id=org.id))
    assert tenant.organization == other_org


def test_session_without_any_membership_resolves_nothing(org, no_org_user):
    assert resolve_tenant(_session_request(no_org_user, organization_id=org.id)) is None


def test_session_selects_among_the_users_own_organizations(org, owner):
    second = OrganizationFactory()
    MembershipFactory(organization=second, user=owner, role=Role.VIEWER)
    tenant = resolve_tenant(_session_request(owner, organization_id=second.id))
    assert tenant.organization == second
    assert tenant.role == Role.VIEWER


def test_anonymous_request_resolves_nothing():
    from django.contrib.auth.models import AnonymousUser

    assert resolve_tenant(_session_request(AnonymousUser())) is None


def test_api_key_resolves_its_own_organization(org, other_org):
    key, _ = api_key_create(organization=org, name="k")
    tenant = resolve_tenant(_key_request(key))
    assert tenant.organization == org
    assert tenant.api_key == key
    assert tenant.role is None


def test_suspended_organization_resolves_nothing(org, owner):
    key, _ = api_key_create(organization=org, name="k")
    organization_suspend(organization=org)
    assert resolve_tenant(_session_request(owner)) is None
    assert resolve_tenant(_key_request(key)) is None
