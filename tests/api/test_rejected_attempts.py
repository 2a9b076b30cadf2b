"""GET /api/v1/webhooks/{id}/rejected-attempts/: the owner sees the requests its webhook
got without its password (counted per minute, not logged one by one), and nobody
outside the organization sees them."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, Role
from accounts.services import api_key_create
from signals.models import RejectedAttempts
from signals.services import rejected_attempt_count, rejected_attempts_purge
from tests.factories import MembershipFactory, StrategyFactory
from webhooks.services import webhook_create

pytestmark = pytest.mark.django_db


def _webhook(organization):
    strategy = StrategyFactory(organization=organization)
    return webhook_create(organization=organization, strategy=strategy, name="hook")


def _attempts(webhook, n, code="invalid-password", ip="198.51.100.7"):
    for _ in range(n):
        row = rejected_attempt_count(
            webhook=webhook,
            message_code=code,
            source_ip=ip,
            raw_body=b'{"ticker": "AMD"}',
            content_type="text/plain",
        )
    return row


def _url(webhook):
    return f"/api/v1/webhooks/{webhook.id}/rejected-attempts/"


def _as_role(org, role):
    api = APIClient()
    api.force_login(MembershipFactory(organization=org, role=role).user)
    return api


def _as_key(org, scopes):
    _, raw = api_key_create(organization=org, name="k", scopes=scopes)
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=raw)
    return api


def _counts(response) -> dict:
    return {row["messageCode"]: row["count"] for row in response.json()["results"]}


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.TRADER, Role.VIEWER])
def test_every_member_sees_the_counts(org, role):
    webhook = _webhook(org)
    row = _attempts(webhook, 3)
    _attempts(webhook, 2, code="too-many-requests", ip="203.0.113.9")
    response = _as_role(org, role).get(_url(webhook))
    assert response.status_code == 200
    assert _counts(response) == {"invalid-password": 3, "too-many-requests": 2}
    first = next(r for r in response.json()["results"] if r["messageCode"] == "invalid-password")
    assert first["id"] == str(row.id)  # the logId those answers carried
    assert first["sourceIps"] == ["198.51.100.7"]
    assert first["sampleBody"] == '{"ticker": "AMD"}'
    assert first["sampleContentType"] == "text/plain"
    assert set(first) == {
        "id",
        "messageCode",
        "windowStart",
        "count",
        "firstSeenAt",
        "lastSeenAt",
        "sourceIps",
        "sampleBody",
        "sampleContentType",
    }


def test_another_webhooks_rows_are_not_listed(org):
    mine, sibling = _webhook(org), _webhook(org)
    _attempts(sibling, 4)
    assert _as_role(org, Role.OWNER).get(_url(mine)).json()["results"] == []


def test_an_outsider_gets_404_and_never_the_rows(org, other_org, outsider):
    webhook = _webhook(org)
    _attempts(webhook, 2)
    api = APIClient()
    api.force_login(outsider)
    assert api.get(_url(webhook)).status_code == 404
    theirs = _webhook(other_org)
    assert api.get(_url(theirs)).json()["results"] == []  # their own: empty, not mine


def test_anonymous_is_401(org):
    assert APIClient().get(_url(_webhook(org))).status_code == 401


@pytest.mark.parametrize(
    "scopes, status",
    [(["read"], 200), (["manage"], 200), ([ApiKey.Scope.SIGNALS_WRITE], 403)],
)
def test_key_scopes(org, scopes, status):
    webhook = _webhook(org)
    _attempts(webhook, 1)
    assert _as_key(org, scopes).get(_url(webhook)).status_code == status


def test_another_tenants_key_gets_404(org, other_org):
    webhook = _webhook(org)
    assert _as_key(other_org, ApiKey.ALL_SCOPES).get(_url(webhook)).status_code == 404


def test_counts_past_the_retention_are_purged_and_recent_ones_kept(org, other_org, settings):
    settings.REJECTED_ATTEMPTS_RETENTION_DAYS = 30
    old, recent = _attempts(_webhook(org), 1), _attempts(_webhook(other_org), 1)
    RejectedAttempts.objects.filter(pk=old.pk).update(
        window_start=timezone.now() - timedelta(days=31)
    )
    assert rejected_attempts_purge() == 1
    assert list(RejectedAttempts.objects.values_list("pk", flat=True)) == [recent.pk]
    assert rejected_attempts_purge() == 0
