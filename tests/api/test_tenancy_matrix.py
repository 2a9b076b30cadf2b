"""The tenancy matrix over every REST endpoint: owner / admin / trader / viewer / outsider /
anonymous / member of no organization / suspended organization, and API key scopes.
Another tenant's object is a 404; lists never hold another tenant's rows; viewers and
read keys cannot write."""

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey, Role
from accounts.services import api_key_create, organization_suspend
from tests.api.conftest import make_tenant_objects
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1"
LISTABLE = ["accounts", "strategies", "subscriptions", "webhooks", "api-keys", "signals"]
LISTABLE += ["orders", "positions", "position-drifts"]
WITH_DETAIL = [name for name in LISTABLE if name != "positions"]
WRITABLE = ["accounts", "strategies", "subscriptions", "webhooks"]
MANAGE_ONLY_READS = ["api-keys"]  # listing keys needs the manage scope / admin role


def detail(name, obj):
    return f"{BASE}/{name}/{obj.pk}/"


def new_payload(name, objects):
    account, strategy = objects["spare-account"], objects["strategies"]
    return {
        "accounts": {"name": "New paper", "broker": "paper", "mode": "paper"},
        "strategies": {"name": "New strategy"},
        "subscriptions": {"strategyId": str(strategy.id), "accountId": str(account.id)},
        "webhooks": {"name": "New hook", "strategyId": str(strategy.id)},
        "api-keys": {"name": "New key", "scopes": ["read"]},
    }[name]


@pytest.fixture
def mine(org):
    return make_tenant_objects(org)


@pytest.fixture
def theirs(other_org):
    return make_tenant_objects(other_org)


def as_role(org, role):
    api = APIClient()
    api.force_login(MembershipFactory(organization=org, role=role).user)
    return api


def as_key(org, scopes):
    _, raw = api_key_create(organization=org, name="matrix", scopes=scopes)
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=raw)
    return api


def ids(response):
    data = response.json()
    rows = data["results"] if isinstance(data, dict) else data
    return {str(row.get("id") or row.get("accountId")) for row in rows}


@pytest.mark.parametrize("name", LISTABLE)
def test_anonymous_is_401_everywhere(mine, name):
    api = APIClient()
    assert api.get(f"{BASE}/{name}/").status_code == 401
    if name in WITH_DETAIL:
        assert api.get(detail(name, mine[name])).status_code == 401
        assert api.delete(detail(name, mine[name])).status_code == 401


@pytest.mark.parametrize("name", LISTABLE)
def test_a_bad_key_is_401(mine, name):
    api = APIClient()
    api.credentials(HTTP_X_API_KEY="tr_00000000_nope")
    assert api.get(f"{BASE}/{name}/").status_code == 401


@pytest.mark.parametrize("name", LISTABLE)
@pytest.mark.parametrize("via", ["session", "key"])
def test_list_never_includes_another_tenants_rows(org, mine, theirs, name, via):
    api = as_role(org, Role.OWNER) if via == "session" else as_key(org, ApiKey.ALL_SCOPES)
    response = api.get(f"{BASE}/{name}/")
    assert response.status_code == 200, response.content
    listed = ids(response)
    own = str(mine[name].account_id if name == "positions" else mine[name].pk)
    other = str(theirs[name].account_id if name == "positions" else theirs[name].pk)
    assert own in listed
    assert other not in listed


@pytest.mark.parametrize("name", WITH_DETAIL)
@pytest.mark.parametrize("via", ["session", "key"])
def test_another_tenants_object_is_404_for_every_method(org, theirs, name, via):
    api = as_role(org, Role.OWNER) if via == "session" else as_key(org, ApiKey.ALL_SCOPES)
    url = detail(name, theirs[name])
    assert api.get(url).status_code == 404
    assert api.patch(url, {"name": "stolen"}, format="json").status_code in (404, 405)
    assert api.delete(url).status_code in (404, 405)
    type(theirs[name]).objects.get(pk=theirs[name].pk)  # still there, unchanged
    if name == "webhooks":
        assert api.post(url + "regenerate/").status_code == 404
    if name == "api-keys":
        assert api.post(url + "revoke/").status_code == 404
        theirs[name].refresh_from_db()
        assert theirs[name].revoked_at is None


