"""signals.queue writes process_signal messages itself (one LPUSH); these tests hold it to
what Celery's own apply_async sends, on the real Redis broker, so a Celery or kombu
upgrade that changes the envelope fails here. tests/e2e proves a real worker runs them."""

import base64
import json
import uuid

import pytest
import redis
from django.conf import settings

from config.celery import app as celery_app
from signals.queue import process_signal_publish
from signals.tasks import process_signal

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs the Redis broker")

PER_MESSAGE = ("id", "root_id", "argsrepr")


@pytest.fixture
def queue(monkeypatch):
    name = f"test-queue-{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(celery_app.conf, "task_always_eager", False)
    monkeypatch.setattr(celery_app.conf, "broker_url", settings.REDIS_URL)
    monkeypatch.setattr(celery_app.conf, "task_default_queue", name)
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client, name
    client.delete(name)


def _pop(client, name) -> dict:
    message = json.loads(client.rpop(name))
    message["body"] = json.loads(base64.b64decode(message["body"]))
    return message


def _without_ids(message: dict) -> dict:
    headers = {k: v for k, v in message["headers"].items() if k not in PER_MESSAGE}
    properties = dict(message["properties"])
    del properties["correlation_id"], properties["delivery_tag"]
    return message | {"headers": headers, "properties": properties, "body": None}


def test_the_message_is_the_one_celery_sends(queue):
    client, name = queue
    celery_id, our_id = str(uuid.uuid4()), str(uuid.uuid4())
    process_signal.apply_async(args=[celery_id])
    process_signal_publish(our_id)
    assert client.llen(name) == 2
    celery_message, ours = _pop(client, name), _pop(client, name)
    assert _without_ids(ours) == _without_ids(celery_message)
    assert ours["body"][0] == [our_id] and ours["body"][1:] == celery_message["body"][1:]
    headers = ours["headers"]
    assert headers["id"] == headers["root_id"] == ours["properties"]["correlation_id"]
    assert headers["argsrepr"] == repr((our_id,))
    assert ours["properties"]["delivery_tag"] != celery_message["properties"]["delivery_tag"]


def test_every_message_has_its_own_task_id(queue):
    client, name = queue
    process_signal_publish(str(uuid.uuid4()))
    process_signal_publish(str(uuid.uuid4()))
    first, second = _pop(client, name), _pop(client, name)
    assert first["headers"]["id"] != second["headers"]["id"]
