"""PostgreSQL sessions terminated again and again during a burst of signals, on the web
server's side and the worker's alike: every accepted signal is processed exactly once, in
arrival order per ticker, and none ends FAILED because of it."""

import pytest

from tests.factories import BrokerAccountFactory, StrategyFactory, SubscriptionFactory
from tests.faults.conftest import (
    Burst,
    SessionKiller,
    all_done,
    assert_processed_once,
    figures,
    wait_for,
)
from tests.webhooks.conftest import production_server_running, webhook_path
from webhooks.services import webhook_create

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SIGNALS = 240
TICKERS = ("AAPL", "TSLA", "AMD")
KILL_PERIOD = 0.25  # seconds between two rounds of terminated sessions


def _webhooks(org, count=2, accounts=2):
    paths = []
    for _ in range(count):
        strategy = StrategyFactory(organization=org)
        for _ in range(accounts):
            account = BrokerAccountFactory(organization=org)
            SubscriptionFactory(strategy=strategy, account=account, allow_add=True)
        webhook = webhook_create(organization=org, strategy=strategy, name="burst")
        paths.append(webhook_path(webhook))
    return paths


def _body(n: int) -> dict:
    """Buys of 1-3 shares and, every seventh signal, an exit: the positions then depend
    on the order the signals were processed in."""
    ticker = TICKERS[n % len(TICKERS)]
    if n % 7 == 6:
        return {"ticker": ticker, "action": "exit", "price": 10, "extras": {"n": n}}
    return {
        "ticker": ticker,
        "action": "buy",
        "quantity": 1 + n % 3,
        "price": 10,
        "extras": {"n": n},
    }


def test_sessions_terminated_during_a_burst_lose_and_fail_nothing(
    worker, busy_org, instruments, celery_worker_process, capsys
):
    from config.celery import app as celery_app

    paths = _webhooks(busy_org)
    queue = celery_app.conf.task_default_queue  # the worker's
    with production_server_running(queue=queue) as base:
        burst = Burst(base)
        killer = SessionKiller(period=KILL_PERIOD)
        killer.start()
        try:
            for n in range(SIGNALS):
                burst.send(paths[n % len(paths)], _body(n))
            # Keep terminating while the worker catches up with the burst.
            wait_for(lambda: killer.rounds >= 8, timeout=10)
        finally:
            killer.stop()
        wait_for(lambda: all_done(burst.accepted), timeout=90, interval=0.2)
        with capsys.disabled():  # the figures first, whatever the assertions say
            print(
                f"\n[faults] sessions terminated: {burst.figures()}; sessions killed "
                f"{killer.kills} in {killer.rounds} rounds; {figures(burst.accepted)}"
            )

    assert not burst.other, burst.other[:5]
    assert_processed_once(burst.accepted)
    assert killer.kills > 0