def test_another_tenants_webhook_keeps_its_password(org, theirs):
    webhook = theirs["webhooks"]
    as_role(org, Role.OWNER).post(detail("webhooks", webhook) + "regenerate/")
    before = webhook.password_digest
    webhook.refresh_from_db()
    assert webhook.password_digest == before


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.TRADER, Role.VIEWER])
@pytest.mark.parametrize("name", LISTABLE)
def test_every_member_role_reads(org, mine, role, name):
    response = as_role(org, role).get(f"{BASE}/{name}/")
    expected = 403 if name in MANAGE_ONLY_READS and role in (Role.TRADER, Role.VIEWER) else 200
    assert response.status_code == expected


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
@pytest.mark.parametrize("name", [*WRITABLE, "api-keys"])
def test_managers_create(org, mine, role, name):
    response = as_role(org, role).post(
        f"{BASE}/{name}/", new_payload(name, mine) | _unique(name), format="json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("role", [Role.TRADER, Role.VIEWER])
@pytest.mark.parametrize("name", [*WRITABLE, "api-keys"])
def test_traders_and_viewers_cannot_manage(org, mine, role, name):
    api = as_role(org, role)
    model = type(mine[name])
    before = model.objects.count()
    payload = new_payload(name, mine) | _unique(name)
    assert api.post(f"{BASE}/{name}/", payload, format="json").status_code == 403
    assert api.patch(detail(name, mine[name]), {"name": "x"}, format="json").status_code == 403
    assert api.delete(detail(name, mine[name])).status_code == 403
    assert model.objects.count() == before
    if name == "api-keys":
        mine[name].refresh_from_db()
        assert mine[name].revoked_at is None


@pytest.mark.parametrize(
    "scopes, read, write",
    [
        (["read"], 200, 403),
        (["signals:write"], 403, 403),
        (["manage"], 200, 201),
        (["read", "signals:write", "manage"], 200, 201),
    ],
)
@pytest.mark.parametrize("name", WRITABLE)
def test_key_scopes(org, mine, scopes, read, write, name):
    api = as_key(org, scopes)
    assert api.get(f"{BASE}/{name}/").status_code == read
    payload = new_payload(name, mine) | _unique(name)
    assert api.post(f"{BASE}/{name}/", payload, format="json").status_code == write


@pytest.mark.parametrize("scopes, status", [(["read"], 403), (["manage"], 200)])
def test_api_keys_need_the_manage_scope(org, mine, scopes, status):
    assert as_key(org, scopes).get(f"{BASE}/api-keys/").status_code == status


@pytest.mark.parametrize("name", LISTABLE)
def test_user_without_an_organization_is_403(no_org_user, name):
    api = APIClient()
    api.force_login(no_org_user)
    assert api.get(f"{BASE}/{name}/").status_code == 403


@pytest.mark.parametrize("name", LISTABLE)
@pytest.mark.parametrize("via", ["session", "key"])
def test_suspended_organization_is_403(org, mine, name, via):
    api = as_role(org, Role.OWNER) if via == "session" else as_key(org, ApiKey.ALL_SCOPES)
    organization_suspend(organization=org)
    assert api.get(f"{BASE}/{name}/").status_code == 403


def test_outsider_owner_sees_only_their_own(org, outsider, other_org, mine, theirs):
    api = APIClient()
    api.force_login(outsider)
    for name in WITH_DETAIL:
        assert api.get(detail(name, mine[name])).status_code == 404
        assert api.get(detail(name, theirs[name])).status_code == 200


def _unique(name):
    # Names must be unique per organization for strategies; subscriptions per pair.
    return {"name": f"Created {name}"} if name != "subscriptions" else {}
