import pytest

from accounts.models import ApiKey
from accounts.services import api_key_authenticate, api_key_create


@pytest.mark.django_db
def test_api_key_roundtrip(org):
    key, raw = api_key_create(organization=org, name="k")
    assert raw not in (key.digest, key.prefix)
    assert api_key_authenticate(raw=raw) == key
    assert api_key_authenticate(raw=raw[:-1] + "x") is None
    assert ApiKey.objects.for_org(org).count() == 1
