"""Redis stopped and restarted in the middle of ingestion, under both the web server (its
cache: limits and duplicate claims; its publishing) and the worker (its broker): requests
are still answered 200, what could not be queued is enqueued by the sweep, and every
accepted signal is processed exactly once. A throwaway Redis server: never the shared one."""

import time
import uuid

import pytest

from tests.e2e.conftest import worker_start, worker_stop
from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory
from tests.faults.conftest import Burst, assert_processed_once, figures, rescue_until_done
from tests.servers import redis_server_start, redis_server_stop
from tests.webhooks.conftest import production_server_running, webhook_path
from webhooks.services import webhook_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIGNALS = 180
STOP_AT, START_AT = 60, 120  # Redis is down while these signals are sent


def test_redis_restarted_during_ingest_loses_nothing(
    real_services, busy_org, instruments, throwaway_redis, tmp_path, capsys
):
    port, url = throwaway_redis
    strategy = StrategyFactory(organization=busy_org)
    for _ in range(2):
        account = BrokerAccountFactory(organization=busy_org)
        SubscriptionFactory(strategy=strategy, account=account, allow_add=True)
    path = webhook_path(webhook_create(organization=busy_org, strategy=strategy, name="r"))
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    worker = worker_start(redis_url=url, queue=queue, log=tmp_path / "worker.log")
    try:
        with production_server_running(queue=queue, redis_url=url) as base:
            burst = Burst(base)
            for n in range(SIGNALS):
                if n == STOP_AT:
                    redis_server_stop(port)
                if n == START_AT:
                    redis_server_start(port)
                ticker = ("AAPL", "TSLA")[n % 2]
                body = {"ticker": ticker, "action": "buy", "quantity": 1 + n % 3, "price": 10}
                burst.send(path, body | {"extras": {"n": n}})
                time.sleep(0.01)
            # kombu's Redis transport can end the worker itself when the connection drops
            # while it acks ("Unrecoverable error: AttributeError: 'NoneType' object has no
            # attribute 'hostname'", kombu 5.7.0): production's supervisor (compose's
            # restart: unless-stopped) starts it again, and so does this test. Its unacked
            # messages are redelivered (acks late) or swept; none is lost either way.
            restarts = 0
            if worker.poll() is not None:
                restarts += 1
                worker = worker_start(redis_url=url, queue=queue, log=tmp_path / "worker.log")
            swept = rescue_until_done(burst.accepted, redis_url=url, queue=queue)
            with capsys.disabled():  # the figures first, whatever the assertions say
                found = figures(burst.accepted)
                print(
                    f"\n[faults] Redis restarted: {burst.figures()}; swept {swept}; "
                    f"worker restarted {restarts}; {found}"
                )
    finally:
        worker_stop(worker)

    assert not burst.other, burst.other[:5]
    assert burst.server_errors == 0  # Redis down is no reason to refuse a signal
    assert_processed_once(burst.accepted)
