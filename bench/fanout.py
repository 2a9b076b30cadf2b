"""Broker fan-out benchmark over the network: one signal to 1,000 Alpaca accounts, each with
its own API key (its own brokerage account at the broker, as 1,000 tenants' traders would
have), against the loopback Alpaca stand-in (tests/standins/alpaca.py) answering every
order POST after 150 ms, with the production server (gunicorn) and a real Celery worker
(prefork) on PostgreSQL and Redis.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/fanout.py

It (re)creates its own database (tr_benchfanout: never one anyone else uses), one tenant
with 1,000 Alpaca paper accounts (credentials encrypted as production stores them)
subscribed to one strategy behind a TradersPost webhook, starts the stand-in in this
process (its own event loop thread, on a free port; every key is its own account there),
gunicorn and a Celery worker on a queue of its own with ALPACA_TRADING_URL/DATA_URL
pointing at the stand-in, sends one warm-up signal to a single other account, then the
signal. It reports:
  * seconds from the request sent (and from its 200) until every order is recorded at the
    broker in our database (submitted_at set, status submitted/filled), and until the
    signal is COMPLETED;
  * exactly once: POSTs per client order id at the stand-in (each must be 1), accounts
    with no order at the stand-in, orders per (account, leg) in our database;
  * the most in-flight order POSTs the stand-in saw at once;
  * peak PostgreSQL connections to the bench database (pg_stat_activity sampled every
    20 ms) against the server's max_connections;
  * then two reconciliation passes over all the accounts (manage.py reconcile, as the
    periodic task runs it; the first also writes each account's Position row from the
    broker's, the second finds nothing to change): seconds (the command's start
    included) and the report, which must find no drift and no error.
Bounded: two signals, each wait capped at 120 s.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from harness import (
    Connection,
    add_common_arguments,
    create_schema,
    db_url,
    machine,
    recreate_database,
    run_setup_child,
    server_env,
    stop,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
TICKER = "AAPL"
ORDER_LATENCY = 0.150


def _key(i: int) -> tuple[str, str]:
    """Account ``i``'s Alpaca key id and secret (the setup child and the stand-in agree)."""
    return f"PKBENCH{i:013d}", f"bench-secret-{i:08d}-" + "s" * 24


# --- setup, in a child process so Django is configured for the bench database ----------


def setup(accounts: int, out: Path) -> None:
    create_schema()
    from accounts.models import Organization
    from brokers.models import BrokerAccount
    from brokers.services import broker_account_create
    from strategies.models import Strategy, Subscription
    from webhooks.services import webhook_create, webhook_password

    org = Organization.objects.create(name="Bench fan-out", slug="bench-fanout")
    hooks = {}
    for name, keys in (("warmup", [accounts]), ("fanout", range(accounts))):
        strategy = Strategy.objects.create(organization=org, name=name)
        rows = []
        for i in keys:
            key_id, secret = _key(i)
            rows.append(
                broker_account_create(
                    organization=org,
                    name=f"{name} {i}",
                    broker=BrokerAccount.Broker.ALPACA,
                    mode=BrokerAccount.Mode.PAPER,
                    credentials={"api_key": key_id, "secret_key": secret},
                )
            )
        Subscription.objects.bulk_create(
            [
                Subscription(organization=org, strategy=strategy, account=a, sizing_value=1)
                for a in rows
            ]
        )
        webhook = webhook_create(organization=org, strategy=strategy, name=name)
        hooks[name] = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
    out.write_text(json.dumps(hooks))


