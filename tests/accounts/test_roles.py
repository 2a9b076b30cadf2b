"""Role checks: owner > admin > trader > viewer for people, scopes for API keys."""

import pytest

from accounts.auth import Tenant
from accounts.models import ApiKey, Membership, Organization, Role
from accounts.services import api_key_create

RANKED = [Role.VIEWER, Role.TRADER, Role.ADMIN, Role.OWNER]


@pytest.mark.parametrize("role", RANKED)
@pytest.mark.parametrize("minimum", RANKED)
def test_membership_has_role_matrix(role, minimum):
    expected = RANKED.index(role) >= RANKED.index(minimum)
    assert Membership(role=role).has_role(minimum) is expected


@pytest.mark.parametrize(
    "role, minimum, expected",
    [
        (Role.VIEWER, Role.VIEWER, True),
        (Role.VIEWER, Role.TRADER, False),
        (Role.TRADER, Role.TRADER, True),
        (Role.TRADER, Role.ADMIN, False),
        (Role.ADMIN, Role.ADMIN, True),
        (Role.ADMIN, Role.OWNER, False),
        (Role.OWNER, Role.OWNER, True),
    ],
)
def test_tenant_can_for_people_follows_the_role(role, minimum, expected):
    # For people the scope argument is irrelevant: only the role counts.
    assert (
        Tenant(Organization(name="o", slug="o"), role).can(minimum, ApiKey.Scope.MANAGE) is expected
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "scopes, scope, expected",
    [
        ([ApiKey.Scope.READ], ApiKey.Scope.READ, True),
        ([ApiKey.Scope.READ], ApiKey.Scope.SIGNALS_WRITE, False),
        ([ApiKey.Scope.READ], ApiKey.Scope.MANAGE, False),
        ([ApiKey.Scope.SIGNALS_WRITE], ApiKey.Scope.SIGNALS_WRITE, True),
        ([ApiKey.Scope.SIGNALS_WRITE], ApiKey.Scope.READ, False),
        ([], ApiKey.Scope.READ, False),
        (list(ApiKey.ALL_SCOPES), ApiKey.Scope.MANAGE, True),
    ],
)
def test_tenant_can_for_keys_follows_the_scopes(org, scopes, scope, expected):
    key, _ = api_key_create(organization=org, name="k")
    # Written past the service: a key without scopes can no longer be made, but one saved
    # before that rule must still be able to do nothing.
    ApiKey.objects.filter(pk=key.pk).update(scopes=scopes)
    key.refresh_from_db()
    # For keys the role argument is irrelevant: even "viewer" needs the scope.
    assert Tenant(org, None, key).can(Role.VIEWER, scope) is expected
