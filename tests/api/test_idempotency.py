"""An Idempotency-Key header (or the body's clientSignalId) makes a repeat return the first
answer and never a second signal or order, even when the repeats race."""

import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from signals.models import Signal
from tests.api.conftest import INGEST
from tests.api.test_utm_ingest import body_for, post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("via", ["header", "body"])
def test_repeat_returns_the_first_answer(
    raw_key, paper_account, via, django_capture_on_commit_callbacks
):
    body = body_for(paper_account)
    headers = {}
    if via == "header":
        headers["HTTP_IDEMPOTENCY_KEY"] = "order-42"
    else:
        body["clientSignalId"] = "order-42"
    with django_capture_on_commit_callbacks() as callbacks:
        first = post(raw_key, body, **headers)
        second = post(raw_key, body, **headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    accepted = Signal.objects.get(status=Signal.Status.PENDING)
    assert str(accepted.id) == first.json()["signalId"]
    assert accepted.idempotency_key == "order-42"
    repeat = Signal.objects.get(status=Signal.Status.DUPLICATE)
    assert repeat.duplicate_of == accepted and repeat.idempotency_key is None
    assert len(callbacks) == 1  # only the first is ever processed


def test_header_wins_over_the_body_field(raw_key, paper_account):
    body = body_for(paper_account, clientSignalId="from-body")
    post(raw_key, body, HTTP_IDEMPOTENCY_KEY="from-header")
    assert Signal.objects.get().idempotency_key == "from-header"


def test_without_a_key_repeats_are_separate_signals(raw_key, paper_account):
    ids = {post(raw_key, body_for(paper_account)).json()["signalId"] for _ in range(2)}
    assert len(ids) == 2


def test_same_key_from_another_api_key_is_a_different_signal(make_key, paper_account):
    _, first_raw = make_key(name="one")
    _, second_raw = make_key(name="two")
    a = post(first_raw, body_for(paper_account), HTTP_IDEMPOTENCY_KEY="k1").json()
    b = post(second_raw, body_for(paper_account), HTTP_IDEMPOTENCY_KEY="k1").json()
    assert a["signalId"] != b["signalId"]
    assert Signal.objects.filter(status=Signal.Status.PENDING).count() == 2


def test_rejected_request_does_not_take_the_key(raw_key, paper_account):
    bad = post(raw_key, {"symbol": "AAPL"}, HTTP_IDEMPOTENCY_KEY="k1")
    assert bad.status_code == 400
    good = post(raw_key, body_for(paper_account), HTTP_IDEMPOTENCY_KEY="k1")
    assert good.status_code == 200
    assert Signal.objects.get(status=Signal.Status.PENDING).idempotency_key == "k1"


@pytest.mark.parametrize("value", ["", "   ", "x" * 201])
def test_bad_idempotency_header_is_a_validation_error(raw_key, paper_account, value):
    response = post(raw_key, body_for(paper_account), HTTP_IDEMPOTENCY_KEY=value)
    assert response.status_code == 400
    assert response.json()["details"][0]["field"] == "Idempotency-Key"
    assert not Signal.objects.filter(status=Signal.Status.PENDING).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_make_one_signal(raw_key, paper_account):
    body = json.dumps(body_for(paper_account))
    answers, barrier = [], threading.Barrier(8)

    def send():
        barrier.wait()
        try:
            response = APIClient().post(
                INGEST,
                data=body,
                content_type="application/json",
                HTTP_X_API_KEY=raw_key,
                HTTP_IDEMPOTENCY_KEY="race-1",
            )
            answers.append((response.status_code, response.json()["signalId"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8
    assert {status for status, _ in answers} == {200}
    assert len({signal_id for _, signal_id in answers}) == 1
    assert Signal.objects.filter(idempotency_key="race-1").count() == 1
    assert Signal.objects.filter(status=Signal.Status.DUPLICATE).count() == 7
