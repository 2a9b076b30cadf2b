"""Pipeline benchmark: from the HTTP request to the order's submission and its paper fill,
with the production server (gunicorn) and real Celery workers (prefork) on PostgreSQL and
Redis, over loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/4 .venv/bin/python bench/pipeline.py

It (re)creates its own database (tr_benchpipe: never one anyone else uses), a tenant with a
paper account subscribed to a "steady" strategy and 1,000 paper accounts subscribed to a
"fan-out" strategy, each behind a TradersPost webhook; starts gunicorn and a Celery worker
on a queue of its own; then runs three phases:
  * steady: 50 signals/s for 20 s (open loop); per signal, request sent -> order submitted
    (Order.submitted_at) and -> order filled (Order.filled_at), p50/p99;
  * burst: 1,000 signals as fast as 32 connections are answered; time from the first
    request until every signal is in a terminal state; processed / duplicate / lost counts;
  * fan-out: one signal to the 1,000 subscriptions; time from the request to COMPLETED.
Signals cycle over 20 tickers, alternating buy and sell+flat per ticker, so each one places
exactly one order (counted: an order too many is a duplicate, a signal not done is lost).
Bounded: about 2,000 requests, each wait capped at 120 s.
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
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
TICKERS = ["AAPL", "AMD", "TSLA", "SPY", "QQQ", "MSFT", "NVDA", "SQ", "META", "AMZN"]
TICKERS += ["GOOGL", "NFLX", "INTC", "ORCL", "IBM", "CSCO", "PYPL", "UBER", "SHOP", "COIN"]
TERMINAL = ("COMPLETED", "FAILED", "REJECTED", "DUPLICATE")


# --- setup, in a child process so Django is configured for the bench database ----------


def setup(fanout: int, out: Path) -> None:
    create_schema()
    out.write_text(json.dumps(_tenant(fanout)))


def _tenant(fanout: int) -> dict:
    from decimal import Decimal

    from accounts.models import Organization
    from brokers.models import BrokerAccount
    from strategies.models import Strategy, Subscription
    from webhooks.services import webhook_create, webhook_password

    org = Organization.objects.create(name="Bench pipeline", slug="bench-pipeline")
    cash = {"initial_cash": Decimal("10000000"), "cash": Decimal("10000000")}
    hooks = {}
    for name, accounts in (("steady", 1), ("burst", 1), ("fanout", fanout)):
        strategy = Strategy.objects.create(organization=org, name=name)
        rows = BrokerAccount.objects.bulk_create(
            [BrokerAccount(organization=org, name=f"{name} {i}", **cash) for i in range(accounts)]
        )
        Subscription.objects.bulk_create(
            [
                Subscription(
                    organization=org,
                    strategy=strategy,
                    account=a,
                    sizing_value=1,
                    allow_add=name == "burst",
                )
                for a in rows
            ]
        )
        webhook = webhook_create(organization=org, strategy=strategy, name=name)
        hooks[name] = f"/trading/webhook/{webhook.id}/{webhook_password(webhook=webhook)}"
    return hooks


# --- load ------------------------------------------------------------------------------


def _body(i: int, adding: bool = False) -> bytes:
    ticker = TICKERS[i % len(TICKERS)]
    price = round(100 + i * 0.01, 2)  # every body distinct: no duplicate detection
    if adding or (i // len(TICKERS)) % 2 == 0:
        body = {"ticker": ticker, "action": "buy", "price": price, "quantity": 1}
    else:
        body = {"ticker": ticker, "action": "sell", "sentiment": "flat", "price": price}
    return json.dumps(body).encode()


class Load:
    def __init__(self, port: int, path: str, start_index: int = 0, adding: bool = False):
        self.port, self.path, self.index, self.adding = port, path, start_index, adding
        self.sent: dict[str, float] = {}  # signal id -> wall-clock time the request was due
        self.statuses: dict[int, int] = {}

    async def one(self, conn: Connection, due_wall: float) -> None:
        self.index += 1
        try:
            status, payload = await conn.post(self.path, _body(self.index, self.adding))
            body = json.loads(payload or b"{}")
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            status, body = 0, {}
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.sent[body["id"]] = due_wall

    async def fixed_rate(self, rate: float, seconds: float) -> None:
        idle = [Connection("127.0.0.1", self.port) for _ in range(32)]
        start_perf, start_wall, tasks = time.perf_counter(), time.time(), []

        async def run(offset):
            conn = idle.pop() if idle else Connection("127.0.0.1", self.port)
            await asyncio.sleep(max(0.0, start_perf + offset - time.perf_counter()))
            await self.one(conn, start_wall + offset)
            idle.append(conn)

        for i in range(int(rate * seconds)):
            offset = i / rate
            await asyncio.sleep(max(0.0, start_perf + offset - time.perf_counter() - 0.002))
            tasks.append(asyncio.create_task(run(offset)))
        await asyncio.gather(*tasks)
        for conn in idle:
            conn.close()

    async def burst(self, count: int, connections: int) -> None:
        remaining = list(range(count))

        async def worker():
            conn = Connection("127.0.0.1", self.port)
            while remaining:
                remaining.pop()
                await self.one(conn, time.time())
            conn.close()

        await asyncio.gather(*(worker() for _ in range(connections)))


# --- measuring, straight from the database ----------------------------------------------


def _wait_terminal(dsn: str, ids: list[str], timeout: float = 120) -> float:
    import psycopg

    deadline = time.time() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.time() < deadline:
            done = conn.execute(
                "SELECT count(*) FROM signals_signal WHERE id = ANY(%s::uuid[]) AND status = ANY(%s)",
                [ids, list(TERMINAL)],
            ).fetchone()[0]
            if done == len(ids):
                return time.time()
            time.sleep(0.05)
    return float("nan")


def _facts(dsn: str, ids: list[str]) -> dict:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        signals = conn.execute(
            "SELECT id::text, status, completed_at FROM signals_signal WHERE id = ANY(%s::uuid[])",
            [ids],
        ).fetchall()
        orders = conn.execute(
            "SELECT signal_id::text, leg, client_order_id, submitted_at, filled_at, status, "
            "account_id::text "
            "FROM brokers_order WHERE signal_id = ANY(%s::uuid[]) AND parent_id IS NULL",
            [ids],
        ).fetchall()
        paper = conn.execute(
            "SELECT count(*), count(DISTINCT (account_id, client_order_id)) FROM brokers_paperorder "
            "WHERE client_order_id = ANY(%s)",
            [[o[2] for o in orders]],
        ).fetchone()
    return {
        "signals": signals,
        "orders": orders,
        "paper_total": paper[0],
        "paper_distinct": paper[1],
    }


def _pct(values: list[float], p: float):
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 1) if values else None


def _latencies(sent: dict[str, float], facts: dict) -> dict:
    first: dict[str, tuple] = {}
    for signal_id, _leg, _cid, submitted, filled, *_ in facts["orders"]:
        if submitted and (signal_id not in first or submitted < first[signal_id][0]):
            first[signal_id] = (submitted, filled)
    to_submit = [first[s][0].timestamp() - t for s, t in sent.items() if s in first]
    to_fill = [first[s][1].timestamp() - t for s, t in sent.items() if s in first and first[s][1]]
    return {
        "orders": len(to_submit),
        "submitted_p50_ms": _pct(to_submit, 0.50),
        "submitted_p99_ms": _pct(to_submit, 0.99),
        "filled_p50_ms": _pct(to_fill, 0.50),
        "filled_p99_ms": _pct(to_fill, 0.99),
        "filled_max_ms": _pct(to_fill, 1.0),
    }


def _counts(load: Load, facts: dict) -> dict:
    statuses: dict[str, int] = {}
    for _id, status, _completed in facts["signals"]:
        statuses[status] = statuses.get(status, 0) + 1
    legs: dict[tuple, int] = {}
    for signal_id, leg, *_, account_id in facts["orders"]:
        legs[(signal_id, account_id, leg)] = legs.get((signal_id, account_id, leg), 0) + 1
    accepted = load.statuses.get(200, 0)
    done = sum(statuses.get(s, 0) for s in TERMINAL)
    return {
        "requests": sum(load.statuses.values()),
        "http_statuses": load.statuses,
        "signal_statuses": statuses,
        "orders": len(facts["orders"]),
        "duplicates": sum(n - 1 for n in legs.values())
        + (facts["paper_total"] - facts["paper_distinct"]),
        "lost": accepted - done,
    }


# --- orchestration ----------------------------------------------------------------------


def _start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _require_port(port: int) -> None:
    if not wait_port(port):
        raise RuntimeError("gunicorn did not start")


def _wait_log(log: Path, needle: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{log} never said {needle!r}")


def _worker_env(args, env: dict) -> dict:
    if not args.worker_async_commit:
        return env
    # An experiment, not the production setting: the worker's sessions stop waiting for
    # the WAL flush at each commit (libpq reads PGOPTIONS); ingestion stays synchronous.
    return {**env, "PGOPTIONS": "-c synchronous_commit=off"}


def _servers(args, env: dict) -> list[subprocess.Popen]:
    bin_dir = Path(sys.executable).parent
    web = _start(
        [
            str(bin_dir / "gunicorn"), "config.wsgi:application", "-c", "config/gunicorn.conf.py",
            "-b", f"127.0.0.1:{args.port}", "-w", str(args.web_workers),
            "--threads", str(args.threads), "--log-level", "error",
        ],
        env,
        Path(f"/tmp/bench-pipeline-web-{os.getpid()}.log"),
    )  # fmt: skip
    worker_log = Path(f"/tmp/bench-pipeline-worker-{os.getpid()}.log")
    worker = _start(
        [
            str(bin_dir / "celery"), "-A", "config", "worker", "-P", "prefork",
            "-c", str(args.concurrency), "-Q", args.queue, "--without-heartbeat",
            "--without-gossip", "--without-mingle", "-l", "info",
            "--prefetch-multiplier", str(args.prefetch), "-O", args.optimization,
        ],
        _worker_env(args, env),
        worker_log,
    )  # fmt: skip
    _require_port(args.port)
    _wait_log(worker_log, "ready.")
    return [web, worker]


def _phase(args, dsn, path, start_index, run, adding=False) -> tuple[Load, float, float, dict]:
    load = Load(args.port, path, start_index, adding)
    started = time.time()
    asyncio.run(run(load))
    finished = _wait_terminal(dsn, list(load.sent))
    return load, started, finished, _facts(dsn, list(load.sent))


def bench(args) -> dict:
    dsn = db_url(args.database_url, args.database)
    recreate_database(args.database_url, args.database)
    env = server_env(args, dsn)
    out = Path(f"/tmp/bench-pipeline-{os.getpid()}.json")
    setup_cmd = [sys.executable, __file__, "--setup", str(args.fanout), "--setup-out", str(out)]
    subprocess.run(setup_cmd, cwd=ROOT, env=env, check=True)
    hooks = json.loads(out.read_text())
    out.unlink()
    procs = _servers(args, env)
    results: dict = {}
    try:
        _phase(args, dsn, hooks["steady"], 10**6, lambda load: load.burst(40, 4))  # warm-up
        load, _, _, facts = _phase(
            args, dsn, hooks["steady"], 0, lambda load: load.fixed_rate(args.rate, args.seconds)
        )
        results[f"steady_{args.rate:g}_per_s_for_{args.seconds:g}_s"] = {
            **_counts(load, facts),
            **_latencies(load.sent, facts),
        }
        # Every burst signal is a buy that adds (allow_add on): one order each, whatever
        # order 32 connections deliver them in.
        load, started, finished, facts = _phase(
            args, dsn, hooks["burst"], 2 * 10**6, lambda load: load.burst(args.burst, 32), True
        )
        results[f"burst_{args.burst}"] = {
            **_counts(load, facts),
            "seconds_to_all_processed": round(finished - started, 2),
            **_latencies(load.sent, facts),
        }
        load, started, finished, facts = _phase(
            args, dsn, hooks["fanout"], 3 * 10**6, lambda load: load.burst(1, 1)
        )
        ((_sid, status, completed),) = facts["signals"]
        filled = [o for o in facts["orders"] if o[5] == "filled"]
        results[f"fanout_{args.fanout}"] = {
            "status": status,
            "orders": len(facts["orders"]),
            "filled": len(filled),
            "duplicates": _counts(load, facts)["duplicates"],
            "seconds_to_completed": round(completed.timestamp() - min(load.sent.values()), 2),
            "seconds_to_last_fill": round(
                max(o[4].timestamp() for o in filled) - min(load.sent.values()), 2
            )
            if filled
            else None,
        }
    finally:
        for proc in procs:
            stop(proc)
        import redis

        redis.Redis.from_url(args.redis_url).delete(args.queue)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=4)
    parser.add_argument("--optimization", default="fair", help="celery worker -O")
    parser.add_argument("--worker-async-commit", action="store_true")
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--database", default="tr_benchpipe")
    parser.add_argument("--queue", default="bench-pipeline")
    add_common_arguments(parser)
    args = parser.parse_args()
    if run_setup_child(parser, args, setup, ROOT):
        return
    print(json.dumps({"machine": machine(), **bench(args)}, indent=2, default=str))


if __name__ == "__main__":
    main()
