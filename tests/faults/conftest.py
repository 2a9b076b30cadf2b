"""Fault injection with the real services: PostgreSQL sessions terminated, Redis stopped
and restarted, worker processes SIGKILLed, while signals go through the production web
server (gunicorn) and a real Celery worker. Every test ends with every accepted signal
processed once: none lost, no duplicate order, none FAILED, the paper positions what the
signals imply. Marked e2e (REDIS_URL and DATABASE_URL needed); bounded in count and time.

The worker and the server are the e2e and webhook tests' own fixtures and helpers."""

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal as D

import psycopg
import pytest
import redis
from django.db import connection
from django.utils import timezone

from brokers.models import Order, PaperOrder, Position
from signals.models import Signal, SignalResult
from signals.pipeline import signal_sweep
from signals.queue import process_signal_message
from tests.e2e.conftest import celery_worker_process, wait_for, worker  # noqa: F401
from tests.webhooks.conftest import database_url, instruments  # noqa: F401

__all__ = ["Burst", "SessionKiller", "assert_processed_once", "sweep_into", "wait_for"]


class SessionKiller(threading.Thread):
    """Terminates every client session on the test database but the test's own, every
    ``period`` seconds, until stopped: what a PostgreSQL restart or a failover does to the
    web server and the worker. Only ever this test database (``current_database()``)."""

    def __init__(self, period: float):
        super().__init__(daemon=True)
        self.period, self.kills, self.rounds = period, 0, 0
        self._halt = threading.Event()
        connection.ensure_connection()
        self._spare = connection.connection.info.backend_pid  # the test's own session

    def run(self) -> None:
        with psycopg.connect(database_url(), autocommit=True) as killer:
            while not self._halt.wait(self.period):
                rows = killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND pid <> %s AND backend_type = 'client backend'",
                    [self._spare],
                ).fetchall()
                self.kills += len(rows)
                self.rounds += 1

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


@dataclass
class Burst:
    """Signals sent one after the other to one server, each resent on a 5xx or no answer
    the way TradingView does (up to 3 more times); what came back."""

    base: str
    timeout: float = 5  # per request
    budget: float = 60  # for the whole burst: past it nothing more is sent (bounded test)
    accepted: list = field(default_factory=list)  # signal ids of the 200s
    server_errors: int = 0  # 5xx answers (each one resent)
    no_answer: int = 0
    other: list = field(default_factory=list)  # anything else: (status, body)

    def __post_init__(self):
        self._deadline = time.monotonic() + self.budget

    def send(self, path: str, body: dict) -> None:
        data = json.dumps(body).encode()
        for _ in range(4):
            if time.monotonic() > self._deadline:
                self.other.append(("over budget", body))
                return
            status, answer = self._post(path, data)
            if status == 200:
                self.accepted.append(answer["id"])
                return
            if status is None:
                self.no_answer += 1
            elif status >= 500:
                self.server_errors += 1
            else:
                self.other.append((status, answer))
                return
            time.sleep(0.2)
        self.other.append(("gave up", body))

    def _post(self, path: str, data: bytes):
        request = urllib.request.Request(
            self.base + path, data=data, headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError):
            return None, None

    def figures(self) -> str:
        return (
            f"sent {len(self.accepted) + len(self.other)}, accepted {len(self.accepted)}, "
            f"5xx {self.server_errors} (resent), no answer {self.no_answer}"
        )


def sweep_into(redis_url: str, queue: str, *, after_seconds: float) -> int:
    """What beat's sweep does (signals.tasks.sweep_pending), as if ``after_seconds`` had
    passed: the signals it would find enqueued again on ``queue`` at ``redis_url`` (the
    broker the worker under test consumes, which may not be this process's)."""
    ids = signal_sweep(now=timezone.now() + timedelta(seconds=after_seconds))
    client = redis.Redis.from_url(redis_url)
    for signal_id in ids:
        client.lpush(queue, process_signal_message(str(signal_id), queue=queue))
    return len(ids)


