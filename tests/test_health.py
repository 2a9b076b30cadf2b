"""GET /healthz: 200 with database and Redis status, 503 naming the part that is down,
never a 500, and reachable by probes whatever Host header they send."""

import json
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.servers import run_with_database_down

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent


def _stop(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], capture_output=True)
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    for _ in range(50):
        try:
            client.ping()
            time.sleep(0.1)
        except redis.ConnectionError:
            return


def test_ok_when_database_and_redis_answer(client, settings, throwaway_redis):
    _, url = throwaway_redis
    settings.REDIS_URL = url
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "failed": [], "database": "ok", "redis": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_503_naming_redis_when_redis_is_stopped(client, settings, throwaway_redis):
    port, url = throwaway_redis
    settings.REDIS_URL = url
    assert client.get("/healthz").status_code == 200
    _stop(port)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["failed"] == ["redis"]
    assert body["redis"].startswith("error")
    assert body["database"] == "ok"
    assert "redis" in response.text


def test_redis_not_configured_is_not_a_failure(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["redis"] == "not configured"


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "not-a-url", "redis://[::1"])
def test_bad_or_unreachable_redis_is_a_503_never_a_500(client, settings, url):
    settings.REDIS_URL = url
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["redis"]


def test_database_down_is_named_and_never_a_500(tmp_path):
    # A real unreachable PostgreSQL (a closed port), in a process of its own so this test's
    # database connection is untouched.
    code = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(json.dumps({'status': r.status_code, 'body': r.json()}))"
    )
    result = run_with_database_down(code)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["status"] == 503
    assert answer["body"]["failed"] == ["database"]
    assert answer["body"]["database"].startswith("error")


def test_head_is_answered_and_post_is_not(client):
    assert client.head("/healthz").status_code in (200, 503)
    assert client.post("/healthz").status_code == 405


def test_probe_with_an_unlisted_host_still_gets_an_answer(client, settings):
    settings.ALLOWED_HOSTS = ["example.com"]
    response = client.get("/healthz", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code in (200, 503)
    assert "database" in response.json()
    assert client.get("/admin/login/", HTTP_HOST="10.1.2.3:8000").status_code == 400
