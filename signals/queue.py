"""Publishing ``signals.process_signal`` from a webhook request without Celery's publish
machinery.

Celery's ``delay()`` costs about 0.5 ms of CPU per message here (message building, publish
signals, kombu's producer and a new Redis client object per message), a fifth of an
accepted webhook request. With a Redis broker a Celery message is one LPUSH of a JSON
envelope onto the list named after the queue, so this module writes the same envelope
(task protocol 2, the task's own time limits and options) with one Redis client per
process. A real Celery worker consumes it like any other; tests/signals/test_queue.py
compares it field by field with what ``apply_async`` sends, so an upgrade that changes
the envelope fails a test instead of silently losing signals.

Eager mode and non-Redis brokers (tests, local runs) go through ``delay()`` unchanged.
"""

import base64
import functools
import json
import os
import uuid

import redis
from celery.utils.nodenames import anon_nodename
from redis.backoff import NoBackoff
from redis.retry import Retry

from config.celery import app as celery_app
from signals.tasks import process_signal

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


def process_signal_publish(signal_id: str) -> None:
    """Queue process_signal(signal_id); raises on any broker error (the caller logs it
    and leaves the signal to the sweep)."""
    client = publisher()
    if client is None:
        process_signal.delay(signal_id)
        return
    queue = celery_app.conf.task_default_queue
    client.lpush(queue, process_signal_message(signal_id, queue=queue))


def publisher() -> redis.Redis | None:
    """The Redis client this process publishes with; None when Celery publishes itself
    (eager mode, a non-Redis broker)."""
    conf = celery_app.conf
    if conf.task_always_eager:
        return None
    return _publisher(conf.broker_url, conf.broker_connection_timeout)


@functools.lru_cache(maxsize=4)
def _publisher(url, timeout: float) -> redis.Redis | None:
    if not str(url).startswith(("redis://", "rediss://")):
        return None
    return _client(url, timeout)


@functools.lru_cache(maxsize=4)
def _client(url: str, timeout: float) -> redis.Redis:
    # One retry on a dropped pooled connection (Redis restarted), no backoff: a publish
    # must fail fast when Redis is down so the request still answers (the sweep retries).
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


def process_signal_message(signal_id: str, *, queue: str) -> bytes:
    """The JSON envelope kombu's Redis transport would LPUSH for process_signal.delay().

    What is the same for every message of this process (the task's name, time limits and
    options, the origin node) is built once; per message only the ids, the argument and
    the reply-to of the publishing thread are filled in (about 0.05 ms of CPU less per
    webhook than building it all, with the Celery config lookups it needs)."""
    static = _envelope(queue, os.getpid())
    task_id = str(uuid.uuid4())
    body = json.dumps([[signal_id], {}, _EMBED]).encode()
    headers = static["headers"] | {"id": task_id, "root_id": task_id}
    headers["argsrepr"] = repr((signal_id,))
    properties = static["properties"] | {
        "correlation_id": task_id,
        "reply_to": celery_app.thread_oid,
        "delivery_tag": str(uuid.uuid4()),
    }
    message = static | {"body": base64.b64encode(body).decode()}
    message["headers"], message["properties"] = headers, properties
    return json.dumps(message).encode()


@functools.lru_cache(maxsize=8)
def _envelope(queue: str, pid: int) -> dict:
    # Keyed by pid: the origin names the process (gunicorn forks its workers).
    task = process_signal
    headers = {
        "lang": "py",
        "task": task.name,
        "id": None,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [
            task.time_limit or celery_app.conf.task_time_limit,
            task.soft_time_limit or celery_app.conf.task_soft_time_limit,
        ],
        "root_id": None,
        "parent_id": None,
        "argsrepr": None,
        "kwargsrepr": "{}",
        "origin": anon_nodename(),
        "ignore_result": bool(task.ignore_result),
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    return {
        "body": None,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": headers,
        "properties": {
            "correlation_id": None,
            "reply_to": None,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": None,
        },
    }
