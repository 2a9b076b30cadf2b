"""API keys: shown once, stored as a SHA-256 digest with a visible prefix, compared in
constant time, revocable, and last_used_at kept (coarsely) up to date."""

import hashlib
import secrets
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import exceptions

from accounts.auth import ApiKeyAuthentication, api_key_from_request
from accounts.models import ApiKey
from accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_parse_prefix,
    api_key_revoke,
    secret_digest,
    secret_matches,
)

pytestmark = pytest.mark.django_db


def test_raw_key_is_never_stored(org):
    key, raw = api_key_create(organization=org, name="k")
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert raw not in {str(value) for value in stored.values()}
    assert stored["digest"] == hashlib.sha256(raw.encode()).hexdigest()


def test_prefix_is_visible_in_the_raw_key_and_unique(org):
    key, raw = api_key_create(organization=org, name="k")
    other, _ = api_key_create(organization=org, name="k2")
    assert raw.startswith(f"tr_{key.prefix}_")
    assert len(key.prefix) == 8
    assert key.prefix != other.prefix
    assert api_key_parse_prefix(raw) == key.prefix


def test_a_prefix_collision_draws_again_instead_of_a_500(org, other_org, monkeypatch):
    taken, _ = api_key_create(organization=other_org, name="first")
    draws = iter([taken.prefix, taken.prefix, "0badc0de"])
    real_token_hex = secrets.token_hex
    monkeypatch.setattr(
        "accounts.services.secrets.token_hex",
        lambda n=None: next(draws) if n == 4 else real_token_hex(n),
    )
    key, raw = api_key_create(organization=org, name="second")
    assert key.prefix == "0badc0de"
    assert api_key_authenticate(raw=raw) == key
    assert ApiKey.objects.filter(prefix=taken.prefix).get() == taken


def test_default_key_has_all_scopes_and_paper_mode(org):
    key, _ = api_key_create(organization=org, name="k")
    assert sorted(key.scopes) == sorted(ApiKey.ALL_SCOPES)
    assert key.mode == ApiKey.Mode.PAPER


def test_secret_matches_only_the_exact_secret():
    digest = secret_digest("s3cret")
    assert secret_matches("s3cret", digest)
    assert not secret_matches("s3cret ", digest)
    assert not secret_matches("", digest)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        lambda raw: raw.upper(),
        lambda raw: "",
        lambda raw: "tr_deadbeef_" + "x" * 43,
        lambda raw: raw.replace("tr_", "xx_", 1),
        lambda raw: "not-a-key",
    ],
)
def test_wrong_keys_do_not_authenticate(org, mangle):
    _, raw = api_key_create(organization=org, name="k")
    assert api_key_authenticate(raw=mangle(raw)) is None


def test_revoked_key_no_longer_authenticates(org):
    key, raw = api_key_create(organization=org, name="k")
    assert api_key_authenticate(raw=raw) == key
    api_key_revoke(key=key)
    assert key.revoked_at is not None
    assert api_key_authenticate(raw=raw) is None


def test_revoking_twice_keeps_the_first_time(org):
    key, _ = api_key_create(organization=org, name="k")
    api_key_revoke(key=key)
    first = key.revoked_at
    api_key_revoke(key=key)
    assert key.revoked_at == first


def test_revoking_one_key_leaves_the_others(org):
    key, _ = api_key_create(organization=org, name="k")
    other, other_raw = api_key_create(organization=org, name="k2")
    api_key_revoke(key=key)
    assert api_key_authenticate(raw=other_raw) == other


def test_last_used_at_is_set_on_use_and_not_rewritten_every_request(org):
    key, raw = api_key_create(organization=org, name="k")
    assert key.last_used_at is None
    api_key_authenticate(raw=raw)
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None
    api_key_authenticate(raw=raw)
    key.refresh_from_db()
    assert key.last_used_at == first


def test_last_used_at_moves_on_after_the_resolution(org):
    key, raw = api_key_create(organization=org, name="k")
    stale = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    api_key_authenticate(raw=raw)
    key.refresh_from_db()
    assert key.last_used_at > stale


def test_failed_authentication_does_not_touch_last_used(org):
    key, raw = api_key_create(organization=org, name="k")
    api_key_authenticate(raw=raw[:-1] + "?")
    key.refresh_from_db()
    assert key.last_used_at is None


def test_drf_authentication_accepts_header_and_query_param(org, owner):
    key, raw = api_key_create(organization=org, name="k", created_by=owner)
    auth = ApiKeyAuthentication()
    by_header = RequestFactory().get("/", HTTP_X_API_KEY=raw)
    by_query = RequestFactory().get("/", {"apiKey": raw})
    assert auth.authenticate(by_header) == (owner, key)
    assert auth.authenticate(by_query) == (owner, key)
    assert api_key_from_request(RequestFactory().get("/")) is None
    assert auth.authenticate(RequestFactory().get("/")) is None


def test_drf_authentication_rejects_a_revoked_key(org):
    key, raw = api_key_create(organization=org, name="k")
    api_key_revoke(key=key)
    with pytest.raises(exceptions.AuthenticationFailed):
        ApiKeyAuthentication().authenticate(RequestFactory().get("/", HTTP_X_API_KEY=raw))
