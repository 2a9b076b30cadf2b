"""The webhook path's short way through the middleware (webhooks/middleware.py) answers
byte for byte what the whole middleware stack answers: status, every header in order,
body (ids aside), for accepted, rejected and unknown webhooks, odd methods, disallowed
hosts, the HTTPS settings of production, and a crash in the view."""

import json
import re

import pytest
from django.test import Client

from tests.webhooks.conftest import CLIENT_IP, webhook_path

pytestmark = pytest.mark.django_db

FAST = "webhooks.middleware.WebhookFastPathMiddleware"
_IDS = re.compile(rb'"(id|logId)": "[0-9a-f-]{36}"')


@pytest.fixture
def stacks(settings):
    """Send one request through the whole stack and through the short way; return both."""
    assert FAST in settings.MIDDLEWARE
    with_fast = list(settings.MIDDLEWARE)
    without = [m for m in with_fast if m != FAST]

    def send(method, path, body=None, **extra):
        answers = []
        for middleware in (without, with_fast):
            settings.MIDDLEWARE = middleware
            client = Client(raise_request_exception=False)
            kwargs = {"REMOTE_ADDR": CLIENT_IP, **extra}
            if body is not None:
                kwargs.update(data=body, content_type="text/plain")
            response = getattr(client, method)(path, **kwargs)
            answers.append(response)
        settings.MIDDLEWARE = with_fast
        return answers

    return send


def _same(full, fast):
    assert fast.status_code == full.status_code
    assert fast.serialize_headers() == full.serialize_headers()
    assert _IDS.sub(b"<id>", fast.content) == _IDS.sub(b"<id>", full.content)


def _body(price=190.5):
    return json.dumps({"ticker": "AAPL", "action": "buy", "price": price, "quantity": 1})


@pytest.fixture
def hook(make_webhook):
    # No duplicate window, so the same body is accepted by both stacks.
    return make_webhook(duplicate_window_seconds=0)[0]


@pytest.mark.parametrize(
    "method, body, password",
    [
        ("post", _body(), None),  # accepted
        ("post", "{not json", None),  # malformed-json
        ("post", "", None),  # empty-json
        ("post", _body(), "wrong"),  # invalid-password
        ("get", None, None),  # post-required
        ("put", _body(), None),
        ("head", None, None),
    ],
)
def test_known_webhook(stacks, hook, method, body, password):
    full, fast = stacks(method, webhook_path(hook, password), body)
    _same(full, fast)
    assert "X-Frame-Options" in fast and "Content-Length" in fast


@pytest.mark.parametrize(
    "path",
    [
        "/trading/webhook/00000000-0000-0000-0000-000000000000/x",
        "/trading/webhook/not-a-uuid/x",
        "/trading/webhook/",
        "/trading/webhook/a/b/c/d",
    ],
)
def test_unknown_webhook(stacks, path):
    _same(*stacks("post", path, _body()))
    _same(*stacks("get", path))


def test_accepted_signal_is_logged_once_per_request(stacks, hook):
    from signals.models import Signal

    full, fast = stacks("post", webhook_path(hook), _body())
    assert full.status_code == fast.status_code == 200
    assert Signal.objects.filter(webhook=hook, status=Signal.Status.PENDING).count() == 2


def test_disallowed_host_is_still_a_400(stacks, hook, settings):
    settings.ALLOWED_HOSTS = ["example.com"]
    full, fast = stacks("post", webhook_path(hook), _body(), HTTP_HOST="evil.test")
    assert fast.status_code == 400
    _same(full, fast)


def test_production_https_settings(stacks, hook, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"
    full, fast = stacks("post", webhook_path(hook), _body())
    assert fast.status_code == 301  # plain HTTP is redirected, as everywhere else
    _same(full, fast)
    full, fast = stacks("post", webhook_path(hook), _body(), secure=True)
    assert fast.status_code == 200
    assert "preload" in fast["Strict-Transport-Security"]
    assert fast["X-Frame-Options"] == "SAMEORIGIN"
    _same(full, fast)


def test_a_crash_in_the_view_is_the_same_500(stacks, hook, monkeypatch):
    import webhooks.views

    def crash(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(webhooks.views, "webhook_ingest", crash)
    full, fast = stacks("post", webhook_path(hook), _body())
    assert fast.status_code == 500
    _same(full, fast)


def test_other_paths_take_the_whole_stack(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert response.wsgi_request.user == admin_user  # sessions and auth still run
