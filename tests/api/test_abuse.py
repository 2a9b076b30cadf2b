"""The API-key paths keep the webhook rule (tests/webhooks/test_abuse.py): an invalid key,
however many and from whatever address, never gets a valid key refused and costs no
storage; a key's rate limit counts only that key's own requests."""

import json

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create, api_key_parse_prefix
from signals.models import RejectedAttempts, Signal
from tests.api.conftest import INGEST
from tests.factories import BrokerAccountFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

SHARED_IP = "52.89.214.238"


def _ingest(raw_key, account, ip=SHARED_IP, **extra):
    body = {"symbol": "AAPL", "action": "openLong", "accountId": str(account.id), **extra}
    return APIClient().post(
        INGEST,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_X_API_KEY=raw_key,
        REMOTE_ADDR=ip,
    )


def _invalid_keys(raw_key, n):
    """Wrong keys, half of them with the valid key's own (visible) prefix."""
    prefix = api_key_parse_prefix(raw_key)
    return [f"tr_{prefix}_wrong{i}" if i % 2 else f"tr_{i:08x}_wrong" for i in range(n)]


def test_invalid_keys_never_refuse_a_valid_key_nor_use_its_limit(settings, org, raw_key):
    settings.API_KEY_RATE_PER_MINUTE = 3
    account = BrokerAccountFactory(organization=org)
    refused = [_ingest(bad, account) for bad in _invalid_keys(raw_key, 60)]
    assert {r.status_code for r in refused} == {401}
    assert {r.json()["error"] for r in refused} == {"INVALID_API_KEY"}
    assert [_ingest(raw_key, account).status_code for _ in range(4)] == [200, 200, 200, 429]
    # Nothing stored for them: they name no tenant that could be charged.
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 3
    assert Signal.objects.count() == 4 and not RejectedAttempts.objects.exists()


def test_a_keys_limit_counts_only_its_own_requests(settings, org, make_key):
    settings.API_KEY_RATE_PER_MINUTE = 2
    account = BrokerAccountFactory(organization=org)
    _, flooding = make_key(name="flooding")
    _, sibling = make_key(name="sibling")
    other = OrganizationFactory()
    _, theirs = api_key_create(organization=other, name="theirs")
    their_account = BrokerAccountFactory(organization=other)
    codes = [_ingest(flooding, account).status_code for _ in range(10)]
    assert codes == [200, 200] + [429] * 8
    # The same address, the same organization or another: each key has its own count.
    assert [_ingest(sibling, account).status_code for _ in range(3)] == [200, 200, 429]
    assert [_ingest(theirs, their_account).status_code for _ in range(3)] == [200, 200, 429]


def test_the_rest_api_answers_a_valid_key_whatever_invalid_ones_did(org, raw_key):
    api = APIClient(REMOTE_ADDR=SHARED_IP)
    for bad in _invalid_keys(raw_key, 30):
        api.credentials(HTTP_X_API_KEY=bad)
        assert api.get("/api/v1/strategies/").status_code == 401
    api.credentials(HTTP_X_API_KEY=raw_key)
    assert api.get("/api/v1/strategies/").status_code == 200
