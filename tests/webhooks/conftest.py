import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import pytest
import redis
from django.conf import settings

from tests.factories import InstrumentFactory, StrategyFactory
from tests.servers import free_port
from webhooks.services import webhook_create, webhook_password

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
SCHEMAS = json.loads((Path(__file__).parent / "schemas" / "traderspost.json").read_text())
CLIENT_IP = "203.0.113.7"

# The few instruments these tests need (the full fixture is tested in test_instruments).
INSTRUMENTS = [
    ("AMD", "stock"),
    ("SQ", "stock"),
    ("TSLA", "stock"),
    ("AAPL", "stock"),
    ("SPY", "stock"),
    ("NQ", "future"),
    ("ES", "future"),
    ("MNQ", "future"),
    ("BTCUSD", "crypto"),
]


@pytest.fixture
def instruments(db):
    return [InstrumentFactory(symbol=s, asset_class=c) for s, c in INSTRUMENTS]


@pytest.fixture
def make_webhook(org, instruments):
    """A webhook of ``org`` with the given settings, and its full URL path."""

    def make(organization=None, **settings_fields):
        organization = organization or org
        strategy = StrategyFactory(organization=organization)
        webhook = webhook_create(
            organization=organization, strategy=strategy, name="hook", **settings_fields
        )
        return webhook, webhook_path(webhook)

    return make


def webhook_path(webhook, password=None):
    password = webhook_password(webhook=webhook) if password is None else password
    return f"/trading/webhook/{webhook.id}/{password}"


@pytest.fixture
def webhook(make_webhook):
    return make_webhook()


@pytest.fixture
def send(client, django_capture_on_commit_callbacks):
    """POST ``body`` (dict -> JSON text, str/bytes as is) the way TradingView does: as
    text/plain unless told otherwise, from CLIENT_IP unless told otherwise.

    The after-commit callbacks (the enqueue of process_signal) are captured, not run, and
    attached as ``response.enqueued``: these tests are about ingestion, not processing."""

    def post(path, body, *, content_type="text/plain", ip=CLIENT_IP, method="post", **extra):
        data = json.dumps(body) if isinstance(body, dict | list) else body
        if method == "get":  # a GET carries its body nowhere the test client can put it
            extra["QUERY_STRING"] = "x=1"
            data = None
        with django_capture_on_commit_callbacks() as callbacks:
            response = getattr(client, method)(
                path, data=data, content_type=content_type, REMOTE_ADDR=ip, **extra
            )
        response.enqueued = callbacks
        return response

    return post


def assert_schema(response):
    """The answer matches the spec's response schema for its status."""
    body = response.json()
    if response.status_code == 200:
        jsonschema.validate(body, SCHEMAS["200"])
    elif response.status_code == 404:
        jsonschema.validate(body, SCHEMAS["404"])
    else:
        schema = json.loads(json.dumps(SCHEMAS["400"]))
        # Our documented extensions of the spec's list (docs/webhooks.md).
        schema["properties"]["messageCode"]["enum"] += [
            "too-many-requests",
            "webhook-disabled",
            "organization-suspended",
        ]
        jsonschema.validate(body, schema)
    return body


def database_url() -> str:
    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_production_server(*, stdout, stderr, **env_extra) -> tuple[subprocess.Popen, str]:
    """gunicorn with config/gunicorn.conf.py (one worker) on the test database and Redis,
    answering /healthz; the process and its base URL. ``env_extra`` overrides the
    environment (queue, log destinations, timeouts)."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CONN_MAX_AGE": "600",
        "CONN_HEALTH_CHECKS": "true",
        "DEBUG": "false",
        "WEB_CONCURRENCY": "1",
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "GUNICORN_ACCESS_LOG": "",
        # Its own rate-limit and lockout counters: a test sending wrong passwords from
        # 127.0.0.1 must not lock the next test's server out.
        "CACHE_KEY_PREFIX": f"test-server-{uuid.uuid4().hex[:8]}",
        **env_extra,
    }
    command = [str(GUNICORN), "config.wsgi", "-c", "config/gunicorn.conf.py"]
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(proc, base)
    return proc, base


def wait_until_serving(proc: subprocess.Popen, base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2)
            return
        except (urllib.error.URLError, OSError):
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("no server") from None
            time.sleep(0.2)


def requires_production_stack() -> None:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the production server runs on PostgreSQL (DATABASE_URL)")
    if not settings.REDIS_URL:
        pytest.skip("the server publishes to Redis (REDIS_URL)")


@pytest.fixture
def production_server():
    """The production web server (gunicorn with config/gunicorn.conf.py, one worker) on
    the test database and Redis; its base URL. Tests using it need
    ``django_db(transaction=True)`` so the server sees what they create."""
    queue = f"test-server-{uuid.uuid4().hex[:8]}"
    try:
        with production_server_running(queue=queue) as base:
            yield base
    finally:
        if settings.REDIS_URL:
            redis.Redis.from_url(settings.REDIS_URL).delete(queue)


@contextlib.contextmanager
def production_server_running(*, queue: str, redis_url: str | None = None, **env):
    """production_server's server, publishing to ``queue`` on ``redis_url`` (the test's
    Redis by default; also its cache), ``env`` added to its environment; yields its base
    URL. Its stderr goes to a file, not a pipe: a server logging a lot under faults must
    never block on a full pipe. Checks on the way out that it logged no traceback."""
    requires_production_stack()
    with tempfile.TemporaryFile() as errors:
        proc, base = start_production_server(
            stdout=subprocess.DEVNULL,
            stderr=errors,
            CELERY_QUEUE=queue,
            REDIS_URL=redis_url or settings.REDIS_URL,
            **env,
        )
        try:
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        errors.seek(0)
        logged = errors.read()
    assert b"Traceback" not in logged, logged.decode()[-3000:]
