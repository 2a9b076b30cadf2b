"""Per-signal cost of the pipeline in-process (no HTTP, no Celery): SQL statements of one
signal, then wall and CPU time per signal over 200 more, on the test database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tr_cost REDIS_URL=redis://127.0.0.1:6379/7 \\
      .venv/bin/pytest --nomigrations -q -s bench/pipeline_cost.py

One paper account subscribed to one strategy, buy 1 with a price (adding on), cycling over
20 tickers like bench/pipeline.py's steady load. PROFILE=1 adds a cProfile listing.
"""

import os
import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from signals.pipeline import signal_process
from tests.factories import OrganizationFactory, SubscriptionFactory
from tests.signals.factories import signal_for

WARM_UP, MEASURED = 20, 200


@pytest.mark.django_db(transaction=True)
def test_pipeline_cost_per_signal():
    subscription = SubscriptionFactory(
        strategy__organization=OrganizationFactory(),
        use_signal_quantity=True,
        allow_add=True,
        sizing_value=Decimal("1"),
    )
    signals = [
        signal_for(
            strategy=subscription.strategy,
            action="buy",
            price=100 + (i % 3),
            quantity=1,
            ticker=f"T{i % 20}",
        )
        for i in range(WARM_UP + 1 + MEASURED)
    ]
    for signal in signals[:WARM_UP]:
        signal_process(signal_id=signal.pk)
    with CaptureQueriesContext(connection) as queries:
        signal_process(signal_id=signals[WARM_UP].pk)
    for query in queries.captured_queries:
        print(query["sql"][:150])
    print(f"statements per signal: {len(queries.captured_queries)}")
    _timed(signals[WARM_UP + 1 :])


def _timed(signals) -> None:
    profile = None
    if os.environ.get("PROFILE"):
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    wall, cpu = time.perf_counter(), time.process_time()
    for signal in signals:
        signal_process(signal_id=signal.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if profile is not None:
        import pstats

        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    print(
        f"per signal: {wall * 1000 / len(signals):.1f} ms wall, {cpu * 1000 / len(signals):.1f} ms CPU"
    )
