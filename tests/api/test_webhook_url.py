"""The webhook URL the API returns: PUBLIC_BASE_URL when it is configured, else the
request's own scheme and host (so `make run PORT=8101` hands out :8101 URLs, and a server
behind the TLS proxy https ones); the demo command prints what `make run` tells it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.factories import StrategyFactory
from webhooks.services import webhook_create, webhook_password

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(owner):
    client = APIClient()
    client.force_login(owner)
    return client


@pytest.fixture
def webhook(org):
    return webhook_create(organization=org, strategy=StrategyFactory(organization=org), name="h")


def _urls(api, webhook, **request) -> list[str]:
    listed = api.get("/api/v1/webhooks/", **request).json()["results"][0]["url"]
    shown = api.get(f"/api/v1/webhooks/{webhook.id}/", **request).json()["url"]
    fresh = api.post(f"/api/v1/webhooks/{webhook.id}/regenerate/", **request).json()["url"]
    return [listed, shown, fresh]


@pytest.mark.parametrize(
    "public, request_kwargs, base",
    [
        ("", {"HTTP_HOST": "127.0.0.1:8101"}, "http://127.0.0.1:8101"),
        ("", {"HTTP_HOST": "relay.example.com", "secure": True}, "https://relay.example.com"),
        ("https://hooks.example.com/", {"HTTP_HOST": "127.0.0.1:8101"}, "https://hooks.example.com"),
    ],
    ids=["make-run-port", "behind-tls", "configured-wins"],
)  # fmt: skip
def test_the_api_returns_urls_on_the_right_base(
    api, webhook, settings, public, request_kwargs, base
):
    settings.PUBLIC_BASE_URL = public
    listed, shown, fresh = _urls(api, webhook, **request_kwargs)
    webhook.refresh_from_db()
    assert listed == shown == f"{base}/trading/webhook/{webhook.id}/" + listed.rsplit("/", 1)[1]
    assert fresh == f"{base}/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"


def test_public_base_url_is_not_configured_by_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_BASE_URL"}
    code = "import django; django.setup(); from django.conf import settings as s; print(repr(s.PUBLIC_BASE_URL))"  # noqa: E501
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "''"


@pytest.mark.parametrize("target", ["run", "demo"])
def test_make_run_tells_the_demo_and_the_server_its_address(target):
    result = subprocess.run(
        ["make", "-n", target, "HOST=127.0.0.2", "PORT=8101"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "manage.py demo --base-url http://127.0.0.2:8101" in result.stdout
    if target == "run":
        assert "manage.py runserver 127.0.0.2:8101" in result.stdout
