import pytest
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services import api_key_create
from tests.factories import BrokerAccountFactory

INGEST = "/api/v1/signals/ingest"


@pytest.fixture
def make_key(org):
    """make_key(scopes=..., mode=..., organization=...) -> (ApiKey, raw key)."""

    def make(*, organization=None, scopes=None, mode=ApiKey.Mode.PAPER, name="test key"):
        return api_key_create(organization=organization or org, name=name, scopes=scopes, mode=mode)

    return make


@pytest.fixture
def key_and_raw(make_key):
    return make_key()


@pytest.fixture
def raw_key(key_and_raw):
    return key_and_raw[1]


@pytest.fixture
def paper_account(org):
    return BrokerAccountFactory(organization=org)


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def key_client(make_key):
    """key_client(scopes=..., organization=...) -> an APIClient sending that new key."""

    def make(**kwargs):
        _, raw = make_key(**kwargs)
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=raw)
        return api

    return make


@pytest.fixture
def session_client():
    def make(user):
        api = APIClient()
        api.force_login(user)
        return api

    return make
