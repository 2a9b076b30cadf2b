import pytest

from signals.models import RejectedAttempts, Signal
from tests.webhooks.conftest import assert_schema, webhook_path

pytestmark = pytest.mark.django_db

TP = {"ticker": "AMD", "action": "buy"}


def _bodies(n):
    # Distinct bodies so the duplicate window does not answer instead of the limiter.
    return [TP | {"quantity": i + 1} for i in range(n)]


def test_per_minute_limit_answers_429_with_retry_after(make_webhook, send, settings):
    settings.WEBHOOK_RATE_PER_MINUTE = 3
    _, path = make_webhook()
    answers = [send(path, body) for body in _bodies(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    last = answers[-1]
    assert assert_schema(last)["messageCode"] == "too-many-requests"
    assert last.json()["message"] == "Too Many Requests"
    assert 1 <= int(last["Retry-After"]) <= 60
    assert not last.enqueued
    assert Signal.objects.filter(message_code="too-many-requests").count() == 1
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 3


def test_per_hour_limit(make_webhook, send, settings):
    settings.WEBHOOK_RATE_PER_HOUR = 2
    _, path = make_webhook()
    answers = [send(path, body) for body in _bodies(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[-1]["Retry-After"]) <= 3600


def test_plan_limit_overrides_the_default(make_webhook, send, settings, org):
    settings.WEBHOOK_RATE_PER_MINUTE = 100
    org.webhook_rate_per_minute = 1
    org.save()
    _, path = make_webhook()
    assert [send(path, b).status_code for b in _bodies(2)] == [200, 429]


def test_limits_are_per_webhook(make_webhook, send, settings):
    settings.WEBHOOK_RATE_PER_MINUTE = 1
    _, first = make_webhook()
    _, second = make_webhook()
    assert send(first, TP).status_code == 200
    assert send(first, TP | {"quantity": 2}).status_code == 429
    assert send(second, TP).status_code == 200


def test_failed_passwords_past_the_limit_are_shed_with_retry_after(make_webhook, send, settings):
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 3
    hook, path = make_webhook()
    _, other_path = make_webhook()
    wrong = webhook_path(hook, "guess")
    answers = [send(wrong, TP) for _ in range(5)]
    assert [a.json()["messageCode"] for a in answers] == ["invalid-password"] * 3 + [
        "too-many-requests"
    ] * 2
    assert all(1 <= int(a["Retry-After"]) <= 60 for a in answers[3:])
    assert assert_schema(answers[-1])["message"] == "Too Many Requests"
    # Only wrong passwords on that webhook are shed: not its right password, and nothing
    # on another webhook from the same address (docs/webhooks.md, test_abuse.py).
    assert send(path, TP).status_code == 200
    assert send(other_path, TP).status_code == 200


def test_failed_passwords_are_counted_per_webhook_across_ips(make_webhook, send, settings):
    settings.WEBHOOK_FAILED_PASSWORD_PER_MINUTE = 2
    hook, path = make_webhook()
    wrong = webhook_path(hook, "guess")
    for i in range(2):
        assert send(wrong, TP, ip=f"198.51.100.{i + 1}").json()["messageCode"] == "invalid-password"
    assert send(wrong, TP, ip="198.51.100.99").status_code == 429
    assert not Signal.objects.exists()  # counted, not logged one by one (test_abuse.py)
    shed = RejectedAttempts.objects.filter(webhook=hook, message_code="too-many-requests")
    assert sum(shed.values_list("count", flat=True)) == 1


def test_rate_limits_can_be_disabled(make_webhook, send, settings):
    settings.RATELIMIT_ENABLE = False
    settings.WEBHOOK_RATE_PER_MINUTE = 1
    _, path = make_webhook()
    assert [send(path, b).status_code for b in _bodies(3)] == [200, 200, 200]


def test_oversized_body_is_a_400_in_the_envelope(make_webhook, send, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    _, path = make_webhook()
    body = TP | {"extras": {"padding": "x" * 2000}}
    response = send(path, body)
    assert response.status_code == 400
    assert assert_schema(response)["messageCode"] == "invalid-payload"
    signal = Signal.objects.get()
    assert signal.status == Signal.Status.REJECTED and signal.raw_body == ""
    assert not response.enqueued


def test_body_at_the_limit_is_accepted(make_webhook, send, settings):
    _, path = make_webhook()
    text = '{"ticker": "AMD", "action": "buy"}'
    settings.WEBHOOK_MAX_BODY_BYTES = len(text)
    assert send(path, text).status_code == 200


def test_body_over_djangos_own_limit_never_500s(make_webhook, send, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 10 * 1024 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    _, path = make_webhook()
    response = send(path, TP | {"extras": {"padding": "x" * 5000}})
    assert response.status_code in (200, 400)
    assert response.json()["success"] is (response.status_code == 200)
