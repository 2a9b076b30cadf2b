"""UTM ingestion benchmark: POST /api/v1/signals/ingest through the whole Django stack
(middleware, view, PostgreSQL, publishing the Celery task to Redis), in one process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tr_bench_utm \\
    REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/utm_ingest.py [--requests 1000]

It creates a throwaway test database of its own (test_<name of DATABASE_URL's database>,
dropped at the end), one tenant with a paper account and a key, then sends, one after the
other: accepted signals (distinct bodies), idempotent repeats, and invalid bodies. For each
kind it reports the SQL queries of one request and the latency percentiles. No socket: this
measures our code and the database, not an HTTP server (bench/ingest.py does that for the
TradersPost dialect). Tasks go to a queue of their own, deleted at the end; rate limits are
off.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "bench-utm-ingest"


def _django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["RATELIMIT_ENABLE"] = "false"
    os.environ["LOG_LEVEL"] = "ERROR"  # not a warning line per rejected request
    os.environ["CELERY_QUEUE"] = QUEUE
    import django

    django.setup()
    from django.conf import settings

    # Tables straight from the models: the benchmark does not depend on migration files.
    settings.MIGRATION_MODULES = {app.split(".")[-1]: None for app in settings.INSTALLED_APPS}


def _tenant():
    from accounts.models import Organization
    from accounts.services import api_key_create
    from brokers.models import BrokerAccount

    org = Organization.objects.create(name="Bench", slug="bench-utm")
    account = BrokerAccount.objects.create(organization=org, name="Paper")
    _, raw = api_key_create(organization=org, name="bench")
    return str(account.id), raw


def _measure(client, raw: str, bodies, headers=None) -> dict:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    times, statuses, queries = [], {}, None
    for i, body in enumerate(bodies):
        reset_queries()  # the query log is bounded: keep it from filling up
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/v1/signals/ingest",
                data=json.dumps(body),
                content_type="application/json",
                HTTP_X_API_KEY=raw,
                **(headers or {}),
            )
        times.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if i == len(bodies) // 2:
            queries = [q["sql"][:90] for q in captured.captured_queries]
    return _summary(times, statuses, queries)


def _summary(times: list[float], statuses: dict, queries: int | None) -> dict:
    cuts = statistics.quantiles(times, n=100)
    return {
        "requests": len(times),
        "statuses": statuses,
        "queries_per_request": len(queries or []),
        "queries": queries,
        "p50_ms": round(cuts[49] * 1000, 2),
        "p95_ms": round(cuts[94] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "requests_per_second_one_thread": round(len(times) / sum(times), 1),
    }


def run(count: int) -> dict:
    from django.test import Client

    account_id, raw = _tenant()
    client = Client()
    base = {"action": "openLong", "accountId": account_id, "quantity": 1, "price": 100}
    accepted = [{**base, "symbol": f"S{i % 50}", "comment": str(i)} for i in range(count)]
    replay_body = {**base, "symbol": "AAPL"}
    return {
        "accepted": _measure(client, raw, accepted),
        "idempotent_repeat": _measure(
            client, raw, [replay_body] * count, {"HTTP_IDEMPOTENCY_KEY": "same"}
        ),
        "rejected_validation": _measure(client, raw, [{"symbol": ""}] * count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        parser.error("needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    _django()
    from django.db import connection

    from config.celery import app

    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(json.dumps({"database": name, **run(args.requests)}, indent=1))
    finally:
        connection.creation.destroy_test_db(name, verbosity=0)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(QUEUE)


if __name__ == "__main__":
    main()
