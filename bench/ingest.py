"""Ingestion benchmark: POST /trading/webhook/<uuid>/<password> over real HTTP on loopback
against the production server (gunicorn + PostgreSQL + Redis, Celery publishing to Redis).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/2 .venv/bin/python bench/ingest.py [--webhooks 10 10000]

For each webhook count it (re)creates its own database (tr_bench by default: never a
database anyone else uses), creates that many tenants with one strategy and one webhook
each, loads the ticker database, counts the SQL queries of an accepted request in-process,
then starts gunicorn and drives it with an asyncio HTTP/1.1 client:
  * fixed rate (open loop, default 200 req/s for 10 s; latency measured from the time each
    request was due, so a stalled server cannot hide its queue), and
  * saturation (closed loop, N connections as fast as they are answered, 10 s).
Every request goes to a random webhook with a distinct body (no duplicates), so every 200
is an accepted, logged and enqueued signal. Rate limits are on and count every request,
with the limits raised above the load (harness.server_env; --no-rate-limits turns them
off); published tasks go to a queue of its own that is deleted after.
Bounded: a few thousand requests per phase and 10 s per phase by default.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import (
    Connection,
    add_common_arguments,
    create_schema,
    db_url,
    recreate_database,
    run_setup_child,
    server_env,
    stop,
    wait_port,
)

ROOT = Path(__file__).resolve().parent.parent
TICKERS = ["AAPL", "AMD", "TSLA", "SPY", "QQQ", "MSFT", "NVDA", "SQ"]


# --- setup, run in a child process so Django is configured for the bench database --------


def setup(count: int, out: Path) -> None:
    create_schema()
    hooks = _create_tenants(count)
    queries = _count_queries(hooks)
    out.write_text(json.dumps({"hooks": hooks, "queries": queries}))


def _create_tenants(count: int) -> list[list[str]]:
    import secrets

    from accounts.crypto import encrypt_text
    from accounts.models import Organization
    from accounts.services import secret_digest
    from strategies.models import Strategy
    from webhooks.models import Webhook

    orgs = Organization.objects.bulk_create(
        [Organization(name=f"Bench {i}", slug=f"bench-{i}") for i in range(count)], batch_size=2000
    )
    strategies = Strategy.objects.bulk_create(
        [Strategy(organization=o, name="Bench strategy") for o in orgs], batch_size=2000
    )
    hooks, rows = [], []
    for org, strategy in zip(orgs, strategies, strict=True):
        password = secrets.token_hex(16)
        webhook = Webhook(
            organization=org,
            strategy=strategy,
            name="Bench webhook",
            password_digest=secret_digest(password),
            password_encrypted=encrypt_text(password),
        )
        rows.append(webhook)
        hooks.append([str(webhook.id), password])
    Webhook.objects.bulk_create(rows, batch_size=2000)
    return hooks


def _count_queries(hooks: list[list[str]], samples: int = 50) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client, counts = Client(), []
    for i in range(samples):
        webhook_id, password = random.choice(hooks)
        body = json.dumps(_body(i, offset=10_000_000))
        with CaptureQueriesContext(connection) as ctx:
            response = client.post(
                f"/trading/webhook/{webhook_id}/{password}", body, content_type="text/plain"
            )
        assert response.status_code == 200, response.content
        counts.append(len(ctx.captured_queries))
    # The first request of each symbol fills the instrument cache; steady state is the rest.
    return {
        "first": counts[0],
        "max_after_warmup": max(counts[10:]),
        "median": statistics.median(counts),
    }


def _body(i: int, offset: int = 0) -> dict:
    return {
        "ticker": TICKERS[i % len(TICKERS)],
        "action": "buy",
        "sentiment": "bullish",
        "price": round(100 + (i + offset) * 0.01, 2),
        "quantity": 1,
    }


# --- load generation ------------------------------------------------------------------


class Load:
    def __init__(self, host, port, hooks):
        self.host, self.port, self.hooks = host, port, hooks
        self.counter = 0
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}

    def next_request(self) -> tuple[str, bytes]:
        self.counter += 1
        webhook_id, password = random.choice(self.hooks)
        body = json.dumps(_body(self.counter, offset=random.randrange(10**6) * 1000)).encode()
        return f"/trading/webhook/{webhook_id}/{password}", body

    async def one(self, conn: Connection, due: float) -> None:
        path, body = self.next_request()
        try:
            status, _ = await conn.post(path, body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            status = 0
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.latencies.append(time.perf_counter() - due)

    async def fixed_rate(self, rate: float, seconds: float, pool_size: int = 64) -> float:
        idle = [Connection(self.host, self.port) for _ in range(pool_size)]
        start, tasks = time.perf_counter(), []

        async def run(due):
            conn = idle.pop() if idle else Connection(self.host, self.port)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self.one(conn, due)
            idle.append(conn)

        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter() - 0.002))
            tasks.append(asyncio.create_task(run(due)))
        await asyncio.gather(*tasks)
        for conn in idle:
            conn.close()
        return time.perf_counter() - start

    async def saturate(self, connections: int, seconds: float) -> float:
        start = time.perf_counter()
        end = start + seconds

        async def worker():
            conn = Connection(self.host, self.port)
            while time.perf_counter() < end:
                await self.one(conn, time.perf_counter())
            conn.close()

        await asyncio.gather(*(worker() for _ in range(connections)))
        return time.perf_counter() - start

    def report(self, elapsed: float) -> dict:
        lat = sorted(self.latencies)

        def pct(p):
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None

        return {
            "requests": sum(self.statuses.values()),
            "accepted": self.statuses.get(200, 0),
            "statuses": self.statuses,
            "accepted_per_s": round(self.statuses.get(200, 0) / elapsed, 1),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 2) if lat else None,
        }


# --- orchestration ----------------------------------------------------------------------


def _start_gunicorn(args, env) -> subprocess.Popen:
    # The production config (access log included), with the bench's address and sizes.
    cmd = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        "-c", "config/gunicorn.conf.py",
        "-b", f"127.0.0.1:{args.port}",
        "-w", str(args.workers),
        "-k", args.worker_class or _production_worker_class(),
        "--threads", str(args.threads),
        "--keep-alive", "30",
        "--log-level", "error",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL
    )
    if wait_port(args.port) and _wait_booted(proc, args):
        return proc
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def _production_worker_class() -> str:
    import runpy

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the config imports the project (config)
    return runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))["worker_class"]


def _wait_booted(proc, args, timeout: float = 60) -> bool:
    """The master listens before its workers have imported Django and warmed up (about
    a second of CPU each, config/warmup.py); measuring from then on would count the boot
    in the first phase. Wait until every worker exists and the server is idle."""
    deadline, quiet = time.monotonic() + timeout, 0
    previous = _cpu_seconds(proc.pid, args.database)["gunicorn"]
    while time.monotonic() < deadline and quiet < 3:
        time.sleep(0.25)
        used = _cpu_seconds(proc.pid, args.database)["gunicorn"]
        workers = subprocess.run(["pgrep", "-g", str(proc.pid)], capture_output=True, text=True)
        booted = len(workers.stdout.split()) > args.workers  # the master and its workers
        quiet = quiet + 1 if booted and used - previous < 0.02 else 0
        previous = used
    return quiet >= 3


def _cpu_seconds(pgid: int, database: str) -> dict:
    """CPU time so far of the gunicorn process group and of the PostgreSQL backends serving
    the bench database: a cost per request that other load on the machine cannot blur the
    way it blurs latency."""
    tick = os.sysconf("SC_CLK_TCK")
    gunicorn = postgres = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        used = (int(fields[11]) + int(fields[12])) / tick
        if int(fields[2]) == pgid and int(stat.parent.name) == pgid:
            # The master also carries the CPU of the workers it has reaped (recycled).
            gunicorn += used + (int(fields[13]) + int(fields[14])) / tick
        elif int(fields[2]) == pgid:
            gunicorn += used
        elif cmdline.startswith(b"postgres:") and f" {database} ".encode() in cmdline:
            postgres += used
    return {"gunicorn": gunicorn, "postgres": postgres}


def _cpu_per_request(before: dict, after: dict, requests: int) -> dict:
    return {
        f"{name}_cpu_ms": round((after[name] - before[name]) / max(requests, 1) * 1000, 3)
        for name in before
    }


def _phase(load: "Load", coro_factory, args, proc) -> dict:
    before = _cpu_seconds(proc.pid, args.database) | {"client": time.process_time()}
    result = load.report(asyncio.run(coro_factory()))
    after = _cpu_seconds(proc.pid, args.database) | {"client": time.process_time()}
    return result | _cpu_per_request(before, after, result["requests"])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wrk_phase(args, proc, hooks_file: Path) -> dict:
    """Saturation with wrk (C, one thread, N keep-alive connections): the load generator
    shares the 2 cores with the server, so it must cost as little as possible."""
    script = ROOT / "bench" / "ingest.lua"
    url = f"http://127.0.0.1:{args.port}"
    seed = str(random.randrange(1, 10**6))
    cmd = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections)]
    cmd += ["-d", f"{args.seconds:g}s", "--latency", "-s", str(script), url, "--"]
    cmd += [str(hooks_file), seed]
    before = _cpu_seconds(proc.pid, args.database) | {"client": _children_cpu()}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    after = _cpu_seconds(proc.pid, args.database) | {"client": _children_cpu()}
    stats = json.loads(out.split("WRK ", 1)[1].splitlines()[0])
    seconds = stats["duration_us"] / 1e6
    accepted = stats["requests"] - stats["non_2xx"] - stats["socket_errors"]
    result = {
        "load": "wrk",
        "requests": stats["requests"],
        "accepted": accepted,
        "non_2xx": stats["non_2xx"],
        "socket_errors": stats["socket_errors"],
        "accepted_per_s": round(accepted / seconds, 1),
        "p50_ms": round(stats["p50_us"] / 1000, 2),
        "p99_ms": round(stats["p99_us"] / 1000, 2),
        "max_ms": round(stats["max_us"] / 1000, 2),
    }
    return result | _cpu_per_request(before, after, stats["requests"])


def _signal_statuses(args) -> dict:
    """Rows per status in the bench database: every 200 must be a PENDING signal (a
    DUPLICATE would mean the load repeated a body and overstated the accepted rate)."""
    import psycopg

    with psycopg.connect(db_url(args.database_url, args.database)) as conn:
        rows = conn.execute("SELECT status, count(*) FROM signals_signal GROUP BY status")
        return dict(rows.fetchall())


def _drop_queue(args) -> None:
    import redis

    redis.Redis.from_url(args.redis_url).delete(args.queue)


def bench_one(args, count: int) -> dict:
    dsn = db_url(args.database_url, args.database)
    recreate_database(args.database_url, args.database)
    env = server_env(args, dsn)
    out = Path(f"/tmp/bench-ingest-{os.getpid()}.json")
    subprocess.run(
        [sys.executable, __file__, "--setup", str(count), "--setup-out", str(out)],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    prepared = json.loads(out.read_text())
    out.unlink()
    proc = _start_gunicorn(args, env)
    try:
        hooks = prepared["hooks"]
        asyncio.run(Load("127.0.0.1", args.port, hooks).saturate(args.connections, 2))  # warm-up
        fixed = Load("127.0.0.1", args.port, hooks)
        fixed_result = _phase(fixed, lambda: fixed.fixed_rate(args.rate, args.seconds), args, proc)
        if args.load == "wrk":
            hooks_file = Path(f"/tmp/bench-ingest-{os.getpid()}.paths")
            hooks_file.write_text("".join(f"/trading/webhook/{i}/{p}\n" for i, p in hooks))
            try:
                sat_result = _wrk_phase(args, proc, hooks_file)
            finally:
                hooks_file.unlink()
        else:
            sat = Load("127.0.0.1", args.port, hooks)
            sat_result = _phase(
                sat, lambda: sat.saturate(args.connections, args.seconds), args, proc
            )
    finally:
        stop(proc)
        _drop_queue(args)
    return {
        "webhooks": count,
        "queries_per_accepted_request": prepared["queries"],
        f"fixed_{args.rate:g}_per_s": fixed_result,
        "saturation": sat_result,
        "signal_rows_by_status": _signal_statuses(args),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", 4)))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", 1)))
    parser.add_argument(
        "--worker-class", help="gunicorn worker class (default: config/gunicorn.conf.py's)"
    )
    parser.add_argument(
        "--load",
        choices=["wrk", "asyncio"],
        default="wrk" if shutil.which("wrk") else "asyncio",
        help="saturation load generator (wrk: apt-get install wrk)",
    )
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--database", default="tr_bench")
    parser.add_argument("--queue", default="bench-ingest")
    add_common_arguments(parser)
    args = parser.parse_args()
    if run_setup_child(parser, args, setup, ROOT):
        return
    results = [bench_one(args, count) for count in args.webhooks]
    print(
        json.dumps(
            {
                "worker_class": args.worker_class or _production_worker_class(),
                "workers": args.workers,
                "threads": args.threads,
                "results": results,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
