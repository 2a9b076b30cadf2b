"""API keys page: owners and admins only; the raw key shown once; revoke; the matrix."""

import pytest

from accounts.models import ApiKey, Role
from accounts.services import api_key_authenticate, api_key_create
from tests.dashboard.conftest import EVERYONE

pytestmark = pytest.mark.django_db

MANAGERS = [Role.OWNER, Role.ADMIN]


@pytest.fixture
def key(org):
    return api_key_create(organization=org, name="bot")[0]


@pytest.mark.parametrize("role", EVERYONE)
def test_list(client_as, role, key):
    response = client_as(role).get("/api-keys/")
    if role in MANAGERS:
        assert response.status_code == 200
        assert f"tr_{key.prefix}_" in response.content.decode()
    elif role == "outsider":
        assert key.prefix not in response.content.decode()
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", EVERYONE)
def test_create_shows_the_raw_key_once(client_as, role, org):
    person = client_as(role)
    response = person.post(
        "/api-keys/", {"name": "server", "scopes": ["read", "signals:write"], "mode": "paper"}
    )
    created = ApiKey.objects.for_org(org).filter(name="server")
    if role not in MANAGERS:
        assert not created.exists()
        return
    key = created.get()
    raw = response.context["raw_key"]
    assert api_key_authenticate(raw=raw) == key
    assert key.scopes == ["read", "signals:write"]
    assert response["Cache-Control"] == "no-store"
    assert raw not in person.get("/api-keys/").content.decode()


@pytest.mark.parametrize("role", EVERYONE)
def test_revoke(client_as, role, key):
    response = client_as(role).post(f"/api-keys/{key.id}/revoke/")
    assert response.status_code == {"outsider": 404}.get(role, 302 if role in MANAGERS else 403)
    key.refresh_from_db()
    assert (key.revoked_at is not None) == (role in MANAGERS)
