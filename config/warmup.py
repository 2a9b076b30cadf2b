"""A web worker's first-request work, done before it accepts any request.

gunicorn loads the WSGI application in each worker, but Django imports the URLconf (and
with it DRF, drf-spectacular and the admin), connects to PostgreSQL and Redis, compiles the
webhook's SQL and finalizes the Celery app only when the first requests need them: about
0.3 s of CPU, which the first webhook of every new or recycled worker used to wait for
(the 250-700 ms single-request stalls in docs/benchmarks.md, Ingestion).
``config/gunicorn.conf.py`` calls ``warm_up()`` from ``post_worker_init`` and then freezes
what is loaded by then out of the garbage collector's way (``gc.freeze()``).

Nothing here writes: the webhook lookup is for an id no webhook has. A step that fails (the
database is down while the worker starts) is logged and skipped; the worker still starts
and the request that needs the part does the work itself, as before.
"""

import logging
import uuid

logger = logging.getLogger(__name__)

NO_WEBHOOK = str(uuid.UUID(int=0))


def _urlconf() -> None:
    from django.urls import get_resolver

    get_resolver().resolve(f"/trading/webhook/{NO_WEBHOOK}/x")


def _database() -> None:
    from django.db import DEFAULT_DB_ALIAS

    from config.compiled import insert_statement
    from signals.models import Signal
    from webhooks.selectors import webhook_get_for_ingest

    webhook_get_for_ingest(webhook_id=NO_WEBHOOK)  # connects, compiles the lookup
    insert_statement(Signal, DEFAULT_DB_ALIAS)  # the signal log's INSERT


def _cache() -> None:
    from django.core.cache import cache

    cache.get("warm-up")


def _celery() -> None:
    from signals.queue import process_signal_message, publisher

    process_signal_message(NO_WEBHOOK, queue="warm-up")  # finalizes the Celery app
    client = publisher()
    if client is not None:
        client.ping()


STEPS = (_urlconf, _database, _cache, _celery)


def warm_up() -> list[str]:
    """Run every step; return the names of those that failed (each logged)."""
    failed = []
    for step in STEPS:
        try:
            step()
        except Exception as exc:  # a worker must start even when a dependency is down
            failed.append(step.__name__.lstrip("_"))
            logger.warning("worker warm-up: %s skipped (%s)", step.__name__, type(exc).__name__)
    if "database" in failed:
        from django.db import connection

        connection.close()
    return failed