def expected_positions(accepted: list) -> dict:
    """(account id, ticker) -> the position the accepted signals imply, replayed in their
    arrival order against each subscription (adding allowed; the signal's quantity, else
    the subscription's fixed quantity): ``buy q`` adds q, ``exit`` closes."""
    positions: dict = {}
    signals = Signal.objects.filter(pk__in=accepted).select_related("strategy")
    for signal in signals.order_by("received_at", "id"):
        for sub in signal.strategy.subscriptions.filter(enabled=True):
            key = (sub.account_id, signal.ticker)
            if signal.action == "buy":
                quantity = D(str(signal.intent.get("quantity") or sub.sizing_value))
                positions[key] = positions.get(key, D(0)) + quantity
            elif signal.action == "exit":
                positions[key] = D(0)
    return positions


def figures(accepted: list) -> dict:
    """What became of the accepted signals."""
    rows = Signal.objects.filter(pk__in=accepted)
    client_ids = list(PaperOrder.objects.values_list("client_order_id", flat=True))
    return {
        "accepted": len(set(accepted)),
        "completed": rows.filter(status=Signal.Status.COMPLETED).count(),
        "failed": rows.filter(status=Signal.Status.FAILED).count(),
        "lost": len(set(accepted)) - rows.count(),
        "duplicate_orders": len(client_ids) - len(set(client_ids)),
    }


def all_done(accepted: list) -> bool:
    finished = Signal.objects.filter(pk__in=accepted).exclude(
        status__in=[Signal.Status.PENDING, Signal.Status.PROCESSING]
    )
    return finished.count() == len(set(accepted))


def assert_processed_once(accepted: list) -> dict:
    """Every accepted signal COMPLETED, once; no order twice, every order filled, no
    result failed; every paper position what the signals imply. Returns the figures."""
    found = figures(accepted)
    assert found["lost"] == 0, found
    assert found["failed"] == 0, list(
        Signal.objects.filter(pk__in=accepted, status=Signal.Status.FAILED).values_list(
            "error", flat=True
        )[:5]
    )
    assert found["completed"] == found["accepted"], found
    assert found["duplicate_orders"] == 0, found
    orders = Order.objects.filter(signal__in=accepted, parent__isnull=True)
    assert orders.count() == PaperOrder.objects.filter(parent__isnull=True).count()
    assert set(orders.values_list("status", flat=True)) <= {Order.Status.FILLED}
    assert not SignalResult.objects.filter(status=SignalResult.Status.FAILED).exists()
    held = {(p.account_id, p.symbol): p.quantity for p in Position.objects.all()}
    for key, quantity in expected_positions(accepted).items():
        assert held.get(key, D(0)) == quantity, (key, held.get(key), quantity)
    return found


@pytest.fixture
def real_services():
    """Skip without the real services (the tests that run a worker of their own)."""
    from django.conf import settings

    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("fault tests need REDIS_URL and DATABASE_URL (PostgreSQL)")


@pytest.fixture
def busy_org(org):
    """The organization, with rate limits far above what a burst sends."""
    org.webhook_rate_per_minute = org.webhook_rate_per_hour = 100_000
    org.save(update_fields=["webhook_rate_per_minute", "webhook_rate_per_hour"])
    return org


def rescue_until_done(accepted: list, *, redis_url: str, queue: str, timeout: float = 60):
    """Wait for every accepted signal to finish, running the sweep every few seconds as
    beat would once its delays had passed (PENDING ones first; PROCESSING ones too when
    nothing moved for a while: their worker or their message was lost)."""
    from django.conf import settings

    pending_after = settings.SIGNAL_SWEEP_PENDING_SECONDS + 1
    stuck_after = settings.CELERY_TASK_TIME_LIMIT + 31
    deadline, swept, started = time.monotonic() + timeout, 0, time.monotonic()
    while not all_done(accepted):
        assert time.monotonic() < deadline, figures(accepted)
        time.sleep(2)
        late = time.monotonic() - started > 10
        swept += sweep_into(redis_url, queue, after_seconds=stuck_after if late else pending_after)
    return swept
