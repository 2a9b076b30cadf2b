import functools
import json
import threading
import time
import uuid

import pytest

from signals.models import Signal
from signals.services import body_digest, signal_duplicate_claim
from tests.webhooks.conftest import assert_schema, webhook_path
from webhooks.services import webhook_rotate_password

pytestmark = pytest.mark.django_db

TP = {"ticker": "AMD", "action": "buy", "price": 85.5}


def test_identical_body_within_the_window_is_a_duplicate(make_webhook, send):
    _, path = make_webhook()
    first = send(path, TP)
    second = send(path, TP)
    assert first.status_code == second.status_code == 200
    a, b = assert_schema(first), assert_schema(second)
    assert b["id"] == a["id"] and b["logId"] != a["logId"]
    assert b["payload"] == a["payload"]
    original = Signal.objects.get(status=Signal.Status.PENDING)
    duplicate = Signal.objects.get(status=Signal.Status.DUPLICATE)
    assert str(original.id) == a["id"] and str(duplicate.log_id) == b["logId"]
    assert duplicate.duplicate_of == original
    assert len(first.enqueued) == 1 and not second.enqueued


def test_a_different_body_is_not_a_duplicate(make_webhook, send):
    _, path = make_webhook()
    a = send(path, TP).json()
    b = send(path, TP | {"price": 85.6}).json()
    assert a["id"] != b["id"]
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 2


def test_same_body_on_another_webhook_is_not_a_duplicate(make_webhook, send):
    _, first = make_webhook()
    _, second = make_webhook()
    assert send(first, TP).json()["id"] != send(second, TP).json()["id"]
    assert not Signal.objects.filter(status=Signal.Status.DUPLICATE).exists()


def test_window_zero_turns_detection_off(make_webhook, send):
    _, path = make_webhook(duplicate_window_seconds=0)
    answers = [send(path, TP) for _ in range(2)]
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert all(len(a.enqueued) == 1 for a in answers)


def test_a_rejected_body_does_not_claim_the_window(make_webhook, send, org):
    hook, path = make_webhook(limit_to_tradingview=True)
    assert send(path, TP).status_code == 400
    hook.limit_to_tradingview = False
    hook.save()
    response = send(path, TP)
    assert response.status_code == 200 and len(response.enqueued) == 1


def test_claim_expires_with_the_window():
    digest = body_digest(b"x")
    first, later = uuid.uuid4(), uuid.uuid4()
    claim = functools.partial(signal_duplicate_claim, scope="s", body_hash=digest, window_seconds=1)
    assert claim(signal_id=first) is None
    assert claim(signal_id=uuid.uuid4()) == first
    time.sleep(1.2)
    assert claim(signal_id=later) is None


def test_concurrent_claims_have_exactly_one_winner():
    digest = body_digest(b"same body")
    results = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(
            signal_duplicate_claim(
                scope="race", body_hash=digest, window_seconds=20, signal_id=uuid.uuid4()
            )
        )

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(None) == 1
    assert len({r for r in results if r is not None}) == 1


def test_rotation_makes_the_old_url_invalid(make_webhook, send):
    hook, old_path = make_webhook()
    new_password = webhook_rotate_password(webhook=hook)
    old = send(old_path, TP)
    assert old.json()["messageCode"] == "invalid-password" and not old.enqueued
    new = send(webhook_path(hook, new_password), TP)
    assert new.status_code == 200
    assert Signal.objects.get(status=Signal.Status.PENDING).webhook_id == hook.id


def test_password_is_not_stored_in_plaintext(make_webhook):
    hook, path = make_webhook()
    password = path.rsplit("/", 1)[1]
    hook.refresh_from_db()
    stored = json.dumps([hook.password_digest, hook.password_encrypted])
    assert password not in stored