# --- the servers ------------------------------------------------------------------------


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_log(log: Path, needle: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{log} never said {needle!r}")


def _servers(args, env: dict) -> list[subprocess.Popen]:
    bin_dir = Path(sys.executable).parent
    web = _start(
        [
            str(bin_dir / "gunicorn"), "config.wsgi:application", "-c", "config/gunicorn.conf.py",
            "-b", f"127.0.0.1:{args.port}", "-w", "2", "--log-level", "error",
        ],
        env,
        Path(f"/tmp/bench-fanout-web-{os.getpid()}.log"),
    )  # fmt: skip
    worker_log = Path(f"/tmp/bench-fanout-worker-{os.getpid()}.log")
    worker = _start(
        [
            str(bin_dir / "celery"), "-A", "config", "worker", "-P", "prefork",
            "-c", str(args.concurrency), "-Q", args.queue, "--without-heartbeat",
            "--without-gossip", "--without-mingle", "-l", "info", "-O", "fair",
        ],
        env,
        worker_log,
    )  # fmt: skip
    if not wait_port(args.port):
        raise RuntimeError("gunicorn did not start")
    _wait_log(worker_log, "ready.")
    return [web, worker]


# --- measuring ----------------------------------------------------------------------------


class ConnectionSampler(threading.Thread):
    """The bench database's PostgreSQL connections, every 20 ms, on a connection of its own
    (not counted)."""

    def __init__(self, dsn: str, database: str):
        super().__init__(daemon=True)
        self.dsn, self.database = dsn, database
        self.peak, self.peak_active, self.max_connections = 0, 0, 0
        self.running = threading.Event()
        self.running.set()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            self.max_connections = int(conn.execute("SHOW max_connections").fetchone()[0])
            while self.running.is_set():
                total, active = conn.execute(
                    "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') "
                    "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.database],
                ).fetchone()
                self.peak, self.peak_active = max(self.peak, total), max(self.peak_active, active)
                time.sleep(0.02)


def _send(port: int, path: str) -> tuple[str, float, float]:
    """Post one signal: its id, the time the request was sent and the time of its 200."""
    body = json.dumps({"ticker": TICKER, "action": "buy", "price": 100, "quantity": 1}).encode()

    async def post():
        conn = Connection("127.0.0.1", port)
        try:
            return await conn.post(path, body)
        finally:
            conn.close()

    sent = time.time()
    status, payload = asyncio.run(post())
    accepted = time.time()
    if status != 200:
        raise RuntimeError(f"the webhook answered {status}: {payload[:200]!r}")
    return json.loads(payload)["id"], sent, accepted


def _wait_done(dsn: str, signal_id: str, orders: int, timeout: float = 120) -> dict:
    import psycopg

    deadline, facts = time.time() + timeout, {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.time() < deadline:
            at_broker, last, status, completed = conn.execute(
                "SELECT count(o.id), max(o.submitted_at), s.status, s.completed_at "
                "FROM signals_signal s LEFT JOIN brokers_order o ON o.signal_id = s.id "
                "AND o.submitted_at IS NOT NULL AND o.status IN ('submitted', 'filled') "
                "WHERE s.id = %s GROUP BY s.id",
                [signal_id],
            ).fetchone()
            if at_broker >= orders and "submitted" not in facts:
                facts["submitted"] = last.timestamp()
            if status in ("COMPLETED", "FAILED", "REJECTED"):
                facts.update(status=status, completed=completed.timestamp())
                break
            time.sleep(0.02)
        facts["orders"] = conn.execute(
            "SELECT o.account_id::text, o.leg, o.client_order_id, o.status "
            "FROM brokers_order o WHERE o.signal_id = %s AND o.parent_id IS NULL",
            [signal_id],
        ).fetchall()
    return facts


def bench(args) -> dict:
    from tests.standins.alpaca import AlpacaStandin

    dsn = db_url(args.database_url, args.database)
    recreate_database(args.database_url, args.database)
    standin = AlpacaStandin().start()
    standin.set_price(TICKER, 100)
    keys = [_key(i)[0] for i in range(args.accounts)]
    for i in range(args.accounts + 1):
        standin.add_account(*_key(i), cash="1000000")
    env = server_env(args, dsn)
    env.update(ALPACA_TRADING_URL=standin.url, ALPACA_DATA_URL=standin.url)
    if args.broker_concurrency:
        env["BROKER_CONCURRENCY_ALPACA"] = str(args.broker_concurrency)
    out = Path(f"/tmp/bench-fanout-{os.getpid()}.json")
    setup_cmd = [sys.executable, __file__, "--setup", str(args.accounts), "--setup-out", str(out)]
    subprocess.run(setup_cmd, cwd=ROOT, env=env, check=True)
    hooks = json.loads(out.read_text())
    out.unlink()
    procs = _servers(args, env)
    sampler = ConnectionSampler(db_url(args.database_url, "postgres"), args.database)
    try:
        warm_id, *_ = _send(args.port, hooks["warmup"])
        warm = _wait_done(dsn, warm_id, 1)
        if warm.get("status") != "COMPLETED":
            raise RuntimeError(f"the warm-up signal ended {warm.get('status')}")
        standin.order_latency = ORDER_LATENCY
        standin.orders_max_in_flight = 0
        posts_before, received_before = standin.order_posts, len(standin.orders_received)
        sampler.start()
        signal_id, sent, accepted = _send(args.port, hooks["fanout"])
        facts = _wait_done(dsn, signal_id, args.accounts)
        sampler.running.clear()
        sampler.join(5)
        standin.order_latency = 0.0
        reconciled = [_reconcile(env), _reconcile(env)]
    finally:
        for proc in procs:
            stop(proc)
        import redis

        redis.Redis.from_url(args.redis_url).delete(args.queue)
        standin.stop()
    received = standin.orders_received[received_before:]
    per_id = Counter(body["client_order_id"] for body in received)
    reached = {body["key_id"] for body in received}
    legs = Counter((account, leg) for account, leg, *_ in facts["orders"])
    statuses = Counter(status for *_, status in facts["orders"])
    ours = {cid for _, _, cid, _ in facts["orders"]}
    return {
        "accounts": args.accounts,
        "order_latency_ms": ORDER_LATENCY * 1000,
        "broker_concurrency": args.broker_concurrency or "settings default",
        "worker_processes": args.concurrency,
        "signal_status": facts.get("status"),
        "seconds_request_to_all_submitted": _since(facts.get("submitted"), sent),
        "seconds_accepted_to_all_submitted": _since(facts.get("submitted"), accepted),
        "seconds_request_to_completed": _since(facts.get("completed"), sent),
        "orders_recorded": len(facts["orders"]),
        "order_statuses": dict(statuses),
        "order_posts_at_standin": standin.order_posts - posts_before,
        "client_order_ids_posted_more_than_once": sum(1 for n in per_id.values() if n > 1),
        "our_orders_not_at_standin": len(ours - set(per_id)),
        "standin_orders_not_ours": len(set(per_id) - ours),
        "accounts_missing_at_standin": len(set(keys) - reached),
        "duplicate_orders_in_db": sum(n - 1 for n in legs.values()),
        "max_order_posts_in_flight": standin.orders_max_in_flight,
        "peak_pg_connections": sampler.peak,
        "peak_pg_connections_not_idle": sampler.peak_active,
        "pg_max_connections": sampler.max_connections,
        "reconcile_passes": reconciled,
    }


def _reconcile(env: dict) -> dict:
    """One reconciliation pass over every account, as the periodic task runs it (here by
    its command): each account's positions asked of the stand-in and compared with ours."""
    started = time.time()
    done = subprocess.run(
        [sys.executable, "manage.py", "reconcile"], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    report = json.loads(done.stdout)
    return {"seconds": round(time.time() - started, 2), **report}


def _since(at, start):
    return round(at - start, 2) if at else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument(
        "--broker-concurrency", type=int, default=0, help="BROKER_CONCURRENCY_ALPACA (0: default)"
    )
    parser.add_argument("--port", type=int, default=18095)
    parser.add_argument("--database", default="tr_benchfanout")
    parser.add_argument("--queue", default="bench-fanout")
    add_common_arguments(parser)
    args = parser.parse_args()
    if run_setup_child(parser, args, setup, ROOT):
        return
    sys.path.insert(0, str(ROOT))
    print(json.dumps({"machine": machine(), **bench(args)}, indent=2, default=str))


if __name__ == "__main__":
    main()
