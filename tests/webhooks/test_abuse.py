"""Abuse of a webhook (wrong passwords, floods) cannot hurt another tenant, cannot lock
the owner out, and costs bounded storage (docs/webhooks.md, "Failed attempts").

Webhook passwords are 128-bit random secrets: guessing one is hopeless, so failed
attempts are a load problem, not a secrecy problem. They are shed cheaply and counted,
but never change the answer a request with the right password gets, and never the
answers of another webhook. Every test here runs on both cache paths of
webhooks.admission: local memory (the embedded default) and Redis (production)."""

import json
import threading
import urllib.error
import urllib.request
import uuid

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from signals.models import Signal
from tests.factories import MembershipFactory, OrganizationFactory
from tests.webhooks.conftest import webhook_path

pytestmark = pytest.mark.django_db

TRADINGVIEW_IP = "52.89.214.238"  # shared by every TradingView user
TP = {"ticker": "AMD", "action": "buy"}


@pytest.fixture(params=["locmem", "redis"])
def cache_backend(request, settings):
    """The default cache as local memory or as Redis (the run's own Redis when it has
    one, else a throwaway server), with the limits on."""
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    if request.param == "locmem":
        conf = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": prefix}
    else:
        url = settings.REDIS_URL or request.getfixturevalue("throwaway_redis")[1]
        conf = {"BACKEND": "config.cache.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    settings.CACHES = {"default": conf}
    settings.RATELIMIT_ENABLE = True
    return request.param


def _genuine(i: int) -> dict:
    # Distinct bodies, so the duplicate window does not answer instead of the checks.
    return TP | {"quantity": i + 1}


def _codes(responses) -> list:
    return [r.status_code if r.status_code == 200 else r.json()["messageCode"] for r in responses]


def _tenant_a_scenario(send, path, wrong):
    """Tenant A's genuine alert, one mistyped URL, another genuine alert, all from
    TradingView's address."""
    return _codes(
        [
            send(path, _genuine(0), ip=TRADINGVIEW_IP),
            send(wrong, _genuine(1), ip=TRADINGVIEW_IP),
            send(path, _genuine(2), ip=TRADINGVIEW_IP),
        ]
    )


def test_another_tenants_wrong_passwords_from_tradingview_change_nothing(
    cache_backend, make_webhook, send, settings
):
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 10
    hook_a, path_a = make_webhook()
    baseline_hook, baseline_path = make_webhook()
    baseline = _tenant_a_scenario(send, baseline_path, webhook_path(baseline_hook, "typo"))
    assert baseline == [200, "invalid-password", 200]

    tenant_b = OrganizationFactory()
    hook_b, _ = make_webhook(organization=tenant_b)
    flood = [send(webhook_path(hook_b, f"guess-{i}"), TP, ip=TRADINGVIEW_IP) for i in range(25)]
    assert {r.status_code for r in flood} == {400, 429}  # B's own webhook sheds B's flood

    assert _tenant_a_scenario(send, path_a, webhook_path(hook_a, "typo")) == baseline


def test_a_flood_of_wrong_passwords_never_refuses_the_owner(
    cache_backend, make_webhook, send, settings
):
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 10
    hook, path = make_webhook()
    genuine, failed = [], []
    for attempt in range(200):
        # The attacker needs only the uuid, which is not secret; it may come from any
        # address, including the one the owner's alerts come from.
        ip = TRADINGVIEW_IP if attempt % 2 else f"198.51.100.{attempt % 50 + 1}"
        failed.append(send(webhook_path(hook, f"guess-{attempt}"), TP, ip=ip))
        if attempt % 5 == 0:
            genuine.append(send(path, _genuine(len(genuine)), ip=TRADINGVIEW_IP))
    assert len(genuine) == 40
    assert [r.status_code for r in genuine] == [200] * 40
    assert all(r.enqueued for r in genuine)
    assert _codes(failed) == ["invalid-password"] * 10 + ["too-many-requests"] * 190
    assert all(1 <= int(r["Retry-After"]) <= 60 for r in failed[10:])
    assert not any(r.enqueued for r in failed)


def test_the_right_password_gets_through_a_locked_webhook_from_any_address(
    cache_backend, make_webhook, send, settings
):
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 2
    hook, path = make_webhook()
    for ip in ("198.51.100.1", "198.51.100.2", "198.51.100.3"):
        send(webhook_path(hook, "guess"), TP, ip=ip)
    assert send(webhook_path(hook, "guess"), TP).status_code == 429
    assert send(path, _genuine(0), ip="198.51.100.1").status_code == 200
    assert send(path, _genuine(1)).status_code == 200


def test_one_address_failing_on_one_webhook_leaves_its_other_webhooks_alone(
    cache_backend, make_webhook, send, settings
):
    # A sender of several tenants' alerts (TradingView) mistyping one URL many times.
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 3
    hook, _ = make_webhook()
    other, other_path = make_webhook()
    for _ in range(6):
        send(webhook_path(hook, "stale"), TP, ip=TRADINGVIEW_IP)
    assert send(other_path, TP, ip=TRADINGVIEW_IP).status_code == 200
    wrong_other = send(webhook_path(other, "stale"), TP, ip=TRADINGVIEW_IP)
    assert wrong_other.json()["messageCode"] == "invalid-password"


def _stored_characters() -> int:
    from signals.models import RejectedAttempts

    signal_chars = sum(len(s.raw_body) + len(s.message) for s in Signal.objects.all())
    sample_chars = sum(
        len(r.sample_body) + len(r.sample_ips) for r in RejectedAttempts.objects.all()
    )
    return signal_chars + sample_chars


def test_a_flood_costs_bounded_storage_and_the_owner_sees_its_count(
    cache_backend, make_webhook, send, settings, org
):
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 10
    hook, _ = make_webhook()
    big = TP | {"padding": "x" * 60_000}
    for attempt in range(200):
        ip = f"198.51.100.{attempt % 20 + 1}"
        send(webhook_path(hook, f"guess-{attempt}"), big, ip=ip)
    for method in ("get", "put"):  # another method with a wrong password counts alike
        send(webhook_path(hook, "guess"), TP, method=method)
    assert not Signal.objects.exists()

    from signals.models import RejectedAttempts

    rows = RejectedAttempts.objects.filter(webhook=hook)
    # One row per code per minute (the flood may straddle a minute boundary).
    codes = {"invalid-password", "too-many-requests", "post-required"}
    assert set(rows.values_list("message_code", flat=True)) == codes
    assert rows.count() <= 2 * len(codes)
    assert _stored_characters() <= 2 * len(codes) * (1024 + 5 * 46)

    owner = MembershipFactory(organization=org).user
    api = APIClient()
    api.force_login(owner)
    listed = api.get(f"/api/v1/webhooks/{hook.id}/rejected-attempts/").json()["results"]
    by_code = {}
    for row in listed:
        by_code[row["messageCode"]] = by_code.get(row["messageCode"], 0) + row["count"]
    assert by_code == {"invalid-password": 10, "too-many-requests": 190, "post-required": 2}
    assert all(len(row["sourceIps"]) <= 5 for row in listed)
    assert all(len(row["sampleBody"]) <= 1024 for row in listed)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers")
def test_concurrent_failures_lose_no_count_and_keep_the_sample_bounded(make_webhook):
    # The minute's first requests race to create its row (one INSERT wins, the others
    # UPDATE it) and then all UPDATE it at once: every one must be counted.
    from signals.models import RejectedAttempts
    from signals.services import rejected_attempt_count

    hook, _ = make_webhook()
    barrier = threading.Barrier(8)
    errors = []

    def attempts(thread: int):
        try:
            barrier.wait()
            for i in range(10):
                rejected_attempt_count(
                    webhook=hook,
                    message_code="invalid-password",
                    source_ip=f"198.51.100.{thread * 10 + i}",
                    raw_body=b"{}",
                    content_type="text/plain",
                )
        except Exception as exc:  # reported below: a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempts, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = RejectedAttempts.objects.filter(webhook=hook)
    assert sum(r.count for r in rows) == 80
    for row in rows:
        assert row.sample_ip_count == len(row.source_ips) == len(set(row.source_ips)) <= 5


def _post(url: str, body: bytes) -> tuple[int, dict, str | None]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "text/plain"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("Retry-After")


@pytest.mark.django_db(transaction=True)
def test_the_production_server_keeps_tenants_and_owners_apart(production_server, make_webhook):
    # Every request comes from 127.0.0.1 here: one source address shared by every
    # tenant, as TradingView's are.
    from signals.models import RejectedAttempts

    hook_a, path_a = make_webhook(duplicate_window_seconds=0)
    hook_b, _ = make_webhook(organization=OrganizationFactory())
    base = production_server
    padding = json.dumps(TP | {"padding": "x" * 60_000}).encode()
    flood_b = [_post(base + webhook_path(hook_b, f"g{i}"), padding) for i in range(30)]
    assert [status for status, *_ in flood_b] == [400] * 10 + [429] * 20
    assert all(retry and 1 <= int(retry) <= 60 for *_, retry in flood_b[10:])

    genuine, flood_a = [], []
    for i in range(200):
        flood_a.append(_post(base + webhook_path(hook_a, f"g{i}"), padding)[0])
        if i % 5 == 0:
            genuine.append(_post(base + path_a, json.dumps(_genuine(i)).encode())[0])
    assert genuine == [200] * 40
    assert flood_a == [400] * 10 + [429] * 190

    assert Signal.objects.filter(webhook=hook_a).count() == 40
    assert not Signal.objects.filter(webhook=hook_b).exists()
    rows = RejectedAttempts.objects.all()
    assert sum(r.count for r in rows) == 230
    assert rows.count() <= 8  # two webhooks x two codes, x2 across a minute boundary
    assert sum(len(r.sample_body) + len(r.sample_ips) for r in rows) <= 8 * (1024 + 5 * 46)
